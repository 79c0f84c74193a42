"""``hvplan compare``: the optimizer against simulations of the native balancers.

Every strategy starts from the snapshot's current placement:

* ``hvplan``: :func:`planner.optimizer.optimize` with the chosen level/threshold; its
  migration time is the sequenced plan's estimate (:func:`planner.sequencing.build_sequence`).
* each native variant of :func:`planner.native.default_variants` (or the ones given):
  Node Fairness with each VM choice, and SCVMM Dynamic Optimization.

All final placements are scored together by the vectorized evaluator
(:func:`planner.evaluate.evaluate`, one batch: the current placement first, then one row per
strategy) against **one yardstick**: the threshold resolved on the current placement (a
native simulation recomputes the High average threshold at each of its passes, but the
"after" columns all use the same threshold).

Outputs: :class:`CompareResult` (rows, JSON form per SPEC §6, advantages of hvplan over each
variant) and, with :func:`write_outputs`, ``compare.csv``, ``compare.json``,
``native_moves.csv`` (every simulated move with its pass and clock time) and ``compare.png``
(per-host CPU and memory before and after, one panel per strategy).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys as _sys
import time
import types as _types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planner.cluster import Cluster, HostState, MoveKind
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel
from planner.evaluate import Evaluation, evaluate
from planner.loadmodel import HighMode, Level, Threshold, resolve_threshold
from planner.native import (
    DynamicOptimizationOptions,
    NodeFairnessOptions,
    SimulationResult,
    cluster_variants,
    default_variants,
    mode_note,
    pass_migration_seconds,
    simulate,
)
from planner.textsafe import csv_cell

#: Name of the optimizer's row (SPEC §6).
HVPLAN = "hvplan"
#: Row of the cluster's own balancer in AutoBalancerMode 0 (it moves nothing).
NATIVE_OFF = "native balancer off"
#: Row of the cluster's own balancer in AutoBalancerMode 1 (it acts only on node join).
NATIVE_JOIN_ONLY = "native balancer acts only on node join"
#: Suffix of the Node Fairness rows simulated in mode 2 for a cluster where it is not on.
IF_ON = "(if turned on)"

#: Columns of ``compare.csv`` (and keys of each JSON strategy), in order.
COLUMNS = (
    "name",
    "kind",
    "status",
    "moves",
    "memory_moved_mb",
    "downtime_moves",
    "passes",
    "passes_run",
    "converge_seconds",
    "estimated_migration_seconds",
    "reaches_threshold",
    "hosts_over_threshold_after",
    "max_cpu_pct_after",
    "max_memory_pct_after",
    "excess_cpu_milli_after",
    "excess_memory_mb_after",
    "rule_violations_after",
    "hard_violations_after",
    "anti_affinity_pairs_after",
    "std_cpu_pct_after",
    "std_memory_pct_after",
    "run_seconds",
)


@dataclass(frozen=True)
class GivenPlan:
    """A plan made earlier (``hvplan plan --out DIR``), shown as the ``hvplan`` row instead of
    a new solve: the report about a plan compares that plan, not another one.

    ``placement`` is the final host index of every VM; ``downtime_moves`` and
    ``estimated_seconds`` come from its ``plan.csv`` / ``summary.json``; ``status`` is the
    solver status it was written with; ``description`` says where it comes from.
    """

    placement: np.ndarray
    status: str = "given"
    description: str = "the plan given"
    downtime_moves: int = 0
    estimated_seconds: float = 0.0
    waves: int = 0


@dataclass(frozen=True)
class CompareOptions:
    """What to compare.  ``variants`` defaults to :func:`planner.native.default_variants` at
    the same level; ``time_limit_s`` bounds the optimizer (``None``: its profile's).
    ``plan``: an earlier plan to show as the ``hvplan`` row (no solve runs then)."""

    level: Level | str | None = None
    threshold_pct: float | None = None
    high_mode: HighMode | str = HighMode.AVERAGE
    time_limit_s: float | None = 20.0
    seed: int = 0
    variants: Sequence[NodeFairnessOptions | DynamicOptimizationOptions] | None = None
    include_optimizer: bool = True
    durations: DurationModel = DEFAULT_DURATION_MODEL
    plan: GivenPlan | None = None


@dataclass
class StrategyRow:
    """One strategy's outcome (see :data:`COLUMNS`)."""

    name: str
    kind: str  # "optimizer" or "native"
    status: str
    description: str
    moves: int
    memory_moved_mb: int
    downtime_moves: int
    passes: int
    passes_run: int
    converge_seconds: float
    estimated_migration_seconds: float
    run_seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    pass_log: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the SPEC §6 keys plus the other columns, the description and passes."""
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "moves": self.moves,
            "memory_moved_mb": self.memory_moved_mb,
            "downtime_moves": self.downtime_moves,
            "passes": self.passes,
            "passes_run": self.passes_run,
            "converge_seconds": round(self.converge_seconds, 1),
            "estimated_migration_seconds": round(self.estimated_migration_seconds, 1),
            "run_seconds": round(self.run_seconds, 3),
        }
        d.update(self.metrics)
        d["description"] = self.description
        d["pass_log"] = self.pass_log
        return d


@dataclass
class CompareResult:
    """Everything ``hvplan compare`` shows.  ``evaluation`` row 0 is the current placement,
    row ``i + 1`` is ``rows[i]``."""

    cluster: Cluster
    threshold: Threshold
    rows: list[StrategyRow]
    placements: list[np.ndarray]
    evaluation: Evaluation
    simulations: list[SimulationResult]
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> StrategyRow | None:
        """The row called ``name``, if any."""
        return next((r for r in self.rows if r.name == name), None)

    def before(self) -> dict[str, Any]:
        """Metrics of the current placement."""
        return _metrics(self.evaluation, 0, self.cluster)

    def advantages(self) -> list[dict[str, Any]]:
        """How hvplan compares with each native variant (empty without an hvplan plan).

        ``memory_saved_mb`` / ``moves_saved`` are positive when hvplan moves less.
        ``same_terms`` is True when the variant reaches the threshold and leaves no more
        legacy anti-affinity pairs and hard violations than hvplan: hvplan's objective puts
        those before the cost of moves, so only then is memory moved a like-for-like
        comparison (and an OPTIMAL hvplan plan never moves more).
        """
        hv = self.row(HVPLAN)
        if hv is None or hv.status not in ("OPTIMAL", "FEASIBLE"):
            return []
        out = []
        hm = hv.metrics
        for r in self.rows:
            if r.kind != "native":
                continue
            m = r.metrics
            saved = r.memory_moved_mb - hv.memory_moved_mb
            out.append(
                {
                    "strategy": r.name,
                    "memory_saved_mb": saved,
                    "memory_saved_pct": (
                        round(100.0 * saved / r.memory_moved_mb, 1) if r.memory_moved_mb else None
                    ),
                    "moves_saved": r.moves - hv.moves,
                    "hosts_over_after": m["hosts_over_threshold_after"],
                    "hvplan_hosts_over_after": hm["hosts_over_threshold_after"],
                    "anti_affinity_pairs_after": m["anti_affinity_pairs_after"],
                    "hvplan_anti_affinity_pairs_after": hm["anti_affinity_pairs_after"],
                    "hard_violations_after": m["hard_violations_after"],
                    "hvplan_hard_violations_after": hm["hard_violations_after"],
                    "same_terms": bool(
                        m["reaches_threshold"]
                        and m["anti_affinity_pairs_after"] <= hm["anti_affinity_pairs_after"]
                        and m["hard_violations_after"] <= hm["hard_violations_after"]
                    ),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form (SPEC §6 ``compare --json``)."""
        return {
            "cluster": self.cluster.name,
            "threshold_pct": self.threshold.to_dict(),
            "threshold_rule": self.threshold.rule,
            "before": self.before(),
            "strategies": [r.to_dict() for r in self.rows],
            "advantages": self.advantages(),
            "notes": self.notes,
        }


def _metrics(e: Evaluation, k: int, cluster: Cluster) -> dict[str, Any]:
    aa = int(e.violations["anti_affinity"][k])
    return {
        "reaches_threshold": bool(e.hosts_over[0, k] == 0),
        "hosts_over_threshold_after": int(e.hosts_over[0, k]),
        "max_cpu_pct_after": round(float(e.max_cpu_pct[k]), 2),
        "max_memory_pct_after": round(float(e.max_memory_pct[k]), 2),
        "excess_cpu_milli_after": int(e.excess_cpu_milli[0, k]),
        "excess_memory_mb_after": int(e.excess_memory_mb[0, k]),
        "rule_violations_after": int(e.rule_violations()[k]),
        "hard_violations_after": int(e.hard_violations[k]),
        "anti_affinity_pairs_after": aa,
        "std_cpu_pct_after": round(float(e.std_cpu_pct[k]), 2),
        "std_memory_pct_after": round(float(e.std_memory_pct[k]), 2),
    }


def _native_row(sim: SimulationResult, seconds: float) -> StrategyRow:
    return StrategyRow(
        name=sim.name,
        kind="native",
        status="converged" if sim.converged else "pass limit",
        description=sim.description,
        moves=len(sim.moves),
        memory_moved_mb=sim.memory_moved_mb,
        downtime_moves=0,
        passes=sim.passes_with_moves,
        passes_run=len(sim.passes),
        converge_seconds=sim.converge_seconds,
        estimated_migration_seconds=sim.migration_seconds,
        run_seconds=seconds,
        pass_log=[
            {
                "pass": p.number,
                "time_s": p.time_s,
                "sources": p.sources,
                "moves": p.moves,
                "migration_seconds": round(p.migration_seconds, 1),
            }
            for p in sim.passes
        ],
    )


def _optimizer_row(
    cluster: Cluster, opts: CompareOptions, thr: Threshold
) -> tuple[StrategyRow, np.ndarray, list[str]]:
    """Run the optimizer; a failed solve gives a row without moves (and a note)."""
    from planner.pipeline import plan
    from planner.problem import PlanOptions
    from planner.sequencing import SequenceOptions, build_sequence

    t0 = time.perf_counter()
    level = None if opts.level is None else Level(opts.level).value
    # planner.plan, as `hvplan plan` does (blocked targets re-optimised): the same plan.
    res = plan(
        cluster,
        PlanOptions(
            level=level,
            threshold_pct=opts.threshold_pct,
            high_mode=HighMode(opts.high_mode).value,
            time_limit_s=opts.time_limit_s,
            seed=opts.seed,
        ),
    ).result
    notes: list[str] = []
    status = res.status.value
    if res.placement is None:
        notes.extend(f"hvplan: {line}" for line in res.explanation)
        row = StrategyRow(
            HVPLAN,
            "optimizer",
            status,
            "optimizer found no plan",
            0,
            0,
            0,
            0,
            0,
            0.0,
            0.0,
            time.perf_counter() - t0,
        )
        return row, cluster.vm_host.copy(), notes
    placement = np.asarray(res.placement)
    seq = build_sequence(
        cluster, placement, res.drained, res.reasons, SequenceOptions(durations=opts.durations)
    )
    if seq.ok:
        secs = float(seq.estimated_seconds)
    else:
        # No safe order found: fall back to the per-pass wave estimate the simulations use.
        from planner.native import NativeMove

        moved = np.flatnonzero(placement != cluster.vm_host)
        nm = [
            NativeMove(
                1,
                0.0,
                int(v),
                int(cluster.vm_host[v]),
                int(placement[v]),
                MoveKind(int(cluster.vm_move_kind[v, placement[v]])),
                int(cluster.vm_memory_mb[v]),
                "",
            )
            for v in moved
        ]
        secs = pass_migration_seconds(cluster, nm, opts.durations) if nm else 0.0
        notes.append(
            f"hvplan: sequencing found no safe order ({seq.message}); the "
            "migration time is a simple wave estimate"
        )
    gap = "" if res.gap is None else f", gap {res.gap:.2%}"
    row = StrategyRow(
        HVPLAN,
        "optimizer",
        status,
        f"CP-SAT optimizer ({status}{gap}), {thr.rule}",
        moves=len(res.moves),
        memory_moved_mb=int(res.memory_moved_mb),
        downtime_moves=int(res.downtime_moves),
        passes=1 if len(res.moves) else 0,
        passes_run=1,
        converge_seconds=secs if len(res.moves) else 0.0,
        estimated_migration_seconds=secs,
        run_seconds=time.perf_counter() - t0,
    )
    return row, placement, notes


def _given_row(cluster: Cluster, plan: GivenPlan, thr: Threshold) -> tuple[StrategyRow, np.ndarray]:
    """The row of a plan made earlier: moves and memory counted from its placement, as for
    every other row."""
    placement = np.asarray(plan.placement, dtype=np.int64)
    if placement.shape != (cluster.n_vms,):
        raise ValueError(f"the plan places {placement.shape} VMs, the cluster has {cluster.n_vms}")
    moved = placement != cluster.vm_host
    n = int(moved.sum())
    row = StrategyRow(
        HVPLAN,
        "optimizer",
        plan.status,
        f"{plan.description} ({plan.status}), {thr.rule}",
        moves=n,
        memory_moved_mb=int(cluster.vm_memory_mb[moved].sum()),
        downtime_moves=plan.downtime_moves,
        passes=1 if n else 0,
        passes_run=1,
        converge_seconds=plan.estimated_seconds if n else 0.0,
        estimated_migration_seconds=plan.estimated_seconds,
        run_seconds=0.0,
    )
    return row, placement


def _variants(
    cluster: Cluster, opts: CompareOptions
) -> tuple[
    list[NodeFairnessOptions | DynamicOptimizationOptions],
    list[NodeFairnessOptions | DynamicOptimizationOptions],
    str | None,
]:
    """The native variants as the cluster is configured (its ``AutoBalancerMode``), the
    Node Fairness variants it would run if turned on (mode 0 or 1 only), and the mode's
    note (issue 11 item 5).  Variants given in ``opts`` are run as given."""
    if opts.variants is not None:
        return list(opts.variants), [], mode_note(cluster)
    actual, note = cluster_variants(cluster, opts.level, opts.threshold_pct, opts.high_mode)
    would: list[NodeFairnessOptions | DynamicOptimizationOptions] = (
        []
        if note is None
        else [
            v
            for v in default_variants(opts.level, opts.threshold_pct, opts.high_mode)
            if isinstance(v, NodeFairnessOptions)
        ]
    )
    return actual, would, note


def _off_row(cluster: Cluster, note: str) -> StrategyRow:
    """The row of the cluster's own balancer when it does nothing (mode 0 or 1)."""
    mode = cluster.settings.auto_balancer_mode
    name = NATIVE_OFF if mode == 0 else NATIVE_JOIN_ONLY
    return StrategyRow(
        name,
        "native-off",
        "off" if mode == 0 else "on node join only",
        note,
        0,
        0,
        0,
        0,
        0,
        0.0,
        0.0,
        0.0,
    )


def compare(cluster: Cluster, options: CompareOptions | None = None) -> CompareResult:
    """Run hvplan and every native variant from the current placement and score them."""
    opts = options or CompareOptions()
    thr = resolve_threshold(cluster, opts.level, opts.threshold_pct, opts.high_mode)
    variants, would, note = _variants(cluster, opts)
    rows: list[StrategyRow] = []
    placements: list[np.ndarray] = []
    notes: list[str] = []
    if opts.plan is not None:
        row, placement = _given_row(cluster, opts.plan, thr)
        rows.append(row)
        placements.append(placement)
    elif opts.include_optimizer:
        row, placement, n = _optimizer_row(cluster, opts, thr)
        rows.append(row)
        placements.append(placement)
        notes.extend(n)
    if note is not None:
        rows.append(_off_row(cluster, note))
        placements.append(cluster.vm_host.copy())
        notes.append(
            note
            + (
                f"; the rows marked {IF_ON!r} show what Node Fairness would do "
                "in AutoBalancerMode 2"
                if would
                else ""
            )
        )
    sims: list[SimulationResult] = []
    for i, v in enumerate([*variants, *would]):
        t0 = time.perf_counter()
        sim = simulate(cluster, v, opts.durations)
        if i >= len(variants):
            sim = dataclasses.replace(
                sim,
                name=f"{sim.name} {IF_ON}",
                description=f"if Node Fairness were turned on (AutoBalancerMode 2): "
                f"{sim.description}",
            )
        sims.append(sim)
        rows.append(_native_row(sim, time.perf_counter() - t0))
        placements.append(sim.placement)
    batch = np.stack(
        [cluster.vm_host.astype(np.int64)] + [np.asarray(p, dtype=np.int64) for p in placements]
    )
    e = evaluate(cluster, batch, thresholds=[thr])
    for i, r in enumerate(rows):
        r.metrics = _metrics(e, i + 1, cluster)
    return CompareResult(cluster, thr, rows, placements, e, sims, notes)


# ----------------------------------------------------------------------------- outputs
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


__all__ = [
    "COLUMNS",
    "HVPLAN",
    "IF_ON",
    "NATIVE_JOIN_ONLY",
    "NATIVE_OFF",
    "CompareOptions",
    "GivenPlan",
    "CompareResult",
    "StrategyRow",
    "compare",
    "summary_lines",
    "write_chart",
    "write_outputs",
]


class _CallableModule(_types.ModuleType):
    """``planner.compare(...)``: the package-level name is also this module's name (the public
    API calls the function whichever of the two Python bound last)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return compare(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
