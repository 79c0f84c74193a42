"""Load over time: the :class:`LoadHistory` of a snapshot and its statistics.

A history is a regular grid of ``T`` samples (``timestamps[0] + k * step_seconds``) holding,
per sample, the load each VM puts on its node and each node's own CPU use, in the integer
units of :mod:`planner.cluster` (CPU in milli logical processors, memory in MB).  The arrays
are ``int32``: a month of 5-minute samples for 8,000 VMs is 69 million values per resource,
276 MB each.

Loads follow the snapshot's states: a VM that is not Running or Paused in ``vms.csv`` puts
no load on a node at any sample (its columns are zero), exactly as
:attr:`planner.cluster.Cluster.vm_cpu_load_milli` says for one moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np

from planner.cluster import Cluster


class LoadStatistic(StrEnum):
    """Which load a plan is judged on (``--load``)."""

    LATEST = "latest"
    MEAN = "mean"
    P95 = "p95"
    P99 = "p99"
    MAX = "max"


#: Quantile of each statistic judged per node (nearest rank); ``None``: not a quantile.
QUANTILE = {LoadStatistic.P95: 0.95, LoadStatistic.P99: 0.99, LoadStatistic.MAX: 1.0}


def parse_statistic(text: str | LoadStatistic) -> LoadStatistic:
    """A :class:`LoadStatistic` from its name in any case; ``ValueError`` otherwise."""
    if isinstance(text, LoadStatistic):
        return text
    try:
        return LoadStatistic(str(text).strip().lower())
    except ValueError:
        names = ", ".join(s.value for s in LoadStatistic)
        raise ValueError(f"load statistic must be one of {names}, not {text!r}") from None


def nearest_rank(n_samples: int, q: float) -> int:
    """0-based index, in ascending order, of the nearest-rank ``q`` quantile of ``n`` values:
    the ``ceil(q * n)``-th smallest (``q = 1`` is the maximum)."""
    if n_samples < 1:
        raise ValueError("no samples")
    return min(max(math.ceil(q * n_samples - 1e-9), 1), n_samples) - 1


def iso_utc(t: int) -> str:
    """Unix seconds as ISO 8601 UTC with a ``Z``."""
    return datetime.fromtimestamp(int(t), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class LoadHistory:
    """Per-sample loads of every VM and node of one cluster (arrays read-only).

    Attributes
    ----------
    timestamps:
        ``(T,)`` int64 Unix seconds, ascending, ``step_seconds`` apart.
    step_seconds:
        The grid step.
    vm_cpu_milli:
        ``(T, V)`` int32 CPU load of each VM, milli-LP (``vcpus * cpu_usage_pct * 10``; 0 for
        VMs that do not consume).
    vm_mem_mb:
        ``(T, V)`` int32 memory load of each VM, MB (0 for VMs that do not consume).
    host_cpu_base_milli:
        ``(T, H)`` int32 non-VM CPU use of each node, milli-LP.
    vm_has_history, host_has_history:
        ``(V,)`` / ``(H,)`` bool: entities that had rows in the history files (the others
        carry their ``vms.csv`` / ``hosts.csv`` values at every sample).
    files:
        The files read (names only).
    """

    timestamps: np.ndarray
    step_seconds: int
    vm_cpu_milli: np.ndarray
    vm_mem_mb: np.ndarray
    host_cpu_base_milli: np.ndarray
    vm_has_history: np.ndarray
    host_has_history: np.ndarray
    files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "timestamps",
            "vm_cpu_milli",
            "vm_mem_mb",
            "host_cpu_base_milli",
            "vm_has_history",
            "host_has_history",
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        t = self.timestamps.shape[0]
        if self.vm_cpu_milli.shape != self.vm_mem_mb.shape or self.vm_cpu_milli.shape[0] != t:
            raise ValueError("vm_cpu_milli and vm_mem_mb must both be (T, V)")
        if self.host_cpu_base_milli.shape[0] != t:
            raise ValueError("host_cpu_base_milli must be (T, H)")
        if t < 1 or self.step_seconds < 1:
            raise ValueError("a history needs at least one sample and a positive step")

    @property
    def n_samples(self) -> int:
        """Number of samples ``T``."""
        return int(self.timestamps.shape[0])

    @property
    def n_vms(self) -> int:
        """Number of VMs ``V``."""
        return int(self.vm_cpu_milli.shape[1])

    @property
    def n_hosts(self) -> int:
        """Number of hosts ``H``."""
        return int(self.host_cpu_base_milli.shape[1])

    def window(self) -> dict[str, Any]:
        """``{"start", "end", "samples", "step_seconds"}`` as in SPEC §6 (ISO 8601 UTC)."""
        return {
            "start": iso_utc(int(self.timestamps[0])),
            "end": iso_utc(int(self.timestamps[-1])),
            "samples": self.n_samples,
            "step_seconds": int(self.step_seconds),
        }

    def slice(self, start: int, stop: int) -> LoadHistory:
        """The samples ``start .. stop-1`` as a history of their own."""
        if not 0 <= start < stop <= self.n_samples:
            raise ValueError(f"bad sample range {start}..{stop}")
        return LoadHistory(
            self.timestamps[start:stop],
            self.step_seconds,
            self.vm_cpu_milli[start:stop],
            self.vm_mem_mb[start:stop],
            self.host_cpu_base_milli[start:stop],
            self.vm_has_history,
            self.host_has_history,
            self.files,
        )

    def vm_loads(self, statistic: LoadStatistic | str) -> tuple[np.ndarray, np.ndarray]:
        """Per-VM ``(cpu milli, memory MB)`` int64 vectors for a statistic taken per VM.

        ``latest`` is the last sample, ``mean`` the rounded mean (the node means of any
        placement are then the sums of these, up to rounding), ``p95``/``p99``/``max`` the
        per-VM nearest-rank quantile -- an upper bound of what a node sees, used only as a
        starting point: robust plans judge quantiles per node (:mod:`planner.history.robust`).
        """
        stat = parse_statistic(statistic)
        if stat == LoadStatistic.LATEST:
            return (self.vm_cpu_milli[-1].astype(np.int64), self.vm_mem_mb[-1].astype(np.int64))
        if stat == LoadStatistic.MEAN:
            return (
                np.rint(self.vm_cpu_milli.mean(axis=0, dtype=np.float64)).astype(np.int64),
                np.rint(self.vm_mem_mb.mean(axis=0, dtype=np.float64)).astype(np.int64),
            )
        k = nearest_rank(self.n_samples, QUANTILE[stat])
        return (
            np.partition(self.vm_cpu_milli, k, axis=0)[k].astype(np.int64),
            np.partition(self.vm_mem_mb, k, axis=0)[k].astype(np.int64),
        )

    def host_base(self, statistic: LoadStatistic | str) -> np.ndarray:
        """Per-host base CPU (milli-LP, int64) for a statistic taken per host."""
        stat = parse_statistic(statistic)
        b = self.host_cpu_base_milli
        if stat == LoadStatistic.LATEST:
            return b[-1].astype(np.int64)
        if stat == LoadStatistic.MEAN:
            return np.rint(b.mean(axis=0, dtype=np.float64)).astype(np.int64)
        k = nearest_rank(self.n_samples, QUANTILE[stat])
        return np.partition(b, k, axis=0)[k].astype(np.int64)


def cluster_at(
    cluster: Cluster, history: LoadHistory, sample: int, placement: np.ndarray | None = None
) -> Cluster:
    """The cluster with the loads of one sample (and optionally another current placement).

    Memory is the sample's assigned memory for consuming VMs; non-consuming VMs keep their
    ``vms.csv`` memory (it is not load).
    """
    mem = np.where(cluster.vm_consumes, history.vm_mem_mb[sample], cluster.vm_memory_mb)
    cpu = np.where(cluster.vm_consumes, history.vm_cpu_milli[sample], cluster.vm_cpu_milli)
    changes: dict[str, object] = {
        "vm_cpu_milli": cpu.astype(np.int64),
        "vm_memory_mb": mem.astype(np.int64),
        "host_cpu_base_milli": history.host_cpu_base_milli[sample].astype(np.int64),
    }
    if placement is not None:
        changes["vm_host"] = np.asarray(placement, dtype=np.int32)
    return cluster.replace(**changes)


def constant_history(cluster: Cluster, timestamps: np.ndarray, step_seconds: int) -> LoadHistory:
    """A history in which every sample carries the snapshot's own values."""
    t = len(timestamps)
    return LoadHistory(
        np.asarray(timestamps, dtype=np.int64),
        int(step_seconds),
        np.broadcast_to(cluster.vm_cpu_load_milli.astype(np.int32), (t, cluster.n_vms)),
        np.broadcast_to(cluster.vm_mem_load_mb.astype(np.int32), (t, cluster.n_vms)),
        np.broadcast_to(cluster.host_cpu_base_milli.astype(np.int32), (t, cluster.n_hosts)),
        np.zeros(cluster.n_vms, dtype=bool),
        np.zeros(cluster.n_hosts, dtype=bool),
    )


__all__ = [
    "QUANTILE",
    "LoadHistory",
    "LoadStatistic",
    "cluster_at",
    "constant_history",
    "iso_utc",
    "nearest_rank",
    "parse_statistic",
]
