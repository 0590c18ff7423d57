"""The run report's figures, each drawn from :class:`~reports.run_data.RunData` as PNG bytes.

:data:`FIGURES` is the one list of them: the file each is written to next to
``summary.md``, in page order. Every figure is drawn for every run; one with no data says
"nothing to show" and why, so a run folder always holds the same files. Times are the
run's local clock (HH:MM), counts are per minute or per bin as the axis says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .measures import percentile
from .page import clock_axis, new_figure, nothing_to_show, png_bytes
from .run_data import RunData

if TYPE_CHECKING:  # matplotlib loads when a figure is drawn (reports.page.new_figure)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["FIGURES", "draw"]

MOST_LINES = 8  # phones or SIMs drawn one by one; the rest are summed or left out (said so)
MOST_ROWS = 40  # phones on the timeline

_DOZE_COLOURS = {
    "light_idle": "#9ecae1",
    "light_maintenance": "#fdd0a2",
    "deep_idle": "#3182bd",
    "deep_maintenance": "#fd8d3c",
}
_DOWN_COLOURS = {"reboot": "#636363", "process_death": "#bdbdbd", "partition": "#de2d26"}


def _axes_clock(axes: Axes, data: RunData) -> None:
    clock_axis(axes, data.start, data.tz, data.span)
    axes.grid(True, axis="y", alpha=0.3)


def _violations(axes: Axes, verdicts: Sequence[Mapping[str, Any]]) -> None:
    """A red dashed line at each failing oracle's first violation, labelled with its name."""
    for v in verdicts:
        at = v.get("first_at")
        if v.get("passed", True) or at is None:
            continue
        axes.axvline(float(at), color="#cf222e", linestyle="--", linewidth=1)
        axes.annotate(
            f"{v['name']}: first violation",
            (float(at), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            rotation=90,
            va="top",
            fontsize=8,
            color="#cf222e",
        )


def _throughput(figure: Figure, data: RunData, meta: Mapping[str, Any]) -> None:
    total_axes, phone_axes = figure.subplots(2, 1, sharex=True)
    if not any(any(row) for row in data.sends.values()):
        nothing_to_show(total_axes, "no SMS left any radio")
        nothing_to_show(phone_axes, "no SMS left any radio")
        return
    per_minute = 60.0 / data.width
    xs = [(b + 0.5) * data.width for b in range(data.bins)]
    total = [sum(row[b] for row in data.sends.values()) * per_minute for b in range(data.bins)]
    # steps, not lines between bin centres: a poll's batch is a block of sends, not a spike
    total_axes.step(xs, total, where="mid", color="#0969da", linewidth=1.5)
    total_axes.fill_between(xs, total, step="mid", color="#0969da", alpha=0.15)
    total_axes.set_ylabel("SMS per minute")
    total_axes.set_title(f"All phones (transmissions per minute, {data.width:g} s bins)")
    _violations(total_axes, meta.get("verdicts") or ())
    if len(data.sends) > MOST_LINES:  # too many to stack: one row of colour per phone
        names = sorted(data.sends)
        grid = [[n * per_minute for n in data.sends[name]] for name in names]
        image = phone_axes.imshow(
            grid,
            aspect="auto",
            interpolation="nearest",
            cmap="viridis",
            extent=(0, data.bins * data.width, len(names), 0),
        )
        phone_axes.set_yticks([r + 0.5 for r in range(len(names))], names, fontsize=7)
        figure.colorbar(image, ax=phone_axes, label="SMS per minute", pad=0.01)
        phone_axes.set_title("Per phone")
    else:
        names = sorted(data.sends)
        stacks = [[n * per_minute for n in data.sends[name]] for name in names]
        phone_axes.stackplot(xs, stacks, labels=names, alpha=0.85, step="mid")
        phone_axes.set_ylabel("SMS per minute")
        phone_axes.set_title("Per phone (stacked)")
        phone_axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    _axes_clock(total_axes, data)
    _axes_clock(phone_axes, data)
    total_axes.set_xlabel("")


def _queue(figure: Figure, data: RunData, meta: Mapping[str, Any]) -> None:
    axes = figure.subplots()
    if not any(data.waiting) and not any(data.in_flight):
        nothing_to_show(axes, "no SMS were enqueued")
        return
    xs = [(b + 1) * data.width for b in range(data.bins)]
    axes.step(xs, data.waiting, where="post", label="waiting at the server (not yet handed out)")
    axes.step(xs, data.in_flight, where="post", label="handed to a phone, not yet final")
    axes.set_ylabel("SMS")
    axes.set_title("Queue depth (at the end of each bin)")
    axes.legend(loc="best", fontsize=9)
    _violations(axes, meta.get("verdicts") or ())
    _axes_clock(axes, data)


def _latency(figure: Figure, data: RunData, meta: Mapping[str, Any]) -> None:
    axes = figure.subplots()
    values = data.latencies
    if not values:
        nothing_to_show(axes, "no enqueued SMS left a radio whole")
        return
    minutes = values[-1] >= 600
    unit, scale = ("min", 60.0) if minutes else ("s", 1.0)
    axes.hist([v / scale for v in values], bins=60, color="#8250df", alpha=0.8)
    right = values[-1] / scale
    for q, style in ((50, "-"), (95, "--")):
        at = percentile(values, q) / scale
        axes.axvline(at, color="#1b1f23", linestyle=style, linewidth=1)
        late = right and at > 0.75 * right  # written left of its line, so it stays inside
        axes.annotate(
            f"p{q} {at:.1f} {unit}",
            (at, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(-3 if late else 3, -12),
            textcoords="offset points",
            ha="right" if late else "left",
            fontsize=9,
            backgroundcolor="white",
        )
    axes.set_xlabel(f"enqueue to the first whole transmission ({unit})")
    axes.set_ylabel("SMS")
    axes.set_title(
        f"Enqueue-to-radio latency of {len(values)} SMS (max {values[-1] / scale:.1f} {unit})"
    )
    axes.grid(True, axis="y", alpha=0.3)


def _limits(figure: Figure, data: RunData, meta: Mapping[str, Any]) -> None:
    cap_axes, day_axes = figure.subplots(2, 1, sharex=True)
    xs = [(b + 1) * data.width for b in range(data.bins)]
    if not data.caps:
        nothing_to_show(cap_axes, "no SIM slot is capped (every app exempt)")
    else:
        # the SIMs that came closest to the cap are the ones worth a line
        closest = sorted(data.caps, key=lambda c: (min(c.lowest) / c.max_count, c.phone, c.slot))
        for use in closest[:MOST_LINES]:
            label = f"{use.phone} SIM {use.slot + 1} (cap {use.max_count}/{use.period:g} s)"
            used = [100.0 * (use.max_count - low) / use.max_count for low in use.lowest]
            cap_axes.step(xs, used, where="post", label=label)
        cap_axes.axhline(100, color="#cf222e", linewidth=1)
        cap_axes.set_ylim(0, 105)
        more = len(data.caps) > MOST_LINES
        shown = f"; the {MOST_LINES} closest of {len(data.caps)}" if more else ""
        cap_axes.set_title(
            f"Android SMS cap: its fullest window per bin (headroom: up to 100 %){shown}"
        )
        cap_axes.set_ylabel("% of the cap used")
        cap_axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        _axes_clock(cap_axes, data)
    if not any(any(row) for row in data.today.values()):
        nothing_to_show(day_axes, "no phone sent anything")
        return
    names = sorted(data.today, key=lambda n: (-max(data.today[n]), n))[:MOST_LINES]
    for name in sorted(names):
        limit = int(data.fleet.get(name, {}).get("daily_limit", 0))
        line = day_axes.step(
            xs, data.today[name], where="post", label=f"{name} (limit {limit or 'none'})"
        )
        if limit:
            day_axes.axhline(limit, color=line[0].get_color(), linestyle=":", linewidth=1)
    shown = (
        "" if len(data.today) <= MOST_LINES else f"; the {MOST_LINES} busiest of {len(data.today)}"
    )
    day_axes.set_title(f"Daily limit: parts sent per local day (dotted: the limit){shown}")
    day_axes.set_ylabel("parts today")
    day_axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    _axes_clock(day_axes, data)
    if data.caps:
        cap_axes.set_xlabel("")


def _timeline(figure: Figure, data: RunData, meta: Mapping[str, Any]) -> None:
    axes = figure.subplots()
    phones = data.phones[:MOST_ROWS]
    if not phones:
        nothing_to_show(axes, "no phones")
        return
    seen: set[str] = set()

    def label(name: str) -> str:
        if name in seen:
            return "_nolegend_"
        seen.add(name)
        return name

    for row, phone in enumerate(phones):
        line = data.lines[phone]
        y = len(phones) - 1 - row
        if line.online:
            spans = [(a, b - a) for a, b in line.online]
            axes.broken_barh(spans, (y + 0.05, 0.2), color="#2da44e", label=label("online"))
        for state, colour in _DOZE_COLOURS.items():
            spans = [(a, b - a) for a, b, s in line.doze if s == state]
            if spans:
                axes.broken_barh(spans, (y + 0.3, 0.35), color=colour, label=label(state))
        for what, colour in _DOWN_COLOURS.items():
            spans = [(a, b - a) for a, b, s in line.down if s == what]
            if spans:
                name = {"reboot": "off (reboot)", "process_death": "app dead"}.get(what, what)
                axes.broken_barh(spans, (y + 0.7, 0.25), color=colour, label=label(name))
        for t, fault in line.faults:
            axes.plot(
                [t], [y + 0.82], marker="v", color="#1b1f23", markersize=5, label=label("fault")
            )
            axes.annotate(
                fault, (t, y + 0.95), fontsize=7, xytext=(2, 0), textcoords="offset points"
            )
    for y in range(1, len(phones)):
        axes.axhline(y, color="#d0d7de", linewidth=0.8)
    _violations(axes, meta.get("verdicts") or ())
    axes.set_yticks([len(phones) - 1 - r + 0.5 for r in range(len(phones))], phones, fontsize=8)
    axes.set_ylim(0, len(phones))
    more = (
        ""
        if len(data.phones) <= MOST_ROWS
        else f" (first {MOST_ROWS} of {len(data.phones)} phones)"
    )
    axes.set_title(f"Phones online (heartbeats), Doze states and faults{more}")
    if seen:  # a fleet that never heartbeated has nothing to name
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    _axes_clock(axes, data)
    axes.grid(True, axis="x", alpha=0.3)


def _requests(figure: Figure, data: RunData, meta: Mapping[str, Any]) -> None:
    axes = figure.subplots()
    timed: Mapping[str, Mapping[str, float]] = meta.get("request_latency") or {}
    if not timed:
        nothing_to_show(axes, "this run recorded no request timings (verdicts.json has none)")
        return
    names = sorted(timed)
    ys = range(len(names))
    for offset, (key, colour) in enumerate(
        (("p50_ms", "#0969da"), ("p95_ms", "#bf8700"), ("max_ms", "#cf222e"))
    ):
        values = [max(float(timed[n][key]), 1e-3) for n in names]
        axes.barh(
            [y + (offset - 1) * 0.27 for y in ys], values, height=0.27, color=colour, label=key[:-3]
        )
    axes.set_yticks(list(ys), [f"{n} ({timed[n]['count']})" for n in names], fontsize=9)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter("{x:g}")  # 1, 10, 100 ms rather than 10^0, 10^1, 10^2
    axes.set_xlabel("wall milliseconds from sending to the answer (log scale)")
    axes.set_title("Per-request latency by endpoint (requests answered)")
    axes.legend(loc="lower right", fontsize=9)
    axes.grid(True, axis="x", alpha=0.3)


Draw = Callable[["Figure", RunData, Mapping[str, Any]], None]

# file name -> (alt text, drawing, figure height in inches), in page order
FIGURES: dict[str, tuple[str, Draw, float]] = {
    "plot-throughput.png": ("SMS sent per minute, total and per phone", _throughput, 6.5),
    "plot-latency.png": ("enqueue-to-radio latency distribution", _latency, 3.5),
    "plot-queue.png": ("queue depth over time", _queue, 3.5),
    "plot-limits.png": ("Android cap headroom and daily-limit usage", _limits, 6.5),
    "plot-timeline.png": ("phones online, Doze states and faults over time", _timeline, 0.0),
    "plot-requests.png": ("request latency by endpoint", _requests, 0.0),
}


def draw(name: str, data: RunData, meta: Mapping[str, Any]) -> bytes:
    """The PNG of the figure ``name`` (a key of :data:`FIGURES`)."""
    _, drawing, height = FIGURES[name]
    if name == "plot-timeline.png":
        height = 1.6 + 0.42 * min(max(len(data.phones), 1), MOST_ROWS)
    elif name == "plot-requests.png":
        height = 1.6 + 0.55 * max(len(meta.get("request_latency") or {}), 1)
    figure = new_figure(11.0, height)
    drawing(figure, data, meta)
    return png_bytes(figure)
