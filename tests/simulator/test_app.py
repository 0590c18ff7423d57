"""The virtual phone against a scripted gateway: the app 1.7.1 behaviours one by one."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from simulator.config import (
    APP_PROFILES,
    AndroidSpec,
    CarrierSpec,
    PhoneSpec,
    RecipientSpec,
    SimSpec,
    WorldSpec,
)
from simulator.port import Reply
from simulator.world import World

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


class ScriptedGateway:
    """A test double of the gateway API: a queue, acks for everything, switchable failures."""

    def __init__(self, sms: int = 0, body: str = "Hello", rate: int = 600) -> None:
        self.rate = rate
        self.queue = [
            {
                "id": i,
                "phone_number": f"+42077700{i:04d}",
                "message": body,
                "uuid": f"u{i}",
                "gateway_phone_number": "",
                "segments": 1,
            }
            for i in range(1, sms + 1)
        ]
        self.calls: list[tuple[float, str, dict[str, Any], str]] = []
        self.failing: set[str] = set()
        self.confirmed: dict[int, str] = {}

    def call(
        self,
        api_key: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        at: float,
        auth: str = "x-api-key",
    ) -> Reply:
        self.calls.append((at, endpoint, dict(body), auth))
        if endpoint in self.failing:
            return Reply(500, {"success": False})
        if endpoint == "inbound" and auth != "x-api-key":
            return Reply(401, {"success": False, "error": "Missing API key"})
        if endpoint == "pending":
            batch, self.queue = self.queue[: body["limit"]], self.queue[body["limit"] :]
            return Reply(200, {"success": True, "sms_list": batch})
        if endpoint == "heartbeat":
            return Reply(
                200,
                {
                    "success": True,
                    "rate_limit": self.rate,
                    "pending_count": {"+420600000001": len(self.queue)},
                },
            )
        if endpoint == "confirm-batch":
            for item in body["results"]:
                self.confirmed[item["id"]] = item["status"]
            return Reply(200, {"success": True, "ack_ids": [i["id"] for i in body["results"]]})
        if endpoint == "reconcile":
            return Reply(
                200,
                {
                    "success": True,
                    "already_confirmed_ids": [],
                    "stuck_ids": [],
                    "not_found_ids": [],
                },
            )
        if endpoint == "inbound":
            return Reply(
                200, {"success": True, "is_stop": body["body"] == "STOP", "blacklisted": False}
            )
        return Reply(200, {"success": True})

    def of(self, endpoint: str) -> list[tuple[float, str, dict[str, Any], str]]:
        return [c for c in self.calls if c[1] == endpoint]


def world(gateway: ScriptedGateway, *, seed: int = 1, **phone: Any) -> World:
    phone.setdefault("sims", (SimSpec("+420600000001"),))
    spec = PhoneSpec(name="p1", **phone)
    return World(WorldSpec(phones=(spec,)), gateway, {"p1": "key"}, seed=seed, start=START)


def events(w: World, kind: str) -> list[dict[str, Any]]:
    return list(w.history.of_kind(kind))


def test_start_polls_at_once_heartbeats_at_5_s_then_every_60_s() -> None:
    gw = ScriptedGateway()
    w = world(gw)
    w.env.run(until=200)
    assert gw.of("pending")[0][0] == pytest.approx(0.15, abs=0.05)
    heartbeats = [round(c[0]) for c in gw.of("heartbeat")]
    assert heartbeats == [5, 60, 120, 180]
    assert gw.of("pending")[0][2] == {"phone_numbers": ["+420600000001"], "limit": 20}


def test_a_poll_sends_20_from_the_default_sim_spaced_by_the_rate_limit() -> None:
    gw = ScriptedGateway(sms=25)
    w = world(gw)
    w.env.run(until=30)
    radio = events(w, "radio")
    assert len(radio) == 20  # limit 20: the other 5 wait for the next poll
    assert {e["sim_slot"] for e in radio} == {0}
    # rate_limit starts at 100/min (600 ms) until a heartbeat answers 600/min (100 ms).
    sends = sorted(e["t"] - e["t"] % 0.001 for e in radio)
    assert sends[-1] - sends[0] >= 19 * 0.1 - 1e-6


def test_a_poll_trigger_during_a_running_poll_is_dropped() -> None:
    gw = ScriptedGateway(sms=20)
    w = world(gw)
    w.env.run(until=1.0)  # mid-batch (20 sends, 600 ms apart)
    w.apps["p1"].trigger_poll("fcm")
    w.env.run(until=20)
    assert [e["why"] for e in events(w, "poll_dropped")] == ["fcm"]
    assert len(gw.of("pending")) == 1


def test_the_heartbeat_safety_net_polls_when_sms_wait() -> None:
    gw = ScriptedGateway(sms=200)
    w = world(gw)
    w.env.run(until=290)  # before the 300 s poll alarm
    polls = [round(c[0]) for c in gw.of("pending")]
    # After the start, a poll comes only from a heartbeat whose answer finds the last poll
    # started more than 60 s ago: one batch every one or two heartbeats (network jitter
    # decides), never an immediate re-poll although SMS remain.
    assert polls[0] == 0 and len(polls) >= 3
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert all(min(abs(g - 60), abs(g - 120)) <= 2 for g in gaps), gaps


def test_statuses_sync_through_confirm_batch_and_are_marked_synced() -> None:
    gw = ScriptedGateway(sms=20)
    w = world(gw)
    w.env.run(until=60)
    assert gw.confirmed == dict.fromkeys(range(1, 21), "sent")
    assert not w.apps["p1"].store.unsynced
    assert all(len(c[2]["results"]) <= 50 for c in gw.of("confirm-batch"))


def test_failed_syncs_climb_the_backoff_ladder() -> None:
    gw = ScriptedGateway(sms=1)
    gw.failing.add("confirm-batch")
    w = world(gw)
    w.env.run(until=1500)
    attempts = [c[0] for c in gw.of("confirm-batch")]
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # Attempts 1-3 on consecutive 3 s cycles; with 3-5 failures only on cycles divisible
    # by 10 (30 s); with 6-9 on cycles divisible by 100 (300 s).
    assert gaps[0] == pytest.approx(3.0, abs=0.5)
    assert gaps[1] == pytest.approx(3.0, abs=0.5)
    assert gaps[3] == pytest.approx(30.0, abs=0.5)
    assert gaps[4] == pytest.approx(30.0, abs=0.5)
    assert gaps[6] == pytest.approx(300.0, abs=0.5)
    assert gaps[7] == pytest.approx(300.0, abs=0.5)
    assert w.apps["p1"].store.rows[1].attempts == len(attempts)


def test_a_lost_callback_is_swept_as_a_timeout_after_60_to_90_s() -> None:
    gw = ScriptedGateway(sms=1)
    carrier = CarrierSpec(lost_callback=1.0)
    w = world(gw, sims=(SimSpec("+420600000001", carrier),))
    w.env.run(until=200)
    assert len(events(w, "radio")) == 1  # it did leave the phone
    assert gw.confirmed == {1: "error"}
    (sync,) = [c for c in gw.of("confirm-batch") if c[2]["results"][0]["id"] == 1]
    assert sync[2]["results"][0]["error_message"] == "TIMEOUT_0of1_parts_sent_0_failed"
    assert 60 <= sync[0] <= 95


def test_process_death_loses_trackers_keeps_the_store_and_reconciles_at_restart() -> None:
    gw = ScriptedGateway(sms=20)
    gw.failing.add("confirm-batch")
    w = world(gw)
    w.env.run(until=5.0)  # some sent and stored (unsynced), the rest in flight
    app = w.apps["p1"]
    stored = set(app.store.unsynced)
    assert stored and app.trackers
    app.kill("process_death", restart_after=10.0)
    assert not app.trackers
    gw.failing.clear()
    w.env.run(until=40)
    # The first start's reconcile never ran: it waited behind the poll the death cut short.
    (reconcile,) = gw.of("reconcile")
    assert set(reconcile[2]["known_ids"]) >= stored
    # Messages in flight at the death left the radio but their callbacks went nowhere.
    assert len(events(w, "radio")) > len(stored)


def test_the_android_cap_holds_the_31st_part_behind_the_dialog() -> None:
    gw = ScriptedGateway(sms=40)
    w = world(gw, android=AndroidSpec(sms_cap="modern", granted=False))
    w.env.run(until=300)
    caps = events(w, "cap")
    assert caps and caps[0]["verdict"] == "hold"
    assert len([e for e in events(w, "radio") if e["t"] < 60]) <= 30
    held = caps[0]["sms_id"]
    assert gw.confirmed[held] == "error"  # swept as a timeout: never sent


def test_a_telephony_retry_that_had_reached_the_smsc_duplicates_below_the_app() -> None:
    gw = ScriptedGateway(sms=1)
    carrier = CarrierSpec(results=((101, 1.0),), retry_reached=1.0)
    w = world(gw, sims=(SimSpec("+420600000001", carrier),))
    w.env.run(until=100)
    radio = events(w, "radio")
    assert [e["cause"] for e in radio] == ["app"] + ["telephony_retry"] * 3
    assert gw.confirmed == {1: "error"}
    assert gw.of("confirm-batch")[0][2]["results"][0]["error_message"] == "UNKNOWN_ERROR_30"


def test_the_sim_aware_profile_sends_from_the_sim_the_server_chose() -> None:
    sims = (SimSpec("+420600000001"), SimSpec("+420600000002"))
    slots = {}
    for profile in ("1.7.1", "sim-aware"):
        g = ScriptedGateway(sms=2)
        g.queue[1]["gateway_phone_number"] = "+420600000002"
        w = world(g, sims=sims, app=APP_PROFILES[profile])
        w.env.run(until=20)
        slots[profile] = {e["sms_id"]: e["sim_slot"] for e in events(w, "radio")}
    assert slots == {"1.7.1": {1: 0, 2: 0}, "sim-aware": {1: 0, 2: 1}}


def test_an_unplugged_phone_dozes_and_loses_the_network_unless_exempt() -> None:
    gw = ScriptedGateway()
    w = world(gw, android=AndroidSpec(charging=False, battery_exempt=False))
    w.env.run(until=5 * 3600)
    states = [(round(e["t"]), e["state"]) for e in events(w, "doze")]
    assert states[0][1] == "light_idle" and 60 <= states[0][0] <= 120
    deep = [t for t, s in states if s == "deep_idle"]
    assert deep and 3600 <= deep[0] <= 3600 + 270

    def offline(battery_exempt: bool) -> list[dict[str, Any]]:
        # SMS arrive in deep idle; the poll alarm's 10 s allow-list covers the poll, but a
        # slow batch (6 s apart) syncs its statuses long after it.
        gw = ScriptedGateway(rate=10)
        w = world(gw, android=AndroidSpec(charging=False, battery_exempt=battery_exempt))
        w.env.run(until=4000)
        gw.queue = ScriptedGateway(sms=20).queue
        w.env.run(until=6000)
        return [e for e in events(w, "request") if e["outcome"] == "offline"]

    assert {e["endpoint"] for e in offline(battery_exempt=False)} >= {"confirm-batch"}
    assert offline(battery_exempt=True) == []


def test_a_stop_reply_is_reported_by_the_worker_and_the_live_duplicate() -> None:
    gw = ScriptedGateway(sms=1)
    spec = PhoneSpec(name="p1", sims=(SimSpec("+420600000001"),))
    w = World(
        WorldSpec(phones=(spec,), recipients=RecipientSpec(stop_probability=1.0, stop_delay=30.0)),
        gw,
        {"p1": "key"},
        seed=1,
        start=START,
    )
    w.env.run(until=600)
    inbound = gw.of("inbound")
    assert len(inbound) == 2  # WorkManager worker + the running service's live report
    assert {c[2]["from"] for c in inbound} == {"+420777000001"}
    # ... and a third report: the retroactive inbox scan of the first idle poll (300 s).
    (scan,) = gw.of("inbound-batch")
    assert scan[2]["messages"][0]["from"] == "+420777000001"
    assert len([e for e in events(w, "inbound_ack") if e["stop"]]) == 3


def test_app_1_1_reports_inbound_with_bearer_and_retries_with_backoff() -> None:
    gw = ScriptedGateway()
    w = world(gw, app=replace(APP_PROFILES["1.1"], inbound_live_report=False))
    w.env.run(until=10)
    w.apps["p1"].receive_sms("+420777000009", "STOP", "+420600000001")
    w.env.run(until=200)
    tries = [c[0] - 10 for c in gw.of("inbound")]
    assert all(c[3] == "bearer" for c in gw.of("inbound"))
    # 10 s, 20 s, 40 s, 80 s apart (+ the request's round trip)
    assert tries == pytest.approx([0, 10, 30, 70, 150], abs=1.5)
    assert not events(w, "inbound_ack")


def test_same_seed_same_history_other_seed_other_history() -> None:
    def run(seed: int) -> list[dict[str, Any]]:
        carrier = CarrierSpec(results=((-1, 0.9), (4, 0.1)))
        w = world(ScriptedGateway(sms=100), seed=seed, sims=(SimSpec("+420600000001", carrier),))
        w.env.run(until=3600)
        return w.history.events

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_a_fault_during_sending_waits_for_sms_in_flight() -> None:
    from simulator.config import Fault

    faults = (Fault(at=30.0, kind="process_death", duration=10.0, during="sending"),)
    gw = ScriptedGateway(sms=100)
    w = world(gw, faults=faults)
    w.env.run(until=400)
    (death,) = [e for e in events(w, "fault") if e["fault"] == "process_death"]
    # at 30 s nothing is in flight (the first batch ended); the next batch starts at ~60 s
    assert death["t"] > 60 and death["in_flight"] > 0
    assert len(events(w, "app_start")) == 2  # restarted 10 s later
