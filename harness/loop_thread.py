"""An asyncio event loop on a thread of its own, for the harness's loopback servers.

The fault proxy (``proxy.py``) and the ADB test double (``adb_double/transport.py``) each
serve sockets on ``127.0.0.1`` while the harness's own thread drives the simulation. Both
need the same thing: open the server on a fresh loop on a daemon thread, tell the caller
when it listens (or why it could not), run a coroutine on that loop from any thread, and
close the server on the loop before the loop stops. :class:`LoopThread` is that, once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["WAIT", "LoopFailed", "LoopThread"]

WAIT = 30.0  # seconds start(), stop() and call() wait for the loop's thread

T = TypeVar("T")


class LoopFailed(RuntimeError):
    """The loop's ``open`` raised, or did not finish within :data:`WAIT` (the cause says)."""


class LoopThread:
    """Run ``open`` on a new event loop on a daemon thread named ``name``, keep the loop
    running until :meth:`stop`, which runs ``close`` on it first."""

    def __init__(
        self,
        name: str,
        open_: Callable[[], Coroutine[Any, Any, None]],
        close: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self.name = name
        self._open = open_
        self._close = close
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        """Whether :meth:`start` succeeded and :meth:`stop` has not been called since."""
        return self._thread is not None

    def start(self) -> None:
        """Open on the loop's thread; :class:`LoopFailed` (with the cause) when it cannot."""
        ready = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(target=self._run, args=(ready, failure), name=self.name)
        thread.daemon = True
        thread.start()
        if not ready.wait(WAIT) or failure:
            thread.join(WAIT)
            cause = failure[0] if failure else TimeoutError(f"no answer in {WAIT:g} s")
            raise LoopFailed(f"{self.name} did not open") from cause
        self._thread = thread

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (from another thread)."""
        loop = self._loop
        if loop is None:
            coroutine.close()
            raise LoopFailed(f"{self.name} is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(WAIT)

    def stop(self) -> None:
        """Run ``close`` on the loop, then stop the loop and its thread (a no-op when not
        running). ``close``'s exception, if any, is raised after the loop stopped."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(WAIT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(WAIT)
            self._thread = self._loop = None

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:  # start() raises it
            failure.append(exc)
            loop.close()
            ready.set()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()
