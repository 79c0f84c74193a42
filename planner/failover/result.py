"""What the restart simulation returns: :class:`RestartResult` (S scenarios at once) and
:class:`RestartInstance` (one scenario as plain data for the exact check)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from planner.failover.rules import PRIORITIES

if TYPE_CHECKING:
    from planner.failover.engine import RestartEngine
    from planner.failover.loads import EngineLoads


@dataclass(frozen=True)
class RestartInstance:
    """One scenario as plain data for an exact check (no solver types).

    Items are the units that must be placed (a VM, or SameNode members moving together).
    ``allowed`` already excludes failed and non-Up hosts and possible-owner violations;
    capacity left on host ``h`` is ``cpu_room[h]`` / ``mem_room[h]``.  ``groups`` lists the
    hard rule groups ``(kind, item indices, occupied)`` where ``occupied`` is a bool array
    over hosts (node kinds) or fault domains (domain kinds) holding surviving members.
    """

    failed: np.ndarray  # bool (H,)
    items: np.ndarray  # int (n,) unit index
    item_cpu: np.ndarray  # int64 (n,)
    item_mem: np.ndarray  # int64 (n,)
    allowed: np.ndarray  # bool (n, H)
    cpu_room: np.ndarray  # int64 (H,)
    mem_room: np.ndarray  # int64 (H,)
    host_domain: np.ndarray  # int (H,)
    n_domains: int
    groups: tuple[tuple[int, np.ndarray, np.ndarray], ...]
    hint: np.ndarray  # int (n,) greedy host per item, -1 when the greedy left it out
    item_priority_counts: np.ndarray  # int (n, 3) moving VMs per item: High, Medium, Low


@dataclass(frozen=True)
class RestartResult:
    """Outcome of the greedy simulation for S scenarios.

    Per scenario ``s``: the VMs that had to be placed (``movers[s]``), their targets
    (``targets[s]``, -1 when none was found), the loads after (VM CPU in milli-LP and VM
    memory in MB per host, failed hosts at zero), and whether a necessary condition already
    proves that no placement can take every VM (``bound_infeasible``).  ``loads`` and
    ``sample[s]`` say which per-sample loads scenario ``s`` was run on (one sample, the
    snapshot's own, unless :meth:`RestartEngine.run` was given others).
    """

    engine: RestartEngine
    failed: np.ndarray  # bool (S, H)
    movers: tuple[np.ndarray, ...]  # VM indices per scenario, in placement order
    targets: tuple[np.ndarray, ...]  # host per mover, -1 when not placed
    cpu_used: np.ndarray  # int64 (S, H) VM CPU after, milli-LP
    mem_used: np.ndarray  # int64 (S, H) VM memory after, MB
    noautostart_off: np.ndarray  # int (S,) running No Auto Start VMs left off
    bound_infeasible: np.ndarray  # bool (S,)
    # item-level data kept for exact checks
    _item_ptr: np.ndarray
    _item_unit: np.ndarray
    _item_cpu: np.ndarray
    _item_mem: np.ndarray
    _item_host: np.ndarray
    loads: EngineLoads
    sample: np.ndarray  # int (S,) row of ``loads`` per scenario

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios simulated."""
        return int(self.failed.shape[0])

    @property
    def complete(self) -> np.ndarray:
        """bool (S,): every mover was placed."""
        lost = self._item_host < 0
        owner = np.repeat(np.arange(self.n_scenarios), np.diff(self._item_ptr))
        return np.bincount(owner[lost], minlength=self.n_scenarios) == 0

    def not_placed(self, s: int) -> np.ndarray:
        """VM indices left without a host in scenario ``s``."""
        return self.movers[s][self.targets[s] < 0]

    def not_placed_by_priority(self) -> np.ndarray:
        """int (S, 3): VMs left out per scenario, for High, Medium and Low priority."""
        pr = self.engine.cluster.vm_priority
        out = np.zeros((self.n_scenarios, len(PRIORITIES)), dtype=np.int64)
        for s in range(self.n_scenarios):
            p = pr[self.not_placed(s)]
            for j, val in enumerate(PRIORITIES):
                out[s, j] = int((p == val).sum())
        return out

    def instance(self, s: int) -> RestartInstance:
        """The exact-check data for scenario ``s``."""
        return self.engine.instance(self, s)

    def with_exact(self, s: int, item_host: np.ndarray) -> RestartResult:
        """A copy where scenario ``s`` uses ``item_host`` (one host per item, e.g. from an
        exact solver) instead of the greedy's choice; loads are recomputed."""
        eng = self.engine
        lo, hi = int(self._item_ptr[s]), int(self._item_ptr[s + 1])
        ih = self._item_host.copy()
        ih[lo:hi] = item_host
        cpu = self.cpu_used.copy()
        mem = self.mem_used.copy()
        t = int(self.sample[s])
        cpu[s] = eng.base_cpu_used(self.failed[s], self.loads, t)
        mem[s] = eng.base_mem_used(self.failed[s], self.loads, t)
        ok = item_host >= 0
        np.add.at(cpu[s], item_host[ok], self._item_cpu[lo:hi][ok])
        np.add.at(mem[s], item_host[ok], self._item_mem[lo:hi][ok])
        targets = list(self.targets)
        unit_host = dict(zip(self._item_unit[lo:hi].tolist(), item_host.tolist(), strict=True))
        targets[s] = np.array(
            [unit_host[int(eng.unit_of[v])] for v in self.movers[s]], dtype=np.int64
        )
        return RestartResult(
            eng,
            self.failed,
            self.movers,
            tuple(targets),
            cpu,
            mem,
            self.noautostart_off,
            self.bound_infeasible,
            self._item_ptr,
            self._item_unit,
            self._item_cpu,
            self._item_mem,
            ih,
            self.loads,
            self.sample,
        )


__all__ = ["RestartInstance", "RestartResult"]
