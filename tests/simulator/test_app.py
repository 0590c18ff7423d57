"""The virtual phone against a scripted gateway: the app 1.7.1 behaviours one by one."""

from __future__ import annotations

import itertools
from dataclasses import replace
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
from simulator.world import World
from tests.support.scripted_gateway import START, ScriptedGateway, events, world


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
    # rate_limit starts at 100/min (600 ms) until a heartbeat answers 600/min (100 ms); a
    # poll keeps the pace it started with. Exactly that pace, not merely at least it.
    sends = sorted(e["submitted"] for e in radio)
    assert [b - a for a, b in itertools.pairwise(sends)] == pytest.approx([0.6] * 19, abs=1e-6)
    w.env.run(until=90)  # the next poll (after the heartbeat of 60 s) sends the other 5
    later = sorted(e["submitted"] for e in events(w, "radio"))[20:]
    assert [b - a for a, b in itertools.pairwise(later)] == pytest.approx([0.1] * 4, abs=1e-6)


def test_a_poll_trigger_during_a_running_poll_is_queued_and_runs_right_after_it() -> None:
    # GS:283 and GS:1028 queue pollAndSend on the single-thread executor: the
    # isPollingActive guard (GS:834) never sees two polls at once.
    gw = ScriptedGateway(sms=25)
    w = world(gw)
    w.env.run(until=1.0)  # mid-batch (20 sends, 600 ms apart)
    w.apps["p1"].trigger_poll("fcm")
    w.env.run(until=20)
    polls = [at for at, *_ in gw.of("pending")]
    assert len(polls) == 2
    assert polls[1] > 19 * 0.6  # after the last of the first batch, not in the middle
    assert len(events(w, "radio")) == 25


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


def test_an_unplugged_phone_dozes_and_only_a_restrictive_oem_cuts_the_services_network() -> None:
    gw = ScriptedGateway()
    w = world(gw, android=AndroidSpec(charging=False, battery_exempt=False))
    w.env.run(until=5 * 3600)
    states = [(round(e["t"]), e["state"]) for e in events(w, "doze")]
    assert states[0][1] == "light_idle" and 60 <= states[0][0] <= 120
    deep = [t for t, s in states if s == "deep_idle"]
    assert deep and 3600 <= deep[0] <= 3600 + 270

    def offline(battery_exempt: bool, oem: str) -> list[dict[str, Any]]:
        # SMS arrive in deep idle; the poll alarm's 10 s allow-list covers the poll, but a
        # slow batch (6 s apart) syncs its statuses long after it.
        gw = ScriptedGateway(rate=10)
        android = AndroidSpec(charging=False, battery_exempt=battery_exempt, oem=oem)
        w = world(gw, android=android)
        w.env.run(until=4000)
        gw.queue = ScriptedGateway(sms=20).queue
        w.env.run(until=6000)
        return [e for e in events(w, "request") if e["outcome"] == "offline"]

    # AOSP: the running foreground service is let through Doze's network firewall.
    assert offline(battery_exempt=False, oem="stock") == []
    assert {e["endpoint"] for e in offline(False, "restrictive")} >= {"confirm-batch"}
    assert offline(battery_exempt=True, oem="restrictive") == []


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
    # The real shape (GS:1057-1061, InboundSmsWorker.kt:40-44): no device time.
    assert [c[2] for c in inbound] == [
        {"from_number": "+420777000001", "message": "STOP", "to_number": "+420600000001"}
    ] * 2
    # ... and a third report: the retroactive inbox scan of the first idle poll (300 s).
    (scan,) = gw.of("inbound-batch")
    assert scan[2]["messages"] == [
        {"from_number": "+420777000001", "message": "STOP", "to_number": ""}
    ]
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


# -- process death, restarts and PendingIntents (issue 8) -----------------------------------


def test_after_process_death_alarms_fire_into_a_service_that_never_started() -> None:
    # The alarms live in AlarmManager (GS:792-807); their intent creates a fresh service
    # instance whose pollAndSend fetches 20 SMS and breaks before sending (GS:880), while
    # its heartbeats keep the phone online (GS:978-1044).
    gw = ScriptedGateway()
    w = world(gw)
    app = w.apps["p1"]
    w.env.run(until=100)
    app.kill("process_death", restart_after=3000)
    gw.queue = ScriptedGateway(sms=30).queue
    w.env.run(until=700)
    assert not app.running and app.process_alive  # a zombie instance
    zombie_polls = [c for c in gw.of("pending") if 100 < c[0] < 700]
    assert zombie_polls, "the poll alarm fired into the dead process"
    assert gw.queue == []  # all 30 handed out (a poll, then the heartbeat's safety net) ...
    assert events(w, "radio") == []  # ... and none sent: they wait for the stuck reset
    assert [c for c in gw.of("heartbeat") if 100 < c[0] < 700]
    w.env.run(until=3400)  # the sticky restart runs startGateway
    assert app.running and [e["t"] for e in events(w, "app_start")] == [0.0, 3100.0]


def test_a_restarted_service_reuses_request_codes_and_overwrites_an_old_sms_extras() -> None:
    # GS:955: requestCode = pendingIntentCounter++ restarts at 0 per service instance,
    # and FLAG_UPDATE_CURRENT replaces the extras of a live PendingIntent with that code.
    gw = ScriptedGateway(sms=1)
    slow = SimSpec("+420600000001", CarrierSpec(latency=20.0, latency_jitter=0.0))
    w = world(gw, sims=(slow,))
    app = w.apps["p1"]
    w.env.run(until=2)  # SMS 1 handed to Android with code 0, in flight for 20 s
    app.kill("process_death", restart_after=1.0)
    gw.queue = ScriptedGateway(sms=2).queue[1:]  # SMS 2 waits for the restarted service
    w.env.run(until=200)
    assert app.radio.intents.overwritten == 1
    # SMS 1 reached the network, but its callback arrived carrying SMS 2's id: SMS 2 was
    # reported sent on SMS 1's result, and SMS 1 is never reported by this phone.
    assert {e["sms_id"] for e in events(w, "radio")} == {1, 2}
    assert gw.confirmed == {2: "sent"}


def test_an_sms_received_while_the_service_is_dead_starts_it() -> None:
    # SmsBroadcastReceiver.kt:163-171: a receiver that finds isRunning false starts it.
    gw = ScriptedGateway()
    w = world(gw)
    app = w.apps["p1"]
    w.env.run(until=10)
    app.kill("process_death", restart_after=None)
    w.env.run(until=20)
    assert not app.running
    app.receive_sms("+420777000009", "STOP", "+420600000001")
    assert app.running
    w.env.run(until=60)
    assert len(gw.of("inbound")) == 1  # the worker; the live report needs a running service


def test_a_rebooting_phone_runs_no_worker_and_gets_its_sms_after_the_boot() -> None:
    gw = ScriptedGateway()
    w = world(gw)
    app = w.apps["p1"]
    w.env.run(until=10)
    gw.failing.add("inbound")
    app.receive_sms("+420777000009", "STOP", "+420600000001")
    w.env.run(until=12)
    app.kill("reboot", restart_after=600)
    w.env.run(until=15)
    app.receive_sms("+420777000010", "STOP", "+420600000001")  # the SMSC holds it
    gw.failing.clear()
    w.env.run(until=605)
    assert [c for c in gw.of("inbound") if 12 < c[0] < 605] == []
    w.env.run(until=900)
    senders = {c[2]["from_number"] for c in gw.of("inbound") if c[0] >= 610}
    assert senders == {"+420777000009", "+420777000010"}
    received = [round(e["t"]) for e in events(w, "inbound_received")]
    assert received == [10, 612]


def test_each_part_has_its_own_result() -> None:
    text = "Hello " * 60  # 360 GSM-7 characters: three parts
    gw = ScriptedGateway(sms=20, body=text)
    carrier = CarrierSpec(results=((-1, 0.7), (1, 0.3)))
    w = world(gw, sims=(SimSpec("+420600000001", carrier),))
    w.env.run(until=300)
    radio = events(w, "radio")
    partial_sends = [e for e in radio if 0 < e["parts_sent"] < e["parts"] == 3]
    assert partial_sends, "some messages left the phone in part only"
    for e in partial_sends:
        assert gw.confirmed[e["sms_id"]] == "error"
    assert any(status == "sent" for status in gw.confirmed.values())


def test_a_lost_part_callback_times_out_with_the_parts_counted() -> None:
    text = "Hello " * 60
    gw = ScriptedGateway(sms=30, body=text)
    carrier = CarrierSpec(lost_callback=0.2)
    w = world(gw, sims=(SimSpec("+420600000001", carrier),))
    w.env.run(until=400)
    reasons = {e["sms_id"]: (e["sent"], e["total"]) for e in events(w, "tracker_timeout")}
    assert reasons and all(total == 3 and sent < 3 for sent, total in reasons.values())
    assert any(0 < sent < 3 for sent, _ in reasons.values())


def test_smsmanager_throwing_writes_an_error_at_once() -> None:
    # GS:935-944: the exception's message is the error, no tracker, no radio.
    gw = ScriptedGateway(sms=2)
    gw.queue[0]["phone_number"] = ""
    w = world(gw)
    w.env.run(until=30)
    assert [e["sms_id"] for e in events(w, "radio")] == [2]
    (batch,) = [c[2]["results"] for c in gw.of("confirm-batch") if c[2]["results"][0]["id"] == 1]
    assert batch[0] == {"id": 1, "status": "error", "error_message": "Invalid destinationAddress"}


def test_a_cap_the_app_writes_takes_effect_at_the_next_boot() -> None:
    gw = ScriptedGateway(sms=60, rate=600)
    android = AndroidSpec(sms_cap="modern", granted=True, granted_before_boot=False)
    w = world(gw, android=android)
    w.env.run(until=100)
    assert "hold" in {e["verdict"] for e in events(w, "cap")}  # the 30/min preset
    w.apps["p1"].kill("reboot", restart_after=60)
    w.env.run(until=200)
    assert w.apps["p1"].radio.cap_of(0).cap.max_count == 1000


def test_the_campaign_screen_and_the_settings_screen_trigger_polls() -> None:
    gw = ScriptedGateway()
    w = world(gw)
    app = w.apps["p1"]
    w.env.run(until=100)
    app.campaign_screen()
    w.env.run(until=101)
    app.restart_schedulers()  # startSchedulers: a poll now, a heartbeat at +5 s
    w.env.run(until=110)
    polls = [round(c[0]) for c in gw.of("pending")]
    assert polls == [0, 100, 101]
    assert [round(c[0]) for c in gw.of("heartbeat")][-1] == 106


# -- the 1.1-era app (b71dbdf) ----------------------------------------------------------------


def test_app_1_1_keeps_results_in_memory_and_falls_back_to_confirm_per_sms() -> None:
    gw = ScriptedGateway(sms=3)
    gw.failing.add("confirm-batch")
    w = world(gw, app=APP_PROFILES["1.1"])
    w.env.run(until=30)
    assert sorted(c[1] for c in gw.of("confirm/1") + gw.of("confirm/2") + gw.of("confirm/3")) == [
        "confirm/1",
        "confirm/2",
        "confirm/3",
    ]
    assert all(c[2] == {"status": "sent"} for c in gw.calls if c[1].startswith("confirm/"))
    assert not w.apps["p1"].store.unsynced  # dropped after the fallback, whatever came back


def test_app_1_1_loses_unflushed_results_with_the_process() -> None:
    gw = ScriptedGateway(sms=1)
    quick = SimSpec("+420600000001", CarrierSpec(latency=0.5, latency_jitter=0.0))
    w = world(gw, sims=(quick,), app=APP_PROFILES["1.1"])
    w.env.run(until=2.0)  # sent at about 0.3 s, its callback at 0.8 s; first flush at 3 s
    app = w.apps["p1"]
    assert list(app.store.unsynced) == [1]
    app.kill("process_death", restart_after=5)
    w.env.run(until=60)
    assert [c for c in gw.calls if c[1].startswith("confirm")] == []
    assert gw.of("reconcile") == []  # 1.1 has no reconcile to recover it


def test_app_1_1_has_no_sweep_and_a_lost_callback_is_never_reported() -> None:
    gw = ScriptedGateway(sms=1)
    carrier = CarrierSpec(lost_callback=1.0)
    w = world(gw, sims=(SimSpec("+420600000001", carrier),), app=APP_PROFILES["1.1"])
    w.env.run(until=600)
    assert len(events(w, "radio")) == 1 and events(w, "tracker_timeout") == []
    assert gw.confirmed == {} and w.apps["p1"].trackers  # waits forever


def test_app_1_1_scans_the_inbox_for_stop_at_every_start_and_moves_on_failure() -> None:
    gw = ScriptedGateway()
    w = world(gw, app=APP_PROFILES["1.1"])
    app = w.apps["p1"]
    app.inbound.inbox.append((-8 * 86400.0, "+420777000001", "STOP", 0))  # older than 7 days
    app.inbound.inbox.append((-3600.0, "+420777000002", "please stop", 0))
    app.inbound.inbox.append((-3500.0, "+420777000003", "thanks", 0))
    gw.failing.add("inbound-batch")
    w.env.run(until=30)
    (first,) = gw.of("inbound-batch")
    assert first[2]["messages"] == [
        {"from_number": "+420777000002", "message": "please stop", "to_number": ""}
    ]
    app.kill("process_death", restart_after=5)
    w.env.run(until=60)
    assert len(gw.of("inbound-batch")) == 1  # the failed upload's checkpoint moved anyway


def test_app_1_1_skips_poll_and_heartbeat_without_a_readable_number() -> None:
    sims = (SimSpec("+420600000001", readable=False),)
    gw = ScriptedGateway(sms=5)
    w = world(gw, sims=sims, app=APP_PROFILES["1.1"])
    w.env.run(until=400)
    assert gw.of("pending") == [] and gw.of("heartbeat") == []
    gw2 = ScriptedGateway(sms=5)
    w2 = world(gw2, sims=sims)  # 1.7.1 (6a44aaf) polls with an empty list
    w2.env.run(until=30)
    assert gw2.of("pending")[0][2]["phone_numbers"] == []
    assert len(events(w2, "radio")) == 5


def test_an_sms_on_an_unreadable_sim_is_reported_without_a_receiving_number() -> None:
    # SmsBroadcastReceiver.kt:48-58: toNumber = subscription's number, or "".
    gw = ScriptedGateway()
    w = world(gw, sims=(SimSpec("+420600000001", readable=False),))
    w.env.run(until=10)
    w.apps["p1"].receive_sms("+420777000009", "STOP", "+420600000001")
    w.env.run(until=30)
    assert {c[2]["to_number"] for c in gw.of("inbound")} == {""}
