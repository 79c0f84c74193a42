"""Robust plans (SPEC §2): capacity at every sample, the threshold at a statistic of each
node's per-sample load, by a cutting-plane loop over the samples.

The optimizer sees a few *critical samples* only (``PlanOptions.load_samples``: capacity
hard at each, threshold excess summed over the nodes whose threshold counts at each).  The
loop:

1. start from the sample at the statistic's rank of the cluster's total CPU and of its total
   memory (``latest``/``mean``: the snapshot / the mean vector);
2. solve; judge the placement at every sample of the window with
   :func:`planner.history.loads.sample_loads`;
3. add, for every node above 100 % at some sample, its worst sample (for capacity only),
   and for every node whose statistic (nearest-rank quantile, or mean) is above the
   threshold, up to :data:`SAMPLES_PER_NODE` of its samples above the threshold per
   resource: at a quantile those at the quantile's rank and just below it (the node is
   under at the quantile exactly when the sample at the rank is), for the mean the lowest
   ones above (the cheapest to bring under) -- for that node's threshold only: at a
   quantile a node may be above the threshold at the other nodes' critical samples, so VMs
   whose peaks do not coincide may share it (``LoadSamples.threshold_hosts``);
4. repeat until nothing is violated, no new sample is found, :data:`MAX_SAMPLES` samples
   are in, or the time is up.  The best placement judged so far is kept (fewest node-samples
   over capacity, then nodes over at the statistic, then node-samples over the threshold).

A sample the optimizer was given is a hard capacity constraint, so a plan never breaks
capacity at a critical sample; at other samples it can only be found and added.

``latest`` plans as without a history (the snapshot's values): the comparison row
``latest_plan`` of the summary shows what such a plan does over the window.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.cluster import Cluster
from planner.history.loads import (
    SampleLoads,
    Timeline,
    node_quantiles,
    over_capacity,
    over_threshold,
    percent,
    sample_loads,
)
from planner.history.model import QUANTILE, LoadHistory, LoadStatistic, nearest_rank
from planner.loadmodel import Threshold

#: Samples added per node and round for the threshold.
SAMPLES_PER_NODE = 3
#: Most critical samples handed to the optimizer.
MAX_SAMPLES = 48
#: Rounds of the loop.
MAX_ROUNDS = 8
#: Shortest round (s).
MIN_ROUND_S = 0.5
#: The loop stops early only when its solves overran the whole limit by this much (s).
OVERRUN_S = 5.0

#: ``solve(cluster, critical, time_limit_s, start) -> placement or None``.  ``critical``
#: maps each critical sample to the hosts whose threshold counts there (``None``: every
#: host); sample index ``-1`` stands for the statistic's own load vector (the mean for
#: ``mean``, the snapshot for ``latest``); ``start`` is the best placement of the rounds
#: before (``None`` in the first), which the solver may start from.
Critical = dict[int, frozenset[int] | None]
Solver = Callable[[Cluster, Critical, float, np.ndarray | None], np.ndarray | None]


def _total_limits(cluster: Cluster, thr: Threshold) -> tuple[np.ndarray, np.ndarray]:
    """Node CPU (milli-LP, base included) and memory (MB, reserve included) at or under the
    threshold."""
    cpu = np.floor(thr.cpu_pct * cluster.host_cpu_capacity_milli / 100.0 + 1e-9)
    mem = np.floor(thr.memory_pct * cluster.host_memory_mb / 100.0 + 1e-9)
    return cpu.astype(np.int64), mem.astype(np.int64)


def statistic_loads(loads: SampleLoads, statistic: LoadStatistic) -> tuple[np.ndarray, np.ndarray]:
    """``(S, H)`` node CPU and memory at the statistic (``latest``: the last sample)."""
    if statistic == LoadStatistic.LATEST:
        return loads.cpu_milli[:, -1], loads.memory_used_mb[:, -1]
    if statistic == LoadStatistic.MEAN:
        return (
            np.rint(loads.cpu_milli.mean(axis=1)).astype(np.int64),
            np.rint(loads.memory_used_mb.mean(axis=1)).astype(np.int64),
        )
    return node_quantiles(loads, QUANTILE[statistic])


def judge(
    cluster: Cluster,
    history: LoadHistory,
    placements: Sequence[np.ndarray],
    thr: Threshold,
    statistic: LoadStatistic,
) -> list[dict[str, Any]]:
    """How each placement does over the whole window: node-samples over the threshold and
    over capacity, nodes over the threshold at the statistic, peak loads."""
    loads = sample_loads(cluster, history, [Timeline.constant(p) for p in placements])
    return _judge_loads(cluster, loads, thr, statistic)


def _judge_loads(
    cluster: Cluster, loads: SampleLoads, thr: Threshold, statistic: LoadStatistic
) -> list[dict[str, Any]]:
    over_t = over_threshold(cluster, thr, loads)
    over_c = over_capacity(cluster, loads)
    lim_c, lim_m = _total_limits(cluster, thr)
    sc, sm = statistic_loads(loads, statistic)
    counted = cluster.host_state != 2
    at_stat = ((sc > lim_c) | (sm > lim_m)) & counted
    cpu_pct, mem_pct = percent(cluster, loads)
    return [
        {
            "node_samples_over_threshold": int(over_t[i].sum()),
            "node_samples_over_capacity": int(over_c[i].sum()),
            "nodes_over_threshold_at_statistic": int(at_stat[i].sum()),
            "max_cpu_pct": round(float(cpu_pct[i][:, counted].max()), 4) if counted.any() else 0.0,
            "max_memory_pct": round(float(mem_pct[i][:, counted].max()), 4)
            if counted.any()
            else 0.0,
        }
        for i in range(loads.cpu_milli.shape[0])
    ]


def initial_samples(cluster: Cluster, history: LoadHistory, statistic: LoadStatistic) -> list[int]:
    """The first critical samples (see the module docstring)."""
    if statistic in (LoadStatistic.LATEST, LoadStatistic.MEAN):
        return [-1]
    k = nearest_rank(history.n_samples, QUANTILE[statistic])
    tot_c = history.vm_cpu_milli.sum(axis=1, dtype=np.int64) + history.host_cpu_base_milli.sum(
        axis=1, dtype=np.int64
    )
    tot_m = history.vm_mem_mb.sum(axis=1, dtype=np.int64)
    return sorted(
        {int(np.argsort(tot_c, kind="stable")[k]), int(np.argsort(tot_m, kind="stable")[k])}
    )


def violated_critical(
    cluster: Cluster, loads: SampleLoads, thr: Threshold, statistic: LoadStatistic
) -> Critical:
    """Critical samples to add after judging one placement (``loads`` of ``S = 1``): each
    with the hosts whose threshold is to count there (empty: capacity only)."""
    cpu, mem = loads.cpu_milli[0], loads.memory_used_mb[0]
    counted = cluster.host_state != 2
    add: dict[int, set[int]] = {}
    excess = np.maximum(cpu - cluster.host_cpu_capacity_milli, 0) / cluster.host_cpu_capacity_milli
    excess = excess + np.maximum(mem - cluster.host_memory_mb, 0) / cluster.host_memory_mb
    for h in np.flatnonzero((excess > 0).any(axis=0) & counted):
        add.setdefault(int(np.argmax(excess[:, h])), set())
    lim_c, lim_m = _total_limits(cluster, thr)
    sc, sm = statistic_loads(loads, statistic)
    for h in np.flatnonzero(((sc[0] > lim_c) | (sm[0] > lim_m)) & counted):
        for t in _binding_samples(cpu[:, h], mem[:, h], int(lim_c[h]), int(lim_m[h]), statistic):
            add.setdefault(t, set()).add(int(h))
    return {t: frozenset(add[t]) for t in sorted(add)}


def _binding_samples(
    cpu: np.ndarray, mem: np.ndarray, lim_c: int, lim_m: int, statistic: LoadStatistic
) -> list[int]:
    """Up to :data:`SAMPLES_PER_NODE` samples per resource over its limit that decide one
    node's statistic.  At a quantile: the samples at the quantile's rank and just below it
    (a node may stay above the limit at the samples ranked higher; it is under at the
    quantile exactly when the sample at the rank is).  For the mean: the samples just
    above the limit (the cheapest to bring under)."""
    out: list[int] = []
    for load, lim in ((cpu, lim_c), (mem, lim_m)):
        order = np.argsort(load, kind="stable")
        if statistic in QUANTILE:
            k = nearest_rank(len(load), QUANTILE[statistic])
            picks = order[max(k - SAMPLES_PER_NODE + 1, 0) : k + 1][::-1]
        else:
            picks = order[np.searchsorted(load[order], lim, side="right") :][:SAMPLES_PER_NODE]
        out.extend(int(t) for t in picks if load[t] > lim)
    return sorted(set(out))


def merge_critical(have: Critical, new: Critical, room: int) -> Critical:
    """``have`` with what ``new`` adds (at most ``room`` new samples, in sample order);
    unchanged (the same object) when ``new`` adds nothing."""
    out = dict(have)
    changed = False
    for t, hosts in new.items():
        if t not in out:
            if room <= 0:
                continue
            room -= 1
            out[t] = hosts
            changed = True
        else:
            cur = out[t]
            if cur is not None and hosts is not None and not hosts <= cur:
                out[t] = cur | hosts
                changed = True
    return dict(sorted(out.items())) if changed else have


@dataclass
class RobustResult:
    """Outcome of :func:`robust_plan`."""

    placement: np.ndarray | None
    statistic: LoadStatistic
    critical: Critical = field(default_factory=dict)
    rounds: int = 0
    converged: bool = False
    judgement: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (part of the plan summary's ``history``)."""
        return {
            "statistic": self.statistic.value,
            "rounds": self.rounds,
            "critical_samples": len([s for s in self.critical if s >= 0]),
            "converged": self.converged,
            "seconds": round(self.seconds, 3),
            "after": self.judgement,
        }


def _rank(j: dict[str, Any]) -> tuple[int, int, int]:
    return (
        j["node_samples_over_capacity"],
        j["nodes_over_threshold_at_statistic"],
        j["node_samples_over_threshold"],
    )


def round_limits(time_limit_s: float, max_rounds: int = MAX_ROUNDS) -> list[float]:
    """Each round's time limit: half of what the rounds before left, the last round the rest
    (at least :data:`MIN_ROUND_S` each).  Fixed by the limit alone, not by how long the
    rounds took, so the loop does the same rounds whenever its solves give the same plans."""
    out: list[float] = []
    left = float(time_limit_s)
    for r in range(max_rounds):
        if left < MIN_ROUND_S:
            break
        t = left if r == max_rounds - 1 else max(left / 2, MIN_ROUND_S)
        out.append(t)
        left -= t
    return out


def robust_plan(
    cluster: Cluster,
    history: LoadHistory,
    statistic: LoadStatistic,
    thr: Threshold,
    solve: Solver,
    time_limit_s: float,
    max_rounds: int = MAX_ROUNDS,
) -> RobustResult:
    """The cutting-plane loop of the module docstring.

    Parameters
    ----------
    cluster, history:
        The snapshot and its load history.
    statistic:
        What the threshold is judged at.
    thr:
        The threshold in force.
    solve:
        The optimizer (:data:`Solver`).
    time_limit_s:
        For the whole loop; each round gets what is left.

    Returns
    -------
    RobustResult
        The best placement judged (``None`` when no solve found one).
    """
    t0 = time.monotonic()
    critical: Critical = {t: None for t in initial_samples(cluster, history, statistic)}
    best: RobustResult = RobustResult(None, statistic)
    rounds = 0
    for limit in round_limits(time_limit_s, max_rounds):
        if time.monotonic() - t0 > time_limit_s + OVERRUN_S:
            break  # only when solves overran their limits (a very busy machine)
        rounds += 1
        p = solve(cluster, critical, limit, best.placement)
        if p is None:
            break
        loads = sample_loads(cluster, history, [Timeline.constant(p)])
        j = _judge_loads(cluster, loads, thr, statistic)[0]
        if best.placement is None or _rank(j) < _rank(best.judgement):
            best = RobustResult(np.asarray(p), statistic, dict(critical), rounds, False, j)
        if j["node_samples_over_capacity"] == 0 and j["nodes_over_threshold_at_statistic"] == 0:
            best.converged = _rank(best.judgement) == (0, 0, _rank(best.judgement)[2])
            break
        grown = merge_critical(
            critical,
            violated_critical(cluster, loads, thr, statistic),
            MAX_SAMPLES - len(critical),
        )
        if grown is critical:
            break  # nothing new to add: the loop has done what it can
        critical = grown
    best.rounds = rounds
    best.seconds = time.monotonic() - t0
    return best


# ----------------------------------------------------------------------------- solvers
def sample_vectors(
    cluster: Cluster, history: LoadHistory, statistic: LoadStatistic, samples: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(K, V)`` CPU, ``(K, V)`` memory and ``(K, H)`` base CPU of the critical samples
    (index ``-1``: the statistic's own vector)."""
    cpu, mem, base = [], [], []
    for s in samples:
        if s < 0:
            if statistic == LoadStatistic.MEAN:
                c, m = history.vm_loads(LoadStatistic.MEAN)
                b = history.host_base(LoadStatistic.MEAN)
            else:
                c, m, b = (
                    cluster.vm_cpu_load_milli,
                    cluster.vm_mem_load_mb,
                    cluster.host_cpu_base_milli,
                )
        else:
            c, m, b = (
                history.vm_cpu_milli[s],
                history.vm_mem_mb[s],
                history.host_cpu_base_milli[s],
            )
        cpu.append(np.asarray(c, dtype=np.int64))
        mem.append(np.asarray(m, dtype=np.int64))
        base.append(np.asarray(b, dtype=np.int64))
    return np.stack(cpu), np.stack(mem), np.stack(base)


def surrogate_solver(
    statistic: LoadStatistic,
    level: str | None = None,
    threshold_pct: float | None = None,
    high_mode: str = "average",
    seed: int = 0,
) -> Solver:
    """A :data:`Solver` for an optimizer without ``load_samples``: it plans on each VM's
    highest load over the critical samples (stronger than capacity at each of them: never
    weaker)."""
    optimizer = importlib.import_module("planner.optimizer")

    def solve(
        cluster: Cluster,
        critical: Critical,
        time_limit_s: float,
        start: np.ndarray | None = None,
    ) -> np.ndarray | None:
        assert cluster.history is not None
        cpu, mem, base = sample_vectors(cluster, cluster.history, statistic, list(critical))
        run = cluster.vm_consumes
        c = cluster.replace(
            vm_cpu_milli=np.where(run, cpu.max(axis=0), cluster.vm_cpu_milli),
            vm_memory_mb=np.where(run, mem.max(axis=0), cluster.vm_memory_mb),
            host_cpu_base_milli=base.max(axis=0),
        )
        res = optimizer.optimize(
            c,
            optimizer.PlanOptions(
                level=level,
                threshold_pct=threshold_pct,
                high_mode=high_mode,
                time_limit_s=time_limit_s,
                seed=seed,
            ),
        )
        return None if res.placement is None else np.asarray(res.placement)

    return solve


__all__ = [
    "MAX_ROUNDS",
    "MAX_SAMPLES",
    "SAMPLES_PER_NODE",
    "RobustResult",
    "Solver",
    "judge",
    "initial_samples",
    "robust_plan",
    "round_limits",
    "sample_vectors",
    "statistic_loads",
    "surrogate_solver",
    "Critical",
    "merge_critical",
    "violated_critical",
]
