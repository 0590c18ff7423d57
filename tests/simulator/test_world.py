"""The world around the phones: recipients' replies, drawn from the world's seeded randomness."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from simulator.config import NetworkSpec, PhoneSpec, RecipientSpec, SimSpec, WorldSpec
from simulator.world import World

from .test_app import ScriptedGateway

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
WORDS = ("STOP", "STOPSMS", "UNSUBSCRIBE")


def _stopping_world(seed: int, words: tuple[str, ...] = WORDS) -> tuple[World, ScriptedGateway]:
    gateway = ScriptedGateway(sms=60)
    phone = PhoneSpec(name="p1", sims=(SimSpec("+420600000001"),))
    recipients = RecipientSpec(stop_probability=1.0, stop_delay=30.0, stop_words=words)
    world = World(
        WorldSpec(phones=(phone,), recipients=recipients),
        gateway,
        {"p1": "key"},
        seed=seed,
        start=START,
    )
    world.env.run(until=1800)
    return world, gateway


def _replies(gateway: ScriptedGateway) -> Counter[str]:
    # The worker's report of each reply (the live duplicate carries the same word).
    return Counter(call[2]["message"] for call in gateway.of("inbound"))


def test_recipients_reply_every_stop_word_of_the_scenario_not_only_the_first() -> None:
    _, gateway = _stopping_world(seed=1)
    replies = _replies(gateway)
    assert set(replies) == set(WORDS), replies


def test_the_stop_words_drawn_are_the_same_for_the_same_seed_and_differ_for_another() -> None:
    def history(seed: int) -> list[dict[str, Any]]:
        return _stopping_world(seed)[0].history.events

    assert history(5) == history(5)
    assert _replies(_stopping_world(5)[1]) != _replies(_stopping_world(6)[1])


def test_a_single_stop_word_is_always_the_reply() -> None:
    _, gateway = _stopping_world(seed=1, words=("ODHLASIT",))
    assert set(_replies(gateway)) == {"ODHLASIT"}


def test_the_network_jitter_spreads_the_request_times() -> None:
    def heartbeats(jitter: float) -> list[float]:
        gateway = ScriptedGateway()
        phone = PhoneSpec(name="p1", sims=(SimSpec("+420600000001"),))
        network = NetworkSpec(latency=0.15, latency_jitter=jitter)
        world = World(
            WorldSpec(phones=(phone,), network=network),
            gateway,
            {"p1": "key"},
            seed=1,
            start=START,
        )
        world.env.run(until=600)
        # The heartbeat alarm fires on whole seconds; what follows is the request's latency.
        return [round(call[0] % 1, 6) for call in gateway.of("heartbeat")]

    steady, spread = heartbeats(0.0), heartbeats(0.1)
    assert Counter(steady).most_common(1)[0] == (0.15, len(steady) - 1)  # one after a poll
    assert len(set(spread)) == len(spread) >= 9


def test_a_reset_connection_fails_at_once_and_the_server_never_sees_the_request() -> None:
    gateway = ScriptedGateway()
    phone = PhoneSpec(name="p1", sims=(SimSpec("+420600000001"),))
    world = World(
        WorldSpec(phones=(phone,), network=NetworkSpec(connection_reset=1.0)),
        gateway,
        {"p1": "key"},
        seed=1,
        start=START,
    )
    world.env.run(until=300)
    failures = [e for e in world.history.events if e["kind"] == "request"]
    assert gateway.of("heartbeat") == [] and failures
    assert {e["outcome"] for e in failures} == {"reset"}
    # no timeout is waited out: the heartbeats keep their one-a-minute pace
    beats = [e["t"] for e in failures if e["endpoint"] == "heartbeat"]
    assert len(beats) >= 4
