"""Page primitives shared by every report: one document model rendered as a self-contained
HTML page or as Markdown, and matplotlib figures turned into deterministic PNG bytes.

A :class:`Page` is a title, some lead blocks and :class:`Section` s; a block is a
:class:`Text` (one paragraph), :class:`Bullets`, a :class:`Table` or an :class:`Image`.
Text is a small inline Markdown: ```code```, ``**bold**`` and ``[text](#anchor)`` links,
which :meth:`Page.markdown` writes as is and :meth:`Page.html` turns into tags, so both
renderings carry the same content. The HTML page embeds its images as ``data:`` URIs and
its style inline: it opens from a CI artefact with no network. The Markdown refers to
each image by its file name, for the caller to write next to it.

Figures are drawn on :func:`new_figure` (a plain ``matplotlib.figure.Figure`` on the Agg
canvas: no pyplot, no global state, safe in worker threads) and saved by :func:`png_bytes`
without the metadata that would change from one matplotlib to the next, so the same data
gives the same bytes. :func:`clock_axis` labels virtual seconds as the run's local clock
(HH:MM); :func:`nothing_to_show` says so on a plot with no data rather than leaving it blank.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib itself loads when a figure is drawn, not with the reports:
    # it takes about a second, which every other hil command would pay for
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "Block",
    "Bullets",
    "Image",
    "Page",
    "Section",
    "Table",
    "Text",
    "clock_axis",
    "data_uri",
    "inline_html",
    "markdown_table",
    "new_figure",
    "nothing_to_show",
    "png_bytes",
]

DPI = 100  # pixels per inch of every PNG: a 10 in wide figure is 1000 px, legible on a laptop


@dataclass(frozen=True)
class Text:
    """One paragraph of inline Markdown (code, bold, links)."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """A bulleted list; each item is inline Markdown."""

    items: Sequence[str]


@dataclass(frozen=True)
class Table:
    """A table: a header and rows of inline-Markdown cells; ``numeric`` columns align right."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    numeric: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Image:
    """A PNG: ``name`` is its file name next to the Markdown (and its id in the HTML)."""

    name: str
    png: bytes
    alt: str
    caption: str = ""


Block = Text | Bullets | Table | Image


@dataclass
class Section:
    """A heading (level 2, or 3 for a subsection) with an anchor, then its blocks."""

    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2


@dataclass
class Page:
    """A whole report: its title, the blocks under it, its sections in order."""

    title: str
    lead: list[Block] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def images(self) -> list[Image]:
        """Every image of the page, in page order."""
        blocks = [*self.lead, *(b for s in self.sections for b in s.blocks)]
        return [b for b in blocks if isinstance(b, Image)]

    def markdown(self) -> str:
        """The page as Markdown; each section's anchor is an ``<a id>`` before its heading
        (so ``[x](#anchor)`` links work on GitLab and GitHub too)."""
        lines = [f"# {self.title}", ""]
        lines += _markdown_blocks(self.lead)
        for section in self.sections:
            lines += [f'<a id="{section.anchor}"></a>', ""]
            lines += [f"{'#' * section.level} {section.title}", ""]
            lines += _markdown_blocks(section.blocks)
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """The page as one self-contained HTML document (style and images inline)."""
        body = [f"<h1>{inline_html(self.title)}</h1>", *_html_blocks(self.lead)]
        toc = [s for s in self.sections if s.level == 2]
        if toc:
            links = "".join(
                f'<li><a href="#{s.anchor}">{inline_html(s.title)}</a></li>' for s in toc
            )
            body.append(f'<nav><ul class="toc">{links}</ul></nav>')
        for section in self.sections:
            tag = f"h{section.level}"
            body.append(
                f'<section id="{html.escape(section.anchor)}">'
                f"<{tag}>{inline_html(section.title)}</{tag}>"
            )
            body += _html_blocks(section.blocks)
            body.append("</section>")
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(_plain(self.title))}</title>\n"
            f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body)
            + "\n</main>\n</body>\n</html>\n"
        )


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: frozenset[int] = frozenset()
) -> list[str]:
    """A Markdown table's lines; a ``|`` inside a cell is escaped."""
    align = ["---:" if i in numeric else "---" for i in range(len(header))]
    out = [_md_row(header), "|" + "|".join(align) + "|"]
    out += [_md_row(row) for row in rows]
    return out


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _markdown_blocks(blocks: Sequence[Block]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Text):
            lines.append(block.text)
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items]
        elif isinstance(block, Table):
            lines += markdown_table(block.header, block.rows, block.numeric)
        else:
            lines.append(f"![{block.alt}]({block.name})")
            if block.caption:
                lines += ["", f"*{block.caption}*"]
        lines.append("")
    return lines


# -- inline Markdown to HTML ------------------------------------------------------------------

# `code`, **bold** and [text](href), in the order they are looked for; code spans first, so
# nothing inside them is read as markup.
_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)")


def inline_html(text: str) -> str:
    """Inline Markdown (```code```, ``**bold**``, ``[text](href)``) as escaped HTML."""
    out: list[str] = []
    pos = 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[pos : match.start()]))
        code, bold, label, href = match.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{inline_html(bold)}</strong>")
        else:
            out.append(f'<a href="{html.escape(href)}">{inline_html(label)}</a>')
        pos = match.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _plain(text: str) -> str:
    """Inline Markdown without its markup (for the HTML title)."""
    return _INLINE.sub(lambda m: m.group(1) or m.group(2) or m.group(3), text)


def _html_blocks(blocks: Sequence[Block]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Text):
            out.append(f"<p>{inline_html(block.text)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{inline_html(item)}</li>" for item in block.items)
            out.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            out.append(_html_table(block))
        else:
            caption = (
                f"<figcaption>{inline_html(block.caption)}</figcaption>" if block.caption else ""
            )
            out.append(
                f'<figure id="{html.escape(block.name)}">'
                f'<img src="{data_uri(block.png)}" alt="{html.escape(block.alt)}">'
                f"{caption}</figure>"
            )
    return out


def _html_table(table: Table) -> str:
    def cells(row: Sequence[str], tag: str) -> str:
        return "".join(
            f'<{tag} class="num">{inline_html(str(c))}</{tag}>'
            if i in table.numeric
            else f"<{tag}>{inline_html(str(c))}</{tag}>"
            for i, c in enumerate(row)
        )

    head = f"<thead><tr>{cells(table.header, 'th')}</tr></thead>"
    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in table.rows)
    return f'<div class="table"><table>{head}<tbody>{body}</tbody></table></div>'


_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:#1b1f23;background:#fff;margin:0;line-height:1.45}"
    "main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 4rem}"
    "h1{font-size:1.6rem;margin:0 0 .8rem}"
    "h2{font-size:1.3rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem;margin-top:2.2rem}"
    "h3{font-size:1.08rem;margin-top:1.4rem}"
    "code{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.9em;"
    "background:#f3f4f6;padding:.05em .3em;border-radius:3px}"
    ".table{overflow-x:auto}"
    "table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}"
    "th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}"
    "th{background:#f6f8fa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}"
    "tbody tr:nth-child(even){background:#fafbfc}"
    "figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eaecef}"
    "figcaption{color:#57606a;font-size:.9rem}"
    "nav ul.toc{columns:2;padding-left:1.2rem;margin:.5rem 0 0}"
    "a{color:#0969da}"
    "section:target{background:#fff8c5}"
)


# -- figures ------------------------------------------------------------------------------------


def new_figure(width: float = 10.0, height: float = 4.0) -> Figure:
    """A figure of ``width`` x ``height`` inches on the Agg canvas (no pyplot, no GUI)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes, the same for the same figure: no software or time stamps."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,...`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def nothing_to_show(axes: Axes, why: str = "nothing to show") -> None:
    """Leave an empty plot saying why it is empty, not a blank frame."""
    axes.set_xticks([])
    axes.set_yticks([])
    axes.text(
        0.5,
        0.5,
        why,
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=12,
        color="#57606a",
    )


# Tick spacings, seconds: the first that gives at most ~10 ticks over the run is used.
_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def clock_axis(axes: Axes, start: datetime, tz: tzinfo, span: float, axis: str = "x") -> None:
    """Label the x axis (or the y axis: ``axis="y"``) of virtual seconds since ``start``,
    over ``span`` seconds, with the run's local clock: ticks on round local times,
    ``HH:MM``, with the weekday when the run spans more than one day."""
    from matplotlib.ticker import FixedLocator, FuncFormatter

    span = max(span, 60.0)
    step = next((s for s in _STEPS if span / s <= 10), _STEPS[-1])
    local = start.astimezone(tz)
    since_midnight = local.hour * 3600 + local.minute * 60 + local.second
    first = -since_midnight % step
    ticks = [first + n * step for n in range(int((span - first) // step) + 1)]
    days = (local + timedelta(seconds=span)).date() != local.date()
    pattern = "%a %H:%M" if days else "%H:%M"

    def label(t: float, _: object) -> str:
        return (start + timedelta(seconds=float(t))).astimezone(tz).strftime(pattern)

    target = axes.xaxis if axis == "x" else axes.yaxis
    target.set_major_locator(FixedLocator(ticks))
    target.set_major_formatter(FuncFormatter(label))
    if axis == "x":
        axes.set_xlim(0, span)
        axes.set_xlabel(f"time of day ({tz})")
    else:
        axes.set_ylim(0, span)
        axes.set_ylabel(f"time of day ({tz})")
