"""The app's inbound side: the SMS receiver, the WorkManager worker and the inbox scan.

One received SMS is reported up to three times, none of them with its time (except under
the ``timed-inbound`` profile, not the real app: ``received_at`` on each): the
``InboundSmsWorker`` job (``SmsBroadcastReceiver.kt``:62-81, ``InboundSmsWorker.kt``:23-72),
the running service's live report (``SmsBroadcastReceiver.kt``:84-86, GS:1048-1073), and
the retroactive inbox scan after the service's next start (GS:1122-1198), which re-reports
everything since its last successful run. Each carries ``{from_number, message,
to_number}`` (the scan's ``to_number`` is empty). ``GS`` = ``SmsGatewayService.kt`` at v1.7.1.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from typing import TYPE_CHECKING, Any

from .android import SMS_ALLOWLIST
from .events import InboundReceived, InboxScan

if TYPE_CHECKING:
    from .app import GatewayApp

__all__ = ["Inbound"]


class Inbound:
    """What the app does with received SMS, and what survives its process (the inbox,
    the scan's checkpoint in SharedPreferences, the workers in WorkManager)."""

    def __init__(self, app: GatewayApp) -> None:
        self.app = app
        self.inbox: list[tuple[float, str, str, int]] = []  # content://sms: t, from, body, date
        self.checkpoint: float | None = None  # last_stop_check_timestamp
        self.pending = 0  # workers that have not yet succeeded
        self._held: list[tuple[str, str, str]] = []  # at the SMSC while the phone is off

    def receive(self, sender: str, body: str, sim_number: str) -> None:
        """``SmsBroadcastReceiver.onReceive`` (:32-98): the inbox, the worker, the live
        report to a running service, and a start for a service that is not running."""
        app = self.app
        if app.powered_off:
            self._held.append((sender, body, sim_number))  # the SMSC retries later
            return
        now = app.env.now
        date_ms = app.ctx.clock.epoch_ms(now) // 1000 * 1000
        self.inbox.append((now, sender, body, date_ms))
        app.history.emit(
            InboundReceived(
                t=now,
                phone=app.name,
                sender=sender,
                body=body,
                date=app.ctx.clock.iso(date_ms),
                sim_number=sim_number,
            )
        )
        app.doze.allow(SMS_ALLOWLIST)
        # The receiving number as SubscriptionInfo tells it: "" for an unreadable SIM.
        to_number = sim_number if sim_number in app.numbers else ""
        report = {"from_number": sender, "message": body, "to_number": to_number}
        if app.profile.inbound_received_at:
            report["received_at"] = app.ctx.clock.iso(date_ms)
        self.pending += 1
        app.env.process(self._worker(report))
        if app.running and app.profile.inbound_live_report:
            app.submit(partial(self._live, report))
        if not app.running:
            app.start()

    def deliver_held(self) -> None:
        """The phone is back on: the SMSC delivers what it held."""
        held, self._held = self._held, []
        for sender, body, sim_number in held:
            self.receive(sender, body, sim_number)

    def _live(self, report: dict[str, Any], gen: int) -> Generator[Any, Any, None]:
        """``reportInboundSmsToServer`` (GS:1048-1073): one try, no retry."""
        yield from self.app.request("inbound", report)

    def _blocked(self) -> bool:
        app = self.app
        return app.powered_off or app.link.partitioned or not app.doze.jobs_allowed()

    def _worker(self, report: dict[str, Any]) -> Generator[Any, Any, None]:
        """``InboundSmsWorker`` (``InboundSmsWorker.kt``:23-72): a job with a network
        constraint (so it waits for a Doze maintenance window unless the app is exempt),
        exponential backoff from 10 s, retried until a 2xx."""
        app = self.app
        env, profile = app.env, app.profile
        attempt = 0
        try:
            while True:
                while self._blocked():
                    if app.powered_off:
                        yield app.power_on
                    elif app.link.partitioned:
                        yield env.timeout(app.link.partitioned_until - env.now)
                    else:
                        yield app.doze.job_window()
                reply = yield from app.http("inbound", report, profile.inbound_auth, self._blocked)
                if reply is not None:
                    return
                attempt += 1
                delay = min(
                    profile.inbound_backoff * 2 ** (attempt - 1), profile.inbound_backoff_max
                )
                yield env.timeout(delay)
        finally:
            self.pending -= 1

    def scan_task(self, gen: int) -> Generator[Any, Any, None]:
        """The scan as an executor task (1.1 queues it once per start)."""
        yield from self.scan()

    def scan(self) -> Generator[Any, Any, bool]:
        """``retroactiveStopCheck`` (GS:1122-1198): every received SMS since the last
        successful scan (30 days at first), one per sender and text (``timed-inbound``: and
        time), in one request; the
        checkpoint moves only after a 2xx, to the time the answer came. The 1.1 profile
        keeps inbox texts containing STOP, 7 days back, each one, and moves its checkpoint
        whatever the answer. True when the check is done (nothing to retry)."""
        app = self.app
        now = app.env.now
        horizon = app.profile.scan_days * 86400.0
        since = self.checkpoint if self.checkpoint is not None else now - horizon
        stop_only = app.profile.scan_mode == "start-stop-only"
        timed = app.profile.inbound_received_at
        seen: set[tuple[str, str, int]] = set()
        messages: list[dict[str, str]] = []
        oldest = now
        for received, sender, body, date_ms in self.inbox:
            if received <= since:
                continue
            # A timed client keeps two identical texts apart: their times differ.
            key = (sender, body, date_ms if timed else 0)
            if stop_only:
                if "STOP" not in body.upper():
                    continue
            elif key in seen:
                continue
            seen.add(key)
            oldest = min(oldest, received)
            item = {"from_number": sender, "message": body, "to_number": ""}
            if timed:
                item["received_at"] = app.ctx.clock.iso(date_ms)
            messages.append(item)
        if not messages:
            self.checkpoint = now
            return True
        app.history.emit(
            InboxScan(
                t=now, phone=app.name, messages=len(messages), oldest_age=round(now - oldest, 6)
            )
        )
        reply = yield from app.request("inbound-batch", {"messages": messages})
        if reply is None and not stop_only:
            return False
        self.checkpoint = app.env.now
        return True
