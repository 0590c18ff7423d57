"""A test double of a phone on USB that a person pairs: the real-phone path of a run, in CI.

:class:`UnboxedPhone` is what a QA engineer holds: a phone with the gateway app installed
and not yet paired, attached to the adb server (``adb connect`` to the double). Behind it
runs a virtual phone in a world of its own (one phone, at wall speed, on a thread of its
own), so nothing of it is in the run's world: the run knows it only as it knows a real
phone, by its serial, through the door and over ADB.

Pairing is the app's, in its two halves (Varyshop/sms-gateway-app 1.7.1):

- **The scan** (``app/qr-scanner.tsx:26-66``): the camera of the scanner screen reads a QR
  code (:meth:`UnboxedPhone.look_at`: a PNG decoded with zxing-cpp, as a camera reads the
  pixels), parsed as the screen does (``type`` must be ``sms_gateway``, ``url`` and
  ``api_key`` present); the app's JavaScript settings store them (the URL with ``http://``
  rewritten to ``https://``, ``src/storage/settings.ts:92``) and its API client registers the
  FCM token with the new server (``/sms-gateway/register-fcm``). The camera sees only while
  the app shows its scanner (``am start -a VIEW -d smsgateway://qr-scanner``, or a person's
  tap: :meth:`open_scanner`).
- **The service** reads its URL and key from its own SharedPreferences
  (``SmsGatewayService.kt:222-223``), which only ``startService`` writes
  (``GatewayServiceModule.kt:47-61``): when a person switches the service on
  (:meth:`switch_on`, ``dashboard.tsx:118-128``) or when the app is launched with the
  service on (``am start -n``, ``_layout.tsx:79-87``). A scan alone changes nothing the
  service does; a fresh install has the service off (``settings.ts:82``).

The phone calls one URL, fixed when it is built (``url``, ``tls``: the CAs it trusts): a
code for another URL is refused, since the double cannot move its network. No FCM: a real
phone's pushes come through Google's servers, which cannot exist here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import ssl
import threading
from datetime import datetime
from typing import Any

from simulator.config import WorldSpec
from simulator.realtime import WallClockEnvironment
from simulator.world import World

from ..phone_facts import APP_PACKAGE, SCANNER_URI, app_url
from ..wire import HttpTransport
from .phone import DeviceProfile, PhoneModel
from .simulated import SimulatedPhone
from .transport import AdbDouble

__all__ = ["PairingRefused", "UnboxedPhone"]

_STEP = 0.25  # simulation seconds the double's thread runs at a time


class PairingRefused(ValueError):
    """The app refused the code it saw (what its alert would say)."""


class UnboxedPhone:
    """A phone of ``world``'s spec named ``name``, unpaired, served as an ADB device."""

    def __init__(
        self,
        world: WorldSpec,
        name: str,
        *,
        url: str,
        start: datetime,
        seed: int = 1,
        tls: ssl.SSLContext | None = None,
        profile: DeviceProfile | str = "stock",
        service_on: bool = False,
    ) -> None:
        """``service_on``: the app's service was switched on before (a phone paired with
        another server), so launching the app starts it."""
        phones = tuple(p for p in world.phones if p.name == name)
        if not phones:
            raise ValueError(f"No phone {name!r} in the world's spec.")
        spec = dataclasses.replace(
            world, phones=phones, fcm=dataclasses.replace(world.fcm, enabled=False)
        )
        self.name = name
        self.url = url.rstrip("/")
        self.env = WallClockEnvironment(1.0)
        self.transport = HttpTransport(self.env, self.url, tls=tls)
        self.world = World(
            spec,
            self.transport.blocking,
            {name: ""},
            seed=seed,
            start=start,
            env=self.env,
            transport=self.transport,
            unbooted={name},
        )
        self.app = self.world.apps[name]
        # the app's JavaScript settings (AsyncStorage): what the scanner stores
        self.service_enabled = service_on
        self.api_url: str | None = None
        self.api_key: str | None = None
        self.phone = _Launcher(self, profile)
        self.double = AdbDouble(self.phone)
        self.paired = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drive, name=f"unboxed-{name}", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> str:
        """Serve the phone over ADB and start its clock; returns its serial."""
        serial = self.double.start()
        self._thread.start()
        return serial

    def stop(self) -> None:
        """Stop the phone's clock and its ADB service; raises what its thread raised."""
        self._stop.set()
        self._thread.join(timeout=30)
        self.double.stop()
        self.transport.close()
        self.env.close()
        if self._error is not None:
            raise RuntimeError(f"The unboxed phone {self.name} failed.") from self._error

    def _drive(self) -> None:
        try:
            while not self._stop.is_set():
                self.env.run(until=self.env.now + _STEP)
        except BaseException as exc:  # kept for stop(); the run then sees a phone gone quiet
            self._error = exc

    # -- the person holding it -----------------------------------------------------------

    @property
    def scanning(self) -> bool:
        """The app shows its QR scanner."""
        with self.phone.lock:
            return self.phone.shown == SCANNER_URI

    def open_scanner(self) -> None:
        """A tap on Settings > Scan QR code (``settings.tsx:128`` pushes the route)."""
        with self.phone.lock:
            self.phone.shown = SCANNER_URI

    def look_at(self, png: bytes) -> None:
        """Hold a QR code (a PNG image) in front of the scanner's camera."""
        import zxingcpp  # a test dependency: only the double's camera reads QR codes
        from PIL import Image

        if not self.scanning:
            raise PairingRefused(f"{self.name}'s app is not showing its QR scanner.")
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        codes = [code.text for code in found if code.format == zxingcpp.BarcodeFormat.QRCode]
        if not codes:
            raise PairingRefused("The camera sees no QR code in that image.")
        self.scan(codes[0])

    def scan(self, text: str) -> None:
        """The scanner read ``text``: pair as the app does, or refuse as its alert says."""
        try:
            code = json.loads(text)
        except ValueError as exc:
            raise PairingRefused("Could not read the QR code (not JSON).") from exc
        if not isinstance(code, dict) or code.get("type") != "sms_gateway":
            raise PairingRefused("Not an SMS gateway QR code.")
        if not code.get("url") or not code.get("api_key"):
            raise PairingRefused("The QR code lacks the URL or the API key.")
        called = app_url(str(code["url"])).rstrip("/")
        if called != self.url:
            raise PairingRefused(
                f"The double calls {self.url} only; the code's app URL is {called}."
            )
        key = str(code["api_key"])
        self.api_url, self.api_key = called, key
        self.env.post(lambda: self.env.process(self._register_fcm(key)))
        with self.phone.lock:
            self.phone.shown = None

    def _register_fcm(self, key: str) -> Any:
        """The scanner's ``registerFcmToken`` with the new key (``qr-scanner.tsx:55-60``)."""
        yield self.transport.send(
            key,
            "register-fcm",
            {"fcm_token": f"fcm-{self.name}-unboxed"},
            auth="x-api-key",
            timeout=self.app.profile.http_timeout,
        )

    def switch_on(self) -> None:
        """A person switches the service on (Dashboard): ``startService`` with the settings."""
        self.service_enabled = True
        self.env.post(self._start_service)

    def _start_service(self) -> None:
        """``startService`` (GatewayServiceModule.kt:47-61): the settings into the service's
        SharedPreferences, then the service; nothing without a paired server."""
        if self.api_key is None:
            return
        app: Any = self.app
        app.link.api_key = self.api_key
        app.start()
        self.paired.set()


class _Launcher(SimulatedPhone):
    """The unboxed phone's Android: launching the app (``am start``) starts its service only
    when it is switched on and paired (``_layout.tsx:79-87``)."""

    def __init__(self, owner: UnboxedPhone, profile: DeviceProfile | str) -> None:
        super().__init__(owner.world, owner.name, profile)
        self._owner = owner

    def start(self, name: str) -> int:
        pid = PhoneModel.start(self, name)  # the activity's process, as Android starts it
        if name == APP_PACKAGE and self._owner.service_enabled:
            self._later(self._owner._start_service)
        return pid
