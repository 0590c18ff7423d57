"""Partner filters: phones that serve only some partners, judged from the history."""

from __future__ import annotations

from harness.hits import count_hits
from harness.oracles import ORACLES, Evidence

START = "2026-03-02T07:00:00Z"


def config(**serves):
    """Phones named by keyword, each serving the given tags (an empty list: no filter)."""
    return {
        "kind": "config",
        "t": 0.0,
        "start": START,
        "timezone": "Europe/Prague",
        "phones": {
            name: {"server_id": n, "sims": [f"+42077700000{n}"], "serves": tags}
            for n, (name, tags) in enumerate(serves.items(), 1)
        },
    }


def enqueued(ids, tags):
    return {"kind": "enqueued", "t": 60.0, "batch": 0, "ids": ids, "tags": tags}


def issued(t, phone, *ids):
    return {
        "kind": "issued",
        "t": t,
        "phone": phone,
        "sms": [{"id": i, "number": "+420"} for i in ids],
    }


def judged(*events, **serves):
    return ORACLES["filters_respected"](Evidence([config(**serves), *events], {}))


def test_phones_given_only_what_their_filters_accept_pass():
    verdict = judged(
        enqueued([1, 2, 3], ["Praha", "Brno", "Ostrava"]),
        issued(70.0, "praha", 1),
        issued(71.0, "brno", 2),
        issued(72.0, "fallback", 3),
        praha=["Praha"],
        brno=["Brno"],
        fallback=[],
    )
    assert verdict.passed and verdict.checked == 2  # hand-outs to filtered phones


def test_an_sms_for_another_tag_on_a_filtered_phone_is_a_violation_with_its_time():
    verdict = judged(
        enqueued([1, 2], ["Praha", "Brno"]),
        issued(70.0, "praha", 1, 2),
        praha=["Praha"],
        fallback=[],
    )
    assert not verdict.passed and verdict.violation_count == 1
    assert "SMS 2 (for a partner tagged 'Brno') was handed to praha" in verdict.violations[0]
    assert "serves only Praha" in verdict.violations[0]
    assert verdict.first_at == 70.0


def test_an_sms_without_a_partner_must_not_reach_a_filtered_phone():
    verdict = judged(
        enqueued([1], []),  # a batch without partner_tags
        issued(70.0, "praha", 1),
        praha=["Praha"],
        fallback=[],
    )
    assert not verdict.passed and "(for no partner)" in verdict.violations[0]


def test_no_loss_does_not_blame_a_failure_only_a_filtered_phone_could_have_taken():
    # SMS 1 (Brno) failed at enqueue; only the Praha phone was online, and it may not take it.
    beat = {"kind": "heartbeat", "t": 30.0, "phone": "praha"}
    row = {"id": 1, "number": "+420608000001", "body": "hi", "state": "error"}
    row |= {"failure_type": "sms_server", "gateway_phone_id": None, "segments": 1}
    events = [config(praha=["Praha"]), beat, enqueued([1], ["Brno"])]
    assert ORACLES["no_loss"](Evidence(events, {"sms": [row]})).passed
    events = [config(praha=["Praha", "Brno"]), beat, enqueued([1], ["Brno"])]
    lost = ORACLES["no_loss"](Evidence(events, {"sms": [row]}))
    assert not lost.passed and "although praha was online" in lost.violations[0]


def test_filter_excluded_counts_sms_some_filter_refuses():
    events = [config(praha=["Praha"], fallback=[]), enqueued([1, 2, 3], ["Praha", "Brno", "Brno"])]
    assert count_hits(events)["filter_excluded"] == 2
    events = [config(a=[], b=[]), enqueued([1, 2], ["Praha", "Brno"])]
    assert count_hits(events)["filter_excluded"] == 0
