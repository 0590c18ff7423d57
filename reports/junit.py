"""JUnit XML of a run, for the CI systems that read it (GitLab, Jenkins, GitHub actions that
annotate test results): one test case per oracle and per dangerous path the scenario
demands (``[expect] hit``).

Built from ``verdicts.json`` alone (the run's ``meta``), so it can be written again from a
run folder. An oracle that behaved as the scenario expects passes: green, or red where the
scenario demonstrates a defect (``[expect] fail``); one the target gave no evidence for is
``skipped`` (not judged), unless the scenario expects it red, which then cannot be shown
(a failure). A demanded path the run never reached fails: its verdicts are vacuous. An
interrupted run is one ``error``: nothing was judged. Standard library only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_junit"]

_MAX_VIOLATIONS = 20  # violations quoted in a failure's text; all are counted in its message


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", {"classname": classname, "name": name, "time": "0"})


def _oracle(case: ET.Element, verdict: Mapping[str, Any], expected_red: bool) -> str | None:
    """Fill ``case`` for one oracle's verdict; returns the outcome ("failure", "skipped",
    None for a pass)."""
    summary = str(verdict.get("summary", ""))
    if not verdict.get("judged", True):
        if expected_red:
            ET.SubElement(
                case,
                "failure",
                {"message": f"expected to fail, but not judged: {summary}", "type": "not_judged"},
            )
            return "failure"
        ET.SubElement(case, "skipped", {"message": summary})
        return "skipped"
    passed = bool(verdict.get("passed"))
    if passed and expected_red:
        ET.SubElement(
            case,
            "failure",
            {
                "message": f"expected to fail (a defect demonstration) but passed: {summary}",
                "type": "expected_failure",
            },
        )
        return "failure"
    if not passed and not expected_red:
        violations: Sequence[str] = verdict.get("violations") or ()
        failure = ET.SubElement(case, "failure", {"message": summary, "type": "violation"})
        lines = [str(v) for v in violations[:_MAX_VIOLATIONS]]
        more = int(verdict.get("violation_count", len(violations))) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        failure.text = "\n".join(lines)
        return "failure"
    if not passed:  # red as the scenario expects
        ET.SubElement(case, "system-out").text = f"failed as expected: {summary}"
    return None


def render_junit(meta: Mapping[str, Any]) -> str:
    """The JUnit XML document of one run's ``verdicts.json``."""
    scenario = str(meta.get("scenario", "run"))
    classname = f"hil.{scenario}"
    suite = ET.Element(
        "testsuite",
        {"name": f"{scenario} (seed {meta.get('seed')})", "time": f"{meta.get('wall_seconds', 0)}"},
    )
    props = ET.SubElement(suite, "properties")
    for key in ("scenario", "seed", "virtual_seconds", "history_sha256", "database"):
        if meta.get(key) is not None:
            ET.SubElement(props, "property", {"name": key, "value": str(meta[key])})
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if meta.get("interrupted"):
        what = meta["interrupted"]
        case = _case(suite, classname, "run")
        ET.SubElement(
            case,
            "error",
            {
                "message": f"interrupted by {what.get('signal')} after "
                f"{what.get('virtual_seconds')} virtual s: nothing was judged",
                "type": "interrupted",
            },
        )
        counts["tests"], counts["errors"] = 1, 1
    else:
        expected = set(meta.get("expected_failures") or ())
        for verdict in meta.get("verdicts") or ():
            case = _case(suite, classname, str(verdict["name"]))
            outcome = _oracle(case, verdict, verdict["name"] in expected)
            counts["tests"] += 1
            if outcome == "failure":
                counts["failures"] += 1
            elif outcome == "skipped":
                counts["skipped"] += 1
        hits: Mapping[str, int] = meta.get("hits") or {}
        missing = set(meta.get("missing_hits") or ())
        for name in meta.get("demanded_hits") or ():
            case = _case(suite, classname, f"hit:{name}")
            counts["tests"] += 1
            if name in missing:
                counts["failures"] += 1
                ET.SubElement(
                    case,
                    "failure",
                    {
                        "message": f"the run never reached {name}: its verdicts are vacuous",
                        "type": "vacuous",
                    },
                )
            else:
                ET.SubElement(case, "system-out").text = f"reached {hits.get(name, 0)} times"
    for key, value in counts.items():
        suite.set(key, str(value))
    root = ET.Element("testsuites", {k: str(v) for k, v in counts.items()})
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
