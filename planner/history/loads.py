"""Per-sample per-node loads of many placements over a load history (the evaluator's real
job: replays and robust plans).

A :class:`Timeline` is a placement that changes over the window: an initial placement and
moves, each holding from a given sample on.  :func:`sample_loads` computes, for ``S``
timelines, the CPU (milli-LP, base included) and memory (MB, reserve included) of every node
at every sample: ``S x T x V`` scatter-adds.

How it is fast
--------------
The numba engine (:func:`planner.kernels.timeline_sums`) walks the samples in parallel
blocks; each block rebuilds every timeline's placement at its first sample and applies the
moves as it goes.  Per sample it reads the
VMs' CPU and memory once, packs them into one ``int64`` per VM (memory in the high 32 bits),
and adds that word into each timeline's node row (two accumulators, so that neighbouring VMs
on one node do not wait on each other): one add per VM-sample-timeline, with the loads of
the sample in cache for all timelines.  Exact while the sample's total CPU stays below 2**32
milli-LP and its total memory below 2**31 MB (checked; otherwise the NumPy engine runs).
The NumPy engine sums each constant stretch of a timeline with ``np.add.reduceat`` over the
VMs sorted by node.  ``tests/benchmarks/bench_replay.py`` measures both and a pandas groupby.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from planner import kernels
from planner.cluster import Cluster, HostState
from planner.history.model import LoadHistory, nearest_rank
from planner.kernels import HAVE_NUMBA
from planner.loadmodel import Threshold

Engine = Literal["auto", "numpy", "numba"]
#: Below this many VM-samples "auto" uses NumPy (compiling would cost more than it saves).
NUMBA_MIN_CELLS = 1 << 21


@dataclass(frozen=True)
class Timeline:
    """A placement over the window: ``initial`` (V,) host indices, then moves: VM
    ``move_vm[i]`` is on ``move_host[i]`` from sample ``move_sample[i]`` on (ascending)."""

    initial: np.ndarray
    move_sample: np.ndarray
    move_vm: np.ndarray
    move_host: np.ndarray

    @staticmethod
    def constant(placement: np.ndarray) -> Timeline:
        """A placement that never changes."""
        z = np.zeros(0, dtype=np.int64)
        return Timeline(np.asarray(placement, dtype=np.int32), z, z, z)

    @staticmethod
    def from_moves(initial: np.ndarray, moves: Sequence[tuple[int, int, int]]) -> Timeline:
        """From ``(sample, vm, host)`` triples (sorted here, stable)."""
        m = np.asarray(list(moves), dtype=np.int64).reshape(-1, 3)
        order = np.argsort(m[:, 0], kind="stable")
        m = m[order]
        return Timeline(
            np.asarray(initial, dtype=np.int32), m[:, 0].copy(), m[:, 1].copy(), m[:, 2].copy()
        )

    def at(self, sample: int) -> np.ndarray:
        """The placement at ``sample``."""
        p = self.initial.astype(np.int32).copy()
        k = int(np.searchsorted(self.move_sample, sample, side="right"))
        p[self.move_vm[:k]] = self.move_host[:k]
        return p

    def segments(self, n_samples: int) -> list[tuple[int, int, np.ndarray]]:
        """``(start, stop, placement)`` stretches over which the placement is constant."""
        cuts = np.unique(np.clip(self.move_sample, 0, n_samples))
        bounds = [0] + [int(c) for c in cuts if 0 < c < n_samples] + [n_samples]
        return [(a, b, self.at(a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


@dataclass(frozen=True)
class SampleLoads:
    """Node loads of ``S`` timelines at ``T`` samples: ``(S, T, H)`` int64 arrays."""

    cpu_milli: np.ndarray  # base + VMs
    memory_used_mb: np.ndarray  # reserve + VMs


def _packable(cluster: Cluster, history: LoadHistory) -> bool:
    """Packing is exact: each sample's total CPU < 2**32 and total memory < 2**31."""
    cpu_bound = int(cluster.vm_vcpus.sum()) * 1000 * 2  # CPU % <= 100 (2x margin)
    mem_bound = int(history.vm_mem_mb.max(initial=0)) * history.n_vms
    return cpu_bound < 2**32 and mem_bound < 2**31 and int(history.vm_cpu_milli.min(initial=0)) >= 0


def _numpy_loads(
    history: LoadHistory, timelines: Sequence[Timeline], n_hosts: int
) -> tuple[np.ndarray, np.ndarray]:
    s_count, t_count = len(timelines), history.n_samples
    cpu = np.zeros((s_count, t_count, n_hosts), dtype=np.int64)
    mem = np.zeros((s_count, t_count, n_hosts), dtype=np.int64)
    for s, tl in enumerate(timelines):
        for a, b, p in tl.segments(t_count):
            order = np.argsort(p, kind="stable")
            counts = np.bincount(p, minlength=n_hosts)
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            used = np.flatnonzero(counts)
            if used.size == 0:
                continue
            for arr, out in ((history.vm_cpu_milli, cpu), (history.vm_mem_mb, mem)):
                sums = np.add.reduceat(arr[a:b][:, order], starts[used], axis=1, dtype=np.int64)
                out[s, a:b][:, used] = sums
    return cpu, mem


def sample_loads(
    cluster: Cluster, history: LoadHistory, timelines: Sequence[Timeline], engine: Engine = "auto"
) -> SampleLoads:
    """Per-sample per-node CPU and memory of each timeline.

    Parameters
    ----------
    cluster:
        The snapshot (capacities, reserves; ``H``).
    history:
        The loads (``T x V``) and the nodes' base CPU per sample.
    timelines:
        ``S`` placements over the window.
    engine:
        ``"auto"``, ``"numpy"`` or ``"numba"`` (same results).

    Returns
    -------
    SampleLoads
        ``(S, T, H)`` node CPU (base included) and memory (reserve included).
    """
    h_count = cluster.n_hosts
    if history.n_vms != cluster.n_vms or history.n_hosts != h_count:
        raise ValueError("the history does not belong to this cluster")
    for tl in timelines:
        if tl.initial.shape != (cluster.n_vms,):
            raise ValueError("a timeline's initial placement is not (V,)")
        for arr in (tl.initial, tl.move_host):
            if arr.size and (arr.min() < 0 or arr.max() >= h_count):
                raise ValueError("a timeline refers to an unknown host index")
    cells = history.n_samples * history.n_vms * max(len(timelines), 1)
    use_numba = (
        HAVE_NUMBA
        and engine != "numpy"
        and (engine == "numba" or cells >= NUMBA_MIN_CELLS)
        and _packable(cluster, history)
    )
    if engine == "numba" and not use_numba and not HAVE_NUMBA:
        raise ValueError("numba is not installed")
    if use_numba and timelines and history.n_vms:
        init = np.stack([tl.initial.astype(np.int32) for tl in timelines])
        ev_t = np.concatenate([tl.move_sample for tl in timelines]).astype(np.int64)
        ev_v = np.concatenate([tl.move_vm for tl in timelines]).astype(np.int64)
        ev_h = np.concatenate([tl.move_host for tl in timelines]).astype(np.int32)
        ev_first = np.concatenate(
            [[0], np.cumsum([len(tl.move_sample) for tl in timelines])]
        ).astype(np.int64)
        packed = kernels.timeline_sums(
            history.vm_cpu_milli, history.vm_mem_mb, init, (ev_t, ev_v, ev_h, ev_first), h_count
        )
        cpu = packed & 0xFFFFFFFF
        mem = packed >> 32
    else:
        cpu, mem = _numpy_loads(history, timelines, h_count)
    cpu += history.host_cpu_base_milli[None, :, :]
    mem += cluster.host_memory_reserve_mb[None, None, :]
    return SampleLoads(cpu, mem)


# ----------------------------------------------------------------------------- judging
def _counted(cluster: Cluster) -> np.ndarray:
    c = cluster.host_state != HostState.DOWN
    return c if c.any() else np.ones(cluster.n_hosts, dtype=bool)


def percent(cluster: Cluster, loads: SampleLoads) -> tuple[np.ndarray, np.ndarray]:
    """``(S, T, H)`` CPU % and memory % (float64)."""
    return (
        100.0 * loads.cpu_milli / cluster.host_cpu_capacity_milli,
        100.0 * loads.memory_used_mb / cluster.host_memory_mb,
    )


def threshold_pct_per_sample(
    cluster: Cluster, thr: Threshold, cpu_pct: np.ndarray, mem_pct: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Threshold per (timeline, sample) ``(S, T)``: the fixed value, or for High (average
    reading) the Up hosts' average at that sample plus 5 points."""
    shape = cpu_pct.shape[:2]
    if thr.level == "high" and thr.rule.startswith("High (average"):
        up = cluster.host_up if cluster.host_up.any() else np.ones(cluster.n_hosts, bool)
        from planner.loadmodel import HIGH_MARGIN_PCT

        return (
            cpu_pct[:, :, up].mean(axis=2) + HIGH_MARGIN_PCT,
            mem_pct[:, :, up].mean(axis=2) + HIGH_MARGIN_PCT,
        )
    return np.full(shape, thr.cpu_pct), np.full(shape, thr.memory_pct)


def over_threshold(cluster: Cluster, thr: Threshold, loads: SampleLoads) -> np.ndarray:
    """``(S, T, H)`` bool: node above the threshold (either resource) at the sample."""
    cpu_pct, mem_pct = percent(cluster, loads)
    tc, tm = threshold_pct_per_sample(cluster, thr, cpu_pct, mem_pct)
    over = (cpu_pct > tc[:, :, None] + 1e-9) | (mem_pct > tm[:, :, None] + 1e-9)
    return over & _counted(cluster)[None, None, :]


def over_capacity(cluster: Cluster, loads: SampleLoads) -> np.ndarray:
    """``(S, T, H)`` bool: node above 100 % CPU or memory at the sample."""
    return (
        (loads.cpu_milli > cluster.host_cpu_capacity_milli)
        | (loads.memory_used_mb > cluster.host_memory_mb)
    ) & _counted(cluster)[None, None]


def node_quantiles(loads: SampleLoads, q: float) -> tuple[np.ndarray, np.ndarray]:
    """``(S, H)`` nearest-rank ``q`` quantile over the samples of each node's CPU (milli-LP)
    and memory (MB)."""
    k = nearest_rank(loads.cpu_milli.shape[1], q)
    return (
        np.partition(loads.cpu_milli, k, axis=1)[:, k],
        np.partition(loads.memory_used_mb, k, axis=1)[:, k],
    )


__all__ = [
    "Engine",
    "SampleLoads",
    "Timeline",
    "node_quantiles",
    "over_capacity",
    "over_threshold",
    "percent",
    "sample_loads",
    "threshold_pct_per_sample",
]
