"""The phone behind the ADB test double: the Android state its shell commands read and change.

A :class:`PhoneModel` is a test double of an Android phone with the gateway app on it: its
system properties, packages and their permissions, global settings (the SMS cap, airplane
mode, mobile data), DeviceIdleController (Doze, the battery-optimisation allow-list), the
battery, a scratch file system for ``adb push`` (``storage``), the SMS provider
(``provider``), the app's log and its process, boots. Device quirks are
:class:`DeviceProfile` values (:data:`PROFILES`). It names itself as a test double:
``ro.product.manufacturer`` is :data:`TEST_DOUBLE_MANUFACTURER` and ``ro.hil.test_double``
says what it is.

**The seam to the simulator.** The model holds nothing a virtual phone of the simulator does
not have, and is built so that one can stand behind it: ``sims`` are the phone's
``simulator.config.SimSpec``; the SMS provider reads the world's ``RadioLedger`` (the entries
whose ``phone`` is this model's ``name``) and takes the ``InboundReceived`` events of the
history (:meth:`PhoneModel.receive_sms`); time is ``clock()``, virtual seconds since
``epoch`` (the world's ``env.now`` and its start). What is state here becomes, in a later
step, a view of the running phone: ``doze_deep``/``doze_light`` of ``simulator.android.Doze``
(``deep_idle`` -> ``IDLE``, ``light_idle`` -> ``IDLE`` light, maintenance ->
``IDLE_MAINTENANCE``), :attr:`PhoneModel.cap_in_force` of its ``SmsUsageMonitor`` (read at
boot, as Android does), ``force_stop`` of ``GatewayApp.kill``, :meth:`PhoneModel.boot` of a
``reboot`` fault, and mobile data or airplane mode of a ``partition``. Today the model does
not age: Doze moves only by the shell's commands.

Every method must be called with :attr:`PhoneModel.lock` held by whoever mutates from
another thread; the double's shell holds it for a whole command line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulator import InboundReceived, RadioLedger, SmsCap, Transmission
from simulator.config import DozeSpec, SimSpec

from ..phone_facts import (
    APP_PACKAGE,
    APP_SCHEMES,
    APP_VERSION,
    APP_VERSION_CODE,
    BOOT_LOG,
    MANIFEST_PERMISSIONS,
    SMS_CAP_COUNT,
    SMS_CAP_INTERVAL,
    WRITE_SECURE_SETTINGS,
)
from .network import Network
from .provider import SmsProvider
from .storage import Storage

__all__ = [
    "PROFILES",
    "TEST_DOUBLE_MANUFACTURER",
    "AndroidError",
    "DeviceProfile",
    "LogLine",
    "Package",
    "PhoneModel",
]

TEST_DOUBLE_MANUFACTURER = "hil-test-double"
_P = "android.permission."
# Dangerous (runtime) permissions: granted one by one, by the user or ``pm grant``.
RUNTIME = frozenset(
    _P + name
    for name in (
        "ACCESS_COARSE_LOCATION",
        "ACCESS_FINE_LOCATION",
        "CALL_PHONE",
        "CAMERA",
        "POST_NOTIFICATIONS",
        "READ_CALL_LOG",
        "READ_CONTACTS",
        "READ_EXTERNAL_STORAGE",
        "READ_PHONE_NUMBERS",
        "READ_PHONE_STATE",
        "READ_SMS",
        "RECEIVE_MMS",
        "RECEIVE_SMS",
        "RECORD_AUDIO",
        "SEND_SMS",
        "WRITE_CONTACTS",
        "WRITE_EXTERNAL_STORAGE",
    )
)
# Development permissions: not granted at install, ``pm grant`` can grant them.
DEVELOPMENT = frozenset({WRITE_SECURE_SETTINGS})
# App-op and special permissions: neither granted at install nor by ``pm grant``.
SPECIAL = frozenset(
    _P + name for name in ("SYSTEM_ALERT_WINDOW", "SCHEDULE_EXACT_ALARM", "USE_EXACT_ALARM")
)
_KNOWN = RUNTIME | DEVELOPMENT | SPECIAL | frozenset(MANIFEST_PERMISSIONS)
# SmsUsageMonitor's defaults when the settings are absent (reference §A5.1).
DEFAULT_CAP = SmsCap(30, 60.0)


@dataclass(frozen=True)
class DeviceProfile:
    """A kind of phone the double plays, with its vendor's quirks."""

    name: str
    model: str
    release: str = "14"
    sdk: int = 34
    # MIUI refuses ``pm grant`` and ``settings put`` from the shell unless "USB debugging
    # (Security settings)" is on in Developer options.
    secure_shell: bool = True
    # MIUI refuses ``pm install`` unless "Install via USB" is on.
    install_over_usb: bool = True
    # Some builds take ``dumpsys deviceidle force-idle``, print nothing and stay ACTIVE.
    force_idle_works: bool = True
    props: tuple[tuple[str, str], ...] = ()
    # Its Doze and alarm constants, as dumpsys prints them (AOSP's by default).
    doze: DozeSpec = field(default_factory=DozeSpec)


PROFILES: dict[str, DeviceProfile] = {
    "stock": DeviceProfile("stock", "HIL Virtual Phone"),
    "miui-like": DeviceProfile(
        "miui-like",
        "HIL Virtual Phone (MIUI-like)",
        release="13",
        sdk=33,
        secure_shell=False,
        install_over_usb=False,
        props=(("ro.miui.ui.version.name", "V140"),),
    ),
    "lazy-doze": DeviceProfile(
        "lazy-doze", "HIL Virtual Phone (ignores force-idle)", force_idle_works=False
    ),
    # A vendor that dozes early and hard: deep idle 10 min after the screen goes off,
    # longer idle periods, short maintenance windows, few while-idle alarms.
    "aggressive-doze": DeviceProfile(
        "aggressive-doze",
        "HIL Virtual Phone (aggressive Doze)",
        doze=DozeSpec(
            light_after_inactive_to=30.0,
            inactive_to=300.0,
            idle_after_inactive_to=300.0,
            sensing_to=0.0,
            locating_to=0.0,
            idle_to=7200.0,
            idle_factor=3.0,
            max_idle_to=43200.0,
            idle_pending_to=60.0,
            max_idle_pending_to=120.0,
            allow_while_idle_quota=6,
        ),
    ),
}


class AndroidError(Exception):
    """What Android's service threw (a Java exception class and its message)."""

    def __init__(self, java_class: str, message: str) -> None:
        super().__init__(f"{java_class}: {message}")
        self.java_class = java_class
        self.message = message


@dataclass
class Package:
    """An installed package and its per-user state."""

    name: str
    version_name: str
    version_code: int
    requested: tuple[str, ...]
    uid: int
    system: bool = False
    granted: set[str] = field(default_factory=set)
    stopped: bool = False  # force-stopped: no broadcasts (not even BOOT_COMPLETED) until started
    pid: int | None = None  # its running process


@dataclass(frozen=True)
class LogLine:
    """One line of the log buffer."""

    t: float  # virtual seconds since the epoch
    pid: int
    tid: int
    level: str  # V D I W E F
    tag: str
    message: str


class PhoneModel:
    """The Android state one ADB test double serves (see the module docstring)."""

    def __init__(
        self,
        profile: DeviceProfile | str = "stock",
        *,
        name: str = "virtual-phone",
        sims: tuple[SimSpec, ...] = (SimSpec("+420601000001"),),
        epoch: datetime = datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        clock: Callable[[], float] | None = None,
        ledger: RadioLedger | None = None,
        app_installed: bool = True,
        battery_level: int = 80,
        charging: bool = True,
    ) -> None:
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.name = name
        self.sims = sims
        self.epoch = epoch
        self.t = 0.0  # the time when no clock is given; a test moves it
        self._clock = clock
        self.ledger = ledger if ledger is not None else RadioLedger()
        self.lock = threading.RLock()
        self.bodies: dict[int, str] = {}
        self.sms = SmsProvider(name, self.ledger, epoch, self.bodies)
        self.settings: dict[str, dict[str, str]] = {
            "global": {"airplane_mode_on": "0", "mobile_data": "1", "wifi_on": "1"},
            "secure": {},
            "system": {},
        }
        self.packages: dict[str, Package] = {}
        for uid, system in enumerate(
            ("android", "com.android.phone", "com.android.shell", "com.android.settings")
        ):
            self.packages[system] = Package(
                system, self.profile.release, self.profile.sdk, (), 1000 + uid, system=True
            )
        self.system_allowlist = {"com.android.phone": 1001}
        self.user_allowlist: set[str] = set()
        self.deep_enabled = self.light_enabled = True
        self.doze_deep = self.doze_light = "ACTIVE"
        self.force_idle = False
        self.screen_on = True
        self.shown: str | None = None  # the URI the gateway app's screen shows (VIEW)
        self.battery_level = self._real_level = battery_level
        self.plugged = self._real_plugged = "ac" if charging else None
        self.battery_overridden = False
        self.files = Storage()
        self.log_lines: list[LogLine] = []
        self.boot_count = 0
        self.boot_stamp = 0
        self.cap_in_force = DEFAULT_CAP
        self.network = Network()  # what toybox nc resolves and reaches
        self._next_pid = 1200
        self._next_uid = 10200
        if app_installed:  # installed and opened once, as on a phone in service
            self.install(APP_PACKAGE, APP_VERSION, APP_VERSION_CODE, MANIFEST_PERMISSIONS)
            self.packages[APP_PACKAGE].stopped = False
        self.boot()

    # -- time ---------------------------------------------------------------------------

    def now(self) -> float:
        """Virtual seconds since the epoch."""
        return self._clock() if self._clock is not None else self.t

    def wall(self, t: float | None = None) -> datetime:
        """The phone's wall clock (UTC) at ``t`` (default now)."""
        return datetime.fromtimestamp(
            self.epoch.timestamp() + (self.now() if t is None else t), UTC
        )

    # -- properties -----------------------------------------------------------------------

    def props(self) -> dict[str, str]:
        """The system properties ``getprop`` lists."""
        profile = self.profile
        sims = self.sims or ()
        values = {
            "ro.product.manufacturer": TEST_DOUBLE_MANUFACTURER,
            "ro.product.brand": "hil",
            "ro.product.model": profile.model,
            "ro.product.name": f"hil_{profile.name.replace('-', '_')}",
            "ro.product.device": "hil_virtual",
            "ro.build.version.release": profile.release,
            "ro.build.version.sdk": str(profile.sdk),
            "ro.build.type": "user",
            "ro.build.fingerprint": (
                f"hil/hil_{profile.name}/hil_virtual:{profile.release}/HIL.DOUBLE/1:user/test-keys"
            ),
            "ro.serialno": f"hil-{self.name}",
            "ro.hil.test_double": "a test double of an Android phone (sms-gateway-hil)",
            "persist.sys.timezone": "UTC",
            "sys.boot_completed": "1",
            "ro.runtime.firstboot": str(self.boot_stamp),
            "gsm.sim.state": ",".join("READY" for _ in sims) or "ABSENT",
            "gsm.sim.operator.alpha": ",".join(sim.carrier.name for sim in sims),
        }
        values.update(profile.props)
        return values

    # -- packages ---------------------------------------------------------------------------

    def install(
        self, name: str, version_name: str, version_code: int, requested: tuple[str, ...]
    ) -> Package:
        """Install or update a package. A new one is stopped until it is first launched; an
        update kills the running process and keeps the grants still requested."""
        old = self.packages.get(name)
        uid = old.uid if old is not None else self._uid()
        package = Package(name, version_name, version_code, tuple(requested), uid, stopped=True)
        if old is not None:
            package.granted = old.granted & set(requested)
            package.stopped = old.stopped
        package.granted |= {p for p in requested if p not in RUNTIME | DEVELOPMENT | SPECIAL}
        self.packages[name] = package
        return package

    def _uid(self) -> int:
        self._next_uid += 1
        return self._next_uid

    def package(self, name: str) -> Package:
        """An installed package, or ``IllegalArgumentException`` as the package manager."""
        package = self.packages.get(name)
        if package is None:
            raise AndroidError("java.lang.IllegalArgumentException", f"Unknown package: {name}")
        return package

    def set_permission(self, name: str, permission: str, granted: bool) -> None:
        """``pm grant`` / ``pm revoke``, with the package manager's refusals."""
        verb = "grantRuntimePermission" if granted else "revokeRuntimePermission"
        if not self.profile.secure_shell:
            raise AndroidError(
                "java.lang.SecurityException",
                f"{verb}: Neither user 2000 nor current process has "
                "android.permission.GRANT_RUNTIME_PERMISSIONS.",
            )
        package = self.package(name)
        if permission not in _KNOWN and permission not in package.requested:
            raise AndroidError(
                "java.lang.IllegalArgumentException", f"Unknown permission: {permission}"
            )
        if permission not in package.requested:
            raise AndroidError(
                "java.lang.SecurityException",
                f"Package {name} has not requested permission {permission}",
            )
        if permission not in RUNTIME | DEVELOPMENT:
            raise AndroidError(
                "java.lang.SecurityException",
                f"Permission {permission} requested by {name} is not a changeable permission type",
            )
        if granted:
            package.granted.add(permission)
        else:
            package.granted.discard(permission)
            if package.pid is not None:  # Android kills an app whose permission is revoked
                package.pid = None

    def force_stop(self, name: str) -> None:
        """``am force-stop``: the process dies and the package is stopped."""
        package = self.package(name)
        package.pid = None
        package.stopped = True

    def view(self, name: str, uri: str) -> bool:
        """``am start -a android.intent.action.VIEW -d URI PKG``: the app's activity shows
        ``uri`` when it views that scheme (``APP_SCHEMES``); whether it resolved."""
        if name != APP_PACKAGE or uri.partition(":")[0] not in APP_SCHEMES:
            return False
        self.shown = uri
        PhoneModel.start(self, name)  # the activity's process; not what a subclass starts
        return True

    def start(self, name: str) -> int:
        """Launch the package's process (``am start``); returns its pid."""
        package = self.package(name)
        package.stopped = False
        if package.pid is None:
            self._next_pid += 1
            package.pid = self._next_pid
        return package.pid

    # -- settings ---------------------------------------------------------------------------

    def put_setting(self, namespace: str, key: str, value: str | None) -> None:
        """``settings put`` (``None``: ``settings delete``)."""
        if namespace in ("global", "secure") and not self.profile.secure_shell:
            raise AndroidError(
                "java.lang.SecurityException",
                "Permission denial: writing to settings requires:"
                "android.permission.WRITE_SECURE_SETTINGS",
            )
        table = self.settings[namespace]
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value

    def switch(self, key: str, on: bool) -> None:
        """A radio switch (``mobile_data``, ``wifi_on``, ``airplane_mode_on``) through its
        service (``svc``, ``cmd``), which a vendor that guards ``settings put`` lets by."""
        self.settings["global"][key] = "1" if on else "0"

    def _read_cap(self) -> SmsCap:
        table = self.settings["global"]
        try:
            count = int(table.get(SMS_CAP_COUNT, DEFAULT_CAP.max_count))
            period = int(table.get(SMS_CAP_INTERVAL, DEFAULT_CAP.period * 1000)) / 1000
            return SmsCap(count, period)
        except ValueError:  # a bad value: SmsUsageMonitor keeps its defaults
            return DEFAULT_CAP

    @property
    def network_connected(self) -> bool:
        """Whether the phone has a data network (mobile data on, airplane mode off)."""
        table = self.settings["global"]
        return table.get("airplane_mode_on") != "1" and (
            table.get("mobile_data") == "1" or table.get("wifi_on") == "1"
        )

    # -- Doze -----------------------------------------------------------------------------

    def force_doze(self, deep: bool = True) -> bool:
        """``dumpsys deviceidle force-idle``: whether the phone went idle."""
        if not (self.deep_enabled if deep else self.light_enabled):
            return False
        if not self.profile.force_idle_works:
            return True  # the command is taken; the state stays where it was
        self.force_idle = True
        if deep:
            self.doze_deep, self.doze_light = "IDLE", "OVERRIDE"
        else:
            self.doze_light = "IDLE"
        return True

    def unforce_doze(self) -> None:
        """``dumpsys deviceidle unforce``: active again if the screen is on or it charges,
        else back to inactive (the countdown starts over)."""
        self.force_idle = False
        awake = self.screen_on or self.plugged is not None
        self.doze_deep = self.doze_light = "ACTIVE" if awake else "INACTIVE"

    # -- battery -----------------------------------------------------------------------------

    def unplug(self) -> None:
        """``dumpsys battery unplug``: the battery reports no charger from now on."""
        self.battery_overridden, self.plugged = True, None

    def set_power(self, kind: str, on: bool) -> None:
        """``dumpsys battery set ac|usb|wireless 0|1``."""
        self.battery_overridden = True
        if on:
            self.plugged = kind
        elif self.plugged == kind:
            self.plugged = None

    def set_level(self, level: int) -> None:
        """``dumpsys battery set level N``."""
        self.battery_overridden, self.battery_level = True, level

    def reset_battery(self) -> None:
        """``dumpsys battery reset``: the real battery again."""
        self.battery_overridden = False
        self.plugged, self.battery_level = self._real_plugged, self._real_level

    # -- SMS and log ------------------------------------------------------------------------

    def send_sms(
        self,
        recipient: str,
        body: str,
        *,
        slot: int = 0,
        sms_id: int | None = None,
        parts: int = 1,
        parts_sent: int | None = None,
    ) -> Transmission:
        """Record a message the phone's radio sent now (what the gateway app would do)."""
        now = self.now()
        entry = Transmission(
            t=now,
            phone=self.name,
            sim_slot=slot,
            sim_number=self.sims[slot].number,
            recipient=recipient,
            sms_id=sms_id,
            uuid=None,
            parts=parts,
            parts_sent=parts if parts_sent is None else parts_sent,
            cause="app",
            submitted=now,
        )
        if sms_id is not None:
            self.bodies[sms_id] = body
        self.ledger.record(entry)
        return entry

    def receive_sms(self, sender: str, body: str, *, slot: int = 0) -> InboundReceived:
        """An SMS arrives now in SIM ``slot``: its inbox row."""
        event = InboundReceived(
            t=self.now(),
            phone=self.name,
            sender=sender,
            body=body,
            date=self.wall().strftime("%Y-%m-%dT%H:%M:%SZ"),
            sim_number=self.sims[slot].number,
        )
        self.sms.receive(event, slot)
        return event

    def log(self, tag: str, message: str, level: str = "I", package: str = APP_PACKAGE) -> None:
        """A line of ``package``'s process in the log (dropped if it is not running)."""
        owner = self.packages.get(package)
        if owner is None or owner.pid is None:
            return
        self.log_lines.append(LogLine(self.now(), owner.pid, owner.pid, level, tag, message))

    # -- boot -------------------------------------------------------------------------------

    def boot(self) -> None:
        """Power on: processes start fresh, Doze and the battery override are gone, the SMS
        cap is read from the settings, and apps with a boot receiver that are not stopped
        start (the gateway app logs it)."""
        self.power_cycle()
        app = self.packages.get(APP_PACKAGE)
        if app is not None and not app.stopped:
            self.start(APP_PACKAGE)
            self.log(*BOOT_LOG)

    def power_cycle(self) -> None:
        """The part of a boot before any app starts: fresh processes, no forced Doze, no
        battery override, the SMS cap read from the settings."""
        self.boot_count += 1
        # init's ro.runtime.firstboot: the boot's wall time in ms, new at every boot
        self.boot_stamp = max(self.boot_stamp + 1, round(self.wall().timestamp() * 1000))
        self.force_idle = False
        self.doze_deep = self.doze_light = "ACTIVE"
        self.reset_battery()
        self.cap_in_force = self._read_cap()
        for package in self.packages.values():
            package.pid = None
