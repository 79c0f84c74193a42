"""``hvplan compare``: the optimizer against simulations of the native balancers.

Every strategy starts from the snapshot's current placement:

* ``hvplan``: the plan ``hvplan plan`` makes with the same options (:func:`hvplan_plan`:
  :func:`planner.pipeline.plan`, or :func:`planner.robustplan.plan_with_history` with a
  ``load`` statistic); its migration time is the sequenced plan's estimate
  (:func:`planner.sequencing.build_sequence`).
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

Modules: :mod:`planner.compareresult` (options, rows, result), :mod:`planner.compareout`
(sentences, files, chart) and this one (the strategies run and scored).
"""

from __future__ import annotations

import dataclasses
import sys as _sys
import time
import types as _types
from typing import TYPE_CHECKING, Any

import numpy as np

from planner.cluster import Cluster, MoveKind
from planner.compareout import summary_lines, write_chart, write_outputs
from planner.compareresult import (
    COLUMNS,
    HVPLAN,
    IF_ON,
    NATIVE_JOIN_ONLY,
    NATIVE_OFF,
    CompareOptions,
    CompareResult,
    GivenPlan,
    StrategyRow,
    metrics_of,
)
from planner.evaluate import evaluate
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

if TYPE_CHECKING:
    from planner.pipeline import Plan
    from planner.problem import PlanOptions


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


def plan_options(opts: CompareOptions) -> PlanOptions:
    """The options of ``hvplan plan`` that give the ``hvplan`` row."""
    from planner.problem import PlanOptions

    return PlanOptions(
        level=None if opts.level is None else Level(opts.level).value,
        threshold_pct=opts.threshold_pct,
        high_mode=HighMode(opts.high_mode).value,
        drain=tuple(opts.drain),
        time_limit_s=opts.time_limit_s,
        seed=opts.seed,
    )


def hvplan_plan(cluster: Cluster, opts: CompareOptions) -> Plan:
    """The plan ``hvplan plan`` makes with the same options: :func:`planner.pipeline.plan`
    (blocked targets re-optimised), or, on a snapshot with a load history, over the history
    at ``opts.load`` (default p95, as ``hvplan plan``)."""
    from planner.pipeline import plan

    po = plan_options(opts)
    if cluster.history is not None:
        from planner.robustplan import plan_with_history

        return plan_with_history(cluster, po, opts.load or "p95")
    return plan(cluster, po)


def _optimizer_row(
    cluster: Cluster, opts: CompareOptions, thr: Threshold
) -> tuple[StrategyRow, np.ndarray, list[str], Plan]:
    """Run the optimizer; a failed solve gives a row without moves (and a note)."""
    from planner.sequencing import SequenceOptions, build_sequence

    t0 = time.perf_counter()
    made = hvplan_plan(cluster, opts)
    res = made.result
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
        return row, cluster.vm_host.copy(), notes, made
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
    return row, placement, notes, made


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
    made = None
    if opts.plan is not None:
        row, placement = _given_row(cluster, opts.plan, thr)
        rows.append(row)
        placements.append(placement)
    elif opts.include_optimizer:
        row, placement, n, made = _optimizer_row(cluster, opts, thr)
        rows.append(row)
        placements.append(placement)
        notes.extend(n)
        if opts.drain:
            names = ", ".join(cluster.host_names[h] for h in opts.drain)
            notes.append(f"hvplan drains {names}; the native balancers drain no node")
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
        r.metrics = metrics_of(e, i + 1, cluster)
    return CompareResult(cluster, thr, rows, placements, e, sims, notes, made)


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
    "hvplan_plan",
    "plan_options",
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
