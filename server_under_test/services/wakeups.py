"""Waking phones after SMS were assigned to them (FCM ``sms_pending`` pushes)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from ..fcm import Waker, WakeTarget
from ..storage.database import Database
from ..storage.tables import gateway_phone
from .dbutil import chunks

__all__ = ["wake_phones"]


def wake_phones(db: Database, waker: Waker, phone_ids: Iterable[int]) -> int:
    """Push a wake-up to each of these phones that has an FCM token; returns how many.

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
    gone = set(waker.wake(targets))
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
