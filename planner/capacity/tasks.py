"""The worker tasks of a capacity batch (:mod:`planner.capacity.batch`).

Each takes the ``(cluster, report)`` pair a worker read (it stays on that worker) and
returns plain data: scenario rows, a maintenance report, the per-snapshot summary, and --
for a snapshot with a load history -- capacity over the window for the current placement
and hvplan's plan (:mod:`planner.capacity.overtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from planner.capacity.failures import FailureOptions, analyze_failures, failure_scenarios
from planner.capacity.generations import add_generation, retire_oldest
from planner.capacity.growth import growth_limit, scale_demand
from planner.capacity.hosts import add_hosts, min_additional_hosts
from planner.capacity.maintenance import rolling_maintenance
from planner.capacity.overtime import capacity_over_time
from planner.cluster import Cluster
from planner.diagnostics import Report
from planner.history.model import LoadStatistic, parse_statistic
from planner.snapshot import read_snapshot

if TYPE_CHECKING:
    from planner.capacity.batch import BatchOptions

Loaded = tuple[Cluster | None, Report]


def load(path: str) -> Loaded:
    """Read and validate one snapshot (on a worker)."""
    return read_snapshot(path)


def report_of(loaded: Loaded) -> Report:
    """The validation report of a read snapshot."""
    return loaded[1]


def _cluster(loaded: Loaded) -> Cluster:
    cluster = loaded[0]
    assert cluster is not None
    return cluster


def variant_cluster(cluster: Cluster, growth: float, added: int, model: str | None) -> Cluster:
    """The cluster at demand ``growth`` with ``added`` empty hosts of ``model``."""
    c = cluster if growth == 1.0 else scale_demand(cluster, growth)
    if added and model:
        c = add_hosts(c, model, added)
    return c


def failover_task(
    loaded: Loaded,
    label: str,
    growth: float,
    added: int,
    model: str | None,
    opt: FailureOptions,
) -> list[dict[str, Any]]:
    """Every failure scenario of one variant, as ``scenarios.csv`` rows."""
    c = variant_cluster(_cluster(loaded), growth, added, model)
    rows = []
    for o in analyze_failures(c, opt).outcomes:
        r = o.to_row()
        r.update(snapshot=label, growth=growth, added_hosts=added)
        rows.append(r)
    return rows


def maintenance_task(
    loaded: Loaded, label: str, opts: BatchOptions
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rolling maintenance: the drain rows and the report's summary."""
    rep = rolling_maintenance(
        _cluster(loaded),
        opts.level,
        opts.threshold_pct,
        opts.high_mode,
        opts.failure,
        opts.maintenance_engine,
    )
    rows = []
    for d in rep.drains:
        r = d.to_row()
        r.update(snapshot=label, growth=1.0, added_hosts=0)
        rows.append(r)
    return rows, rep.to_dict()


def summary_task(loaded: Loaded, label: str, opts: BatchOptions) -> dict[str, Any]:
    """Per snapshot: size, scenario choice, growth limit, fewest added hosts, generations."""
    cluster = _cluster(loaded)
    out: dict[str, Any] = {
        "snapshot": label,
        "hosts": cluster.n_hosts,
        "vms": cluster.n_vms,
        "scenario_choice": failure_scenarios(cluster, opts.failure)[1],
    }
    if opts.growth_limit:
        out["growth_limit"] = growth_limit(cluster, opts.failure).to_dict()
    if opts.add_host is not None:
        model, _ = opts.add_host
        per_growth = {}
        for g in sorted(set((1.0, *opts.growth))):
            r = min_additional_hosts(scale_demand(cluster, g), model, opts.failure)
            per_growth[f"{g:g}"] = r.to_dict()
        out["min_additional_hosts"] = per_growth
        out["add_generation"] = add_generation(cluster, model, 1, options=opts.failure).to_dict()
    if opts.generations:
        out["retire_oldest"] = retire_oldest(cluster, options=opts.failure).to_dict()
    return out


def count_task(loaded: Loaded, opt: FailureOptions) -> int:
    """How many failure scenarios a snapshot has (for the progress total)."""
    return len(failure_scenarios(_cluster(loaded), opt)[0])


def has_history(loaded: Loaded) -> bool:
    """The snapshot was read with a load history."""
    return loaded[0] is not None and loaded[0].history is not None


def history_plan(
    cluster: Cluster, opts: BatchOptions, load: LoadStatistic
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """hvplan's plan over the history at ``load`` (:func:`planner.robustplan.plan_with_history`,
    ``opts.plan_time_limit_s``, the batch's level, threshold and seed): its placement and
    ``{"status", "moves", "time_limit_s"}``."""
    from planner.problem import PlanOptions
    from planner.robustplan import plan_with_history

    res = plan_with_history(
        cluster,
        PlanOptions(
            level=opts.level,
            threshold_pct=opts.threshold_pct,
            high_mode=opts.high_mode,
            time_limit_s=opts.plan_time_limit_s,
            seed=opts.failure.seed,
        ),
        load,
    )
    p = res.placement
    info: dict[str, Any] = {
        "status": res.status.value,
        "moves": None if p is None else int((np.asarray(p) != cluster.vm_host).sum()),
        "time_limit_s": opts.plan_time_limit_s,
    }
    return (None if p is None else np.asarray(p, dtype=np.int32)), info


def over_time_task(loaded: Loaded, label: str, opts: BatchOptions) -> dict[str, Any] | None:
    """Capacity over the load history's window (None without a history): the summary's
    ``over_time``, the ``over_time.csv`` rows, and per placement the survivable samples of
    each scenario (``{"current": {scenario: samples}, "hvplan": {...}}``)."""
    cluster = _cluster(loaded)
    if cluster.history is None:
        return None
    stat = parse_statistic(opts.load or LoadStatistic.P95)
    placement, info = None, None
    if opts.plan_time_limit_s > 0:
        placement, info = history_plan(cluster, opts, stat)
    rep = capacity_over_time(
        cluster, stat, opts.failure.failures, opts.failure, placement, info, opts.growth_limit
    )
    per = {
        p.placement: {name: n for s in p.survival for name, n in s.scenario_survivable.items()}
        for p in rep.placements
    }
    return {
        "summary": rep.to_dict(),
        "rows": rep.rows(label),
        "scenarios": per,
        "samples": int(cluster.history.n_samples),
    }


__all__ = [
    "count_task",
    "failover_task",
    "has_history",
    "history_plan",
    "load",
    "maintenance_task",
    "over_time_task",
    "report_of",
    "summary_task",
    "variant_cluster",
]
