"""paused_respected: no SMS of a campaign handed out while it is paused, judged from the
history alone (``campaign`` events, each SMS's campaign in ``enqueued``, ``issued``)."""

from __future__ import annotations

from harness.oracles import CLOCK_SLACK, ORACLES, Evidence, judge

START = "2026-03-02T07:00:00Z"
CONFIG = {
    "kind": "config",
    "t": 0.0,
    "start": START,
    "timezone": "Europe/Prague",
    "phones": {"p1": {"server_id": 1, "sims": ["+420777000001"]}},
}


def enqueued(t, ids, campaign=None):
    event = {"kind": "enqueued", "t": t, "batch": 0, "ids": ids, "refused": 0, "states": {}}
    return event if campaign is None else {**event, "campaign": campaign}


def campaign(t, name, paused, asked=None, created=False):
    return {
        "kind": "campaign",
        "t": t,
        "campaign": name,
        "paused": paused,
        "asked": t if asked is None else asked,
        "created": created,
    }


def issued(t, *ids, phone="p1"):
    return {
        "kind": "issued",
        "t": t,
        "phone": phone,
        "sms": [{"id": i, "number": "+420"} for i in ids],
    }


def judged(*events):
    return ORACLES["paused_respected"](Evidence([CONFIG, *events], {}))


def test_a_queue_only_campaign_handed_out_only_after_its_resume_passes():
    verdict = judged(
        campaign(125.0, "autumn", True, asked=120.0, created=True),
        enqueued(125.0, [1, 2, 3], "autumn"),
        enqueued(130.0, [4], None),
        issued(131.0, 4),  # a transactional SMS: not judged
        issued(1200.0, 1),  # at the instant the harness asked to resume: may be after it
        campaign(1201.0, "autumn", False, asked=1200.0),
        issued(1202.0, 2, 3),
    )
    assert verdict.passed and verdict.checked == 3
    assert verdict.figures == {"paused_campaigns": 1, "handed_while_paused": 0}


def test_a_hand_out_during_the_creating_call_names_campaign_sms_phone_and_time():
    # B9 in real time: the poll's answer is recorded before the call that made the SMS
    verdict = judged(
        issued(121.5, 2, phone="phone-07"),
        campaign(125.0, "autumn", True, asked=120.0, created=True),
        enqueued(125.0, [1, 2, 3], "autumn"),
        issued(600.0, 3),
        campaign(1201.0, "autumn", False, asked=1200.0),
    )
    assert not verdict.passed and verdict.violation_count == 2
    assert verdict.violations[0] == (
        "SMS 2 of campaign 'autumn' was handed to phone-07 at t=121.5s (2026-03-02T07:02:01Z) "
        "while the campaign was paused (created paused (queue only) at t=120s "
        "(2026-03-02T07:02:00Z), resumed at t=1200s (2026-03-02T07:20:00Z))"
    )
    assert verdict.first_at == 121.5
    assert verdict.figures["handed_while_paused"] == 2
    assert verdict.figures["while_paused:autumn"] == 2


def test_later_batches_of_a_paused_campaign_wait_too_and_a_campaign_never_resumed_stays_paused():
    verdict = judged(
        campaign(60.0, "autumn", True, created=True),
        enqueued(60.0, [1], "autumn"),
        enqueued(300.0, [2], "autumn"),
        issued(3000.0, 2),
    )
    assert verdict.violations == (
        "SMS 2 of campaign 'autumn' was handed to p1 at t=3000s (2026-03-02T07:50:00Z) while "
        "the campaign was paused (created paused (queue only) at t=60s "
        "(2026-03-02T07:01:00Z), never resumed)",
    )


def test_a_pause_of_a_running_campaign_counts_from_its_answer_plus_the_clock_slack():
    verdict = judged(
        enqueued(10.0, [1, 2, 3], "spring"),
        issued(50.0, 1),
        campaign(100.0, "spring", True, asked=99.0),
        issued(100.0 + CLOCK_SLACK - 1, 2),  # may have been answered before the pause
        issued(100.0 + CLOCK_SLACK + 1, 3),
        campaign(400.0, "spring", False, asked=400.0),
    )
    assert verdict.violation_count == 1
    assert "SMS 3 of campaign 'spring'" in verdict.violations[0]
    assert "(paused at t=100s (2026-03-02T07:01:40Z), resumed at t=400s" in verdict.violations[0]


def test_a_run_without_paused_campaigns_has_nothing_to_judge_and_needs_no_server_state():
    (verdict,) = judge(
        Evidence([CONFIG, enqueued(1.0, [1]), issued(2.0, 1)], {}), ["paused_respected"], exposed=()
    )
    assert verdict.judged and verdict.passed and verdict.checked == 0
    assert verdict.summary == "nothing to judge: no hand-outs of paused campaigns' SMS"
