"""reports.page: one document, two renderings (HTML, Markdown), and deterministic PNGs."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from PIL import Image as PILImage

from reports.page import (
    Bullets,
    Image,
    Page,
    Section,
    Table,
    Text,
    clock_axis,
    data_uri,
    inline_html,
    markdown_table,
    new_figure,
    nothing_to_show,
    png_bytes,
)


def _plot(values: list[float]) -> bytes:
    figure = new_figure(6, 3)
    axes = figure.add_subplot()
    if values:
        axes.plot(range(len(values)), values)
    else:
        nothing_to_show(axes)
    return png_bytes(figure)


def _page(png: bytes) -> Page:
    return Page(
        "Run of `smoke`: **PASSED**",
        lead=[Bullets(["seed 1", "a | pipe"])],
        sections=[
            Section(
                "Verdicts",
                "verdicts",
                [Table(["oracle", "violations"], [["[no_loss](#v-no_loss)", "3"]], frozenset({1}))],
            ),
            Section(
                "no_loss",
                "v-no_loss",
                [Text("SMS 4 <lost>"), Image("p.png", png, "a plot", "it")],
                3,
            ),
        ],
    )


def test_the_same_figure_gives_the_same_png_bytes_and_pillow_decodes_them() -> None:
    first, second = _plot([1, 3, 2]), _plot([1, 3, 2])
    assert first == second
    assert b"Software" not in first and b"tIME" not in first
    image = PILImage.open(io.BytesIO(first))
    assert image.format == "PNG" and image.size == (600, 300)
    assert _plot([]) != first  # an empty plot is drawn (with its note), not a copy


def test_a_data_uri_decodes_back_to_the_png() -> None:
    png = _plot([1, 2])
    uri = data_uri(png)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == png


def test_the_html_page_is_self_contained_and_links_resolve_within_it() -> None:
    png = _plot([1, 2])
    page = _page(png).html()
    assert "<title>Run of smoke: PASSED</title>" in page
    assert "<code>smoke</code>" in page and "<strong>PASSED</strong>" in page
    assert "SMS 4 &lt;lost&gt;" in page  # text is escaped, never markup
    assert data_uri(png) in page
    # nothing is fetched: no src or href leaves the page
    assert re.findall(r'(?:src|href)="(?!#|data:)', page) == []
    ids = set(re.findall(r'id="([^"]+)"', page))
    assert set(re.findall(r'href="#([^"]+)"', page)) <= ids
    assert '<td class="num">3</td>' in page


def test_the_markdown_carries_the_same_content_and_names_the_image_file() -> None:
    text = _page(_plot([1])).markdown()
    assert text.startswith("# Run of `smoke`: **PASSED**\n")
    assert "- a | pipe" in text
    assert "| [no_loss](#v-no_loss) | 3 |" in text and "|---|---:|" in text
    assert '<a id="v-no_loss"></a>\n\n### no_loss' in text
    assert "![a plot](p.png)" in text


def test_a_pipe_in_a_markdown_cell_is_escaped() -> None:
    assert markdown_table(["a"], [["x|y"]]) == ["| a |", "|---|", "| x\\|y |"]


def test_inline_markup_inside_code_is_left_alone() -> None:
    assert inline_html("`**x**` and [y](#z)") == '<code>**x**</code> and <a href="#z">y</a>'


def test_the_clock_axis_shows_the_local_time_of_day() -> None:
    figure = new_figure()
    axes = figure.add_subplot()
    axes.plot([0, 7200], [0, 1])
    start = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 20:00 in Prague
    clock_axis(axes, start, ZoneInfo("Europe/Prague"), 7200)
    figure.canvas.draw()
    labels = [t.get_text() for t in axes.get_xticklabels()]
    assert labels[0] == "20:00" and "21:00" in labels
    clock_axis(axes, start, ZoneInfo("Europe/Prague"), 2 * 86400)
    figure.canvas.draw()
    labels = [t.get_text() for t in axes.get_xticklabels()]
    assert "Tue 00:00" in labels  # a run over days names them (2026-03-03 is a Tuesday)
