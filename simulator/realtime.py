"""SimPy time paced by the wall clock, so the same phones run against a real server.

:class:`WallClockEnvironment` is a ``simpy.Environment`` whose ``now`` follows the wall
clock, ``scale`` times faster (``now = (monotonic() - t0) * scale``): an event due at
``now = 30`` is processed 30 / scale wall seconds after ``t0``. It is driven by an asyncio
event loop of its own, so the requests the phones make (asyncio tasks of the harness's
transport) are in flight while the phones wait: a request is an event the phone yields; the
transport completes it with :meth:`WallClockEnvironment.post` when the answer arrives.

Unlike ``simpy.rt.RealtimeEnvironment``, which sleeps until the next event and cannot be
woken, this environment wakes when an answer arrives, sets ``now`` to the wall clock and
runs the completions there. ``post`` is thread-safe, so a component on another thread (an
FCM endpoint, a fault proxy) hands its news to the phones the same way.

How late each event ran behind its due time is measured (``lateness``): the benchmark of
how many phones one process keeps on schedule reads it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import simpy

__all__ = ["IO_EVERY", "Lateness", "WallClockEnvironment"]

IO_EVERY = 0.005  # wall seconds: the longest run of steps before the loop's I/O is served


class Lateness:
    """How late events ran behind their due time, in wall seconds, as a histogram of
    1 ms buckets (bounded memory however long the run)."""

    BUCKET = 0.001

    def __init__(self) -> None:
        self.buckets: collections.Counter[int] = collections.Counter()
        self.count = 0
        self.worst = 0.0

    def add(self, seconds: float) -> None:
        late = max(0.0, seconds)
        self.buckets[int(late / self.BUCKET)] += 1
        self.count += 1
        self.worst = max(self.worst, late)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the lateness, to the bucket (its upper edge, never
        more than the worst)."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return min((bucket + 1) * self.BUCKET, self.worst)
        return self.worst


class WallClockEnvironment(simpy.Environment):
    """A SimPy environment whose time is the wall clock times ``scale``."""

    def __init__(self, scale: float = 1.0) -> None:
        if not scale > 0:
            raise ValueError(f"The time scale must be positive, got {scale}.")
        super().__init__()
        self.scale = float(scale)
        self.loop = asyncio.new_event_loop()
        self.lateness = Lateness()
        self._t0: float | None = None  # monotonic() when now was 0
        self._epoch0: float | None = None  # time.time() when now was 0
        self._inbox: collections.deque[Callable[[], Any]] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None  # the driver asleep on it
        self._thread: int | None = None  # the thread driving the loop, while it runs

    # -- time -------------------------------------------------------------------------------

    def wall_now(self) -> float:
        """The simulation time the wall clock says it is (``now`` lags it between events)."""
        if self._t0 is None:
            return self._now
        return (time.monotonic() - self._t0) * self.scale

    def started(self) -> float | None:
        """This machine's clock (seconds since 1970) when ``now`` was 0; ``None`` before
        the first run. What a real phone's clock said then, NTP willing."""
        return self._epoch0

    def wall_seconds(self, seconds: float) -> float:
        """Simulation seconds as wall seconds."""
        return seconds / self.scale

    # -- news from elsewhere ----------------------------------------------------------------

    def post(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` in the simulation at the wall clock's time, as soon as possible.

        Safe from any thread; the usual use is ``env.post(lambda: event.succeed(value))``.
        """
        self._inbox.append(callback)
        if threading.get_ident() == self._thread:
            self._wake_up()  # a task of the loop itself: no self-pipe write needed
            return
        # a closed loop: the run is over, nobody listens
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._wake_up)

    def _wake_up(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _take_inbox(self, until: float) -> None:
        if not self._inbox:
            return
        # Bring now up to the wall clock, but never past an event still to run or the end
        # of this run, so time never moves backwards.
        self._now = max(self._now, min(self.wall_now(), self.peek(), until))
        while self._inbox:
            self._inbox.popleft()()

    # -- running ----------------------------------------------------------------------------

    def run(self, until: simpy.Event | float | None = None) -> Any:
        """Process events, paced by the wall clock, until simulation time ``until``."""
        if until is None or isinstance(until, simpy.Event):
            raise TypeError("A wall-clock run needs a time to run until.")
        self._thread = threading.get_ident()
        try:
            self.loop.run_until_complete(self._drive(float(until)))
        finally:
            self._thread = None
        return None

    async def _drive(self, until: float) -> None:
        if self._t0 is None:
            self._t0 = time.monotonic() - self._now / self.scale
            self._epoch0 = time.time() - self._now / self.scale
        loop = self.loop
        yielded = time.monotonic()
        while True:
            self._take_inbox(until)
            due = self.peek()
            clock = time.monotonic()
            wall = (clock - self._t0) * self.scale
            # as simpy's run(until=t): events due at t itself are left for the next run
            if due <= wall and due < until:
                self.lateness.add((wall - due) / self.scale)
                self.step()
                if clock - yielded > IO_EVERY:
                    # Behind schedule: let the answers in flight in between the steps.
                    await asyncio.sleep(0)
                    yielded = time.monotonic()
                continue
            if wall >= until:
                self._now = max(self._now, until)
                return
            # Asleep until the next event is due or news is posted; a future and a timer
            # cost a fraction of what asyncio.wait_for's task per sleep costs.
            if self._inbox:
                continue
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later((min(due, until) - wall) / self.scale, self._wake_up)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            yielded = time.monotonic()

    def close(self) -> None:
        """Cancel what is still in flight and close the loop."""
        if self.loop.is_closed():
            return
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()
