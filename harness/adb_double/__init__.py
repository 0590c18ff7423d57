"""A virtual phone served as an ADB device: a test double of an Android phone for the harness.

``AdbDouble`` (``transport``) speaks the adbd transport protocol on loopback TCP, so the real
``adb`` server attaches it with ``adb connect`` and adbutils reaches it as it reaches a phone
on USB. Behind it stands a ``PhoneModel`` (``phone``: properties, packages and permissions,
settings, Doze, battery, files, the app's process and log, boots; quirks as
``DeviceProfile``/``PROFILES``), whose shell (``shell``) runs the commands of ``commands``
and ``dumpsys`` and whose SMS provider (``provider``) reads the radio ledger. A ``SimulatedPhone``
(``simulated``) is a ``PhoneModel`` that mirrors a running virtual phone of the simulator
and applies ADB's faults to it; an ``UnboxedPhone`` (``unboxed``) is such a phone in a world
of its own, unpaired until a person shows its camera a QR code: a real phone, as a run
sees one. Their scope and limits are in ``docs/devices.md``.
"""

from __future__ import annotations

from .phone import PROFILES, TEST_DOUBLE_MANUFACTURER, AndroidError, DeviceProfile, PhoneModel
from .simulated import DOZE_STATES, SimulatedPhone
from .transport import AdbDouble, DoubleError
from .unboxed import PairingRefused, UnboxedPhone

__all__ = [
    "DOZE_STATES",
    "PROFILES",
    "TEST_DOUBLE_MANUFACTURER",
    "AdbDouble",
    "AndroidError",
    "DeviceProfile",
    "DoubleError",
    "PairingRefused",
    "PhoneModel",
    "SimulatedPhone",
    "UnboxedPhone",
]
