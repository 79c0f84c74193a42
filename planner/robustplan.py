"""Plans over a load history (SPEC §2 ``--load``): :func:`planner.pipeline.plan` inside the
cutting-plane loop of :mod:`planner.history.robust`, and the summary's ``history`` part.

``plan_with_history(cluster, options, "p95")`` is what ``hvplan plan --load p95`` runs on a
snapshot with a history: every round is one :func:`planner.pipeline.plan` call with
``PlanOptions.load_samples`` set to the critical samples (capacity hard at each, the
threshold excess summed over them); the best round's :class:`~planner.pipeline.Plan` is
returned, its ``summary["history"]`` saying how the plan does over the whole window
(node-samples over the threshold and over capacity, before and after), and what a plan on
``--load latest`` does over the same window.  ``latest`` is a plain plan on the snapshot's
values (judged over the window all the same).

Time: ``options.time_limit_s`` (default: the profile's) covers everything; the ``latest``
comparison plan gets :data:`LATEST_SHARE` of it, the loop the rest.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from planner.cluster import Cluster
from planner.history.model import LoadStatistic, parse_statistic
from planner.history.robust import Critical, Solver, judge, robust_plan, sample_vectors
from planner.loadmodel import resolve_threshold
from planner.pipeline import Plan, plan
from planner.problem import LoadSamples, PlanOptions, resolve_profile
from planner.solve.result import OptimizeResult

#: Share of the time limit spent on the ``--load latest`` comparison plan.
LATEST_SHARE = 0.2


def pipeline_solver(
    options: PlanOptions, statistic: LoadStatistic, plans: dict[bytes, Plan] | None = None
) -> Solver:
    """A :data:`~planner.history.robust.Solver` over :func:`planner.pipeline.plan` with the
    critical samples as ``load_samples``; each :class:`Plan` made is kept in ``plans`` under
    its placement's bytes."""

    def solve(
        cluster: Cluster,
        critical: Critical,
        time_limit_s: float,
        start: np.ndarray | None = None,
    ) -> np.ndarray | None:
        assert cluster.history is not None
        samples_used = critical_samples(cluster, statistic, critical)
        opts = dataclasses.replace(
            options, load_samples=samples_used, time_limit_s=time_limit_s, start_placement=start
        )
        res = plan(cluster, opts)
        p = res.placement
        if p is None:
            return None
        if plans is not None:
            plans[np.asarray(p, dtype=np.int64).tobytes()] = res
        return np.asarray(p)

    return solve


def critical_samples(cluster: Cluster, statistic: LoadStatistic, critical: Critical) -> LoadSamples:
    """The :class:`~planner.samples.LoadSamples` of the loop's critical samples, each with
    the hosts whose threshold counts there."""
    assert cluster.history is not None
    samples = list(critical)
    cpu, mem, base = sample_vectors(cluster, cluster.history, statistic, samples)
    return LoadSamples(
        cpu,
        mem,
        base,
        statistic=statistic.value,
        indices=tuple(int(s) for s in samples),
        threshold_hosts=tuple(None if h is None else tuple(sorted(h)) for h in critical.values()),
    )


def _time_limit(options: PlanOptions) -> float:
    if options.time_limit_s is not None:
        return float(options.time_limit_s)
    return float(resolve_profile(options.profile).time_limit_s)


def plan_with_history(
    cluster: Cluster,
    options: PlanOptions | None = None,
    load: LoadStatistic | str = LoadStatistic.P95,
) -> Plan:
    """A plan judged over ``cluster.history`` at ``load`` (see the module docstring).

    Parameters
    ----------
    cluster:
        A snapshot with a history (else this is :func:`planner.pipeline.plan`).
    options:
        The plan options (``load_samples`` is set here).
    load:
        ``latest``, ``mean``, ``p95``, ``p99`` or ``max``.

    Returns
    -------
    Plan
        With ``summary["history"]`` (:func:`history_summary`) when there is a plan.
    """
    opts = options or PlanOptions()
    stat = parse_statistic(load)
    h = cluster.history
    if h is None:
        return plan(cluster, opts)
    total = _time_limit(opts)
    thr = resolve_threshold(cluster, opts.level, opts.threshold_pct, opts.high_mode)
    if stat == LoadStatistic.LATEST:
        res = plan(cluster, dataclasses.replace(opts, time_limit_s=total))
        if res.placement is not None and res.summary:
            res.summary["history"] = history_summary(cluster, stat, res.placement, None, None, opts)
        return res
    latest = plan(cluster, dataclasses.replace(opts, time_limit_s=total * LATEST_SHARE))
    plans: dict[bytes, Plan] = {}
    rob = robust_plan(
        cluster, h, stat, thr, pipeline_solver(opts, stat, plans), total * (1 - LATEST_SHARE)
    )
    if rob.placement is None:
        crit = rob.critical or {-1: None}
        return plan(
            cluster,
            dataclasses.replace(
                opts, time_limit_s=1.0, load_samples=critical_samples(cluster, stat, crit)
            ),
        )
    best = plans[np.asarray(rob.placement, dtype=np.int64).tobytes()]
    if best.summary:
        best.summary["history"] = history_summary(
            cluster, stat, rob.placement, latest.placement, rob.to_dict(), opts
        )
    return best


def plan_with_history_to_directory(
    cluster: Cluster, options: PlanOptions, load: LoadStatistic | str, out_dir: Path
) -> tuple[OptimizeResult, Any]:
    """:func:`plan_with_history`, then write it into ``out_dir`` with
    :func:`planner.planio.write_plan` (the verifier rebuilds the critical samples from the
    parameters ``load_statistic`` / ``load_sample_indices``) and add the ``history`` part
    to ``summary.json``.

    Returns the result and the write outcome (``None`` when the optimizer found no plan),
    like :func:`planner.pipeline.plan_to_directory`.
    """
    from planner import planio

    p = plan_with_history(cluster, options, load)
    if not p.result.ok:
        return p.result, None
    if p.sequence is None or not p.sequence.ok:
        return p.result, planio.WriteOutcome(False, {}, p.message, sequence=p.sequence)
    wo = planio.write_plan(cluster, p.result, out_dir)
    if wo.ok and "history" in p.summary:
        wo.summary["history"] = p.summary["history"]
        path = Path(out_dir) / "summary.json"
        path.write_text(json.dumps(wo.summary, indent=2) + "\n", encoding="utf-8")
    return p.result, wo


def history_summary(
    cluster: Cluster,
    statistic: LoadStatistic,
    after: np.ndarray,
    latest_after: np.ndarray | None,
    loop: dict[str, Any] | None,
    options: PlanOptions,
) -> dict[str, Any]:
    """The ``history`` part of ``summary.json``: the window, the statistic, and for the
    current placement (``before``), the plan (``after``) and a plan on ``--load latest``
    (``latest_plan``): node-samples over the threshold and over capacity, nodes over the
    threshold at the statistic, peak loads; the loop's rounds and critical samples."""
    h = cluster.history
    assert h is not None
    thr = resolve_threshold(cluster, options.level, options.threshold_pct, options.high_mode)
    placements = [cluster.vm_host, np.asarray(after)]
    if latest_after is not None:
        placements.append(np.asarray(latest_after))
    rows = judge(cluster, h, placements, thr, statistic)
    out: dict[str, Any] = {
        "statistic": statistic.value,
        "window": h.window(),
        "files": list(h.files),
        "threshold_pct": thr.to_dict(),
        "before": rows[0],
        "after": rows[1],
        "moves": int((np.asarray(after) != cluster.vm_host).sum()),
    }
    if latest_after is not None:
        out["latest_plan"] = {
            **rows[2],
            "moves": int((np.asarray(latest_after) != cluster.vm_host).sum()),
        }
    if loop is not None:
        out["loop"] = {k: v for k, v in loop.items() if k != "after"}
    return out


__all__ = [
    "LATEST_SHARE",
    "history_summary",
    "pipeline_solver",
    "plan_with_history",
    "plan_with_history_to_directory",
]
