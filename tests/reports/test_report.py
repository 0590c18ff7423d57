"""The run report rendered from a real run: every section and figure there, the figures
decodable, the numbers those of ``verdicts.json``, a failing oracle linked to its violations.

One small virtual-time run, failing on purpose: phone-01 is switched off with SMS in hand
for longer than the stuck timeout, and defect C6 makes the stuck reset hand those
at-most-once SMS out again, so ``exactly_once`` fails; the carrier fails one SMS in twenty,
so some end ``error``; a latency threshold makes the run state its p95 in ``verdicts.json``.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from harness.folder import read_history, read_state
from harness.runner import run_scenario
from reports import REPORT_FIGURES, render_report
from scenarios import loads

SCENARIO = """\
[scenario]
name = "report-c6"
description = "A phone off with SMS in hand past the stuck timeout, the reset re-queueing them."
seed = 1
max_duration = "2h"
drain = false
defects = ["C6"]

[fleet]
count = 3
daily_limit = 150
rate_limit = 30
granted = true

[carrier]
results = { ok = 0.95, generic_failure = 0.05 }

[[faults]]
phones = ["phone-01"]
kind = "reboot"
at = "1m"
duration = "40m"
during = "sending"

[[workload]]
at = "1m"
count = 300
delivery = "at_most_once"
body = "Your table for tonight is booked, {first_name}."

[expect]
thresholds = { latency_p95 = "2h" }
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    result = run_scenario(loads(SCENARIO), out=out)
    assert not result.passed  # the defect is caught: a report worth reading
    return out


def _meta(run: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((run / "verdicts.json").read_text())
    return meta


def _figure(meta: dict[str, Any], oracle: str, name: str) -> Any:
    return next(v for v in meta["verdicts"] if v["name"] == oracle)["figures"][name]


def test_the_run_writes_the_page_the_markdown_and_every_plot(run: Path) -> None:
    html = (run / "report.html").read_text()
    embedded = dict(
        re.findall(r'<figure id="([^"]+)"><img src="data:image/png;base64,([^"]+)"', html)
    )
    assert list(embedded) == list(REPORT_FIGURES)
    markdown = (run / "summary.md").read_text()
    for name in REPORT_FIGURES:
        png = base64.b64decode(embedded[name])
        assert png == (run / name).read_bytes()  # the Markdown's file is the page's image
        image = Image.open(io.BytesIO(png))
        image.load()  # decodes the whole image, not just its header
        assert image.format == "PNG" and image.size[0] == 1100 and image.size[1] >= 200
        assert f"]({name})" in markdown
    # nothing on the page is fetched from anywhere
    assert re.findall(r'(?:src|href)="(?!#|data:)', html) == []
    for heading in (
        "Verdicts",
        "Throughput and latency",
        "Queue depth",
        "Android cap and daily limits",
        "Timeline: phones online, Doze and faults",
        "Requests by endpoint",
        "SMS that did not end sent",
        "Per phone",
        "Faults and dangerous paths seen",
    ):
        assert f"<h2>{heading}</h2>" in html and f"\n## {heading}\n" in markdown


def test_the_verdict_rows_are_those_of_verdicts_json(run: Path) -> None:
    meta, markdown = _meta(run), (run / "summary.md").read_text()
    rows = {
        cells[0]: cells
        for line in markdown.split("## Verdicts", 1)[1].split("\n\n", 2)[1].splitlines()[2:]
        for cells in [[c.strip() for c in line.strip("|").split(" | ")]]
    }
    assert len(rows) == len(meta["verdicts"])
    for v in meta["verdicts"]:
        name = f"[{v['name']}](#violations-{v['name'].replace(':', '-')})"
        cells = rows[name if v["violations"] else v["name"]]
        assert cells[1] == ("pass" if v["passed"] else "**FAIL**")
        assert cells[2:5] == [str(v["checked"]), str(v["violation_count"]), v["summary"]]


def test_a_failing_oracle_links_to_its_first_violations_and_their_sms(run: Path) -> None:
    meta, html = _meta(run), (run / "report.html").read_text()
    failing = next(v for v in meta["verdicts"] if v["name"] == "exactly_once")
    assert not failing["passed"] and failing["violations"]
    assert '<a href="#violations-exactly_once">exactly_once</a>' in html
    section = html.split('<section id="violations-exactly_once">', 1)[1].split("</section>", 1)[0]
    first = failing["violations"][0]
    assert first.replace("'", "&#x27;") in section
    assert f"(t={failing['first_at']:g} s)" in section
    # the history of the first SMS the violations name: handed out again after the reset
    sms_id = re.search(r"SMS (\d+)", first)
    assert sms_id is not None
    story = section.split(f"<strong>SMS {sms_id.group(1)}</strong>: ", 1)[1].split("</li>", 1)[0]
    assert story.startswith("08:01:00 enqueued · 08:01:00 handed to phone-01 · ")
    assert story.count("handed to phone-01") == 2 and story.endswith(" · ends sent")
    assert '<a href="#verdicts">Back to the verdicts</a>' in section


def test_the_numbers_on_the_page_are_those_of_verdicts_json(run: Path) -> None:
    meta, markdown = _meta(run), (run / "summary.md").read_text()
    sent, error = _figure(meta, "no_loss", "sent"), _figure(meta, "no_loss", "error")
    assert error and f"- Enqueued SMS by final state: error {error}, sent {sent}\n" in markdown
    transmitted = _figure(meta, "exactly_once", "transmitted")
    assert f"- SMS some app transmitted: {transmitted}\n" in markdown
    p95 = _figure(meta, "threshold:latency_p95", "p95_seconds")
    assert f", p95 {p95:.0f} s," in markdown
    held, refused = _figure(meta, "android_cap", "held"), _figure(meta, "android_cap", "refused")
    assert f"cap held (confirmation dialog): {held} (`android_cap` says {held})" in markdown
    assert f"cap refused: {refused} (`android_cap` says {refused})" in markdown
    day = _figure(meta, "limits", "max_day_parts")
    assert f"in one local day: {day} (`limits` says {day})" in markdown
    failed = _figure(meta, "no_loss", "failure:sms_server")
    assert f"- sms_server: {failed} (`no_loss` says {failed})" in markdown
    assert f"| error | sms_server | GENERIC_FAILURE | {failed} |" in markdown
    timed = meta["request_latency"]
    for endpoint, figures in timed.items():
        assert f"| `{endpoint}` | {figures['count']} | {figures['p50_ms']:.1f} |" in markdown


def test_the_plotted_series_show_the_run(run: Path) -> None:
    from reports.run_data import RunData

    meta = _meta(run)
    data = RunData.of(read_history(run), read_state(run), meta)
    # the daily-limit plot's level climbs to the busiest day's parts (counted by the limits
    # oracle's own rule, reports.limits), under the limit
    assert max(max(row) for row in data.today.values()) == _figure(meta, "limits", "max_day_parts")
    assert all(max(row) <= 150 for row in data.today.values())
    # nothing is queued before the batch (at 1m), and every SMS is final at the end
    assert data.waiting[0] == data.in_flight[0] == 0 and max(data.waiting) <= 300
    assert data.waiting[-1] == data.in_flight[-1] == 0
    # the timeline shows phone-01 off from its reboot until its app started again
    (begin, end, what), *_ = data.lines["phone-01"].down
    assert what == "reboot" and end - begin >= 40 * 60


def test_the_report_is_the_same_whether_the_run_or_the_folder_renders_it(run: Path) -> None:
    meta = _meta(run)
    report = render_report(read_history(run), read_state(run), meta)
    assert report.html == (run / "report.html").read_text()
    assert report.markdown == (run / "summary.md").read_text()
    assert report.images == {name: (run / name).read_bytes() for name in REPORT_FIGURES}
