"""Waking phones after SMS were assigned to them (FCM ``sms_pending`` pushes).

The wake-up service decides whom to wake and when; the ``Waker`` it was given only pushes.
Wake-ups are debounced per phone (``Settings.fcm_debounce``): several assignments to one
phone within the window give one push. A push that failed still counts for the window, so a
failing FCM is not hammered; one refused as unregistered does not, so the token the phone
registers next is woken at once. The debounce lives here, once per server, so every waker —
firebase-admin's, the recording one, the simulator's — sees the same pushes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..clock import Clock
from ..errors import InvalidInput
from ..fcm import Waker, WakeTarget
from ..storage.database import Database
from ..storage.tables import gateway_phone
from .dbutil import chunks

__all__ = ["WakeUps", "wake_phones"]


class _Debouncer:
    """Per-phone debounce: a wake-up within ``window`` of the last one admitted is dropped."""

    def __init__(self, clock: Clock, window: timedelta) -> None:
        if window < timedelta(0):
            raise InvalidInput(
                f"The FCM debounce window must not be negative (got {window}); "
                "use 0 to push on every assignment."
            )
        self._clock = clock
        self._window = window
        self._lock = threading.Lock()
        self._last: dict[int, datetime] = {}

    def admit(self, targets: Iterable[WakeTarget]) -> tuple[datetime, list[WakeTarget]]:
        """Return the clock time and the targets to push now, remembering them as pushed."""
        # Decided under one lock so that concurrent requests assigning to the same phone
        # cannot both pass the check before either records its push.
        with self._lock:
            now = self._clock.now()
            admitted: list[WakeTarget] = []
            for target in targets:
                last = self._last.get(target.phone_id)
                # A clock moved backwards (a replaying harness) does not silence a phone.
                if last is not None and timedelta(0) <= now - last < self._window:
                    continue
                self._last[target.phone_id] = now
                admitted.append(target)
            return now, admitted

    def forget(self, phone_id: int, at: datetime) -> None:
        """Forget a push that reached no phone, so the phone's next token is woken at once."""
        with self._lock:
            if self._last.get(phone_id) == at:
                del self._last[phone_id]


class WakeUps:
    """The server's wake-up service: the per-phone debounce in front of the waker."""

    def __init__(self, waker: Waker, clock: Clock, debounce: timedelta) -> None:
        self.waker = waker
        self._debouncer = _Debouncer(clock, debounce)

    def push(self, targets: Sequence[WakeTarget]) -> list[int]:
        """Push to each target not woken within the window; return the phone ids whose
        token FCM reports unregistered (those pushes do not count for the window)."""
        at, admitted = self._debouncer.admit(targets)
        if not admitted:
            return []
        gone = self.waker.wake(admitted, at)
        for phone_id in gone:
            self._debouncer.forget(phone_id, at)
        return gone


def wake_phones(db: Database, wakeups: WakeUps, phone_ids: Iterable[int]) -> int:
    """Wake each of these phones that has an FCM token (debounced); returns how many had
    one.

    Runs after the assignment committed (the phone must find its SMS when it polls), and
    outside any request's transaction: a slow or failing push never holds the database.
    Tokens that FCM reports as unregistered are cleared, unless the phone registered a
    new one meanwhile; the app registers its token again every tenth heartbeat.
    """
    wanted = sorted(set(phone_ids))
    if not wanted:
        return 0
    targets: list[WakeTarget] = []
    with db.read() as conn:
        for part in chunks(wanted):
            targets += [
                WakeTarget(row.id, row.fcm_token)
                for row in conn.execute(
                    select(gateway_phone.c.id, gateway_phone.c.fcm_token)
                    .where(
                        gateway_phone.c.id.in_(part),
                        gateway_phone.c.active,
                        gateway_phone.c.fcm_token.is_not(None),
                        gateway_phone.c.fcm_token != "",
                    )
                    # a stable order: the same pushes in the same order on every database
                    .order_by(gateway_phone.c.id)
                )
            ]
    if not targets:
        return 0
    gone = set(wakeups.push(targets))
    if gone:
        with db.begin() as conn:
            for target in targets:
                if target.phone_id in gone:
                    conn.execute(
                        update(gateway_phone)
                        .where(
                            gateway_phone.c.id == target.phone_id,
                            gateway_phone.c.fcm_token == target.token,
                        )
                        .values(fcm_token=None)
                    )
    return len(targets)
