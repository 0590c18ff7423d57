"""Virtual phones in virtual time (SimPy).

This part will hold the model of the real Android app (poll and heartbeat alarms, the
serial executor, status sync with its backoff ladder, the tracker sweep, reconcile, FCM
wake, inbound reporting), of Android itself (Doze, exact-alarm quotas, SmsUsageMonitor,
process death), of SIMs and carriers, of the network and of recipients, and the radio
ledger that records every transmission. It talks to a gateway server only through a port
(a ``typing.Protocol`` it defines) and imports no other part of this project.

Nothing is implemented here yet; see the project's issues.
"""

from __future__ import annotations

__all__: list[str] = []
