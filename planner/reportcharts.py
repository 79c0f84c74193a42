"""The charts of the HTML report (:mod:`planner.htmlreport`), drawn with matplotlib's Agg
backend into figures the page embeds as PNG.

Every label taken from the user's files goes through :func:`planner.charts.chart_text`.
Legends sit outside the plotting area (they never cover a bar); the 100 % capacity line is
labelled; wave labels on the timeline are thinned so that they never overlap.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from planner.charts import chart_text, render_png
from planner.cluster import Cluster
from planner.loadmodel import Threshold
from planner.planrows import PlanMove

#: Moves drawn in the timeline and listed in the table; the rest are counted, not shown.
MAX_MOVES_SHOWN = 400

_MIGRATION_COLORS = {
    "Live": "#2b6cb0",
    "Quick": "#dd8a1d",
    "Shutdown": "#c53030",
    "Start": "#38a169",
}
BEFORE_COLOR = "#a0aec0"
AFTER_COLOR = "#2b6cb0"
_THRESHOLD_COLOR = "#c53030"
_CAPACITY_COLOR = "#1a202c"
#: Width of one wave label on the timeline (inches, "wave 123" at 7 pt, with its offset).
_WAVE_LABEL_IN = 0.5


def png_img(fig: Figure, alt: str) -> str:
    """The figure as an ``<img>`` with a base64 PNG (no metadata, so the bytes repeat)."""
    buf = io.BytesIO()
    render_png(fig, buf)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<img class="chart" alt="{html.escape(alt, quote=True)}" '
        f'src="data:image/png;base64,{data}">'
    )


def capacity_line(ax: Axes, horizontal: bool = True) -> None:
    """The 100 % line, drawn and labelled on the chart itself."""
    if horizontal:
        ax.axhline(100.0, color=_CAPACITY_COLOR, linewidth=1.0)
        ax.annotate(
            "100 % (capacity)",
            xy=(1.0, 100.0),
            xycoords=("axes fraction", "data"),
            xytext=(-2, 2),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=7,
            color=_CAPACITY_COLOR,
        )
    else:
        ax.axvline(100.0, color=_CAPACITY_COLOR, linewidth=1.0)
        ax.annotate(
            "100 %",
            xy=(100.0, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=7,
            color=_CAPACITY_COLOR,
        )


def outside_legend(ax: Axes, ncols: int = 4, **kwargs: Any) -> None:
    """A legend above the plotting area, right-aligned: it never covers the data."""
    ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
        ncols=ncols,
        frameon=False,
        **kwargs,
    )


def load_chart(
    cluster: Cluster,
    before: tuple[np.ndarray, np.ndarray],
    after: tuple[np.ndarray, np.ndarray] | None,
    threshold: Threshold,
) -> Figure:
    """Per-node CPU % and memory % bars, now and (when given) after the plan, with the
    threshold, the labelled 100 % line and the node names under both panels."""
    n = cluster.n_hosts
    width = min(18.0, max(7.0, 0.28 * n + 3))
    fig = Figure(figsize=(width, 7.2), layout="constrained")
    axes = fig.subplots(2, 1)
    x = np.arange(n)
    bw = 0.4 if after is not None else 0.7
    labels = [chart_text(h) for h in cluster.host_names]
    for ax, k, title, thr in (
        (axes[0], 0, "CPU %", threshold.cpu_pct),
        (axes[1], 1, "Memory %", threshold.memory_pct),
    ):
        if after is None:
            ax.bar(x, before[k], bw, color=AFTER_COLOR, label="now")
        else:
            ax.bar(x - bw / 2, before[k], bw, color=BEFORE_COLOR, label="now (before the plan)")
            ax.bar(x + bw / 2, after[k], bw, color=AFTER_COLOR, label="after the plan")
        ax.axhline(
            thr,
            color=_THRESHOLD_COLOR,
            linestyle="--",
            linewidth=1.2,
            label=f"threshold {thr:.1f} %",
        )
        capacity_line(ax)
        top = max(
            110.0,
            float(np.max(before[k])) + 8,
            float(np.max(after[k])) + 8 if after is not None else 0.0,
        )
        ax.set_ylim(0, top)
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylabel(title)
        ax.grid(axis="y", alpha=0.3)
        outside_legend(ax, ncols=3)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=90 if n > 12 else 0, fontsize=8 if n > 24 else 9)
    return fig


def wave_starts(moves: Sequence[PlanMove]) -> dict[int, float]:
    """Start time (s) of each wave: the waves run one after another and a wave lasts as long
    as its longest move."""
    longest: dict[int, float] = {}
    for m in moves:
        longest[m.wave] = max(longest.get(m.wave, 0.0), m.est_seconds)
    t, out = 0.0, {}
    for w in sorted(longest):
        out[w] = t
        t += longest[w]
    return out


def thin_labels(positions: Sequence[float], min_gap: float) -> list[int]:
    """Indices of the labels to draw: left to right, each at least ``min_gap`` after the
    last one drawn (positions in data units, sorted ascending)."""
    keep: list[int] = []
    last = -np.inf
    for i, p in enumerate(positions):
        if p - last >= min_gap:
            keep.append(i)
            last = p
    return keep


def timeline_chart(cluster: Cluster, moves: Sequence[PlanMove]) -> Figure:
    """The moves as bars on a time axis, one row per move, grouped by wave."""
    shown = sorted(moves, key=lambda m: (m.wave, m.step))[:MAX_MOVES_SHOWN]
    starts = wave_starts(shown)
    timed = any(m.est_seconds > 0 for m in shown)
    rows = len(shown)
    fig_w = 11.0
    fig = Figure(figsize=(fig_w, min(14.0, max(2.6, 0.22 * rows + 1.6))), layout="constrained")
    ax = fig.subplots()
    wave_rank = {w: float(i) for i, w in enumerate(sorted(starts))}
    if timed:
        lefts = [starts[m.wave] for m in shown]
        lengths = [max(m.est_seconds, 0.5) for m in shown]
    else:  # no durations: one unit per wave
        lefts = [wave_rank[m.wave] for m in shown]
        lengths = [0.9] * rows
    # One call for every bar: per-bar calls dominate the time on plans of hundreds of moves.
    bars = ax.barh(
        np.arange(rows),
        lengths,
        left=lefts,
        height=0.7,
        color=[_MIGRATION_COLORS.get(m.migration_type, "#718096") for m in shown],
    )
    for bar, m in zip(bars, shown, strict=True):
        if m.temporary:  # a hop through a third node that breaks a deadlock
            bar.set_hatch("///")
            bar.set_edgecolor("white")
    labelled = rows <= 40
    if labelled:
        ax.set_yticks(range(rows))
        ax.set_yticklabels(
            [
                chart_text(
                    f"{cluster.vm_names[m.vm]}: "
                    f"{cluster.host_names[m.source]} \u2192 "
                    f"{cluster.host_names[m.target]}"
                )
                for m in shown
            ],
            fontsize=8,
        )
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{rows} moves")
    ax.invert_yaxis()
    span = max((a + b for a, b in zip(lefts, lengths, strict=True)), default=1.0)
    ax.set_xlim(0, span * 1.02)
    waves = sorted(starts)
    pos = [starts[w] if timed else wave_rank[w] for w in waves]
    # The axis is at least half the figure wide (the rest: row labels and margins), so a
    # label needs this much of the data range to clear the next one.
    axis_in = fig_w * (0.55 if labelled else 0.85)
    keep = thin_labels(pos, span * 1.02 * _WAVE_LABEL_IN / axis_in)
    for i, (w, p) in enumerate(zip(waves, pos, strict=True)):
        ax.axvline(p, color="#718096", linewidth=0.6, alpha=0.6)
        if i in keep:
            ax.annotate(
                f"wave {w}",
                xy=(p, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, 2),
                textcoords="offset points",
                fontsize=7,
                color="#4a5568",
            )
    if len(keep) < len(waves):
        ax.set_title(
            f"{len(waves)} waves; every wave starts at a grey line (labels thinned)",
            fontsize=8,
            loc="left",
            pad=14,
        )
    ax.set_xlabel(
        "estimated seconds from the start (without the pauses between waves)" if timed else "wave"
    )
    present = sorted({m.migration_type for m in shown})
    handles = [Patch(color=_MIGRATION_COLORS.get(t, "#718096"), label=t) for t in present]
    if any(m.temporary for m in shown):
        handles.append(
            Patch(facecolor="#718096", hatch="///", edgecolor="white", label="temporary hop")
        )
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False
    )
    return fig


def compare_chart(rows: Sequence[dict[str, Any]], threshold: Threshold) -> Figure:
    """Memory moved and highest load after, one bar row per strategy; the legend above."""
    fig = Figure(figsize=(10, 0.32 * len(rows) + 1.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    names = [chart_text(r.get("name")) for r in rows]
    y = np.arange(len(rows))
    ax1.barh(y, [float(r.get("memory_moved_mb") or 0) / 1024 for r in rows], color=AFTER_COLOR)
    ax1.set_yticks(y)
    ax1.set_yticklabels(names, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("memory moved (GiB)")
    ax2.barh(
        y,
        [float(r.get("max_cpu_pct_after") or 0) for r in rows],
        color=BEFORE_COLOR,
        label="max CPU %",
    )
    ax2.barh(
        y,
        [float(r.get("max_memory_pct_after") or 0) for r in rows],
        height=0.35,
        color="#2c7a7b",
        label="max memory %",
    )
    ax2.axvline(
        threshold.cpu_pct,
        color=_THRESHOLD_COLOR,
        linestyle="--",
        linewidth=1.0,
        label=f"CPU threshold {threshold.cpu_pct:.1f} %",
    )
    if abs(threshold.memory_pct - threshold.cpu_pct) > 0.05:
        ax2.axvline(
            threshold.memory_pct,
            color="#2c7a7b",
            linestyle=":",
            linewidth=1.0,
            label=f"memory threshold {threshold.memory_pct:.1f} %",
        )
    capacity_line(ax2, horizontal=False)
    ax2.set_xlim(0, 112)
    ax2.set_yticks(y)
    ax2.set_yticklabels([])
    ax2.invert_yaxis()
    ax2.set_xlabel("highest load after (%)")
    outside_legend(ax2, ncols=2)
    return fig


def failover_chart(
    labels: Sequence[str], now: Sequence[float], after: Sequence[float] | None
) -> Figure:
    """Highest load (worse of CPU and memory) after each single-node failure: with the
    current placement and, when given, after the plan."""
    n = len(labels)
    fig = Figure(figsize=(min(18.0, max(7.0, 0.28 * n + 3)), 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(n)
    if after is None:
        ax.bar(x, now, 0.7, color=AFTER_COLOR, label="current placement")
    else:
        ax.bar(x - 0.2, now, 0.4, color=BEFORE_COLOR, label="now (before the plan)")
        ax.bar(x + 0.2, after, 0.4, color=AFTER_COLOR, label="after the plan")
    capacity_line(ax)
    top = max([110.0, *(v + 8 for v in now), *(v + 8 for v in (after or []))])
    ax.set_ylim(0, top)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xticks(x)
    ax.set_xticklabels([chart_text(s) for s in labels], rotation=90 if n > 12 else 0, fontsize=8)
    ax.set_xlabel("failed node")
    ax.set_ylabel("highest load after, %")
    ax.grid(axis="y", alpha=0.3)
    outside_legend(ax, ncols=2)
    return fig


__all__ = [
    "AFTER_COLOR",
    "BEFORE_COLOR",
    "MAX_MOVES_SHOWN",
    "compare_chart",
    "failover_chart",
    "load_chart",
    "png_img",
    "thin_labels",
    "timeline_chart",
    "wave_starts",
]
