"""Virtual phones in virtual time (SimPy).

This part will hold the model of the real Android app (poll and heartbeat alarms, the
serial executor, status sync with its backoff ladder, the tracker sweep, reconcile, FCM
wake, inbound reporting), of Android itself (Doze, exact-alarm quotas, SmsUsageMonitor,
process death), of SIMs and carriers, of the network and of recipients, and the radio
ledger that records every transmission. It talks to a gateway server only through a port
(a ``typing.Protocol`` it defines) and imports no other part of this project.

So far: the radio ledger and Android's per-SIM SMS cap; the rest follows the issues.
"""

from __future__ import annotations

from .ledger import RadioLedger, Transmission
from .sms_monitor import PRESETS, SmsCap, SmsUsageMonitor, Verdict

__all__ = ["PRESETS", "RadioLedger", "SmsCap", "SmsUsageMonitor", "Transmission", "Verdict"]
