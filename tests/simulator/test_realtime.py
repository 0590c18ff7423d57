"""The wall-clock environment: SimPy time paced by the wall clock, woken by news from
elsewhere (an answer, a push), never moving backwards."""

from __future__ import annotations

import threading
import time

import pytest

from simulator.realtime import Lateness, WallClockEnvironment


def test_time_follows_the_wall_clock_times_the_scale():
    env = WallClockEnvironment(scale=100.0)
    fired: list[float] = []

    def ticker():  # type: ignore[no-untyped-def]
        for _ in range(3):
            yield env.timeout(50)  # 0.5 wall seconds each at 100x
            fired.append(env.now)

    env.process(ticker())
    wall = time.monotonic()
    env.run(until=160)
    elapsed = time.monotonic() - wall
    env.close()
    assert fired == [50, 100, 150]
    assert env.now == 160
    assert elapsed >= 1.55  # 160 simulation seconds at 100x, never faster than the wall


def test_news_from_another_thread_wakes_the_environment_at_the_wall_clocks_time():
    env = WallClockEnvironment(scale=1.0)
    answer = env.event()
    got: list[tuple[float, str]] = []

    def phone():  # type: ignore[no-untyped-def]
        value = yield answer  # a request in flight: nothing else is scheduled
        got.append((env.now, value))

    env.process(phone())
    threading.Timer(0.3, lambda: env.post(lambda: answer.succeed("200 OK"))).start()
    env.run(until=3)  # woken by the answer, long before 3 s; then runs on to 3
    env.close()
    assert len(got) == 1 and got[0][1] == "200 OK"
    # it arrived about 0.3 s in: the environment took the wall clock's time, not 0 or 3
    assert 0.25 <= got[0][0] < 2.9


def test_time_never_moves_backwards_when_news_arrives_between_due_events():
    env = WallClockEnvironment(scale=50.0)
    seen: list[float] = []

    def watcher():  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(1)
            seen.append(env.now)

    env.process(watcher())
    stop = threading.Event()

    def chatter() -> None:
        while not stop.is_set():
            env.post(lambda: seen.append(env.now))
            time.sleep(0.005)

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        env.run(until=40)
    finally:
        stop.set()
        thread.join()
        env.close()
    assert seen == sorted(seen)
    assert len(seen) > 40


def test_a_run_does_not_process_events_due_at_its_end_like_simpy():
    env = WallClockEnvironment(scale=1000.0)
    fired: list[float] = []
    env.timeout(10).callbacks.append(lambda _: fired.append(env.now))
    env.run(until=10)
    assert fired == []
    env.run(until=11)
    env.close()
    assert fired == [10]


def test_lateness_is_measured_and_a_bad_scale_or_until_is_refused():
    lateness = Lateness()
    for ms in range(1, 101):
        lateness.add(ms / 1000)
    assert 0.098 <= lateness.quantile(0.99) <= 0.1
    assert lateness.worst == pytest.approx(0.1)
    with pytest.raises(ValueError, match="positive"):
        WallClockEnvironment(scale=0)
    env = WallClockEnvironment()
    with pytest.raises(TypeError, match="time to run until"):
        env.run()
    env.close()
