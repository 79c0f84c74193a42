"""The mutable placement a native balancer works on: incremental per-node loads, SameNode
units, candidate targets, the rule and anti-affinity bookkeeping, and the migration time of a
pass (see :mod:`planner.native`).

Migration time
--------------
Each pass's moves are grouped into waves that respect every node's live-migration limit; a
wave lasts as long as its slowest move (:func:`planner.durations.move_seconds`, sharing a
node's link between its moves of the wave), and the pass's migrations take the sum of its
waves.  ``converge_seconds`` is the clock time of the last pass that moved something plus
that pass's migration time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from planner.cluster import Cluster, HostState, MoveKind, RuleType
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel, move_seconds
from planner.loadmodel import HIGH_MARGIN_PCT, Level, Threshold, resolve_threshold, threshold_limits
from planner.native.model import NativeMove, NodeFairnessOptions


def _rule_holds(rule_type: RuleType, hosts: np.ndarray, fd: np.ndarray) -> bool:
    if rule_type == RuleType.SAME_NODE:
        return bool((hosts == hosts[0]).all())
    if rule_type == RuleType.SAME_FAULT_DOMAIN:
        d = fd[hosts]
        return bool((d == d[0]).all())
    key = hosts if rule_type == RuleType.DIFFERENT_NODE else fd[hosts]
    return len(np.unique(key)) == len(key)


class PlacementState:
    """Mutable placement with incremental loads and rule bookkeeping."""

    def __init__(
        self, cluster: Cluster, respect_pinned: bool, placement: np.ndarray | None = None
    ) -> None:
        c = cluster
        self.c = c
        self.p = (c.vm_host if placement is None else placement).astype(np.int64).copy()
        # The loads in force (a replay changes them at every pass, see set_loads).
        self.w_cpu = c.vm_cpu_load_milli.astype(np.int64)
        self.w_mem = c.vm_mem_load_mb.astype(np.int64)
        self.w_assigned = c.vm_memory_mb.astype(np.int64)
        self.base_c = c.host_cpu_base_milli.astype(np.int64)
        self.vm_cpu = np.zeros(c.n_hosts, dtype=np.int64)
        self.vm_mem = np.zeros(c.n_hosts, dtype=np.int64)
        self._sums()
        self.up = c.host_state == HostState.UP
        # Live moves only, to Up possible owners.
        self.live_ok = (c.vm_move_kind == MoveKind.LIVE) & c.vm_possible & self.up[None, :]
        self.movable = c.vm_consumes.copy()
        if respect_pinned:
            self.movable &= ~c.vm_pinned
        self.rules = [r for r in c.enabled_rules if len(r.members) >= 2]
        self.rules_of: dict[int, list[int]] = {}
        for i, r in enumerate(self.rules):
            for v in r.members:
                self.rules_of.setdefault(int(v), []).append(i)
        self.aa_count = np.zeros((len(c.aa_class_names), c.n_hosts), dtype=np.int64)
        for cls, members in enumerate(c.aa_class_members):
            for v in members:
                self.aa_count[cls, self.p[v]] += 1
        # SameNode components (union of overlapping enabled SameNode rules).
        self.component = {v: list(m) for v, m in c.same_node_groups.items() if len(m) > 1}
        self.in_component = np.zeros(c.n_vms, dtype=bool)
        self.in_component[list(self.component)] = True
        # The same components as flat arrays (for the vectorised bound of _do_hopeful).
        groups = sorted({tuple(m) for m in self.component.values()})
        self.comp_members = np.array([v for g in groups for v in g], dtype=np.int64)
        self.comp_first = np.cumsum([0] + [len(g) for g in groups[:-1]]).astype(np.int64)
        self.comp_of = np.full(c.n_vms, -1, dtype=np.int64)
        for i, g in enumerate(groups):
            self.comp_of[list(g)] = i
        self.with_classes = [v for v in range(c.n_vms) if c.vm_aa_classes[v]]

    def _sums(self) -> None:
        n = self.c.n_hosts
        self.vm_cpu = np.bincount(self.p, weights=self.w_cpu, minlength=n).astype(np.int64)
        self.vm_mem = np.bincount(self.p, weights=self.w_mem, minlength=n).astype(np.int64)

    def set_loads(self, vm_cpu: np.ndarray, vm_mem: np.ndarray, host_base: np.ndarray) -> None:
        """Take new per-VM loads (CPU milli-LP and memory MB, 0 for VMs that do not
        consume) and per-host base CPU, e.g. the samples of a load history."""
        self.w_cpu = np.asarray(vm_cpu, dtype=np.int64)
        self.w_mem = np.asarray(vm_mem, dtype=np.int64)
        self.w_assigned = np.where(self.c.vm_consumes, self.w_mem, self.c.vm_memory_mb)
        self.base_c = np.asarray(host_base, dtype=np.int64)
        self._sums()

    def unit(self, v: int) -> list[int]:
        """VMs that move with ``v``: its SameNode partners when they share its node."""
        comp = self.component.get(v)
        if comp is None:
            return [v]
        if all(self.p[u] == self.p[v] for u in comp):
            return comp
        return [v]

    def unit_loads(self, units: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """CPU load and memory load of each unit (as :meth:`candidates` sums them)."""
        if all(len(u) == 1 for u in units):
            flat = np.array([u[0] for u in units], dtype=np.int64)
            return self.w_cpu[flat], self.w_mem[flat]
        sizes = np.array([len(u) for u in units], dtype=np.int64)
        flat = np.array([v for u in units for v in u], dtype=np.int64)
        owner = np.repeat(np.arange(len(units)), sizes)
        n = len(units)
        return (
            np.bincount(owner, weights=self.w_cpu[flat], minlength=n).astype(np.int64),
            np.bincount(owner, weights=self.w_mem[flat], minlength=n).astype(np.int64),
        )

    def units_on(
        self,
        s: int,
        moved: set[int],
        keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> list[list[int]]:
        """The units on host ``s`` that may move and have not moved in this pass, in order
        of their first VM; with ``keep`` only those whose (CPU load, memory load) it accepts
        (``keep`` maps two ``(U,)`` arrays to a bool mask; the single VMs are filtered
        before any list is built)."""
        on = (self.p == s) & self.movable
        if moved:
            on[np.fromiter(moved, dtype=np.int64, count=len(moved))] = False
        units: list[list[int]] = []
        seen: set[int] = set()
        for v in np.flatnonzero(on & self.in_component).tolist():
            if v not in seen:
                unit = self.unit(v)
                seen.update(unit)
                units.append(unit)
        if units and keep is not None:
            d_cpu, d_mem = self.unit_loads(units)
            units = [u for u, k in zip(units, keep(d_cpu, d_mem).tolist(), strict=True) if k]
        singles = np.flatnonzero(on & ~self.in_component if units else on)
        if keep is not None and singles.size:
            singles = singles[keep(self.w_cpu[singles], self.w_mem[singles])]
        if not units:
            return [[v] for v in singles.tolist()]
        units += [[v] for v in singles.tolist()]
        units.sort(key=lambda u: u[0])
        return units

    def candidates(
        self, units: list[list[int]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For each unit: CPU load, memory load, assigned memory, and the hosts every VM
        of it may reach live and that have room (bool ``(U, H)``), in one vectorised pass."""
        c = self.c
        n = len(units)
        if n == 0:
            z = np.zeros(0, dtype=np.int64)
            return z, z, z, np.zeros((0, c.n_hosts), dtype=bool)
        sizes = np.fromiter((len(u) for u in units), dtype=np.int64, count=n)
        flat = np.fromiter((v for u in units for v in u), dtype=np.int64, count=int(sizes.sum()))
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        owner = np.repeat(np.arange(n), sizes)
        d_cpu = np.bincount(owner, weights=self.w_cpu[flat], minlength=n).astype(np.int64)
        d_mem = np.bincount(owner, weights=self.w_mem[flat], minlength=n).astype(np.int64)
        d_as = np.bincount(owner, weights=self.w_assigned[flat], minlength=n).astype(np.int64)
        if (sizes == 1).all():
            ok = self.live_ok[flat] & self.movable[flat][:, None]
        else:
            ok = np.logical_and.reduceat(self.live_ok[flat], starts, axis=0)
            ok &= np.logical_and.reduceat(self.movable[flat], starts)[:, None]
        ok[np.arange(n), self.p[flat[starts]]] = False
        ok &= (
            self.vm_cpu[None, :] + d_cpu[:, None]
            <= (c.host_cpu_capacity_milli - self.base_c)[None, :]
        )
        ok &= self.vm_mem[None, :] + d_mem[:, None] <= c.host_memory_free_mb[None, :]
        if len(self.with_classes) < n:
            row_of = {v: i for i, u in enumerate(units) for v in u}
            rows = [(row_of[v], v) for v in self.with_classes if v in row_of]
        else:
            rows = [(i, v) for i, u in enumerate(units) for v in u if c.vm_aa_classes[v]]
        for i, v in rows:
            for cls in c.vm_aa_classes[v]:
                ok[i] &= self.aa_count[cls] == 0
        return d_cpu, d_mem, d_as, ok

    def rules_allow(self, unit: list[int], target: int) -> bool:
        """No enabled rule that holds now is broken by moving ``unit`` to ``target``."""
        idx = {i for v in unit for i in self.rules_of.get(v, ())}
        if not idx:
            return True
        fd = self.c.host_fault_domain
        moving = set(unit)
        for i in sorted(idx):
            r = self.rules[i]
            m = np.asarray(r.members, dtype=np.int64)
            before = self.p[m]
            after = np.array([target if int(v) in moving else self.p[v] for v in m])
            if _rule_holds(r.rule_type, before, fd) and not _rule_holds(r.rule_type, after, fd):
                return False
        return True

    def move(self, unit: list[int], target: int) -> int:
        """Apply the move; return the source."""
        c = self.c
        src = int(self.p[unit[0]])
        for v in unit:
            self.vm_cpu[src] -= self.w_cpu[v]
            self.vm_mem[src] -= self.w_mem[v]
            self.vm_cpu[target] += self.w_cpu[v]
            self.vm_mem[target] += self.w_mem[v]
            for cls in c.vm_aa_classes[v]:
                self.aa_count[cls, src] -= 1
                self.aa_count[cls, target] += 1
            self.p[v] = target
        return src

    def pct(self) -> tuple[np.ndarray, np.ndarray]:
        """CPU % and memory % per host now."""
        c = self.c
        cpu = 100.0 * (self.vm_cpu + self.base_c) / c.host_cpu_capacity_milli
        mem = 100.0 * (self.vm_mem + c.host_memory_reserve_mb) / c.host_memory_mb
        return cpu, mem

    def threshold(self, opts: NodeFairnessOptions) -> tuple[Threshold, np.ndarray, np.ndarray]:
        """The Node Fairness threshold now (High average: from the loads in force) and the
        largest VM CPU / memory load per host that keeps a node at or under it."""
        c = self.c
        thr = resolve_threshold(c, opts.level, opts.threshold_pct, opts.high_mode, placement=self.p)
        if thr.level == Level.HIGH.value and thr.rule.startswith("High (average"):
            cpu, mem = self.pct()
            up = self.up if self.up.any() else np.ones(c.n_hosts, dtype=bool)
            tc = float(cpu[up].mean()) + HIGH_MARGIN_PCT
            tm = float(mem[up].mean()) + HIGH_MARGIN_PCT
            thr = Threshold(
                tc,
                tm,
                thr.level,
                f"High (average reading): Up hosts' average + "
                f"{HIGH_MARGIN_PCT:g} points (CPU {tc:.2f} %, memory {tm:.2f} %)",
            )
        lim_c, lim_m = threshold_limits(c, thr)
        # threshold_limits subtracts the snapshot's base load; use the one in force.
        lim_c = lim_c + c.host_cpu_base_milli - self.base_c
        return thr, lim_c, lim_m


def pass_migration_seconds(
    cluster: Cluster, moves: Sequence[NativeMove], model: DurationModel = DEFAULT_DURATION_MODEL
) -> float:
    """Migration time of one pass: its moves, in order, grouped greedily into waves that
    respect every node's live-migration limit; each wave lasts as long as its slowest move
    (a node's link shared by its moves of the wave)."""
    limit = cluster.host_migration_limit
    pending = list(moves)
    total = 0.0
    while pending:
        busy: dict[int, int] = {}
        wave: list[NativeMove] = []
        rest: list[NativeMove] = []
        for m in pending:
            if busy.get(m.source, 0) < limit[m.source] and busy.get(m.target, 0) < limit[m.target]:
                busy[m.source] = busy.get(m.source, 0) + 1
                busy[m.target] = busy.get(m.target, 0) + 1
                wave.append(m)
            else:
                rest.append(m)
        total += max(
            move_seconds(
                cluster, m.vm, m.kind, share=max(busy[m.source], busy[m.target]), model=model
            )
            for m in wave
        )
        pending = rest
    return total


def record_move(
    cluster: Cluster,
    st: PlacementState,
    unit: list[int],
    target: int,
    number: int,
    clock: float,
    reason: str,
    out: list[NativeMove],
) -> None:
    """Move ``unit`` to ``target`` in ``st`` and append one live :class:`NativeMove` per VM
    (its memory in force) to ``out``."""
    src = st.move(unit, target)
    for v in unit:
        out.append(
            NativeMove(
                number,
                clock,
                int(v),
                src,
                int(target),
                MoveKind.LIVE,
                int(st.w_assigned[v]),
                reason,
            )
        )
