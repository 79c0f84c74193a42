"""The replay chart: the highest node load of each strategy over the window, migrations as
ticks (for ``hvplan replay --out``, the HTML report and the notebook)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from planner.charts import chart_text, render_png
from planner.replay import ReplayResult


def replay_figure(result: ReplayResult, strategies: list[str] | None = None) -> Figure:
    """Two panels (CPU %, memory %): per strategy the highest node load at every sample,
    the threshold as a dashed line, and one row of ticks per strategy at its migrations.

    The legend (one for both panels) stands outside the plot area, to the right, so that it
    hides no line however many strategies there are; the tick rows use the lines' colours.

    Parameters
    ----------
    result:
        A :func:`planner.replay.replay` result.
    strategies:
        Names to draw (default: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [s for s in result.strategies if strategies is None or s.name in strategies]
    ts = result.history.timestamps
    hours = (ts - ts[0]) / 3600.0
    fig = Figure(figsize=(13, 7.5), layout="constrained")
    ax_c, ax_m, ax_t = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 3, 1.6]})
    for i, s in enumerate(rows):
        label = chart_text(s.name)
        ax_c.plot(hours, s.peak_cpu_pct, lw=0.8, color=f"C{i % 10}", label=label)
        ax_m.plot(hours, s.peak_memory_pct, lw=0.8, color=f"C{i % 10}")
    thr = result.threshold
    for ax, value, what in ((ax_c, thr.cpu_pct, "CPU"), (ax_m, thr.memory_pct, "memory")):
        ax.axhline(value, color="k", ls="--", lw=0.8)
        ax.axhline(100.0, color="r", ls=":", lw=0.8)
        ax.set_ylabel(f"highest node {what} %")
        ax.grid(alpha=0.3)
    for i, s in enumerate(rows):
        t = np.array([m[0] for m in s.moves], dtype=np.int64)
        t = np.clip(t, 0, len(ts) - 1)
        ax_t.vlines(hours[t], i - 0.4, i + 0.4, lw=0.6, color=f"C{i % 10}")
    ax_t.set_yticks(
        range(len(rows)), [chart_text(f"{s.name} ({len(s.moves)})") for s in rows], fontsize=7
    )
    ax_t.set_xlabel("hours from " + chart_text(result.history.window()["start"]))
    ax_t.set_ylim(-0.6, len(rows) - 0.4)
    ax_t.set_title("migrations", fontsize=8)
    fig.legend(loc="outside right upper", fontsize=7, title="strategy", title_fontsize=8)
    ax_c.set_title(
        chart_text(
            f"{result.cluster.name}: replay of "
            f"{result.history.n_samples} samples; dashed: {thr.rule}"
        ),
        fontsize=9,
    )
    return fig


def write_replay_chart(result: ReplayResult, path: str | Path) -> Path:
    """Draw :func:`replay_figure` into a PNG file; returns the path."""
    p = Path(path)
    render_png(replay_figure(result), p)
    return p


__all__ = ["replay_figure", "write_replay_chart"]
