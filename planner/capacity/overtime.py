"""Capacity over a load history: N+k judged at every sample, growth at a quantile.

:func:`survival_over_time` runs the failure scenarios of :mod:`planner.capacity.failures`
against the loads of every sample (each sample's own per-VM CPU and memory, the nodes' own
base CPU) and reports in how many of them the cluster survives every scenario: "survives any
single failure in 100 % of the week's samples; in 97 % with the current placement".  Each
sample is settled by the restart simulation, and by the exact CP-SAT check only when
``options.exact`` (off by default here: a sample the greedy cannot settle counts as not
survivable, and the result says how many samples that was).

:func:`growth_limit_at` is :func:`planner.capacity.whatif.growth_limit` on the sample at the
chosen nearest-rank quantile of the cluster's total demand (CPU and memory taken at their own
quantile samples, the busier reading of the two kept).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.capacity.failures import (
    FailureOptions,
    analyze_failures,
    failure_scenarios,
)
from planner.capacity.whatif import GrowthLimit, growth_limit
from planner.cluster import Cluster
from planner.history.model import QUANTILE, LoadHistory, LoadStatistic, cluster_at, iso_utc
from planner.history.model import nearest_rank as _rank


@dataclass(frozen=True)
class SurvivalOverTime:
    """N+k over the samples of a window."""

    kind: str  # "N+1", "N+2", ...
    samples: int
    survivable_samples: int
    unsettled_samples: int  # counted as not survivable
    first_unsurvivable: str | None  # ISO time of the first sample lost
    worst_scenarios: dict[str, int] = field(default_factory=dict)  # scenario -> samples lost

    @property
    def fraction(self) -> float:
        """Share of the samples at which every scenario is survivable."""
        return self.survivable_samples / self.samples if self.samples else 1.0

    def sentence(self) -> str:
        """E.g. "survives any single failure in 97.3 % of the window's 2016 samples"."""
        what = {"N+1": "any single failure", "N+2": "any two failures"}.get(
            self.kind, f"any {self.kind[2:]} failures"
        )
        return (
            f"survives {what} in {100 * self.fraction:.1f} % of the window's {self.samples} samples"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            **dataclasses.asdict(self),
            "fraction": round(self.fraction, 6),
            "sentence": self.sentence(),
        }


def survival_over_time(
    cluster: Cluster,
    history: LoadHistory | None = None,
    placement: np.ndarray | None = None,
    failures: int = 1,
    options: FailureOptions | None = None,
    samples: np.ndarray | None = None,
) -> SurvivalOverTime:
    """Judge the N+``failures`` scenarios (exactly ``failures`` nodes at once, no fault
    domains) at every sample (or at ``samples``).

    Parameters
    ----------
    cluster:
        The snapshot; ``placement`` (default: its current one) is judged.
    history:
        Default ``cluster.history``; ``ValueError`` when there is none.
    options:
        :class:`FailureOptions` (``exact`` defaults to False here, see the module docstring).
    """
    h = history if history is not None else cluster.history
    if h is None:
        raise ValueError("the snapshot has no load history")
    opt = options or FailureOptions(exact=False)
    opt = dataclasses.replace(opt, failures=failures, fault_domains=False)
    scen, _ = failure_scenarios(cluster, opt)
    scen = [s for s in scen if len(s.hosts) == failures]
    idx = np.arange(h.n_samples) if samples is None else np.asarray(samples)
    kind = f"N+{failures}"
    ok_n = unsettled = 0
    first: str | None = None
    worst: dict[str, int] = {}
    for t in idx.tolist():
        ct = cluster_at(cluster, h, t, placement)
        rep = analyze_failures(ct, opt, scen)
        lost = [o for o in rep.outcomes if not o.survivable]
        if not lost:
            ok_n += 1
            continue
        unsettled += any(o.settled_by in ("greedy-incomplete", "cpsat-unknown") for o in lost)
        first = first or iso_utc(int(h.timestamps[t]))
        for o in lost:
            worst[o.scenario] = worst.get(o.scenario, 0) + 1
    top = dict(sorted(worst.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
    return SurvivalOverTime(kind, len(idx), ok_n, unsettled, first, top)


def quantile_sample(cluster: Cluster, history: LoadHistory, statistic: LoadStatistic) -> int:
    """The sample at the statistic's nearest rank of the cluster's total demand (the busier
    of the CPU and the memory reading; ``latest``: the last sample; ``mean``: the sample
    closest to the mean total CPU)."""
    if statistic == LoadStatistic.LATEST:
        return history.n_samples - 1
    tot_c = history.vm_cpu_milli.sum(axis=1, dtype=np.int64)
    tot_c = tot_c + history.host_cpu_base_milli.sum(axis=1, dtype=np.int64)
    tot_m = history.vm_mem_mb.sum(axis=1, dtype=np.int64)
    if statistic == LoadStatistic.MEAN:
        return int(np.argmin(np.abs(tot_c - tot_c.mean())))
    k = _rank(history.n_samples, QUANTILE[statistic])
    sc = int(np.argsort(tot_c, kind="stable")[k])
    sm = int(np.argsort(tot_m, kind="stable")[k])
    cap_c = float(cluster.host_cpu_capacity_milli.sum())
    cap_m = float(cluster.host_memory_free_mb.sum())
    return sc if tot_c[sc] / cap_c >= tot_m[sm] / cap_m else sm


def growth_limit_at(
    cluster: Cluster,
    statistic: LoadStatistic | str = LoadStatistic.P95,
    history: LoadHistory | None = None,
    options: FailureOptions | None = None,
) -> tuple[GrowthLimit, int]:
    """:func:`growth_limit` at the loads of :func:`quantile_sample`; returns it and the
    sample used."""
    h = history if history is not None else cluster.history
    if h is None:
        return growth_limit(cluster, options), -1
    stat = LoadStatistic(statistic)
    t = quantile_sample(cluster, h, stat)
    return growth_limit(cluster_at(cluster, h, t), options), t


__all__ = ["SurvivalOverTime", "growth_limit_at", "quantile_sample", "survival_over_time"]
