"""The door real phones come in by: pairing them with a run, and watching their wire.

A real phone on USB runs the gateway app itself, so the harness cannot record what the app
did as it records a virtual phone. It sees the phone from two sides instead:

- **The wire.** The phone's app calls a :class:`~harness.proxy.FaultProxy` of the run (the
  *door*, ``DoorOptions.listen``) that forwards to the target. For these phones the proxy
  hands over every exchange whole, and the run lets the phone's app model in the world
  (built, never booted: ``World(unbooted=...)``) ``observe`` it: what the server handed out
  (``issued``), the heartbeats it answered, the statuses it acknowledged, the inbound SMS it
  took: the same events, by the same code, as for a virtual phone.
- **The phone itself**, over ADB at the end (``harness.phone_truth``): what left its radio.

**Pairing.** The app learns a server only from its QR code (``app/qr-scanner.tsx:26-66`` of
Varyshop/sms-gateway-app 1.7.1: it parses ``{"type": "sms_gateway", "url", "api_key"}``,
stores both in the app's JavaScript settings and registers its FCM token with the new server,
``/sms-gateway/register-fcm``). No intent carries them: the ``smsgateway://`` scheme
(``AndroidManifest.xml:45-51``, ``app.json`` ``scheme``) only opens a screen, whose path
expo-router maps to a route, so ``smsgateway://qr-scanner`` opens the scanner (the settings
screen pushes the same route, ``settings.tsx:128``). The scan does not reach the native
service, which reads its URL and key from its own SharedPreferences
(``SmsGatewayService.kt:222-223``), written only by ``startService``/``updateConfig``
(``GatewayServiceModule.kt:47-61, 121-140``): when the service is switched on (Dashboard,
``dashboard.tsx:118-128``; Settings, ``settings.tsx:131-141``) or the app starts with it on
(``_layout.tsx:79-87``). So :meth:`PhoneDoor.pair` opens the scanner over ADB, shows the
run's QR for the phone (on the terminal and as ``pairing-<phone>.png`` in the run folder
while it waits: it holds the phone's key, so it is removed once the phone is paired), and
once the door sees the scan (the FCM registration with the phone's new key) relaunches the
app over ADB (``am force-stop``, ``am start``), which starts a service that was on with
the new server; a service that was off (a fresh install) the tester switches on. The phone is
paired when the door has seen its first answered heartbeat, which proves the whole path:
the URL, TLS, the key.

**The gate.** Until the run's clock starts, and from its end, the door answers a real phone's
poll with 503 instead of forwarding it (the app counts it a failed poll and tries again),
so the server hands it nothing the history could not see; and it forwards the device API
only (``/sms-gateway/``), never the admin API.

The app calls ``https://`` only (``src/storage/settings.ts:92`` rewrites ``http://``), so the
URL in the QR (``DoorOptions.url``) must be one the phone reaches over TLS with a
certificate it trusts: either the door itself with ``--phone-cert``/``--phone-key``, or your
own TLS proxy in front of it.

**Real SMS.** A real phone's radio sends real, billed SMS, and a scenario's recipients are
made up (Faker's Czech numbers: someone's, perhaps). The door therefore rewrites each SMS a
real phone is handed (the ``pending`` answer) to one of ``DoorOptions.sms_to``, the tester's
own SIMs, in turn; the history keeps what the server handed out, and the phone's records,
which show the owned numbers, are linked through :attr:`PhoneDoor.redirected`. An answer it
cannot rewrite is not passed on: the phone gets ``success: false`` (no SMS), and the SMS
the server handed out are then the server's to time out, visibly.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from server_under_test import pairing
from server_under_test.errors import InvalidInput

from .device_faults import fault_commands
from .devices import DeviceError, shell_status
from .errors import RunInputError, TargetError
from .phone_facts import APP_PACKAGE, SCANNER_URI, app_url
from .proxy import FaultProxy, WireEvent, WireFaults
from .wire import DEVICE_PATH

__all__ = [
    "DEFAULT_PAIR_TIMEOUT",
    "DoorOptions",
    "PairingInterrupted",
    "PhoneDoor",
    "open_scanner",
    "relaunch_app",
]

DEFAULT_PAIR_TIMEOUT = 300.0  # wall seconds for a person to scan each phone's QR
_POLL = 0.2
_NOTHING = b'{"success":false,"sms_list":[]}'
logger = logging.getLogger(__name__)
_E164 = re.compile(r"\+[1-9]\d{7,14}")


@dataclass(frozen=True)
class DoorOptions:
    """Where real phones reach a run.

    ``sms_to``: the numbers every SMS handed to a real phone is sent to instead of its
    recipient (SIMs of the tester's own: a scenario's recipients are made up). ``url``:
    what the QR code carries (an ``https://`` URL the phone trusts; ``http://`` is
    refused, as the app would call it with ``https://``). ``listen``: the door's address on
    this machine (default: the URL's port, on all interfaces with ``cert``, else on loopback
    for a TLS proxy of yours on this machine). ``cert``/``key``: PEM files for
    the door to speak TLS itself; without them the door speaks plain HTTP, for a TLS proxy
    of yours that forwards ``url`` to ``listen``.
    """

    url: str
    sms_to: tuple[str, ...] = ()
    listen: tuple[str, int] | None = None
    cert: Path | None = None
    key: Path | None = None
    pair_timeout: float = DEFAULT_PAIR_TIMEOUT

    def __post_init__(self) -> None:
        if not self.sms_to:
            raise RunInputError(
                "Real phones send real SMS, and a scenario's recipients are made-up numbers "
                "that may well be someone's: give --sms-to with the numbers of SIMs you own "
                "(comma-separated, +CC...), and every SMS a real phone is handed goes to one "
                "of them instead."
            )
        for number in self.sms_to:
            if not _E164.fullmatch(number):
                raise RunInputError(
                    f"--sms-to {number!r}: give an international number, + and 8 to 15 digits."
                )
        try:
            url = pairing.check_url(self.url)
        except InvalidInput as exc:
            raise RunInputError(f"--phone-url: {exc}") from exc
        if app_url(url) != url:
            raise RunInputError(
                f"--phone-url {url}: the app rewrites http:// to https:// "
                "(src/storage/settings.ts:92) and would call "
                f"{app_url(url)}; give the https URL the phone reaches, with --phone-cert "
                "and --phone-key for the door's TLS or your own TLS proxy in front of it."
            )
        if (self.cert is None) != (self.key is None):
            raise RunInputError("--phone-cert and --phone-key go together: give both or neither.")
        if not self.pair_timeout > 0:
            raise RunInputError("--pair-timeout is in seconds: give a positive number.")

    def address(self) -> tuple[str, int]:
        """Where the door listens: as given, else the URL's port, on every interface when
        the door speaks TLS itself, on loopback when a TLS proxy of yours is in front."""
        if self.listen is not None:
            return self.listen
        host = "0.0.0.0" if self.cert is not None else "127.0.0.1"  # noqa: S104 - phones
        return (host, urlsplit(self.url).port or 443)

    def tls(self) -> ssl.SSLContext | None:
        """The door's server-side TLS, or ``None`` for plain HTTP behind a proxy of yours."""
        if self.cert is None or self.key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise RunInputError(
                f"--phone-cert {self.cert} / --phone-key {self.key}: cannot load them: {exc}."
            ) from exc
        return context


class PhoneDoor:
    """The run's door for real phones: a proxy that shows the harness their exchanges.

    ``sink`` gets each exchange of a phone of ``phones`` (on the proxy's thread) once the
    run sets it; until then the door only notes which phones were heard.
    """

    def __init__(
        self,
        options: DoorOptions,
        upstream: str,
        keys: Mapping[str, str],
        phones: Collection[str],
        *,
        rng: Any,
    ) -> None:
        self.options = options
        self.phones = frozenset(phones)
        self._names = {key: name for name, key in keys.items()}
        self._heard: dict[str, threading.Event] = {name: threading.Event() for name in phones}
        self._scanned: dict[str, threading.Event] = {name: threading.Event() for name in phones}
        self.accepting = False  # forwards real phones' polls (the run's clock runs)
        self.sink: Callable[[WireEvent], None] | None = None
        self.redirected: dict[str, str] = {}  # a recipient -> the owned number sent to
        self._proxy = FaultProxy(
            upstream,
            faults=WireFaults(),
            rng=rng,
            record=self._record,
            phone_of=self._names.get,
            listen=options.address(),
            tls=options.tls(),
            whole=self.phones.__contains__,
            rewrite=self._redirect,
            gate=self._gate,
        )
        self.local_url = ""

    def start(self) -> None:
        try:
            self.local_url = self._proxy.start()
        except Exception as exc:
            host, port = self.options.address()
            low = " (a port below 1024 needs root: give --phone-listen)" if port < 1024 else ""
            raise TargetError(
                f"The door for real phones could not listen on {host}:{port}{low}: "
                f"{exc.__cause__ or exc}"
            ) from exc

    def stop(self) -> None:
        self._proxy.stop()

    def _gate(self, phone: str | None, path: str) -> str | None:
        if DEVICE_PATH not in path:
            return "This door forwards the gateway's device API only."
        if phone in self.phones and path.endswith("/pending") and not self.accepting:
            return "The run is not handing out SMS now (pairing, or ended): poll again later."
        return None

    def _record(self, event: WireEvent) -> None:
        if event.phone not in self.phones:
            return
        answered = event.outcome == "forwarded" and 200 <= event.status < 300
        if answered and event.path.endswith("/heartbeat"):
            self._heard[event.phone].set()
        if answered and event.path.endswith("/register-fcm"):
            self._scanned[event.phone].set()  # the scanner registers with the new key
        if self.sink is not None and event.outcome != "gated":
            self.sink(event)

    def _redirect(self, phone: str, path: str, body: bytes) -> bytes:
        """A poll's answer as the phone gets it: each SMS to one of ``sms_to`` (in turn, by
        each recipient's first hand-out), so a real phone never texts a made-up number."""
        del phone
        if not path.endswith("/pending"):
            return body
        try:
            answer = json.loads(body)
            items = answer.get("sms_list") or []
            numbers = [str(item["phone_number"]) for item in items]
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("Not passed on to a real phone: a poll's answer the door cannot read.")
            return _NOTHING  # never a made-up recipient to a real radio
        owned = self.options.sms_to
        for item, number in zip(items, numbers, strict=True):
            item["phone_number"] = self.redirected.setdefault(
                number, owned[len(self.redirected) % len(owned)]
            )
        return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()

    def heard(self, phone: str) -> bool:
        """The phone's app had a heartbeat answered through the door."""
        return self._heard[phone].is_set()

    def pair(
        self,
        phone: str,
        serial: str,
        api_key: str,
        device: Any,
        out: Path,
        *,
        say: TextIO | None = None,
        interrupt: Callable[[], str | None] | None = None,
    ) -> float:
        """Show ``phone``'s QR, open the app's scanner on it, relaunch the app once the scan
        is seen, and wait for its first heartbeat; the wall seconds it took.
        :class:`TargetError` past the deadline, :class:`PairingInterrupted` on a signal."""
        say = say or sys.stderr  # at call time: a caller may have replaced it
        began = time.monotonic()
        text = pairing.pairing_payload(self.options.url, api_key)
        png = out / f"pairing-{phone}.png"
        png.write_bytes(pairing.qr_png(text))
        opened = open_scanner(device)
        print(
            f"\nPair {phone} ({serial}): scan this code with the gateway app "
            f"({'its scanner is open' if opened else 'Settings > Scan QR code'}); "
            f"also in {png}. If the app's service is off, switch it on in its Dashboard "
            f"after the scan. Waiting up to {self.options.pair_timeout:g} s for its first "
            "heartbeat.",
            file=say,
        )
        print(pairing.qr_terminal(text), file=say, flush=True)
        give_up = began + self.options.pair_timeout
        relaunched = False
        try:
            while not self.heard(phone):
                if interrupt is not None and (reason := interrupt()) is not None:
                    raise PairingInterrupted(reason)
                if time.monotonic() >= give_up:
                    raise TargetError(
                        f"{phone} ({serial}) sent no heartbeat through {self.options.url} "
                        f"within {self.options.pair_timeout:g} s of showing its QR code "
                        f"({'scanned' if self._scanned[phone].is_set() else 'no scan seen'}). "
                        "Check that the app's service is on (its Dashboard), that the phone "
                        f"reaches that URL over TLS it trusts (hil pair {phone} --device "
                        f"{serial} checks the network part)."
                    )
                if self._scanned[phone].is_set() and not relaunched:
                    relaunched = True
                    print(f"{phone}: scanned; relaunching the app for its service.", file=say)
                    relaunch_app(device)
                time.sleep(_POLL)  # waiting for a person and a phone; the deadline decides
        finally:
            png.unlink(missing_ok=True)  # it holds the phone's key: not left in the folder
        seconds = time.monotonic() - began
        print(f"{phone} ({serial}) paired: heartbeat after {seconds:.0f} s.", file=say)
        return seconds


class PairingInterrupted(RuntimeError):
    """A signal came while the run waited for a phone to be paired (its name: ``SIGINT``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"interrupted by {reason} while pairing")
        self.reason = reason


def relaunch_app(device: Any) -> None:
    """The ``force_stop`` fault and its undo (``am force-stop``, then launch the app): its
    service, if on, starts with the settings the scan stored (``_layout.tsx:79-87``)."""
    for words in (*fault_commands("force_stop"), *fault_commands("force_stop", undo=True)):
        try:
            shell_status(device, words)
        except DeviceError:
            return  # the person can still switch the service on by hand


def open_scanner(device: Any) -> bool:
    """Open the app's QR scanner on the phone (``am start -a VIEW -d smsgateway://qr-scanner
    PACKAGE``); whether Android started it (it answers ``Error:`` otherwise)."""
    words = ["am", "start", "-W", "-a", "android.intent.action.VIEW", "-d", SCANNER_URI]
    try:
        status, output = shell_status(device, [*words, APP_PACKAGE])
    except DeviceError:
        return False
    return status == 0 and "Error" not in output
