"""The world around the phones: recipients' replies, drawn from the world's seeded randomness."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from simulator.config import (
    APP_PROFILES,
    AppProfile,
    NetworkSpec,
    PhoneSpec,
    RecipientSpec,
    SimSpec,
    WorldSpec,
)
from simulator.world import World
from tests.support.scripted_gateway import ScriptedGateway

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


# -- repeated replies and the timed-inbound client ------------------------------------------


def _repeating_world(
    seed: int, repeat: float, app: AppProfile = APP_PROFILES["1.7.1"]
) -> tuple[World, ScriptedGateway]:
    gateway = ScriptedGateway(sms=40)
    phone = PhoneSpec(name="p1", sims=(SimSpec("+420600000001"),), app=app)
    recipients = RecipientSpec(
        other_probability=1.0,
        other_replies=("OK",),
        stop_delay=30.0,
        repeat_probability=repeat,
        repeat_delay=180.0,
    )
    world = World(
        WorldSpec(phones=(phone,), recipients=recipients),
        gateway,
        {"p1": "key"},
        seed=seed,
        start=START,
    )
    world.env.run(until=3600)
    return world, gateway


def test_a_repeat_is_the_same_text_to_the_same_number_90_to_270_s_after_the_reply() -> None:
    world, _ = _repeating_world(seed=3, repeat=0.5)
    by_sender: dict[str, list[dict[str, Any]]] = {}
    for event in world.history.of_kind("inbound_received"):
        by_sender.setdefault(event["sender"], []).append(event)
    twice = [got for got in by_sender.values() if len(got) == 2]
    assert 10 <= len(twice) <= 30, len(twice)  # 40 replies, each repeated with p = 0.5
    assert all(len(got) <= 2 for got in by_sender.values())
    for first, again in twice:
        assert (again["body"], again["sim_number"]) == (first["body"], first["sim_number"])
        assert 90.0 <= again["t"] - first["t"] <= 270.0


def test_without_repeats_each_person_replies_once_and_repeats_change_the_run() -> None:
    def history(repeat: float) -> list[dict[str, Any]]:
        return _repeating_world(seed=3, repeat=repeat)[0].history.events

    assert history(0.0) == _repeating_world(seed=3, repeat=0.0)[0].history.events
    senders = [e["sender"] for e in history(0.0) if e["kind"] == "inbound_received"]
    assert senders and len(senders) == len(set(senders))  # one reply each
    assert history(1.0) != history(0.0)


def test_the_timed_inbound_client_reports_each_sms_with_its_time() -> None:
    world, gateway = _repeating_world(seed=3, repeat=1.0, app=APP_PROFILES["timed-inbound"])
    received = list(world.history.of_kind("inbound_received"))
    dates = {(e["sender"], e["date"]) for e in received}
    assert len(dates) == len(received) > 20  # each reply and its repeat: two times
    reported = {(c[2]["from_number"], c[2]["received_at"]) for c in gateway.of("inbound")}
    assert reported == dates
    # The inbox scan keeps the two identical texts apart by their times.
    scanned = [m for c in gateway.of("inbound-batch") for m in c[2]["messages"]]
    assert {(m["from_number"], m["received_at"]) for m in scanned} <= dates
    assert all(m["to_number"] == "" for m in scanned)
