"""The rebalancing optimizer: one call from a cluster and options to an optimisation result.

:func:`optimize` builds the :class:`~planner.problem.PlanningProblem` and runs the staged
solve of :mod:`planner.solve` (pre-check, bounds, decomposition, restricted model, LNS, full
model; each stage its own module).  It never raises for a failed solve; it returns an
:class:`~planner.solve.result.OptimizeResult`.  A whole plan (optimise, sequence, verify,
re-optimise around blocked moves) is :func:`planner.pipeline.plan`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.cluster import Cluster, HostState
from planner.loadmodel import Threshold, host_loads
from planner.problem import TIER_NAMES, PlanOptions, SolveStatus, build_problem
from planner.solve.incumbent import Budget
from planner.solve.pipeline import solve
from planner.solve.result import OptimizeResult, TierResult


def optimize(
    cluster: Cluster, options: PlanOptions | None = None, budget: Budget | None = None
) -> OptimizeResult:
    """Find the lexicographically best placement for ``cluster`` under ``options``.

    Parameters
    ----------
    cluster:
        The snapshot.
    options:
        What to optimise (defaults when ``None``).
    budget:
        The deterministic-time budget and wall-clock cap to stay within (default: the
        time limit from now, see :class:`planner.cpsat.budget.Budget`).

    Returns
    -------
    OptimizeResult
        Status, placement, per-tier values and bounds, the stage that decided.
    """
    return solve(build_problem(cluster, options), budget)


def summary_loads(
    cluster: Cluster, placement: np.ndarray, thr: Threshold, drained: tuple[int, ...] = ()
) -> dict[str, Any]:
    """Max CPU/memory percent and hosts over the threshold for a placement, over the hosts
    that are not Down (Paused and drained ones included: before the plan they still carry
    their VMs; a Down node runs nothing, whatever the snapshot lists on it)."""
    loads = host_loads(cluster, placement)
    up = cluster.host_state != HostState.DOWN
    if not up.any():
        up = np.ones(cluster.n_hosts, dtype=bool)
    over = loads.over(thr) & up
    return {
        "max_cpu_pct": round(float(loads.cpu_pct[up].max()), 4),
        "max_memory_pct": round(float(loads.memory_pct[up].max()), 4),
        "hosts_over_threshold": int(over.sum()),
    }


__all__ = [
    "OptimizeResult",
    "PlanOptions",
    "SolveStatus",
    "TIER_NAMES",
    "TierResult",
    "optimize",
    "summary_loads",
]
