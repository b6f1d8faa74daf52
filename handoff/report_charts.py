"""The report's charts, drawn with matplotlib and embedded as SVG `data:` URIs.

No pyplot: every chart is its own Figure with its own canvas, so the handoff service can
draw reports in several request threads at once. An SVG in an <img> is an isolated
document (no scripts, no shared ids), and its text is drawn as paths, so it looks the
same without any font installed."""

from __future__ import annotations

import base64
import io
import os
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import Any


def _writable_matplotlib_config() -> None:
    """Matplotlib caches its font list in its config folder. Where that folder cannot be
    written (a service account with a read-only home) it would warn and rebuild the list
    in a new temporary folder on every start; a fixed per-user one is reused instead."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "matplotlib"
    existing = next((p for p in (config, *config.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK):
        fallback = Path(tempfile.gettempdir()) / f"parley-matplotlib-{os.getuid()}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        os.environ["MPLCONFIGDIR"] = str(fallback)


_writable_matplotlib_config()

from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.dates import AutoDateLocator, DateFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

from handoff.report import OUTCOMES_AND_OPEN  # noqa: E402

OUTCOME_COLORS = {
    "resolved_by_bot": "#2e7d32",
    "resolved_by_human": "#1565c0",
    "unresolved": "#ef6c00",
    "abandoned": "#c62828",
    "open": "#9e9e9e",
}
OUTCOME_LABELS = {
    "resolved_by_bot": "Resolved by bot",
    "resolved_by_human": "Resolved by human",
    "unresolved": "Unresolved",
    "abandoned": "Abandoned",
    "open": "Open",
}
# Matplotlib is not thread-safe and the service may draw two reports at once: one at a time.
DRAWING = threading.Lock()
INK, GRID, ACCENT = "#333333", "#dddddd", "#1565c0"
WIDTH_IN = 7.2  # drawn ~690 px wide; the page scales it to its column


def _label(text: str, limit: int = 42) -> str:
    """A label from the database: shortened, and with `$` escaped so matplotlib never reads
    it as mathtext (a stray pair of dollar signs would fail to render)."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _figure(height_in: float, width_in: float = WIDTH_IN) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasSVG(fig)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(colors=INK, labelsize=9)
    ax.set_axisbelow(True)
    return fig, ax


def _data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bar_labels(ax: Any, bars: Any, texts: list[str]) -> None:
    ax.bar_label(bars, labels=[_label(t) for t in texts], padding=3, fontsize=8, color=INK)


def outcomes_chart(outcomes: dict[str, Any]) -> str | None:
    """Horizontal bars: share of finished conversations per outcome."""
    if not outcomes["finished"]:
        return None
    names = [o for o in OUTCOMES_AND_OPEN if o != "open"]
    shares = [outcomes["shares"][o] * 100 for o in names]
    fig, ax = _figure(2.0)
    bars = ax.barh(
        [OUTCOME_LABELS[o] for o in names], shares, color=[OUTCOME_COLORS[o] for o in names]
    )
    texts = [f"{s:.1f}% ({outcomes['counts'][o]:,})" for s, o in zip(shares, names, strict=True)]
    _bar_labels(ax, bars, texts)
    ax.invert_yaxis()
    ax.set_xlim(0, 115)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.grid(axis="x", color=GRID)
    ax.set_xlabel("share of finished conversations", fontsize=9, color=INK)
    return _data_uri(fig)


def counts_chart(labels: list[str], counts: list[int], xlabel: str) -> str | None:
    """Horizontal bars of counts, largest first (handoffs by trigger)."""
    if not counts:
        return None
    fig, ax = _figure(0.6 + 0.32 * len(counts))
    bars = ax.barh([_label(t) for t in labels], counts, color=ACCENT)
    _bar_labels(ax, bars, [f"{n:,}" for n in counts])
    ax.invert_yaxis()
    ax.set_xlim(0, max(counts) * 1.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", color=GRID)
    ax.set_xlabel(xlabel, fontsize=9, color=INK)
    return _data_uri(fig)


def csat_chart(distribution: dict[str, int]) -> str | None:
    """Bars: how many customers gave each score."""
    counts = [distribution[str(s)] for s in range(1, 6)]
    if not sum(counts):
        return None
    fig, ax = _figure(2.2)
    colors = ["#c62828", "#ef6c00", "#f9a825", "#7cb342", "#2e7d32"]
    bars = ax.bar([str(s) for s in range(1, 6)], counts, color=colors)
    _bar_labels(ax, bars, [f"{n:,}" for n in counts])
    ax.set_ylim(0, max(counts) * 1.18)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", color=GRID)
    ax.set_xlabel("score (1 = very poor, 5 = excellent)", fontsize=9, color=INK)
    ax.set_ylabel("responses", fontsize=9, color=INK)
    return _data_uri(fig)


def feedback_chart(articles: list[dict[str, Any]]) -> str | None:
    """Stacked horizontal bars: yes and no verdicts per article."""
    if not articles:
        return None
    names = [_label(a["article_title"] or a["article_path"] or "(no article)") for a in articles]
    yes = [a["yes"] for a in articles]
    no = [a["no"] for a in articles]
    fig, ax = _figure(0.8 + 0.3 * len(articles))
    ax.barh(names, yes, color="#2e7d32", label="helpful (yes)")
    ax.barh(names, no, left=yes, color="#c62828", label="not helpful (no)")
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", color=GRID)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_xlabel("verdicts", fontsize=9, color=INK)
    return _data_uri(fig)


def _days(days: list[dict[str, Any]]) -> list[date]:
    return [date.fromisoformat(d["date"]) for d in days]


def _date_axis(ax: Any, maxticks: int = 10) -> None:
    locator = AutoDateLocator(minticks=3, maxticks=maxticks)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(DateFormatter("%d %b"))


def trend_outcomes_chart(days: list[dict[str, Any]]) -> str | None:
    """Stacked bars: conversations per day, coloured by outcome."""
    if not any(d["conversations"] for d in days):
        return None
    x = _days(days)
    fig, ax = _figure(2.8)
    bottom = [0] * len(days)
    for outcome in OUTCOMES_AND_OPEN:
        values = [d["outcomes"][outcome] for d in days]
        ax.bar(
            x,
            values,
            bottom=bottom,
            width=0.8,
            color=OUTCOME_COLORS[outcome],
            label=OUTCOME_LABELS[outcome],
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylim(0, max(bottom) * 1.08)
    _date_axis(ax)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", color=GRID)
    ax.set_ylabel("conversations", fontsize=9, color=INK)
    ax.legend(fontsize=8, frameon=False, ncols=5, loc="upper center", bbox_to_anchor=(0.5, 1.15))
    return _data_uri(fig)


def trend_line_chart(
    days: list[dict[str, Any]], key: str, ylabel: str, percent: bool = False, half: bool = False
) -> str | None:
    """A line through the days that have a value (days without one are skipped);
    `half`: drawn narrower, for half the page's width, so its text keeps its size."""
    points = [(day, d[key]) for day, d in zip(_days(days), days, strict=True) if d[key] is not None]
    if not points:
        return None
    fig, ax = _figure(2.0, WIDTH_IN * 0.62 if half else WIDTH_IN)
    scale = 100 if percent else 1
    ax.plot(
        [p[0] for p in points],
        [p[1] * scale for p in points],
        color=ACCENT,
        marker="o",
        markersize=3,
        linewidth=1.5,
    )
    _date_axis(ax, maxticks=6 if half else 10)
    if percent:
        ax.set_ylim(-3, 103)  # room for the markers at 0% and 100%
        ax.set_yticks(range(0, 101, 20))
        ax.yaxis.set_major_formatter(PercentFormatter())
    else:
        ax.set_ylim(0.8, 5.2)
        ax.set_yticks(range(1, 6))
    ax.grid(axis="y", color=GRID)
    ax.set_ylabel(ylabel, fontsize=9, color=INK)
    return _data_uri(fig)
