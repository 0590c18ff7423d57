"""The gateway's periodic jobs (reference-system.md §2.9-§2.11), and how a run is claimed.

* ``heartbeat_check``, every minute: a phone silent for longer than its
  ``heartbeat_timeout`` goes offline;
* ``stuck_reset``, every 5 minutes: an SMS handed out more than 30 minutes ago and never
  confirmed is settled by its delivery guarantee;
* ``daily_reset``, at local midnight: ``sent_today = 0`` on every active phone;
* ``monthly_reset``, daily at 00:05 local: ``sent_month = 0`` on the phones whose month
  starts today.

"Local" is ``Settings.timezone`` (default Europe/Prague).

A run belongs to a *slot*, its scheduled time. Whoever runs it first inserts ``(job, slot)``
into ``job_run`` in the job's own transaction; the unique key lets exactly one of several
workers succeed, on SQLite and PostgreSQL alike, and the table is the record of what ran.

The stuck reset measures from ``picked_at``, the time of the latest pickup (the reference
measures from a ``write_date`` that pickup does not refresh, so it re-issues SMS that a
phone is still sending: B3). What happens next is the SMS's delivery guarantee (DESIGN.md):
``at_least_once`` queues it again (it may be transmitted twice: the phone may have sent it),
``at_most_once`` ends it as ``error`` / ``sms_unconfirmed`` (it may never have left). A late
``sent`` from the phone still wins: the report is the truth about the radio.

Defect switches of this module (``Settings.defects``, off by default):

* **C1**: ``monthly_reset`` zeroes ``sent_month`` on the 1st of each month (local date) and
  on no other day, whatever the phone's ``month_start_day``, and then sets
  ``next_month_reset`` to the 1st of the next month;
* **C2**: the daily reset follows the UTC calendar: ``sent_today`` is zeroed by the first
  job run (of any job; ``heartbeat_check`` runs every minute) at or after 00:00 UTC, recorded
  in ``job_run`` as ``daily_reset_utc`` for that midnight, and ``daily_reset`` at local
  midnight changes nothing. Riding on every job run makes the defect show under whoever fires
  the jobs (the harness in virtual time, the scheduler in a served process), both of which
  fire ``daily_reset`` at local midnight;
* **C6**: the stuck reset queues ``at_most_once`` SMS again too, as if ``at_least_once``;
* **B25**: the SMS the stuck reset ends do not complete their campaigns (as if it were one of
  the reference's raw-SQL statements, which skip ``_check_mailing_completion``), so a
  campaign whose last SMS ends here stays ``sending``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, select, update

from ..errors import NotFound
from ..storage.tables import gateway_phone, job_run, sms
from .campaigns import end_sms
from .context import Context
from .dbutil import chunks, claim
from .phones import IN_FLIGHT, UNCONFIRMED, next_reset_date, within_heartbeat_timeout

__all__ = [
    "JOBS",
    "STUCK_AFTER",
    "UTC_DAILY_RESET",
    "Job",
    "JobRun",
    "claim_and_run",
    "due_slot",
    "job_zone",
    "next_slot",
    "run_job",
]

STUCK_AFTER = timedelta(minutes=30)
# The job_run name of the daily reset on the UTC calendar (defect C2).
UTC_DAILY_RESET = "daily_reset_utc"
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class JobRun:
    """One run of a job: its slot, and how many rows it changed (None: slot taken)."""

    job: str
    slot: datetime
    affected: int | None


def heartbeat_check(conn: Connection, ctx: Context) -> int:
    """Online phones whose last heartbeat is older than their timeout go offline."""
    now = ctx.now()
    stale = [
        row.id
        for row in conn.execute(
            select(
                gateway_phone.c.id,
                gateway_phone.c.last_heartbeat,
                gateway_phone.c.heartbeat_timeout,
            ).where(gateway_phone.c.state == "online")
        )
        if not within_heartbeat_timeout(row, now, ctx.settings)
    ]
    if stale:
        conn.execute(
            update(gateway_phone).where(gateway_phone.c.id.in_(stale)).values(state="offline")
        )
    return len(stale)


def stuck_reset(conn: Connection, ctx: Context) -> int:
    """Settle SMS handed out more than 30 minutes ago and never confirmed."""
    now = ctx.now()
    # B3: the reference's clock starts at the last write before pickup, not at pickup.
    since = sms.c.created_at if ctx.settings.defect("B3") else sms.c.picked_at
    stuck = and_(
        sms.c.state == "pending", sms.c.gateway_state.in_(IN_FLIGHT), since < now - STUCK_AFTER
    )
    # C6: at_most_once SMS are queued again like at_least_once ones (and may go out twice).
    again = ("at_least_once", "at_most_once") if ctx.settings.defect("C6") else ("at_least_once",)
    requeued = conn.execute(
        update(sms)
        .where(stuck, sms.c.delivery.in_(again))
        .values(gateway_state="pending", updated_at=now)
    ).rowcount
    # raw: counted as one of the reference's raw-SQL paths for completion (B25)
    ended = end_sms(
        conn,
        ctx,
        update(sms)
        .where(stuck, sms.c.delivery == "at_most_once")
        .values(
            state="error",
            gateway_state="error",
            failure_type=UNCONFIRMED,
            error_message=(
                "The phone took this SMS more than 30 minutes ago and never confirmed it; "
                "it may or may not have been sent, and is not re-sent (at-most-once)."
            ),
            updated_at=now,
        ),
        raw=True,
    )
    return int(requeued or 0) + len(ended)


def daily_reset(conn: Connection, ctx: Context) -> int:
    """``sent_today = 0`` on every active phone (with C2: nothing, see ``claim_and_run``)."""
    if ctx.settings.defect("C2"):
        return 0
    return _zero_sent_today(conn, ctx)


def _zero_sent_today(conn: Connection, ctx: Context) -> int:
    result = conn.execute(update(gateway_phone).where(gateway_phone.c.active).values(sent_today=0))
    return int(result.rowcount or 0)


def _utc_daily_reset(conn: Connection, ctx: Context) -> None:
    """C2: zero ``sent_today`` once per UTC day, at the first job run after 00:00 UTC.

    Only a midnight the server lived through counts (some job ran before it): a fresh
    server's first job run must not wipe what its phones sent before it.
    """
    now = ctx.now()
    midnight = datetime.combine(now.date(), time(0, 0))
    done = conn.execute(
        select(job_run.c.id).where(job_run.c.job == UTC_DAILY_RESET, job_run.c.slot == midnight)
    ).first()
    if done is not None:
        return
    lived = conn.execute(select(job_run.c.id).where(job_run.c.started_at < midnight).limit(1))
    if lived.first() is None:
        return
    _claim_and_run(conn, ctx, UTC_DAILY_RESET, midnight.replace(tzinfo=_UTC), _zero_sent_today)


def local_today(ctx: Context) -> date:
    """Today in the server's time zone."""
    return ctx.clock.now().astimezone(ZoneInfo(ctx.settings.timezone)).date()


def monthly_reset(conn: Connection, ctx: Context) -> int:
    """Reset ``sent_month`` on phones whose month starts today (or whose reset is overdue)."""
    today = local_today(ctx)
    if ctx.settings.defect("C1"):
        return _monthly_reset_on_the_first(conn, today)
    due = list(
        conn.execute(
            select(gateway_phone.c.id, gateway_phone.c.month_start_day).where(
                gateway_phone.c.next_month_reset <= today
            )
        )
    )
    for row in due:
        conn.execute(
            update(gateway_phone)
            .where(gateway_phone.c.id == row.id)
            .values(sent_month=0, next_month_reset=next_reset_date(row.month_start_day, today))
        )
    return len(due)


def _monthly_reset_on_the_first(conn: Connection, today: date) -> int:
    """C1: every phone's month starts on the 1st, whatever its ``month_start_day``.

    On the 1st every phone not yet reset today is due (a reset writes the next 1st, so a
    second run that day finds nothing); on other days only an overdue 1st is caught up.
    """
    following = next_reset_date(1, today)

    def due(reset: date | None) -> bool:
        if today.day == 1:
            return reset is None or reset < following
        return reset is not None and reset.day == 1 and reset <= today

    rows = conn.execute(select(gateway_phone.c.id, gateway_phone.c.next_month_reset))
    ids = [row.id for row in rows if due(row.next_month_reset)]
    for part in chunks(ids):
        conn.execute(
            update(gateway_phone)
            .where(gateway_phone.c.id.in_(part))
            .values(sent_month=0, next_month_reset=following)
        )
    return len(ids)


@dataclass(frozen=True)
class Job:
    """A periodic job: what it does and when its slots fall."""

    name: str
    action: Callable[[Connection, Context], int]
    period: timedelta  # fixed-period jobs; daily jobs use ``at`` in the server's time zone
    at: time | None = None

    def slot_at_or_before(self, when: datetime, tz: ZoneInfo) -> datetime:
        """The latest slot not after ``when`` (aware UTC in, aware UTC out)."""
        if self.at is None:
            step = int(self.period.total_seconds())
            epoch = int(when.timestamp())
            return datetime.fromtimestamp(epoch - epoch % step, when.tzinfo)
        local = when.astimezone(tz)
        slot = datetime.combine(local.date(), self.at, tz)
        if slot > local:
            slot = datetime.combine(local.date() - timedelta(days=1), self.at, tz)
        return slot.astimezone(when.tzinfo)

    def next_slot_after(self, when: datetime, tz: ZoneInfo) -> datetime:
        """The first slot strictly after ``when``."""
        if self.at is None:
            return self.slot_at_or_before(when, tz) + self.period
        local = self.slot_at_or_before(when, tz).astimezone(tz)
        following = datetime.combine(local.date() + timedelta(days=1), self.at, tz)
        return following.astimezone(when.tzinfo)


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("heartbeat_check", heartbeat_check, timedelta(minutes=1)),
        Job("stuck_reset", stuck_reset, timedelta(minutes=5)),
        Job("daily_reset", daily_reset, timedelta(days=1), at=time(0, 0)),
        Job("monthly_reset", monthly_reset, timedelta(days=1), at=time(0, 5)),
    )
}


def _job(name: str) -> Job:
    try:
        return JOBS[name]
    except KeyError:
        raise NotFound(f"No job named {name!r}; the jobs are {', '.join(JOBS)}.") from None


def job_zone(ctx: Context, name: str) -> ZoneInfo:
    """The time zone of the daily slots of ``name``: the server's, or UTC for C2's reset."""
    if name == "daily_reset" and ctx.settings.defect("C2"):
        return _UTC
    return ZoneInfo(ctx.settings.timezone)


def due_slot(ctx: Context, name: str) -> datetime:
    """The slot of ``name`` that is due now (the latest one not after now)."""
    return _job(name).slot_at_or_before(ctx.clock.now(), job_zone(ctx, name))


def next_slot(ctx: Context, name: str) -> datetime:
    """When ``name`` is next due."""
    return _job(name).next_slot_after(ctx.clock.now(), job_zone(ctx, name))


def runner_name() -> str:
    """Who ran a job: host and process, for the record in ``job_run``."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def claim_and_run(
    conn: Connection,
    ctx: Context,
    name: str,
    slot: datetime,
    action: Callable[[Connection, Context], int] | None = None,
) -> JobRun:
    """Run ``name`` for ``slot`` unless another worker already claimed that slot.

    With C2, every job run first catches up the daily reset of the UTC calendar.
    """
    run = action or _job(name).action
    if ctx.settings.defect("C2"):
        _utc_daily_reset(conn, ctx)
    return _claim_and_run(conn, ctx, name, slot, run)


def _claim_and_run(
    conn: Connection,
    ctx: Context,
    name: str,
    slot: datetime,
    run: Callable[[Connection, Context], int],
) -> JobRun:
    naive_slot = slot.astimezone(_UTC).replace(tzinfo=None)
    claimed = claim(
        conn,
        job_run,
        {"job": name, "slot": naive_slot, "started_at": ctx.now(), "runner": runner_name()},
        ["job", "slot"],
    )
    if not claimed:
        return JobRun(name, slot, None)
    affected = run(conn, ctx)
    conn.execute(
        update(job_run)
        .where(job_run.c.job == name, job_run.c.slot == naive_slot)
        .values(affected=affected)
    )
    return JobRun(name, slot, affected)


def run_job(conn: Connection, ctx: Context, name: str) -> JobRun:
    """Run ``name`` now, on demand (virtual time, operators): the slot is the current time."""
    return claim_and_run(conn, ctx, name, ctx.clock.now())
