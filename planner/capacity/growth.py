"""Demand growth: :func:`scale_demand` multiplies VM CPU and memory demand by a factor
(rounded up to whole units, so demand never decreases as the factor grows);
:func:`growth_limit` finds the smallest growth, in steps of ``resolution_pct``, at which the
cluster stops being N+1-safe, by bisection.  Bisection is valid because N+1 safety, decided
exactly, is monotone in the factor (a placement that restarts everything at a larger demand
also does at a smaller).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.capacity.failures import FailureOptions, n1_safe
from planner.cluster import Cluster


def scale_demand(cluster: Cluster, cpu_factor: float, mem_factor: float | None = None) -> Cluster:
    """The cluster with every VM's CPU and memory demand multiplied (rounded up; the Dynamic
    Memory startup, minimum and maximum sizes too)."""
    mf = cpu_factor if mem_factor is None else mem_factor
    if cpu_factor < 0 or mf < 0:
        raise ValueError("growth factors must not be negative")
    # Work in integer per-mille of the factor so rounding is exact and monotone.
    cpu_pm = int(round(cpu_factor * 1000))
    mem_pm = int(round(mf * 1000))
    cpu = (cluster.vm_cpu_milli.astype(np.int64) * cpu_pm + 999) // 1000

    def grow(a: np.ndarray) -> np.ndarray:
        return np.maximum((a.astype(np.int64) * mem_pm + 999) // 1000, 1)

    # The Dynamic Memory sizes grow with the memory (a restart needs the startup size).
    return cluster.replace(
        vm_cpu_milli=cpu,
        vm_memory_mb=grow(cluster.vm_memory_mb),
        vm_memory_startup_mb=grow(cluster.vm_memory_startup_mb),
        vm_memory_minimum_mb=grow(cluster.vm_memory_minimum_mb),
        vm_memory_maximum_mb=grow(cluster.vm_memory_maximum_mb),
    )


@dataclass(frozen=True)
class GrowthLimit:
    """Where growth breaks N+1 safety.

    ``breaks_at`` is the smallest tested factor that is not N+1-safe (``None`` when even
    ``max_factor`` is safe); ``max_safe`` the largest safe one just below it (``None`` when
    none).  When the cluster is not N+1-safe today (``safe_now`` False) the search goes
    below 1.0: ``max_safe`` is then the demand it would take to become safe, and ``None``
    with ``breaks_at`` 0.01 means no demand level helps (rules or possible owners decide).
    ``evaluations`` lists every factor tried with ``(safe, proven)``.
    """

    breaks_at: float | None
    max_safe: float | None
    proven: bool
    evaluations: tuple[tuple[float, bool, bool], ...] = field(default_factory=tuple)

    @property
    def safe_now(self) -> bool:
        """N+1-safe at today's demand (factor 1.0)."""
        return any(f == 1.0 and safe for f, safe, _ in self.evaluations)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "safe_now": self.safe_now,
            "breaks_at": self.breaks_at,
            "max_safe": self.max_safe,
            "proven": self.proven,
            "evaluations": len(self.evaluations),
        }


def _demand_upper_pct(cluster: Cluster) -> int:
    """A growth (percent) above which losing the largest host cannot be survived: total
    demand then exceeds what the other hosts can hold."""
    up = cluster.host_up
    best = math.inf
    for need, free in (
        (cluster.vm_cpu_load_milli, cluster.host_cpu_free_milli),
        (cluster.vm_mem_load_mb, cluster.host_memory_free_mb),
    ):
        total = float(need.sum())
        if total <= 0 or not up.any():
            continue
        room = float(free[up].sum() - free[up].max())
        best = min(best, 100.0 * room / total)
    return 1000 if not math.isfinite(best) else max(1, int(math.ceil(best)) + 1)


def growth_limit(
    cluster: Cluster,
    options: FailureOptions | None = None,
    resolution_pct: int = 1,
    max_pct: int = 10_000,
) -> GrowthLimit:
    """Smallest growth (multiple of ``resolution_pct`` percent) at which the cluster stops
    being N+1-safe, by bisection between a safe and an unsafe factor."""
    opt = options or FailureOptions()
    step = max(1, int(resolution_pct))
    evals: list[tuple[float, bool, bool]] = []
    cache: dict[int, tuple[bool, bool]] = {}

    def safe(p: int) -> bool:
        if p not in cache:
            cache[p] = n1_safe(scale_demand(cluster, p / 100.0), opt)
            evals.append((p / 100.0, *cache[p]))
        return cache[p][0]

    proven = True
    if safe(100):
        lo = 100
        hi = max(_demand_upper_pct(cluster), 100 + step)
        hi = int(math.ceil(hi / step) * step)
        while safe(hi):
            lo = hi
            if hi >= max_pct:
                return GrowthLimit(None, hi / 100.0, all(e[2] for e in evals), tuple(evals))
            hi = min(max_pct, hi * 2)
    else:
        lo, hi = 0, 100
    while hi - lo > step:
        mid = lo + ((hi - lo) // (2 * step)) * step
        mid = max(mid, lo + step)
        if safe(mid):
            lo = mid
        else:
            hi = mid
    proven = all(e[2] for e in evals)
    return GrowthLimit(hi / 100.0, lo / 100.0 if lo > 0 else None, proven, tuple(evals))


__all__ = ["GrowthLimit", "growth_limit", "scale_demand"]
