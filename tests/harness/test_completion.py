"""campaigns_complete: a campaign is done exactly when every SMS of it is final."""

from __future__ import annotations

from harness.oracles import NEEDS, ORACLES, Evidence, judge

START = "2026-03-02T07:00:00Z"
CONFIG = {"kind": "config", "t": 0.0, "start": START, "timezone": "Europe/Prague", "phones": {}}


def sms(sms_id, state, campaign_id=1, updated="2026-03-02T07:10:00", failure=None):
    return {
        "id": sms_id,
        "state": state,
        "campaign_id": campaign_id,
        "failure_type": failure,
        "updated_at": updated,
    }


def campaign(campaign_id=1, state="done", completed="2026-03-02T07:10:00", name="flash-sale"):
    return {
        "id": campaign_id,
        "name": name,
        "state": state,
        "completed_at": completed if state == "done" else None,
    }


def judged(rows, campaigns):
    evidence = Evidence([CONFIG], {"sms": rows, "campaigns": campaigns})
    return ORACLES["campaigns_complete"](evidence)


def test_done_campaigns_with_final_sms_and_sending_ones_with_open_sms_pass():
    verdict = judged(
        [
            sms(1, "sent"),
            sms(2, "canceled", failure="sms_blacklist"),
            sms(3, "sent", campaign_id=2),
            sms(4, "pending", campaign_id=2),
            sms(5, "sent", campaign_id=None),  # transactional: no campaign
        ],
        [campaign(1), campaign(2, "sending"), campaign(3, "sending")],
    )
    assert verdict.passed, verdict.violations
    assert verdict.checked == 2  # campaign 3 has no SMS: not judged
    assert verdict.figures == {"done": 1, "sending": 1, "without_sms": 1}
    assert verdict.summary == "2 campaigns with SMS judged, 0 in the wrong state"


def test_a_campaign_left_sending_after_its_last_sms_ended_names_that_sms_and_its_time():
    verdict = judged(
        [
            sms(1, "sent", updated="2026-03-02T07:05:00"),
            sms(2, "error", updated="2026-03-02T07:36:00", failure="sms_unconfirmed"),
            sms(3, "sent", updated="2026-03-02T07:06:00"),
        ],
        [campaign(1, "sending")],
    )
    assert not verdict.passed and verdict.violation_count == 1
    assert verdict.violations == (
        "campaign 1 ('flash-sale') is still sending though all its 3 SMS are final; its last "
        "SMS, 2, ended error (sms_unconfirmed) at t=2160s (2026-03-02T07:36:00Z)",
    )
    assert verdict.first_at == 2160.0


def test_a_campaign_done_while_some_of_its_sms_are_open_is_a_violation():
    verdict = judged(
        [sms(1, "sent"), sms(2, "pending"), sms(3, "pending")],
        [campaign(1, "done", completed="2026-03-02T07:01:00")],
    )
    assert verdict.violations == (
        "campaign 1 ('flash-sale') is done since t=60s (2026-03-02T07:01:00Z) but 2 of its 3 "
        "SMS are not final: 2, 3",
    )
    assert verdict.first_at == 60.0


def test_a_server_time_that_does_not_parse_is_shown_as_it_came():
    verdict = judged([sms(1, "sent", updated="yesterday")], [campaign(1, "sending")])
    assert verdict.violations[0].endswith("ended sent at yesterday (server time)")
    assert verdict.first_at is None


def test_it_needs_the_campaigns_and_their_sms_and_is_not_judged_without_them():
    assert NEEDS["campaigns_complete"] == ("sms", "campaigns")
    evidence = Evidence([CONFIG], {"sms": [sms(1, "sent")]})
    (verdict,) = judge(evidence, ["campaigns_complete"], exposed=("sms", "phones"))
    assert not verdict.judged
    assert verdict.summary == "not judged: the target exposes no campaigns state"


def test_a_campaign_done_before_its_last_sms_ended_is_premature():
    # done at 07:01, but SMS 2 ended (stuck reset, no confirm) at 07:35: B17's early "done"
    rows = [
        sms(1, "sent", updated="2026-03-02T07:01:00"),
        sms(2, "error", updated="2026-03-02T07:35:00", failure="sms_unconfirmed"),
    ]
    verdict = judged(rows, [campaign(1, completed="2026-03-02T07:01:00")])
    assert not verdict.passed
    assert "was done at t=60s" in verdict.violations[0]
    assert "before its SMS 2 ended at t=2100s" in verdict.violations[0]
    # within the clock slack of its last end: done on time
    assert judged(rows, [campaign(1, completed="2026-03-02T07:34:30")]).passed
    # a confirm the server acknowledged counts from the acknowledgement, not from updated_at
    ack = {"kind": "confirmed", "t": 1800.0, "phone": "p", "sent": [1], "error": []}
    late = Evidence(
        [CONFIG, ack],
        {"sms": rows[:1], "campaigns": [campaign(1, completed="2026-03-02T07:01:00")]},
    )
    assert "before its SMS 1 ended at t=1800s" in ORACLES["campaigns_complete"](late).violations[0]


def test_a_late_report_after_the_stuck_reset_does_not_make_a_done_campaign_premature():
    # SMS 1 handed out at t=60; the stuck reset ended it (a guess) by t=1860, the campaign
    # was done at t=2400; the phone's late 'sent' came at t=2831 and turned it sent
    issued = {"kind": "issued", "t": 60.0, "phone": "p", "sms": [{"id": 1, "number": "+420"}]}
    ack = {"kind": "confirmed", "t": 2831.0, "phone": "p", "sent": [1], "error": []}
    config = {**CONFIG, "stuck_after": 1800.0}
    rows = [sms(1, "sent", updated="2026-03-02T07:47:11")]
    done = [campaign(1, completed="2026-03-02T07:40:00")]
    evidence = Evidence([config, issued, ack], {"sms": rows, "campaigns": done})
    assert ORACLES["campaigns_complete"](evidence).passed
