"""Runs the periodic jobs inside a served process (real time).

Every worker of ``hil serve --workers N`` runs a scheduler; each due slot is claimed
through the ``job_run`` table, so exactly one worker runs it. On start, a slot that fell
due while no server ran (a missed midnight reset) is run at once. In virtual time there is
no scheduler: the harness fires the jobs through ``POST /admin/jobs/{name}/run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.concurrency import run_in_threadpool

from .services import campaigns, jobs
from .services.context import Context
from .storage.database import Database

__all__ = ["JobScheduler"]

log = logging.getLogger(__name__)


class JobScheduler:
    """Sleeps until the next slot of any job, then claims and runs it."""

    def __init__(
        self,
        db: Database,
        ctx: Context,
        periods: dict[str, timedelta] | None = None,
    ) -> None:
        self._db = db
        self._ctx = ctx
        periods = periods or {}
        self._jobs = {
            name: jobs.Job(name, job.action, periods[name]) if name in periods else job
            for name, job in jobs.JOBS.items()
        }
        self._tz = ZoneInfo(ctx.settings.timezone)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="hil-jobs")

    async def stop(self) -> None:
        """Stop the loop; a job already running finishes its transaction first."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        now = self._ctx.clock.now()
        due = {name: job.slot_at_or_before(now, self._tz) for name, job in self._jobs.items()}
        while True:
            name = min(due, key=lambda n: due[n])
            wait = (due[name] - self._ctx.clock.now()).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait / (self._ctx.clock.scale or 1.0))
            slot = due[name]
            try:
                await run_in_threadpool(self._run, name, slot)
            except Exception:  # a failed run must not stop the other jobs
                log.exception("Job %s for slot %s failed", name, slot.isoformat())
            due[name] = self._jobs[name].next_slot_after(slot, self._tz)

    def _run(self, name: str, slot: datetime) -> None:
        job = self._jobs[name]
        with self._db.begin() as conn, campaigns.completing(conn, self._ctx):
            run = jobs.claim_and_run(conn, self._ctx, job.name, slot, action=job.action)
        if run.affected is not None:
            log.info("Job %s (slot %s) changed %d row(s)", name, slot.isoformat(), run.affected)
