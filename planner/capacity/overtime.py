"""Capacity over a load history: N+k judged at every sample, growth at a quantile.

:func:`survival_over_time` says in how many samples of the window the cluster survives
every N+k scenario: "survives any single failure in 100 % of the window's samples; in 97 %
with the current placement".

What *survives* means at a sample: the scenario rule of :mod:`planner.capacity.failures`
applied to that sample's loads -- each VM's CPU and assigned memory at that sample (its boot
memory, ``max(memory, startup memory)``, where it restarts), each node's own CPU at that
sample -- on the placement judged, which stays as it is (a failure does not rebalance).  A
scenario survives when the restart simulation of :mod:`planner.failover` (priority, then
larger first at that sample's loads, possible owners, rules hard, 100 % of CPU and memory)
restarts every High, Medium and Low VM of the failed nodes and no surviving node is above
100 % of its CPU or memory (nor above ``threshold_pct`` when set); a sample survives when
every scenario does.  A scenario the simulation cannot settle (some VMs left out, but no
necessary condition proves it lost) is settled by the exact CP-SAT check only when
``options.exact`` (off by default here, with at most ``max_exact`` checks); otherwise it
counts as lost and the result says how many samples that was (``unsettled_samples``).

Cost: the (scenario, sample) pairs are rows of one vectorized simulation
(:meth:`planner.failover.RestartEngine.run` with per-sample loads), in chunks of about
:data:`CHUNK_ROWS` rows -- no Python loop over samples and no solve per sample.

:func:`growth_limit_at` is :func:`planner.capacity.whatif.growth_limit` on the sample at the
chosen nearest-rank quantile of the cluster's total demand (CPU and memory taken at their own
quantile samples, the busier reading of the two kept).  :func:`capacity_over_time` puts both
together for the current placement and, when given, hvplan's plan.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.capacity.failures import FailureOptions, failure_scenarios
from planner.capacity.growth import GrowthLimit, growth_limit
from planner.cluster import Cluster, HostState
from planner.cpsat.capacity import ExactStatus, exact_restart
from planner.failover import RestartEngine, RestartResult, failed_matrix
from planner.history.model import (
    QUANTILE,
    LoadHistory,
    LoadStatistic,
    cluster_at,
    iso_utc,
    parse_statistic,
)
from planner.history.model import nearest_rank as _rank

#: About this many (scenario, sample) rows are simulated at once.
CHUNK_ROWS = 4096
#: Default cap on exact checks over a window (``options.exact``).
MAX_EXACT = 200

_WHAT = {"N+1": "any single failure", "N+2": "any two failures"}


def failures_text(kind: str) -> str:
    """``N+1`` → "any single failure", ``N+3`` → "any 3 failures"."""
    return _WHAT.get(kind, f"any {kind[2:]} failures")


@dataclass(frozen=True)
class SurvivalOverTime:
    """N+k over the samples of a window."""

    kind: str  # "N+1", "N+2", ...
    samples: int
    survivable_samples: int
    unsettled_samples: int  # counted as not survivable
    first_unsurvivable: str | None  # ISO time of the first sample lost
    worst_scenarios: dict[str, int] = field(default_factory=dict)  # scenario -> samples lost
    scenario_survivable: dict[str, int] = field(default_factory=dict)  # scenario -> samples
    exact_checks: int = 0

    @property
    def fraction(self) -> float:
        """Share of the samples at which every scenario is survivable."""
        return self.survivable_samples / self.samples if self.samples else 1.0

    @property
    def percent_text(self) -> str:
        """The fraction as "97.3 %" (one decimal; "100 %" only when every sample)."""
        if self.survivable_samples == self.samples:
            return "100 %"
        return f"{min(100 * self.fraction, 99.9):.1f} %"

    def sentence(self) -> str:
        """E.g. "survives any single failure in 97.3 % of the window's 2016 samples"."""
        return (
            f"survives {failures_text(self.kind)} in {self.percent_text} of the window's "
            f"{self.samples} samples"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        d = dataclasses.asdict(self)
        d.pop("scenario_survivable")
        return {**d, "fraction": round(self.fraction, 6), "sentence": self.sentence()}


def survival_over_time(
    cluster: Cluster,
    history: LoadHistory | None = None,
    placement: np.ndarray | None = None,
    failures: int = 1,
    options: FailureOptions | None = None,
    samples: np.ndarray | None = None,
    max_exact: int = MAX_EXACT,
) -> SurvivalOverTime:
    """Judge the N+``failures`` scenarios (exactly ``failures`` nodes at once, sampled as
    :func:`~planner.capacity.failures.failure_scenarios` does; no fault domains) at every
    sample (or at ``samples``), vectorized over samples (see the module docstring).

    Parameters
    ----------
    cluster:
        The snapshot; ``placement`` (default: its current one) is judged.
    history:
        Default ``cluster.history``; ``ValueError`` when there is none.
    options:
        :class:`FailureOptions` (``exact`` defaults to False here, see the module docstring).
    max_exact:
        With ``options.exact``, at most this many exact checks over the window.
    """
    h = history if history is not None else cluster.history
    if h is None:
        raise ValueError("the snapshot has no load history")
    opt = dataclasses.replace(
        options or FailureOptions(exact=False), failures=failures, fault_domains=False
    )
    c = cluster if placement is None else cluster.replace(vm_host=np.asarray(placement, np.int32))
    scen = [s for s in failure_scenarios(c, opt)[0] if len(s.hosts) == failures]
    idx = np.arange(h.n_samples) if samples is None else np.asarray(samples, dtype=np.int64)
    kind = f"N+{failures}"
    if not scen or len(idx) == 0:
        return SurvivalOverTime(kind, len(idx), len(idx), 0, None)
    eng = RestartEngine(c, "failover")
    fm = failed_matrix(c.n_hosts, [s.hosts for s in scen])
    ok = np.zeros((len(idx), len(scen)), dtype=bool)
    unsettled = np.zeros((len(idx), len(scen)), dtype=bool)
    budget = [max_exact if opt.exact else 0, 0]
    step = max(1, CHUNK_ROWS // len(scen))
    for lo in range(0, len(idx), step):
        part = idx[lo : lo + step]
        ok[lo : lo + len(part)], unsettled[lo : lo + len(part)] = _judge_samples(
            eng, h, fm, part, opt, budget
        )
    lost = ~ok
    sample_ok = ok.all(axis=1)
    first = None if sample_ok.all() else iso_utc(int(h.timestamps[idx[~sample_ok][0]]))
    names = [s.name for s in scen]
    worst = {n: int(k) for n, k in zip(names, lost.sum(axis=0), strict=True) if k}
    top = dict(sorted(worst.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
    return SurvivalOverTime(
        kind,
        len(idx),
        int(sample_ok.sum()),
        int((unsettled & lost).any(axis=1).sum()),
        first,
        top,
        {n: int(k) for n, k in zip(names, ok.sum(axis=0), strict=True)},
        budget[1],
    )


def _judge_samples(
    eng: RestartEngine,
    h: LoadHistory,
    fm: np.ndarray,
    ts: np.ndarray,
    opt: FailureOptions,
    budget: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """``(survivable, unsettled)``, each ``(len(ts), S)``, for the scenarios ``fm`` at the
    samples ``ts`` in one run; ``budget = [exact checks allowed, used]`` is updated."""
    n_sc = len(fm)
    loads = eng.sample_loads(h.vm_cpu_milli[ts], h.vm_mem_mb[ts], h.host_cpu_base_milli[ts])
    row_t = np.repeat(np.arange(len(ts)), n_sc)
    res = eng.run(np.tile(fm, (len(ts), 1)), row_t, loads)
    open_rows = ~res.complete & ~res.bound_infeasible
    for r in np.flatnonzero(open_rows):
        if budget[1] >= budget[0]:
            break
        budget[1] += 1
        ex = exact_restart(
            res.instance(int(r)), opt.exact_time_limit_s, opt.exact_workers, opt.seed
        )
        if ex.status == ExactStatus.FEASIBLE and ex.item_host is not None:
            res = res.with_exact(int(r), ex.item_host)
            open_rows[r] = False
        elif ex.status == ExactStatus.INFEASIBLE:
            open_rows[r] = False
    complete = res.complete
    good = complete & ~_over_after(eng.cluster, res, h.host_cpu_base_milli[ts][row_t], opt)
    return good.reshape(len(ts), n_sc), (open_rows & ~complete).reshape(len(ts), n_sc)


def _over_after(
    c: Cluster, res: RestartResult, base: np.ndarray, opt: FailureOptions
) -> np.ndarray:
    """bool (R,): some surviving node ends above 100 % (or above ``threshold_pct``)."""
    live = ~res.failed & (c.host_state != HostState.DOWN)[None, :]
    cpu = base.astype(np.int64) + res.cpu_used
    mem = c.host_memory_reserve_mb[None, :] + res.mem_used
    over = (cpu > c.host_cpu_capacity_milli[None, :]) | (mem > c.host_memory_mb[None, :])
    if opt.threshold_pct is not None:
        thr = opt.threshold_pct + 1e-9
        cpu_pct = 100.0 * cpu / np.maximum(c.host_cpu_capacity_milli, 1)[None, :]
        mem_pct = 100.0 * mem / np.maximum(c.host_memory_mb, 1)[None, :]
        over |= (cpu_pct > thr) | (mem_pct > thr)
    return np.asarray((live & over).any(axis=1))


# ----------------------------------------------------------------------------- growth
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
    placement: np.ndarray | None = None,
) -> tuple[GrowthLimit, int]:
    """:func:`growth_limit` at the loads of :func:`quantile_sample` (on ``placement``,
    default the current one); returns it and the sample used (-1 without a history)."""
    h = history if history is not None else cluster.history
    if h is None:
        c = cluster if placement is None else cluster.replace(vm_host=placement)
        return growth_limit(c, options), -1
    stat = parse_statistic(statistic)
    t = quantile_sample(cluster, h, stat)
    return growth_limit(cluster_at(cluster, h, t, placement), options), t


# ----------------------------------------------------------------------------- together
@dataclass(frozen=True)
class PlacementOverTime:
    """One placement judged over the window: N+1 .. N+K survival and the growth limit."""

    placement: str  # "current" or "hvplan"
    survival: tuple[SurvivalOverTime, ...]
    growth: GrowthLimit | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "placement": self.placement,
            "survival": {s.kind: s.to_dict() for s in self.survival},
            "growth_limit": None if self.growth is None else self.growth.to_dict(),
        }


@dataclass(frozen=True)
class OverTimeReport:
    """Capacity over the window of one snapshot (:func:`capacity_over_time`)."""

    load: LoadStatistic
    window: dict[str, Any]
    growth_sample: int
    growth_sample_utc: str
    placements: tuple[PlacementOverTime, ...]
    plan: dict[str, Any] | None = None  # hvplan's plan: status, moves, note
    seconds: float = 0.0

    def by_name(self, name: str) -> PlacementOverTime | None:
        """The placement called ``name`` (``current`` or ``hvplan``)."""
        return next((p for p in self.placements if p.placement == name), None)

    def sentences(self) -> list[str]:
        """One line per N+k, as the issue words it: "hvplan's plan survives any single
        failure in 100 % of the window's 2016 samples; in 88.1 % with the current
        placement" (only the current placement's figure without a plan)."""
        cur, plan = self.by_name("current"), self.by_name("hvplan")
        lines = []
        for i, s in enumerate(cur.survival if cur else ()):
            if plan is None:
                lines.append(f"the current placement {s.sentence()}")
                continue
            p = plan.survival[i]
            lines.append(
                f"hvplan's plan {p.sentence()}; in {s.percent_text} with the current placement"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``summary.json``: a snapshot's ``over_time``)."""
        return {
            "load": self.load.value,
            "window": self.window,
            "growth_sample": self.growth_sample,
            "growth_sample_utc": self.growth_sample_utc,
            "placements": {p.placement: p.to_dict() for p in self.placements},
            "plan": self.plan,
            "sentences": self.sentences(),
            "seconds": round(self.seconds, 3),
        }

    def rows(self, snapshot: str) -> list[dict[str, Any]]:
        """Rows of ``over_time.csv``: one per placement and N+k."""
        out = []
        for p in self.placements:
            g = p.growth
            for s in p.survival:
                out.append(
                    {
                        "snapshot": snapshot,
                        "placement": p.placement,
                        "kind": s.kind,
                        "load": self.load.value,
                        "samples": s.samples,
                        "survivable_samples": s.survivable_samples,
                        "survivable_fraction": round(s.fraction, 6),
                        "unsettled_samples": s.unsettled_samples,
                        "first_unsurvivable": s.first_unsurvivable,
                        "growth_sample_utc": self.growth_sample_utc,
                        "growth_safe_now": None if g is None else g.safe_now,
                        "growth_breaks_at": None if g is None else g.breaks_at,
                        "growth_max_safe": None if g is None else g.max_safe,
                        "growth_proven": None if g is None else g.proven,
                    }
                )
        return out


#: Columns of ``over_time.csv`` in order, with their pandas dtype.
OVER_TIME_COLUMNS: dict[str, str] = {
    "snapshot": "string",
    "placement": "string",
    "kind": "string",
    "load": "string",
    "samples": "Int64",
    "survivable_samples": "Int64",
    "survivable_fraction": "float64",
    "unsettled_samples": "Int64",
    "first_unsurvivable": "string",
    "growth_sample_utc": "string",
    "growth_safe_now": "boolean",
    "growth_breaks_at": "float64",
    "growth_max_safe": "float64",
    "growth_proven": "boolean",
}


def capacity_over_time(
    cluster: Cluster,
    load: LoadStatistic | str = LoadStatistic.P95,
    failures: int = 1,
    options: FailureOptions | None = None,
    plan_placement: np.ndarray | None = None,
    plan_info: dict[str, Any] | None = None,
    growth: bool = True,
    max_exact: int = 0,
) -> OverTimeReport:
    """N+1 .. N+``failures`` survival over the window and the growth limit at ``load``, for
    the current placement and (``plan_placement``) hvplan's plan.

    ``options`` are the batch's failure options: the growth limit uses them as they are
    (its N+1 checks exact when ``options.exact``); survival uses them with at most
    ``max_exact`` exact checks per placement and N+k (default none: a (scenario, sample)
    the simulation cannot settle counts as lost and is reported as unsettled).
    """
    h = cluster.history
    if h is None:
        raise ValueError("the snapshot has no load history")
    t0 = time.perf_counter()
    stat = parse_statistic(load)
    opt = options or FailureOptions()
    t = quantile_sample(cluster, h, stat)
    placements = []
    for name, p in (("current", None), ("hvplan", plan_placement)):
        if name == "hvplan" and p is None:
            continue
        surv = tuple(
            survival_over_time(
                cluster, h, p, k, dataclasses.replace(opt, exact=max_exact > 0), None, max_exact
            )
            for k in range(1, max(1, failures) + 1)
        )
        g = growth_limit(cluster_at(cluster, h, t, p), opt) if growth else None
        placements.append(PlacementOverTime(name, surv, g))
    return OverTimeReport(
        stat,
        h.window(),
        t,
        iso_utc(int(h.timestamps[t])),
        tuple(placements),
        plan_info,
        time.perf_counter() - t0,
    )


__all__ = [
    "OVER_TIME_COLUMNS",
    "OverTimeReport",
    "PlacementOverTime",
    "SurvivalOverTime",
    "capacity_over_time",
    "failures_text",
    "growth_limit_at",
    "quantile_sample",
    "survival_over_time",
]
