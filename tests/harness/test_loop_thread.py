"""harness.loop_thread: the loop on a thread of its own behind the loopback servers."""

from __future__ import annotations

import asyncio
import threading

import pytest

from harness.loop_thread import LoopFailed, LoopThread


def test_open_runs_on_the_loops_thread_and_close_before_the_loop_stops() -> None:
    seen: list[tuple[str, str]] = []

    async def open_() -> None:
        seen.append(("open", threading.current_thread().name))

    async def close() -> None:
        seen.append(("close", threading.current_thread().name))

    runner = LoopThread("test-loop", open_, close)
    runner.start()
    assert runner.running

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert runner.call(answer()) == 42
    runner.stop()
    assert not runner.running
    assert seen == [("open", "test-loop"), ("close", "test-loop")]
    runner.stop()  # stopping again is a no-op


def test_an_open_that_fails_is_raised_with_its_cause_and_leaves_nothing_running() -> None:
    async def open_() -> None:
        raise OSError("address already in use")

    async def close() -> None:
        raise AssertionError("never opened, never closed")

    runner = LoopThread("failing-loop", open_, close)
    with pytest.raises(LoopFailed) as failed:
        runner.start()
    assert isinstance(failed.value.__cause__, OSError)
    assert not runner.running
    with pytest.raises(LoopFailed, match="failing-loop is not running"):
        runner.call(asyncio.sleep(0))
