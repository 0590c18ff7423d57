"""JUnit XML of a run: one test case per oracle and per demanded path, read by CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from reports.junit import render_junit


def verdict(name: str, passed: bool = True, judged: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "passed": passed,
        "judged": judged,
        "summary": f"{name} summary",
        "violations": extra.get("violations", []),
        "violation_count": len(extra.get("violations", [])),
    }


META: dict[str, Any] = {
    "scenario": "smoke",
    "seed": 3,
    "wall_seconds": 1.5,
    "virtual_seconds": 600.0,
    "history_sha256": "ab" * 32,
    "expected_failures": [],
    "demanded_hits": [],
    "missing_hits": [],
    "hits": {},
}


def suite(meta: dict[str, Any]) -> ET.Element:
    root = ET.fromstring(render_junit(meta))
    assert root.tag == "testsuites"
    (only,) = list(root)
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        k: only.get(k) for k in ("tests", "failures", "errors", "skipped")
    }
    return only


def cases(s: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in s.iter("testcase")}


def test_a_green_run_is_one_passing_case_per_oracle_with_the_run_as_properties() -> None:
    s = suite({**META, "verdicts": [verdict("exactly_once"), verdict("no_loss")]})
    assert (s.get("name"), s.get("tests"), s.get("failures"), s.get("skipped")) == (
        "smoke (seed 3)",
        "2",
        "0",
        "0",
    )
    assert all(c.get("classname") == "hil.smoke" and not list(c) for c in cases(s).values())
    props = {p.get("name"): p.get("value") for p in s.iter("property")}
    assert props["seed"] == "3" and props["history_sha256"] == "ab" * 32


def test_a_violation_fails_its_case_with_the_summary_and_the_violations() -> None:
    bad = verdict("no_loss", passed=False, violations=[f"SMS {i} lost" for i in range(25)])
    s = suite({**META, "verdicts": [verdict("exactly_once"), bad]})
    failure = cases(s)["no_loss"].find("failure")
    assert s.get("failures") == "1" and failure is not None
    assert failure.get("message") == "no_loss summary" and failure.get("type") == "violation"
    text = failure.text or ""
    assert text.startswith("SMS 0 lost\nSMS 1 lost") and text.endswith("... and 5 more")


def test_expected_reds_pass_and_an_expected_red_that_stays_green_fails() -> None:
    meta = {**META, "expected_failures": ["stop_respected", "limits"]}
    meta["verdicts"] = [verdict("stop_respected", passed=False), verdict("limits")]
    c = cases(suite(meta))
    assert c["stop_respected"].find("failure") is None
    assert "failed as expected" in (c["stop_respected"].findtext("system-out") or "")
    failure = c["limits"].find("failure")
    assert failure is not None and failure.get("type") == "expected_failure"


def test_not_judged_is_skipped_unless_it_was_to_be_shown_red() -> None:
    meta = {**META, "verdicts": [verdict("inbound_once", judged=False)]}
    assert cases(suite(meta))["inbound_once"].find("skipped") is not None
    meta["expected_failures"] = ["inbound_once"]
    failure = cases(suite(meta))["inbound_once"].find("failure")
    assert failure is not None and failure.get("type") == "not_judged"


def test_a_demanded_path_never_reached_fails_as_vacuous() -> None:
    meta = {**META, "verdicts": [], "demanded_hits": ["lost_callback", "doze_idle"]}
    meta |= {"missing_hits": ["doze_idle"], "hits": {"lost_callback": 4, "doze_idle": 0}}
    c = cases(suite(meta))
    assert "reached 4 times" in (c["hit:lost_callback"].findtext("system-out") or "")
    failure = c["hit:doze_idle"].find("failure")
    assert failure is not None and "never reached doze_idle" in (failure.get("message") or "")


def test_an_interrupted_run_is_one_error() -> None:
    meta = {**META, "interrupted": {"signal": "SIGINT", "virtual_seconds": 42.0}}
    s = suite(meta)
    assert (s.get("tests"), s.get("errors")) == ("1", "1")
    error = cases(s)["run"].find("error")
    assert error is not None and "interrupted by SIGINT" in (error.get("message") or "")
