"""The outputs of ``hvplan compare``: sentences (:func:`summary_lines`), ``compare.csv``,
``compare.json``, ``native_moves.csv`` and the ``compare.png`` chart (:func:`write_outputs`)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from planner.cluster import HostState
from planner.compareresult import COLUMNS, HVPLAN, CompareResult
from planner.textsafe import csv_cell


def summary_lines(result: CompareResult) -> list[str]:
    """Plain sentences: by how much hvplan beats (or not) each native variant."""
    hv = result.row(HVPLAN)
    if hv is None:
        return []
    if hv.status not in ("OPTIMAL", "FEASIBLE"):
        return [f"hvplan found no plan ({hv.status}); nothing to compare."]
    out = []
    for a in result.advantages():
        name = a["strategy"]
        mem, mv = a["memory_saved_mb"], a["moves_saved"]
        pct = "" if a["memory_saved_pct"] is None else f" ({a['memory_saved_pct']:g} %)"
        if mem > 0:
            what = f"hvplan moves {mem:,} MB less memory{pct}"
        elif mem == 0:
            what = "hvplan moves the same memory"
        else:
            what = f"hvplan moves {-mem:,} MB more memory"
        moves = (
            f"{mv} fewer move(s)"
            if mv > 0
            else "the same number of moves"
            if mv == 0
            else f"{-mv} more move(s)"
        )
        extra = []
        if a["hosts_over_after"] > a["hvplan_hosts_over_after"]:
            extra.append(
                f"{name} leaves {a['hosts_over_after']} host(s) over the threshold, "
                f"hvplan {a['hvplan_hosts_over_after']}"
            )
        elif a["hosts_over_after"] < a["hvplan_hosts_over_after"]:
            extra.append(
                f"hvplan leaves {a['hvplan_hosts_over_after']} host(s) over the "
                f"threshold, {name} {a['hosts_over_after']}"
            )
        if a["anti_affinity_pairs_after"] > a["hvplan_anti_affinity_pairs_after"]:
            extra.append(
                f"{name} leaves {a['anti_affinity_pairs_after']} anti-affinity "
                f"pair(s) on one node, hvplan {a['hvplan_anti_affinity_pairs_after']}"
            )
        if a["hard_violations_after"] > a["hvplan_hard_violations_after"]:
            extra.append(
                f"{name} breaks {a['hard_violations_after']} hard rule(s) or "
                f"limit(s), hvplan {a['hvplan_hard_violations_after']}"
            )
        tail = (
            "; both reach the threshold on the same terms"
            if a["same_terms"] and not a["hvplan_hosts_over_after"]
            else ""
        )
        if hv.downtime_moves:
            extra.append(
                f"hvplan uses {hv.downtime_moves} downtime move(s), which no native balancer makes"
            )
        line = f"vs {name}: {what}, {moves}{tail}"
        if extra:
            line += " (" + "; ".join(extra) + ")"
        out.append(line + ".")
    return out


def write_outputs(result: CompareResult, out_dir: str | Path, chart: bool = True) -> list[Path]:
    """Write ``compare.csv``, ``compare.json``, ``native_moves.csv`` and (``chart``)
    ``compare.png`` into ``out_dir`` (created); return the paths written."""
    d = Path(out_dir)
    # The chart is drawn first, in memory: a failure while drawing leaves no file behind.
    png = b""
    if chart:
        buf = io.BytesIO()
        write_chart(result, buf)
        png = buf.getvalue()
    d.mkdir(parents=True, exist_ok=True)
    written = []
    p = d / "compare.csv"
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in result.rows:
            w.writerow(_safe_cells(r.to_dict()))
    written.append(p)
    p = d / "compare.json"
    p.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    written.append(p)
    p = d / "native_moves.csv"
    with p.open("w", newline="", encoding="utf-8") as f:
        cols = [
            "strategy",
            "pass",
            "time_s",
            "vm",
            "source",
            "target",
            "migration_type",
            "memory_mb",
            "reason",
        ]
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for sim in result.simulations:
            for m in sim.moves:
                w.writerow(_safe_cells({"strategy": sim.name, **m.to_dict(result.cluster)}))
    written.append(p)
    if chart:
        p = d / "compare.png"
        p.write_bytes(png)
        written.append(p)
    return written


def _safe_cells(row: dict[str, Any]) -> dict[str, Any]:
    """Text cells through the spreadsheet-formula defence (numbers stay numbers)."""
    return {k: csv_cell(v) if isinstance(v, str) else v for k, v in row.items()}


def write_chart(result: CompareResult, path: str | Path | io.BytesIO) -> None:
    """Per-host CPU % and memory % before (outline) and after (filled), one panel per
    strategy, with the threshold as dashed lines; PNG through matplotlib's Agg backend."""
    from matplotlib.figure import Figure

    from planner.charts import chart_text, render_png

    c = result.cluster
    e = result.evaluation
    shown = np.flatnonzero(c.host_state != HostState.DOWN)
    if shown.size == 0:
        shown = np.arange(c.n_hosts)
    x = np.arange(shown.size)
    n = len(result.rows)
    height = 2.4 * n + 1.0
    fig = Figure(figsize=(max(8.0, 0.22 * shown.size + 3), height))
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)
    w = 0.4
    for i, (ax, r) in enumerate(zip(axes[:, 0], result.rows, strict=True)):
        k = i + 1
        ax.bar(
            x - w / 2,
            e.cpu_pct[0, shown],
            w,
            fill=False,
            edgecolor="#888888",
            linewidth=0.8,
            label="CPU before",
        )
        ax.bar(
            x + w / 2,
            e.memory_pct[0, shown],
            w,
            fill=False,
            edgecolor="#bbbbbb",
            linewidth=0.8,
            label="memory before",
        )
        ax.bar(x - w / 2, e.cpu_pct[k, shown], w * 0.7, color="#1f77b4", label="CPU after")
        ax.bar(x + w / 2, e.memory_pct[k, shown], w * 0.7, color="#ff7f0e", label="memory after")
        ax.axhline(result.threshold.cpu_pct, color="#1f77b4", linestyle="--", linewidth=0.8)
        ax.axhline(result.threshold.memory_pct, color="#ff7f0e", linestyle=":", linewidth=0.8)
        ax.set_ylim(
            0,
            max(100.0, float(e.cpu_pct[:, shown].max()), float(e.memory_pct[:, shown].max()))
            * 1.05,
        )
        ax.set_ylabel("%")
        over = r.metrics.get("hosts_over_threshold_after", 0)
        ax.set_title(
            chart_text(
                f"{r.name}: {r.moves} moves, {r.memory_moved_mb:,} MB moved, "
                f"{over} host(s) over after"
            ),
            fontsize=9,
            loc="left",
        )
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        fontsize=8,
        ncol=4,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.38 / height),
    )
    last = axes[-1, 0]
    last.set_xticks(x)
    last.set_xticklabels([chart_text(c.host_names[h]) for h in shown], rotation=90, fontsize=7)
    fig.suptitle(
        chart_text(f"{c.name}: per-host load before and after ({result.threshold.rule})"),
        fontsize=10,
        y=1 - 0.12 / height,
    )
    # Leave the top 0.8 inch for the title and the shared legend.
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1 - 0.8 / height))
    render_png(fig, path, dpi=100)


__all__ = ["summary_lines", "write_chart", "write_outputs"]
