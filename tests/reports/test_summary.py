"""The run summary: every phone of the fleet has its row, and a silent phone says why."""

from __future__ import annotations

from typing import Any

from reports.summary import render_summary

META: dict[str, Any] = {
    "scenario": "t",
    "seed": 1,
    "passed": True,
    "virtual_seconds": 3600.0,
    "wall_seconds": 1.0,
    "requests": 10,
    "events": 10,
    "history_sha256": "0" * 64,
    "verdicts": [],
}


def _config(*names: str) -> dict[str, Any]:
    phones = {name: {"server_id": i + 1, "sims": [f"+4206{i}"]} for i, name in enumerate(names)}
    return {"t": 0.0, "kind": "config", "phones": phones}


def _radio(phone: str, t: float = 70.0) -> dict[str, Any]:
    return {
        "t": t,
        "kind": "radio",
        "phone": phone,
        "sms_id": 1,
        "sim_slot": 0,
        "parts": 1,
        "parts_sent": 1,
        "cause": "app",
    }


def _rows(summary: str) -> dict[str, str]:
    table = summary.split("## Per phone", 1)[1].split("##", 1)[0]
    return {
        line.split("|")[1].strip(): line
        for line in table.splitlines()
        if line.startswith("| phone-")
    }


def _state(*assigned: int) -> dict[str, Any]:
    return {
        "sms": [{"id": n, "state": "sent", "gateway_phone_id": p} for n, p in enumerate(assigned)]
    }


def test_a_phone_that_sent_nothing_has_a_row_of_zeros() -> None:
    events = [
        _config("phone-01", "phone-02"),
        {"t": 0.0, "kind": "app_start", "phone": "phone-01"},
        {"t": 0.0, "kind": "app_start", "phone": "phone-02"},
        {"t": 60.0, "kind": "enqueued", "ids": [1]},
        _radio("phone-01"),
    ]
    rows = _rows(render_summary(events, _state(1), META))
    assert list(rows) == ["phone-01", "phone-02"]
    assert rows["phone-02"].startswith("| phone-02 | 0 | 0 | 0 | 0 | 0 |")
    assert "the server assigned it no SMS" in rows["phone-02"]
    assert rows["phone-01"].startswith("| phone-01 | 1 | 1 | 0 | 1 | 0 |")


def test_the_reason_names_a_phone_that_never_started() -> None:
    events = [
        _config("phone-01", "phone-02"),
        {"t": 0.0, "kind": "app_start", "phone": "phone-01"},
        {"t": 60.0, "kind": "enqueued", "ids": [1]},
        _radio("phone-01"),
    ]
    rows = _rows(render_summary(events, _state(1), META))
    assert "never started" in rows["phone-02"]


def test_the_reason_names_a_phone_offline_when_the_sms_were_assigned() -> None:
    events = [
        _config("phone-01", "phone-02", "phone-03"),
        {"t": 0.0, "kind": "app_start", "phone": "phone-01"},
        {"t": 0.0, "kind": "app_start", "phone": "phone-02"},
        {"t": 30.0, "kind": "fault", "phone": "phone-02", "fault": "partition", "until": 90.0},
        {"t": 60.0, "kind": "enqueued", "ids": [1]},
        _radio("phone-01"),
        {"t": 120.0, "kind": "app_start", "phone": "phone-03"},
    ]
    rows = _rows(render_summary(events, _state(1), META))
    assert "offline (partitioned) when the SMS were assigned" in rows["phone-02"]
    assert "started at 00:02:00, after the last SMS were assigned" in rows["phone-03"]


def test_a_phone_handed_sms_that_it_never_sent_says_so() -> None:
    events = [
        _config("phone-01"),
        {"t": 0.0, "kind": "app_start", "phone": "phone-01"},
        {"t": 60.0, "kind": "enqueued", "ids": [1, 2]},
    ]
    rows = _rows(render_summary(events, _state(1, 1), META))
    assert rows["phone-01"].startswith("| phone-01 | 2 | 0 | 0 | 0 | 0 |")
    assert "assigned 2 SMS and transmitted none" in rows["phone-01"]


def test_the_summary_names_the_target_and_the_database() -> None:
    meta = {
        **META,
        "database": "postgresql://hil:***@127.0.0.1:5432/run",
        "target": {
            "server": "server_under_test",
            "version": "0.1.0",
            "mode": "in-process",
            "defects": ["B8"],
        },
    }
    summary = render_summary([_config("phone-01")], {"sms": []}, meta)
    assert "- Target: `server_under_test` 0.1.0 (in-process); defect switches: B8" in summary
    assert "- Database: `postgresql://hil:***@127.0.0.1:5432/run`" in summary


def test_a_remote_target_and_an_oracle_it_could_not_feed_are_named() -> None:
    meta = {
        **META,
        "target": {
            "server": "unknown",
            "mode": "remote (Odoo JSON-RPC)",
            "url": "http://odoo:8069",
            "time_scale": 1.0,
        },
        "verdicts": [
            {
                "name": "inbound_once",
                "passed": False,
                "judged": False,
                "checked": 0,
                "violation_count": 0,
                "violations": [],
                "figures": {},
                "summary": "not judged: the target exposes no inbound state",
            }
        ],
    }
    summary = render_summary([_config("phone-01")], {"sms": []}, meta)
    assert "(remote (Odoo JSON-RPC) at http://odoo:8069, 1x the wall clock)" in summary
    assert (
        "| inbound_once | NOT JUDGED | 0 | 0 | not judged: the target exposes no inbound state |"
        in summary
    )


def test_the_dangerous_paths_a_run_reached_are_listed_by_their_hit_names() -> None:
    meta = {**META, "hits": {"filter_excluded": 300, "lost_callback": 0}}
    summary = render_summary([_config("phone-01")], {"sms": []}, meta)
    section = summary.split("## Faults and dangerous paths seen", 1)[1]
    assert "- no faults" in section
    assert "- filter_excluded: 300" in section and "lost_callback" not in section
    bare = render_summary([_config("phone-01")], {"sms": []}, META)
    assert bare.rstrip().endswith("- none")
