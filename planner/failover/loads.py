"""The loads the restart simulation works on, per sample: :class:`EngineLoads`.

A snapshot is one sample (its own ``vms.csv`` / ``hosts.csv`` values); a load history gives
many, and :meth:`planner.failover.RestartEngine.run` simulates every (scenario, sample) row
in one vectorized pass.  What depends on the loads is here -- each VM's CPU and the memory
it needs where it restarts, each host's VM load on the current placement and its limits,
and the placement order of the units (priority, then larger first at *that sample's*
loads, then the index); what does not (rules, possible owners, priorities, states) stays
in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class EngineLoads:
    """Loads of ``T`` samples in the engine's units (milli-LP, MB).

    Attributes
    ----------
    cpu:
        ``(T, V)`` CPU load of each VM (0 for VMs that do not consume).
    need_mem:
        ``(T, V)`` memory a VM needs on the host it goes to: its boot memory after a failure
        (``max(memory, startup memory)``), the memory it holds in a drain.
    load_cpu, load_mem:
        ``(T, H)`` VM CPU and memory per host on the current placement.
    cpu_limit, mem_limit:
        ``(T, H)`` the VM load a receiving host may end with.
    unit_rank:
        ``(T, U)`` position of each unit in the placement order; ``rank_unit`` its inverse.
    """

    cpu: np.ndarray
    need_mem: np.ndarray
    load_cpu: np.ndarray
    load_mem: np.ndarray
    cpu_limit: np.ndarray
    mem_limit: np.ndarray
    unit_rank: np.ndarray
    rank_unit: np.ndarray

    @property
    def n_samples(self) -> int:
        """Number of samples ``T``."""
        return int(self.cpu.shape[0])


def host_sums(values: np.ndarray, vm_host: np.ndarray, n_hosts: int) -> np.ndarray:
    """``(T, H)`` int64: per sample, the sum of ``values`` (``(T, V)``) over each host's VMs."""
    v = np.atleast_2d(values)
    out = np.zeros((v.shape[0], n_hosts), dtype=np.int64)
    order = np.argsort(vm_host, kind="stable")
    hosts, starts = np.unique(vm_host[order], return_index=True)
    if len(order):
        out[:, hosts] = np.add.reduceat(v[:, order].astype(np.int64), starts, axis=1)
    return out


def unit_order(
    unit_of: np.ndarray,
    n_units: int,
    cpu: np.ndarray,
    mem: np.ndarray,
    priority: np.ndarray,
    cpu_scale: float,
    mem_scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(rank, rank_unit)``, each ``(T, U)``: units ordered by ``priority`` (highest first),
    then larger first on the dominant resource (the unit's summed ``cpu`` / ``cpu_scale`` or
    ``mem`` / ``mem_scale``), then the unit index."""
    order = np.argsort(unit_of, kind="stable")
    starts = np.flatnonzero(np.concatenate([[True], np.diff(unit_of[order]) != 0]))
    t = cpu.shape[0]
    if len(order):
        u_cpu = np.add.reduceat(cpu[:, order].astype(np.int64), starts, axis=1)
        u_mem = np.add.reduceat(mem[:, order].astype(np.int64), starts, axis=1)
    else:
        u_cpu = u_mem = np.zeros((t, 0), dtype=np.int64)
    size = np.maximum(u_cpu / cpu_scale, u_mem / mem_scale)
    idx = np.broadcast_to(np.arange(n_units), (t, n_units))
    prio = np.broadcast_to(-priority.astype(np.float64), (t, n_units))
    rank_unit = np.lexsort((idx, -size, prio), axis=-1).astype(np.int64)
    rank = np.empty_like(rank_unit)
    np.put_along_axis(rank, rank_unit, np.broadcast_to(np.arange(n_units), (t, n_units)), axis=1)
    return rank, rank_unit


__all__ = ["EngineLoads", "host_sums", "unit_order"]
