"""The oracles, each shown a run that keeps its property and one that breaks it."""

from __future__ import annotations

import json

import pytest

from harness.oracles import ORACLES, Evidence, Verdict, judge

START = "2026-03-02T07:00:00Z"  # 08:00 in Prague (CET, UTC+1)
PHONE = "phone-1"
SIM = "+420777000001"
ALICE = "+420608000001"
BOB = "+420608000002"


# --- builders ---------------------------------------------------------------------------


def phone_config(daily=0, monthly=0, rate=0, caps=(), server_id=1):
    return {
        "server_id": server_id,
        "sims": [SIM],
        "daily_limit": daily,
        "monthly_limit": monthly,
        "rate_limit": rate,
        "caps": list(caps),
    }


def cap(max_count=30, period=60.0, slot=0, exempt=False):
    return {"slot": slot, "max_count": max_count, "period": period, "exempt": exempt}


def radio(t, sms_id, *, parts=1, sent=None, cause="app", to=ALICE, phone=PHONE, slot=0):
    return {
        "kind": "radio",
        "t": t,
        "phone": phone,
        "sim_slot": slot,
        "sim_number": SIM,
        "recipient": to,
        "sms_id": sms_id,
        "uuid": f"u{sms_id}",
        "parts": parts,
        "parts_sent": parts if sent is None else sent,
        "cause": cause,
    }


def issued(t, *sms, phone=PHONE):
    """``sms`` are (id, number) pairs."""
    return {
        "kind": "issued",
        "t": t,
        "phone": phone,
        "sms": [{"id": i, "number": n} for i, n in sms],
    }


def row(sms_id, state="sent", *, to=ALICE, segments=1, delivery="at_most_once", issues=1, **extra):
    return {
        "id": sms_id,
        "uuid": f"u{sms_id}",
        "number": to,
        "state": state,
        "failure_type": None,
        "gateway_phone_id": 1,
        "campaign_id": None,
        "segments": segments,
        "delivery": delivery,
        "issue_count": issues,
        **extra,
    }


def server_phone(sent_total, phone_id=1, name=PHONE):
    return {"id": phone_id, "name": name, "sent_total": sent_total}


def app_final(statuses, unsynced=(), phone=PHONE, t=900.0):
    return {
        "kind": "app_final",
        "t": t,
        "phone": phone,
        "unsynced": list(unsynced),
        "statuses": {str(i): s for i, s in statuses.items()},
    }


def inbound(kind, t, sender, body, date):
    return {"kind": kind, "t": t, "phone": PHONE, "sender": sender, "body": body, "date": date}


def probe(t, endpoint, sent, answer, reply, act="bad_input"):
    """A request of the ``hostile-malformed`` persona and the server's answer."""
    return {
        "kind": "persona",
        "t": t,
        "phone": PHONE,
        "act": act,
        "status": None,
        "ids": [],
        "endpoint": endpoint,
        "sent": sent,
        "answer": answer,
        "reply": reply,
    }


RECONCILED = {"success": True, "already_confirmed_ids": [], "stuck_ids": [], "not_found_ids": []}
REFUSED = {"success": False, "error": "Invalid request: limit: Input should be a valid integer."}


def evidence(*events, sms=(), phones=(), inbound_rows=(), config=None):
    head = {
        "kind": "config",
        "t": 0.0,
        "start": START,
        "timezone": "Europe/Prague",
        "phones": {PHONE: config or phone_config()},
    }
    server = {"sms": list(sms), "phones": list(phones), "inbound": list(inbound_rows)}
    return Evidence(events=[head, *events], server=server)


def clean_run(n=3):
    """n one-part SMS to ALICE, each enqueued, issued, sent once, synced and counted."""
    ids = list(range(1, n + 1))
    events = [{"kind": "enqueued", "t": 1.0, "ids": ids}]
    for i in ids:
        events += [issued(10.0 * i, (i, ALICE)), radio(10.0 * i + 1, i)]
    events.append(inbound("inbound_received", 100.0, BOB, "hi", "2026-03-02T07:01:40Z"))
    events.append(inbound("inbound_ack", 101.0, BOB, "hi", "2026-03-02T07:01:40Z"))
    events.append(app_final({i: "sent" for i in ids}))
    events.append(probe(110.0, "pending", {"limit": "all"}, 422, REFUSED))
    events.append(probe(111.0, "reconcile", {"known_ids": []}, 200, RECONCILED, "good_input"))
    return evidence(
        *events,
        sms=[row(i) for i in ids],
        phones=[server_phone(n)],
        inbound_rows=[
            {
                "phone": PHONE,
                "from_number": BOB,
                "message": "hi",
                "received_at": "2026-03-02T07:01:40Z",
            }
        ],
        config=phone_config(daily=100, monthly=1000, rate=10, caps=[cap()]),
    )


def run(name, ev) -> Verdict:
    return ORACLES[name](ev)


def broken(name, ev) -> str:
    """The oracle fails and reports its violations as one text."""
    verdict = run(name, ev)
    assert not verdict.passed and verdict.violation_count == len(verdict.violations) > 0
    return " | ".join(verdict.violations)


# --- judge and verdicts ---------------------------------------------------------------


def test_a_clean_run_passes_every_oracle_in_order():
    verdicts = judge(clean_run())
    assert [v.name for v in verdicts] == list(ORACLES)
    assert list(ORACLES) == [
        "exactly_once",
        "no_loss",
        "no_phantom_sent",
        "limits",
        "android_cap",
        "stop_respected",
        "counters_consistent",
        "reconcile_converges",
        "inbound_once",
        "filters_respected",
        "rejects_bad_input",
        "campaigns_complete",
        "paused_respected",
    ]
    failed = [v.summary for v in verdicts if not v.passed]
    assert failed == []
    # no STOP, no phone with a filter, no campaign
    unused = ("stop_respected", "filters_respected", "campaigns_complete", "paused_respected")
    assert all(v.checked > 0 for v in verdicts if v.name not in unused)
    assert verdicts[0].summary == "3 SMS judged, 0 transmitted twice"


def test_an_oracle_needing_state_the_target_does_not_expose_is_not_judged():
    # an Odoo exposing SMS and phones but no inbound records (and, being Odoo, no
    # campaigns): inbound_once and campaigns_complete cannot say
    verdicts = {v.name: v for v in judge(clean_run(), exposed=("sms", "phones", "blacklist"))}
    inbound = verdicts["inbound_once"]
    assert not inbound.judged and not inbound.passed and inbound.checked == 0
    assert inbound.summary == "not judged: the target exposes no inbound state"
    assert inbound.to_dict()["judged"] is False
    campaigns = verdicts["campaigns_complete"]
    assert campaigns.summary == "not judged: the target exposes no campaigns state"
    unjudged = ("inbound_once", "campaigns_complete")
    assert all(v.judged and v.passed for n, v in verdicts.items() if n not in unjudged)
    # a target exposing nothing: only the oracles judging the history alone are judged
    judged = [v.name for v in judge(clean_run(), exposed=()) if v.judged]
    assert judged == [
        "limits",
        "stop_respected",
        "filters_respected",
        "rejects_bad_input",
        "paused_respected",
    ]
    counters = judge(clean_run(), ["counters_consistent"], exposed=())[0]
    assert counters.summary == "not judged: the target exposes no sms state and no phones state"


def test_judge_runs_only_the_named_oracles_in_the_order_given():
    verdicts = judge(clean_run(), ["no_loss", "exactly_once"])
    assert [v.name for v in verdicts] == ["no_loss", "exactly_once"]


def test_judge_names_an_unknown_oracle_and_lists_the_known_ones():
    with pytest.raises(ValueError, match="no_duplicates") as error:
        judge(clean_run(), ["no_loss", "no_duplicates"])
    assert "exactly_once" in str(error.value) and "inbound_once" in str(error.value)


def test_an_empty_run_passes_with_nothing_to_judge():
    verdicts = judge(evidence())
    assert all(v.passed for v in verdicts)
    idle = [v.name for v in verdicts if v.checked == 0 and v.summary.startswith("nothing to judge")]
    assert idle == [name for name in ORACLES if name != "limits"]  # limits judged the idle phone


def test_a_verdict_serialises_to_json():
    ev = clean_run()
    ev.server["sms"][0]["state"] = "pending"
    data = json.loads(json.dumps(run("no_loss", ev).to_dict()))
    assert data["passed"] is False and data["violation_count"] == 1
    assert data["violations"] == ["SMS 1 is still pending at the end of the run"]
    assert data["figures"]["sent"] == 2


def test_a_config_event_must_come_first():
    late = Evidence(events=[*clean_run().events[1:], clean_run().events[0]], server={})
    with pytest.raises(ValueError, match="comes first"):
        judge(late)


def test_only_twenty_examples_are_kept_but_all_are_counted():
    ev = evidence({"kind": "enqueued", "t": 1.0, "ids": list(range(1, 31))})
    verdict = run("no_loss", ev)
    assert verdict.violation_count == 30 and len(verdict.violations) == 20


# --- exactly_once --------------------------------------------------------------------


def test_an_at_most_once_sms_transmitted_twice_is_a_violation():
    ev = evidence(radio(10.0, 7), radio(70.0, 7), sms=[row(7)])
    text = broken("exactly_once", ev)
    assert "SMS 7" in text and "2 times" in text and "t=70s" in text


def test_an_at_most_once_sms_re_issued_is_a_violation_even_if_sent_once():
    ev = evidence(radio(10.0, 7), sms=[row(7, issues=2)])
    assert "SMS 7 was re-issued despite at_most_once" in broken("exactly_once", ev)
    handed_twice = evidence(issued(5.0, (7, ALICE)), issued(2000.0, (7, ALICE)), radio(10.0, 7))
    assert "issued 2 times" in broken("exactly_once", handed_twice)  # even if the server says 1


def test_an_at_least_once_duplicate_after_the_stuck_timeout_passes_but_is_counted():
    ev = evidence(
        issued(5.0, (7, ALICE)),
        radio(10.0, 7),
        issued(1900.0, (7, ALICE)),  # 1895 s later, nothing acknowledged: a legitimate re-issue
        radio(1901.0, 7),
        sms=[row(7, delivery="at_least_once", issues=2)],
    )
    verdict = run("exactly_once", ev)
    assert verdict.passed
    assert verdict.figures["declared_duplicates"] == 1 and verdict.figures["transmitted"] == 1


def test_an_at_least_once_duplicate_without_a_re_issue_is_a_violation():
    ev = evidence(radio(10.0, 7), radio(400.0, 7), sms=[row(7, delivery="at_least_once")])
    assert "SMS 7 (at_least_once)" in broken("exactly_once", ev)


def test_a_re_issue_before_the_stuck_timeout_is_no_excuse_for_a_duplicate():
    # The server's own issue_count says 2, as a server that re-issues in-flight SMS would.
    sms = [row(7, delivery="at_least_once", issues=2)]
    early = evidence(
        issued(5.0, (7, ALICE)), radio(10.0, 7), issued(305.0, (7, ALICE)), radio(306.0, 7), sms=sms
    )
    text = broken("exactly_once", early)
    assert "only 1 hand-out(s) of it were legitimate" in text
    assert "300 s after its hand-out to phone-1 at t=5s" in text and "stuck timeout of 1800" in text
    # A server configured with a 5-minute stuck timeout is judged by it.
    early.events[0]["stuck_after"] = 300.0
    assert run("exactly_once", Evidence(events=early.events, server=early.server)).passed


def test_a_re_issue_after_the_confirm_was_acknowledged_is_a_violation():
    acked = {"kind": "confirmed", "t": 20.0, "phone": PHONE, "sent": [7], "error": []}
    ev = evidence(
        issued(5.0, (7, ALICE)),
        radio(10.0, 7),
        acked,
        issued(2000.0, (7, ALICE)),
        radio(2001.0, 7),
        sms=[row(7, delivery="at_least_once", issues=2)],
    )
    text = broken("exactly_once", ev)
    assert "after the server had acknowledged it sent at t=20s" in text


def test_a_telephony_retry_after_parts_went_out_is_counted_not_violated():
    ev = evidence(
        radio(10.0, 7, parts=2, sent=1),
        radio(11.0, 7, parts=2, cause="telephony_retry"),
        radio(20.0, 8, sent=0),
        radio(21.0, 8, cause="telephony_retry"),  # nothing went out before: not a duplicate
        sms=[row(7, segments=2), row(8)],
    )
    verdict = run("exactly_once", ev)
    assert verdict.passed and verdict.figures["telephony_duplicates"] == 1


def test_two_sms_of_one_campaign_to_one_recipient_is_a_violation():
    sms = [row(1, campaign_id=5), row(2, campaign_id=5), row(3, campaign_id=5, to=BOB)]
    ev = evidence(radio(10.0, 1), radio(20.0, 2), radio(30.0, 3, to=BOB), sms=sms)
    text = broken("exactly_once", ev)
    assert "campaign 5 reached +420608000001 with 2 SMS" in text and BOB not in text
    other = [row(1, campaign_id=5), row(2, campaign_id=6)]
    assert run("exactly_once", evidence(radio(10.0, 1), radio(20.0, 2), sms=other)).passed


# --- no_loss -------------------------------------------------------------------------


def test_no_loss_names_missing_and_unfinished_sms():
    ev = evidence({"kind": "enqueued", "t": 1.0, "ids": [1, 2, 3]}, sms=[row(1), row(2, "pending")])
    text = broken("no_loss", ev)
    assert "SMS 2 is still pending" in text and "SMS 3 was enqueued but the server has no" in text


def test_failed_sms_need_a_failure_type_which_is_counted():
    sms = [
        row(1, "error", failure_type="sms_unconfirmed"),
        row(2, "canceled", failure_type="sms_blacklist"),
        row(3, "error"),
    ]
    stop = {"kind": "stop_reply", "t": 0.5, "recipient": ALICE, "sim_number": SIM, "sms_id": None}
    verdict = run(
        "no_loss", evidence(stop, {"kind": "enqueued", "t": 1.0, "ids": [1, 2, 3]}, sms=sms)
    )
    assert verdict.violations == ("SMS 3 ended error without a failure_type",)
    assert verdict.figures["indeterminate"] == 1 and verdict.figures["failure:sms_blacklist"] == 1
    assert (verdict.figures["error"], verdict.figures["canceled"]) == (2, 1)


def heartbeat(t, phone=PHONE):
    return {"kind": "heartbeat", "t": t, "phone": phone}


def refused_at_enqueue(*ids, t=100.0):
    enqueued = {"kind": "enqueued", "t": t, "ids": list(ids)}
    sms = [
        row(
            i,
            "error",
            failure_type="sms_server",
            error_message="No gateway phone is online",
            gateway_phone_id=None,
        )
        for i in ids
    ]
    return enqueued, sms


def test_sms_failed_while_a_phone_with_room_was_online_are_lost():
    enqueued, sms = refused_at_enqueue(1, 2, 3)
    ev = evidence(heartbeat(60.0), enqueued, sms=sms, config=phone_config(daily=2))
    verdict = run("no_loss", ev)
    # Two parts of room: two of the three failures were not justified.
    assert verdict.violation_count == 2 and verdict.figures["unjustified_failures"] == 2
    text = verdict.violations[0]
    assert text.startswith("SMS 1 failed at enqueue (t=100s")
    assert "phone-1 was online (heartbeat accepted at t=60s" in text and "2 parts of room" in text


def test_a_failure_is_justified_when_no_phone_was_online_or_none_had_room():
    enqueued, sms = refused_at_enqueue(1, t=400.0)
    # The last heartbeat was 6.5 minutes before: past the 5-minute timeout.
    assert run("no_loss", evidence(heartbeat(10.0), enqueued, sms=sms)).passed
    # Online, but the day's two parts already left its radio.
    full = evidence(
        heartbeat(360.0),
        radio(370.0, 9),
        radio(371.0, 8),
        enqueued,
        sms=sms,
        config=phone_config(daily=2),
    )
    assert run("no_loss", full).passed
    # A longer heartbeat timeout keeps the phone online.
    late = phone_config()
    late["heartbeat_timeout"] = 10
    assert not run("no_loss", evidence(heartbeat(10.0), enqueued, sms=sms, config=late)).passed


def test_cancelled_as_blacklisted_without_a_stop_from_that_recipient_is_lost():
    sms = [row(1, "canceled", failure_type="sms_blacklist", to=BOB)]
    ev = evidence({"kind": "enqueued", "t": 1.0, "ids": [1]}, sms=sms)
    assert "cancelled as blacklisted, but that recipient never replied STOP" in broken(
        "no_loss", ev
    )


# --- no_phantom_sent -----------------------------------------------------------------


def test_sent_on_the_server_needs_a_complete_transmission():
    sms = [row(1, segments=2), row(2), row(3, "error", failure_type="x")]
    ev = evidence(radio(10.0, 1, parts=2, sent=1), sms=sms)
    text = broken("no_phantom_sent", ev)
    assert "SMS 1 is sent on the server but at best 1 of its 2 parts left phone-1" in text
    assert "SMS 2 is sent on the server but never left" in text and "SMS 3" not in text
    whole = evidence(radio(10.0, 1, parts=2, sent=1), radio(60.0, 1, parts=2), sms=[row(1)])
    assert run("no_phantom_sent", whole).figures["sent_checked"] == 1


# --- limits --------------------------------------------------------------------------

# 22:00 and 22:50 UTC are 23:00 and 23:50 on 2 March in Prague; 23:10 UTC is 00:10 on 3 March.
T_2200, T_2250, T_2310 = 54000.0, 57000.0, 58200.0


def test_the_daily_limit_splits_at_local_midnight_not_utc_midnight():
    config = phone_config(daily=3)
    across = evidence(radio(T_2250, 1, parts=2), radio(T_2310, 2, parts=2), config=config)
    verdict = run("limits", across)
    assert verdict.passed and verdict.figures["max_day_parts"] == 2
    same_day = evidence(radio(T_2200, 1, parts=2), radio(T_2250, 2, parts=2), config=config)
    text = broken("limits", same_day)
    assert "phone-1 sent 4 parts on 2026-03-02 (Europe/Prague), over its daily_limit of 3" in text


def test_the_monthly_limit_adds_up_the_local_days():
    ev = evidence(
        radio(10.0, 1, parts=3), radio(T_2310, 2, parts=3), config=phone_config(monthly=5)
    )
    assert "6 parts in 2026-03" in broken("limits", ev)
    assert run("limits", ev).first_at == T_2310  # the send that went over the month


def test_the_monthly_limit_follows_the_phones_month_start_day():
    # 2026-03-02 08:00 and 2026-03-16 08:00 Prague: one month from the 1st, two from the 15th.
    two_weeks = 14 * 86400.0
    sends = (radio(10.0, 1, parts=3), radio(two_weeks, 2, parts=3))
    assert "6 parts in 2026-03" in broken(
        "limits", evidence(*sends, config=phone_config(monthly=5))
    )
    config = phone_config(monthly=5)
    config["month_start_day"] = 15
    assert run("limits", evidence(*sends, config=config)).passed
    config["month_start_day"] = 20  # 2 and 16 March both lie in the month from 20 February
    text = broken("limits", evidence(*sends, config=config))
    assert "6 parts in the month from 2026-02-20" in text


def test_the_rate_limit_counts_sms_handed_to_a_phone_in_a_sliding_minute():
    config = phone_config(rate=2)
    crowded = evidence(issued(0.5, (1, ALICE)), issued(30.0, (2, ALICE), (3, BOB)), config=config)
    text = broken("limits", crowded)
    assert "phone-1 was handed 3 SMS within a minute (the 59 s ending t=30s (" in text
    # (x - 59, x]: the hand-out at t=0.5 has left the window ending at 59.5 (a second of
    # slack for the jitter of the trip on which the history sees the server's answer).
    spread = evidence(
        issued(0.5, (1, ALICE)), issued(30.0, (2, ALICE)), issued(59.5, (3, BOB)), config=config
    )
    verdict = run("limits", spread)
    assert verdict.passed and verdict.figures["max_minute_handed"] == 2


def test_the_apps_own_pacing_is_a_figure_not_the_servers_breach():
    # Two SMS handed at t=0 and two at t=61: the server kept 2 a minute. The app sent the
    # second of the first pair 30 s later (60000/rate pacing), then restarted and paced the
    # next pair at its initial 100/min until a heartbeat: 3 submitted within 31.6 s.
    config = phone_config(rate=2)
    events = [
        issued(0.0, (1, ALICE), (2, ALICE)),
        {**radio(3.0, 1), "submitted": 0.0},
        {**radio(33.0, 2), "submitted": 30.0},
        issued(61.0, (3, BOB), (4, BOB)),
        {**radio(64.0, 3, to=BOB), "submitted": 61.0},
        {**radio(65.0, 4, to=BOB), "submitted": 61.6},
    ]
    verdict = run("limits", evidence(*events, config=config))
    assert verdict.passed
    assert verdict.figures["max_minute_handed"] == 2
    assert verdict.figures["max_minute_submitted"] == 3


def test_limits_ignore_unsent_attempts_and_telephony_retries():
    events = [radio(1.0, 1, sent=0), radio(2.0, 2), radio(3.0, 2, cause="telephony_retry")]
    verdict = run("limits", evidence(*events, config=phone_config(daily=1, rate=1)))
    assert verdict.passed and verdict.figures["max_minute_submitted"] == 1


def test_a_resend_after_a_lost_status_is_not_the_servers_breach_of_a_limit():
    # SMS 2 went out whole, its status died with the app, the server handed it out again
    # 40 minutes later and it went out again: 3 parts on the radio for a limit of 2. The
    # repeat is exactly_once's to judge, not a breach of the limit.
    events = [
        issued(0.0, (1, ALICE), (2, BOB)),
        radio(1.0, 1),
        radio(2.0, 2),
        issued(2400.0, (2, BOB)),
        radio(2401.0, 2),
    ]
    verdict = run("limits", evidence(*events, config=phone_config(daily=2)))
    assert verdict.passed and verdict.figures["repeat_parts"] == 1
    assert verdict.figures["max_day_parts"] == 2
    # a first send over the limit still is one
    events.append(radio(2402.0, 3, to=BOB))
    assert "sent 3 parts on 2026-03-02" in broken(
        "limits", evidence(*events, config=phone_config(daily=2))
    )


# --- android_cap ---------------------------------------------------------------------


def test_the_cap_counts_parts_per_sim_slot_and_skips_exempt_slots():
    config = phone_config(caps=[cap(max_count=3, period=600.0), cap(1, slot=1, exempt=True)])
    events = [radio(1.0, 1, parts=2), radio(2.0, 2, slot=1), radio(3.0, 3, slot=1)]
    assert run("android_cap", evidence(*events, config=config)).passed
    events.append(radio(500.0, 4, parts=2))
    text = broken("android_cap", evidence(*events, config=config))
    assert "phone-1 SIM slot 0 sent 4 parts in the 600 s ending t=500s" in text


def test_a_held_or_refused_sms_must_not_end_sent():
    def held(t, sms_id, verdict="hold"):
        event = {"kind": "cap", "t": t, "phone": PHONE, "sim_slot": 0, "sms_id": sms_id}
        return {**event, "verdict": verdict, "parts": 1}

    failed = [row(1, "error", failure_type="x"), row(2, "canceled", failure_type="x")]
    verdict = run("android_cap", evidence(held(5.0, 1), held(6.0, 2, "refuse"), sms=failed))
    assert verdict.passed and (verdict.figures["held"], verdict.figures["refused"]) == (1, 1)
    text = broken(
        "android_cap", evidence(held(5.0, 1), held(6.0, 2), sms=[row(1), row(2, "pending")])
    )
    assert "SMS 1 was held by Android's cap on phone-1 slot 0 at t=5s" in text
    assert "ends sent" in text and "SMS 2" in text and "ends pending" in text
    # held, the process that held it died, handed out again after the stuck timeout and
    # sent whole: the later send breaks no cap (a false alarm before)
    resent = evidence(held(5.0, 1), radio(2000.0, 1), sms=[row(1)])
    assert run("android_cap", resent).passed
    # a radio that sent only part of it does not make it sent
    partial = evidence(held(5.0, 1), radio(2000.0, 1, parts=2, sent=1), sms=[row(1)])
    assert "ends sent" in broken("android_cap", partial)


# --- stop_respected ------------------------------------------------------------------


def stop_ack(t, sender=ALICE, stop=True, body="STOP"):
    return {**inbound("inbound_ack", t, sender, body, "2026-03-02T07:01:00Z"), "stop": stop}


def stop_reply(t, recipient=ALICE, body="STOP"):
    return {
        "kind": "stop_reply",
        "t": t,
        "recipient": recipient,
        "sim_number": SIM,
        "sms_id": None,
        "body": body,
    }


def test_sms_already_issued_when_the_stop_lands_are_counted_as_in_flight():
    ev = evidence(
        issued(10.0, (1, ALICE), (2, BOB)),
        stop_reply(50.0),
        stop_ack(60.0),
        radio(61.0, 1),
        radio(62.0, 2, to=BOB),
    )
    verdict = run("stop_respected", ev)
    assert verdict.passed
    assert verdict.figures == {"stops": 1, "in_flight_at_stop": 1, "not_recognised_as_stop": 0}


def test_issuing_to_a_number_after_its_stop_reached_the_server_is_a_violation():
    ev = evidence(
        stop_reply(10.0, BOB, body="Díky"),  # not a STOP reply: a ack of another text
        stop_ack(20.0, BOB, stop=False),
        stop_reply(50.0),
        stop_ack(60.0),
        stop_ack(90.0),  # only the first report counts
        issued(100.0, (3, ALICE), (4, BOB)),
        radio(110.0, 3),  # issued after the STOP: a violation, not in flight
    )
    verdict = run("stop_respected", ev)
    assert verdict.violation_count == 1
    assert verdict.figures == {"stops": 1, "in_flight_at_stop": 0, "not_recognised_as_stop": 0}
    text = verdict.violations[0]
    assert text.startswith("SMS 3 to +420608000001 was issued to phone-1 at t=100s")
    assert "40 s after" in text


def test_a_stop_the_server_did_not_recognise_still_counts():
    # The recipient wrote "Stop." from another number format; the server answered 2xx but
    # did not call it a STOP (is_stop false). It reached the server all the same.
    ev = evidence(
        stop_reply(50.0, body="Stop."),
        stop_ack(60.0, sender="00420608000001", stop=False, body="Stop."),
        issued(100.0, (3, ALICE)),
    )
    verdict = run("stop_respected", ev)
    assert verdict.violation_count == 1 and verdict.figures["not_recognised_as_stop"] == 1
    # A STOP-looking text nobody wrote as a STOP reply is not one.
    assert run("stop_respected", evidence(stop_ack(60.0), issued(100.0, (3, ALICE)))).passed


# --- counters_consistent -------------------------------------------------------------


def test_sent_total_must_equal_the_segments_of_the_phones_sent_sms():
    sms = [row(1, segments=2), row(2, segments=3), row(3, "error", failure_type="x")]
    events = [radio(1.0, 1, parts=2), radio(2.0, 2, parts=3)]
    good = run("counters_consistent", evidence(*events, sms=sms, phones=[server_phone(5)]))
    assert good.passed and good.figures["sent_segments"] == 5
    text = broken("counters_consistent", evidence(*events, sms=sms, phones=[server_phone(4)]))
    assert "phone phone-1 (id 1) has sent_total 4 but its sent SMS add up to 5" in text


def test_the_sent_count_is_cross_checked_with_the_radio():
    ev = evidence(radio(1.0, 1), sms=[row(1), row(2)], phones=[server_phone(2)])
    text = broken("counters_consistent", ev)
    assert "counts 2 SMS as sent but only 1 fully left a radio; not: 2" in text


# --- reconcile_converges -------------------------------------------------------------


def test_every_app_ends_with_nothing_unsynced():
    ev = evidence(app_final({}, unsynced=[4, 9]), sms=[row(4, "pending"), row(9, "pending")])
    verdict = run("reconcile_converges", ev)
    assert verdict.violations == ("phone-1 ended with 2 SMS not synced: 4, 9",)
    assert verdict.figures["unsynced"] == 2


def test_apps_and_server_agree_on_each_sms():
    finals = [app_final({1: "sent", 2: "error", 3: "error"}), app_final({2: "sent"}, phone="p2")]
    sms = [row(1, "error", failure_type="x"), row(2), row(3, "pending"), row(4)]
    text = broken("reconcile_converges", evidence(*finals, sms=sms))
    assert "SMS 1 ends error but phone-1 reported it sent" in text
    assert "SMS 2" not in text  # one app saw it sent, the server agrees
    assert "SMS 3 ends pending though every app reports error" in text
    assert "SMS 4 ends sent but no app reports it at all" in text


# --- inbound_once --------------------------------------------------------------------


def test_each_received_sms_is_recorded_exactly_once():
    # The app reports no device time, so deliveries are counted per phone, sender and text:
    # the oracle keys on what the network delivered, never on a field the app does not send.
    received = [
        inbound("inbound_received", 5.0, ALICE, "STOP", "2026-03-02T09:13:05Z"),
        inbound("inbound_received", 7.0, BOB, "hello", "2026-03-02T09:14:00Z"),
        inbound("inbound_received", 8.0, BOB, "hello", "2026-03-02T09:20:00Z"),  # again
        inbound("inbound_received", 9.0, BOB, "bye", "2026-03-02T09:21:00Z"),
    ]

    def rec(sender, body, at):
        return {"phone": PHONE, "from_number": sender, "message": body, "received_at": at}

    rows = [
        rec(ALICE, "STOP", "2026-03-02T09:13:05Z"),
        rec(ALICE, "STOP", "2026-03-02T11:40:00Z"),  # an inbox scan hours later, recorded anew
        rec(BOB, "hello", "2026-03-02T09:14:00Z"),
        rec(BOB, "bye", "2026-03-02T09:21:00Z"),
    ]
    verdict = run("inbound_once", evidence(*received, inbound_rows=rows))
    assert verdict.checked == 3 and verdict.violation_count == 2
    assert verdict.violations[0] == (
        f"{PHONE} received 'STOP' from {ALICE} once; the server recorded it 2 times"
    )
    assert verdict.violations[1] == (
        f"{PHONE} received 'hello' from {BOB} 2 times; the server recorded it 1 time"
    )
    assert (verdict.figures["lost"], verdict.figures["duplicated"]) == (1, 1)


# --- rejects_bad_input -----------------------------------------------------------------


def test_malformed_requests_refused_with_a_4xx_or_listed_by_their_batch_pass():
    listed_item = {"success": True, "processed": 0, "errors": [{"index": 0, "error": "bad"}]}
    verdict = run(
        "rejects_bad_input",
        evidence(
            probe(1.0, "pending", {"limit": -5}, 422, REFUSED),
            probe(2.0, "heartbeat", {"unsynced_count": "several"}, 400, None),  # not JSON
            probe(3.0, "confirm-batch", {"results": ["sent"]}, 200, listed_item),
            probe(4.0, "inbound-history", {"search": None}, 200, {"success": True}, "good_input"),
            probe(5.0, "reconcile", {"known_ids": []}, 200, RECONCILED, "good_input"),
            {
                "kind": "persona",
                "t": 6.0,
                "phone": PHONE,
                "act": "replay",
                "status": "sent",
                "ids": [1],
            },
        ),
    )
    assert verdict.passed and verdict.checked == 5
    assert verdict.figures == {"malformed": 3, "well_formed": 2}
    assert verdict.summary == "5 probe requests judged, 0 mishandled"


def test_a_malformed_request_answered_5xx_or_2xx_names_endpoint_input_and_status():
    crashed = {"success": False, "error": "'<' not supported between instances of 'int' and 'str'"}
    text = broken(
        "rejects_bad_input",
        evidence(
            probe(1.0, "pending", {"limit": "all"}, 500, crashed),
            probe(2.0, "heartbeat", {"unsynced_count": "several"}, 200, {"success": False}),
            probe(3.0, "inbound-batch", {"messages": ["Ahoj"]}, 200, {"success": True}),
        ),
    )
    assert text == (
        f'/pending with {{"limit": "all"}} from {PHONE} at t=1s (2026-03-02T07:00:01Z) was '
        "answered 500 (\"'<' not supported between instances of 'int' and 'str'\"); a malformed "
        "request must be refused with a 4xx saying what is wrong | "
        f'/heartbeat with {{"unsynced_count": "several"}} from {PHONE} at t=2s '
        "(2026-03-02T07:00:02Z) was answered 200 (success: false); a malformed request must be "
        "refused with a 4xx saying what is wrong | "
        f'/inbound-batch with {{"messages": ["Ahoj"]}} from {PHONE} at t=3s '
        "(2026-03-02T07:00:03Z) was answered 200 (success: true); a malformed request must be "
        "refused with a 4xx saying what is wrong"
    )


def test_a_well_formed_request_needs_a_whole_2xx_answer():
    lacking = {"success": True, "already_confirmed_ids": [], "stuck_ids": []}
    verdict = run(
        "rejects_bad_input",
        evidence(
            probe(1.0, "reconcile", {"known_ids": []}, 200, lacking, "good_input"),
            probe(2.0, "inbound-history", {"search": None}, 500, {"error": "x"}, "good_input"),
        ),
    )
    assert not verdict.passed and verdict.first_at == 1.0
    assert verdict.violations == (
        f'/reconcile with {{"known_ids": []}} from {PHONE} at t=1s (2026-03-02T07:00:01Z) was '
        "answered 200 without not_found_ids, which every /reconcile answer carries",
        f'/inbound-history with {{"search": null}} from {PHONE} at t=2s (2026-03-02T07:00:02Z) '
        "was answered 500 ('x'); a well-formed request must get a 2xx answer",
    )


def test_without_probe_requests_there_is_nothing_to_judge():
    replay = {
        "kind": "persona",
        "t": 6.0,
        "phone": PHONE,
        "act": "replay",
        "status": "sent",
        "ids": [1],
    }
    verdict = run("rejects_bad_input", evidence(replay))
    assert verdict.passed and verdict.checked == 0
    assert verdict.summary == "nothing to judge: no probe requests"
