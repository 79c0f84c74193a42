"""Replay a load history: a plan against the native balancers acting over the same window.

Strategies (each starts from the snapshot's current placement at the window's first sample):

* ``current``: the placement left alone.
* ``hvplan``: the given plan's placement from the first sample on (its moves counted once).
* ``hvplan/replanned-24h`` (or the period given): from the plan, re-planned at the start of
  every period on the loads of the period before it -- only what was known then.
* ``node-fairness/...``: Hyper-V's VM Load Balancer in the cluster's ``AutoBalancerMode``
  and level, one pass every 30 minutes on the then-current 5-minute loads
  (:class:`planner.native.Balancer`).  Mode 0 (off) and mode 1 (on node join; no node joins
  in a replay) move nothing: no row is simulated and :attr:`ReplayResult.notes` says so.
* ``dynamic-optimization/N``: SCVMM Dynamic Optimization every 10 minutes.

A pass at sample ``t`` sees the loads of sample ``t`` and its moves hold from ``t + 1``
on (the migrations take minutes).  Every strategy is then judged at every sample by
:func:`planner.history.loads.sample_loads`: node-samples above the threshold (the one in
force for the cluster's level; High by its average reading is recomputed per sample) and
above capacity, peak loads, and the affinity rules broken (the most at any sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.cluster import Cluster, MoveKind
from planner.evaluate import evaluate
from planner.history.loads import (
    SampleLoads,
    Timeline,
    over_capacity,
    over_threshold,
    percent,
    sample_loads,
)
from planner.history.model import LoadHistory, iso_utc
from planner.loadmodel import HighMode, Level, Threshold, resolve_threshold
from planner.native import (
    Balancer,
    DynamicOptimizationOptions,
    NodeFairnessOptions,
    cluster_variants,
)

#: Re-planning callback: a cluster whose ``vm_host`` is the placement in force and whose
#: ``history`` is the period just past (loads: its last sample) -> the new placement (or
#: ``None`` to keep the current one).
Replanner = Callable[[Cluster], np.ndarray | None]


@dataclass(frozen=True)
class ReplayOptions:
    """Settings of :func:`replay`.

    ``level``/``threshold_pct``/``high_mode`` choose the threshold the strategies are judged
    by and Node Fairness acts on (default: the cluster's ``AutoBalancerLevel``);
    ``period_hours`` is the re-planning period (0: no re-planned strategy, also when no
    ``replanner`` is given); ``native`` adds the native balancers.
    """

    level: Level | str | None = None
    threshold_pct: float | None = None
    high_mode: HighMode | str = HighMode.AVERAGE
    period_hours: float = 24.0
    native: bool = True
    engine: str = "auto"


@dataclass(frozen=True)
class Strategy:
    """One replayed strategy: its timeline, its moves and how it did over the window."""

    name: str
    description: str
    timeline: Timeline
    moves: tuple[tuple[int, int, int, int, int], ...]  # (sample, vm, source, target, MB)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: ``(T,)`` highest CPU % and memory % of any node at each sample.
    peak_cpu_pct: np.ndarray = field(default_factory=lambda: np.zeros(0))
    peak_memory_pct: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict[str, Any]:
        """The SPEC §6 keys (and a few more) of this strategy."""
        return {"name": self.name, "description": self.description, **self.metrics}


@dataclass(frozen=True)
class ReplayResult:
    """Outcome of :func:`replay`."""

    cluster: Cluster
    history: LoadHistory
    threshold: Threshold
    strategies: tuple[Strategy, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{"window", "threshold_pct", "threshold_rule", "notes", "strategies"}``
        (SPEC §6 ``replay --json``)."""
        return {
            "cluster": self.cluster.name,
            "window": self.history.window(),
            "threshold_pct": self.threshold.to_dict(),
            "threshold_rule": self.threshold.rule,
            "notes": list(self.notes),
            "strategies": [s.to_dict() for s in self.strategies],
        }

    def strategy(self, name: str) -> Strategy:
        """The strategy of this name (``KeyError`` if absent)."""
        for s in self.strategies:
            if s.name == name:
                return s
        raise KeyError(name)

    def moves_rows(self) -> list[dict[str, Any]]:
        """Every migration of every strategy, with names and times (for ``moves.csv``)."""
        c, ts = self.cluster, self.history.timestamps
        return [
            {
                "strategy": s.name,
                "time": iso_utc(int(ts[min(t, len(ts) - 1)])),
                "sample": t,
                "vm": c.vm_names[v],
                "source": c.host_names[a],
                "target": c.host_names[b],
                "memory_mb": mb,
            }
            for s in self.strategies
            for t, v, a, b, mb in s.moves
        ]


# ----------------------------------------------------------------------------- strategies
def _diff_moves(
    cluster: Cluster, history: LoadHistory, sample: int, before: np.ndarray, after: np.ndarray
) -> list[tuple[int, int, int, int, int]]:
    moved = np.flatnonzero(before != after)
    t = min(sample, history.n_samples - 1)
    mem = np.where(cluster.vm_consumes, history.vm_mem_mb[t], cluster.vm_memory_mb)
    return [(sample, int(v), int(before[v]), int(after[v]), int(mem[v])) for v in moved]


def _static(
    cluster: Cluster, history: LoadHistory, name: str, desc: str, placement: np.ndarray
) -> Strategy:
    moves = _diff_moves(cluster, history, 0, cluster.vm_host, placement)
    return Strategy(name, desc, Timeline.constant(placement), tuple(moves))


def _replanned(
    cluster: Cluster,
    history: LoadHistory,
    start: np.ndarray,
    replanner: Replanner,
    period_hours: float,
) -> Strategy:
    period = max(1, int(round(period_hours * 3600 / history.step_seconds)))
    p = start.astype(np.int32).copy()
    moves = _diff_moves(cluster, history, 0, cluster.vm_host, p)
    for a in range(period, history.n_samples, period):
        past = history.slice(a - period, a)
        c = cluster.replace(
            vm_host=p.copy(),
            history=past,
            vm_cpu_milli=np.where(
                cluster.vm_consumes, past.vm_cpu_milli[-1], cluster.vm_cpu_milli
            ).astype(np.int64),
            vm_memory_mb=np.where(
                cluster.vm_consumes, past.vm_mem_mb[-1], cluster.vm_memory_mb
            ).astype(np.int64),
            host_cpu_base_milli=past.host_cpu_base_milli[-1].astype(np.int64),
        )
        new = replanner(c)
        if new is None:
            continue
        new = np.asarray(new, dtype=np.int32)
        moves += _diff_moves(cluster, history, a, p, new)
        p = new
    tl = Timeline.from_moves(cluster.vm_host, [(t, v, b) for t, v, _, b, _ in moves])
    return Strategy(
        f"hvplan/replanned-{period_hours:g}h",
        f"hvplan's plan, re-planned every {period_hours:g} h on the loads of the period before",
        tl,
        tuple(moves),
    )


def _native(
    cluster: Cluster,
    history: LoadHistory,
    variant: NodeFairnessOptions | DynamicOptimizationOptions,
) -> Strategy:
    bal = Balancer(cluster, variant)
    every = max(1, int(round(bal.interval_s / history.step_seconds)))
    moves: list[tuple[int, int, int, int, int]] = []
    for t in range(0, history.n_samples, every):
        clock = float(history.timestamps[t] - history.timestamps[0])
        for m in bal.act(
            history.vm_cpu_milli[t], history.vm_mem_mb[t], history.host_cpu_base_milli[t], clock
        ):
            if m.kind == MoveKind.LIVE:
                moves.append((t + 1, m.vm, m.source, m.target, m.memory_mb))
    tl = Timeline.from_moves(cluster.vm_host, [(t, v, b) for t, v, _, b, _ in moves])
    if isinstance(variant, NodeFairnessOptions):
        thr = resolve_threshold(cluster, variant.level, variant.threshold_pct, variant.high_mode)
        desc = (
            f"Hyper-V VM Load Balancer (Node Fairness), a pass every 30 min, {thr.rule}, "
            f"VM choice '{variant.vm_choice}'"
            + (
                ""
                if variant.max_moves_per_node is None
                else f", at most {variant.max_moves_per_node} move(s) per node per pass"
            )
        )
    else:
        desc = (
            f"SCVMM Dynamic Optimization, aggressiveness {variant.aggressiveness}, every "
            f"{variant.interval_minutes} min"
        )
    return Strategy(variant.name(), desc, tl, tuple(moves))


# ----------------------------------------------------------------------------- judging
def _judge(
    cluster: Cluster, history: LoadHistory, thr: Threshold, strategies: list[Strategy], engine: str
) -> list[Strategy]:
    loads = sample_loads(cluster, history, [s.timeline for s in strategies], engine=engine)  # type: ignore[arg-type]
    over_t = over_threshold(cluster, thr, loads).sum(axis=(1, 2))
    over_c = over_capacity(cluster, loads).sum(axis=(1, 2))
    cpu_pct, mem_pct = percent(cluster, loads)
    counted = cluster.host_state != 2
    if not counted.any():
        counted = np.ones(cluster.n_hosts, dtype=bool)
    peak_c = cpu_pct[:, :, counted].max(axis=2)
    peak_m = mem_pct[:, :, counted].max(axis=2)
    out = []
    for i, s in enumerate(strategies):
        segs = s.timeline.segments(history.n_samples)
        batch = np.stack([p for _, _, p in segs])
        ev = evaluate(cluster, batch, thresholds=[thr])
        metrics = {
            "migrations": len(s.moves),
            "memory_moved_mb": int(sum(m[4] for m in s.moves)),
            "node_samples_over_threshold": int(over_t[i]),
            "node_samples_over_capacity": int(over_c[i]),
            "max_cpu_pct": round(float(peak_c[i].max()), 4),
            "max_memory_pct": round(float(peak_m[i].max()), 4),
            "rule_violations": int(ev.rule_violations().max()),
            "samples_with_a_node_over_threshold": int(
                over_threshold_any(cluster, thr, loads, i).sum()
            ),
        }
        out.append(
            Strategy(s.name, s.description, s.timeline, s.moves, metrics, peak_c[i], peak_m[i])
        )
    return out


def over_threshold_any(cluster: Cluster, thr: Threshold, loads: SampleLoads, i: int) -> np.ndarray:
    """``(T,)`` samples at which some node of timeline ``i`` is above the threshold."""
    one = SampleLoads(loads.cpu_milli[i : i + 1], loads.memory_used_mb[i : i + 1])
    return over_threshold(cluster, thr, one)[0].any(axis=1)


def replay(
    cluster: Cluster,
    history: LoadHistory | None = None,
    plan_placement: np.ndarray | None = None,
    options: ReplayOptions | None = None,
    replanner: Replanner | None = None,
    variants: Sequence[NodeFairnessOptions | DynamicOptimizationOptions] | None = None,
) -> ReplayResult:
    """Replay the window of ``history`` (default ``cluster.history``) for every strategy.

    Parameters
    ----------
    cluster:
        The snapshot; its placement is where every strategy starts.
    history:
        The load history; ``ValueError`` when there is none.
    plan_placement:
        hvplan's plan (placement after it); without it there is no ``hvplan`` row.
    options:
        :class:`ReplayOptions`.
    replanner:
        How to re-plan (see :data:`Replanner`); needed for the re-planned strategy.
    variants:
        Native strategies (default: :func:`planner.native.cluster_variants` in the
        cluster's own mode, at the threshold's level).

    Returns
    -------
    ReplayResult
    """
    opts = options or ReplayOptions()
    h = history if history is not None else cluster.history
    if h is None:
        raise ValueError("the snapshot has no load history (vm_history / host_history)")
    thr = resolve_threshold(cluster, opts.level, opts.threshold_pct, opts.high_mode)
    notes: list[str] = []
    strategies = [
        _static(cluster, h, "current", "the current placement, left alone", cluster.vm_host)
    ]
    if plan_placement is not None:
        strategies.append(
            _static(
                cluster,
                h,
                "hvplan",
                "hvplan's plan, applied at the start",
                np.asarray(plan_placement, dtype=np.int32),
            )
        )
        if replanner is not None and opts.period_hours > 0:
            strategies.append(
                _replanned(cluster, h, np.asarray(plan_placement), replanner, opts.period_hours)
            )
    if opts.native:
        if variants is None:
            level = opts.level if opts.level is not None else thr.level
            vs, note = cluster_variants(
                cluster, None if level == "custom" else level, opts.threshold_pct, opts.high_mode
            )
            if note:
                notes.append(note)
        else:
            vs = list(variants)
        strategies += [_native(cluster, h, v) for v in vs]
    if h.step_seconds > 600:
        notes.append(
            f"the history's step is {h.step_seconds} s: the balancers act at most once per sample"
        )
    return ReplayResult(
        cluster, h, thr, tuple(_judge(cluster, h, thr, strategies, opts.engine)), tuple(notes)
    )


__all__ = ["ReplayOptions", "ReplayResult", "Replanner", "Strategy", "replay"]
