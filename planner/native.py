"""Deterministic simulations of the native balancers: Hyper-V VM Load Balancer ("Node
Fairness") and SCVMM Dynamic Optimization.

Both simulations start from the snapshot's current placement, run *passes* on a simulated
clock until a pass moves nothing (stable) or a pass limit is reached, and record every move
(pass number, clock time, VM, source, target, migration type, memory) and every pass.  The
same input and options always give the same moves: every choice breaks ties by index.

What both honour (as the real balancers do)
-------------------------------------------
* Only Running and Paused VMs move (Off and Saved VMs put no load on a node), and only by
  **live migration**: a target must be of the same CPU vendor and offer the VM's presented
  feature set (``cluster.vm_move_kind == MoveKind.LIVE``).  A balancer never shuts a VM down.
* **Possible owners**; only **Up** nodes are sources or targets (a Paused node is in
  maintenance; a Down one is gone).
* **Capacity**: a target never goes above 100 % CPU or above its memory minus the reserve.
* **Affinity rules** (enabled ones, as hard): a move that would break a SameNode,
  DifferentNode, SameFaultDomain or DifferentFaultDomain rule that holds now is not made.
  Members of an enabled SameNode rule that share a node move together (Hyper-V brings the
  other members along), as one unit.
* **Legacy anti-affinity** (``AntiAffinityClassNames``): a VM is never moved onto a node that
  already runs a VM of one of its classes.
* **Pinned** VMs (an hvplan notion the real balancers do not know) are not moved, by default
  (``respect_pinned=True``), so that every strategy of ``hvplan compare`` plays by the same
  rules.

Hyper-V VM Load Balancer (Node Fairness)
----------------------------------------
Published (Microsoft Learn, Windows Server 2016+; see ``DOMAIN.md``): ``AutoBalancerMode`` 1
balances when a node joins, 2 (default) also every 30 minutes (fixed interval);
``AutoBalancerLevel`` Low moves VMs off nodes above 80 % load, Medium above 70 %, High is
published two ways -- "5 % above the cluster average" or 60 % -- both offered through
:class:`planner.loadmodel.HighMode`.  Load is CPU and memory; either above the threshold makes
a node a source.  Nodes over the threshold are ranked by pressure (highest first) and VMs are
live-migrated from them to nodes under the threshold (or to the node that just joined).

Our assumptions (not published):

* *Pressure* of a node is ``max(cpu % - cpu threshold, memory % - memory threshold)``.
* The High (average) threshold is recomputed at the start of every pass from the Up nodes'
  loads at that time.
* A target must be under the threshold at the start of the pass *and stay at or under it
  after the move* in both resources (so a move never creates a new source: no ping-pong).
  Among valid targets the one with the lowest pressure after the move wins.
* Which VMs move is a named **variant** (:class:`VmChoice`): ``largest-memory`` (largest
  assigned memory first), ``smallest-memory``, ``highest-cpu`` (largest CPU demand first), or
  ``lowest-cost`` (re-chosen after every move: the VM with the least memory whose move alone
  brings the node under the threshold; if none does, the VM with the least memory moved per
  point of excess relieved).  A VM is only chosen when it carries load of a resource that is
  over the threshold.  Moves continue from a node until it is under the threshold, no VM can
  move, or ``max_moves_per_node`` (default unlimited) is reached in the pass.
* Mode 1 runs one pass at the join (targets: the joined node only); mode 2 runs a pass at
  time 0 and then every 30 minutes.  A mode of 0 (off) simulates nothing.
* A SameNode unit moves only when every member can move live (an Off member keeps the
  unit in place).

SCVMM Dynamic Optimization
--------------------------
Published (VMM documentation): runs every 10 minutes by default (10-1440), aggressiveness
1-5 (default 3; higher means more migrations for smaller gains), looks at CPU and memory
against the host reserves and the Dynamic Optimization thresholds, moves only highly
available VMs (every VM of a failover cluster is), skips hosts in maintenance.  VMM's exact
rating formula is not published.

Our reading (every number is a field of :class:`DynamicOptimizationOptions`):

* A node is a *source* when its free CPU is below ``cpu_free_pct`` (default 30 % of its
  capacity, i.e. above 70 % load) or its free memory (memory minus the reserve minus VM
  memory) is below ``memory_free_mb`` (default 512 MB) -- VMM's default DO thresholds.
* A *target* must keep, after the move, the host reserves (``cpu_reserve_pct``, default
  10 %, of CPU free; the memory reserve is the snapshot's ``memory_reserve_mb``) and must not
  become a source itself.
* The load of a node is ``max(cpu %, memory %)``.  For each source (highest load first) the
  simulation takes the (VM, target) pair that lowers the higher of the two nodes' loads the
  most -- the *gain*, in percentage points -- and makes it only if the gain is at least the
  aggressiveness' minimum: 1 → 20, 2 → 10, 3 → 5, 4 → 2, 5 → 0.5 points
  (:data:`DO_MIN_GAIN_PCT`).  It repeats while the node is a source.

Migration time
--------------
Each pass's moves are grouped into waves that respect every node's live-migration limit; a
wave lasts as long as its slowest move (:func:`planner.durations.move_seconds`, sharing a
node's link between its moves of the wave), and the pass's migrations take the sum of its
waves.  ``converge_seconds`` is the clock time of the last pass that moved something plus
that pass's migration time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from planner.cluster import Cluster, HostState, MoveKind, RuleType
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel, move_seconds
from planner.loadmodel import (
    HIGH_MARGIN_PCT,
    HighMode,
    Level,
    Threshold,
    resolve_threshold,
    threshold_limits,
)

#: Node Fairness periodic interval (fixed by Windows).
NODE_FAIRNESS_INTERVAL_S = 1800
#: Minimum improvement (percentage points of the busier node's load) per aggressiveness.
DO_MIN_GAIN_PCT = {1: 20.0, 2: 10.0, 3: 5.0, 4: 2.0, 5: 0.5}


class VmChoice(StrEnum):
    """Which VM Node Fairness moves first from a node over the threshold (not published)."""

    LARGEST_MEMORY = "largest-memory"
    SMALLEST_MEMORY = "smallest-memory"
    HIGHEST_CPU = "highest-cpu"
    LOWEST_COST = "lowest-cost"


@dataclass(frozen=True)
class NodeFairnessOptions:
    """Settings of :func:`simulate_node_fairness` (see the module docstring).

    ``level``/``threshold_pct``/``high_mode`` as in :func:`planner.loadmodel.resolve_threshold`
    (default: the cluster's ``auto_balancer_level``); ``mode`` 0, 1 or 2 (default 2, whatever
    the cluster's setting, so that the simulation shows what the balancer would do);
    ``joined_host`` is the node that joins (required for mode 1; in mode 2 it makes the first
    pass a join pass).
    """

    vm_choice: VmChoice | str = VmChoice.LARGEST_MEMORY
    level: Level | str | None = None
    threshold_pct: float | None = None
    high_mode: HighMode | str = HighMode.AVERAGE
    mode: int = 2
    joined_host: int | None = None
    max_moves_per_node: int | None = None
    max_passes: int = 48
    respect_pinned: bool = True

    def name(self) -> str:
        """Row name for reports, e.g. ``node-fairness/largest-memory``."""
        suffix = "" if self.max_moves_per_node is None else f"/{self.max_moves_per_node}-per-pass"
        return f"node-fairness/{VmChoice(self.vm_choice).value}{suffix}"


@dataclass(frozen=True)
class DynamicOptimizationOptions:
    """Settings of :func:`simulate_dynamic_optimization` (see the module docstring)."""

    aggressiveness: int = 3
    interval_minutes: int = 10
    cpu_free_pct: float = 30.0
    memory_free_mb: int = 512
    cpu_reserve_pct: float = 10.0
    max_passes: int = 144
    max_moves_per_pass: int | None = None
    respect_pinned: bool = True

    def name(self) -> str:
        """Row name for reports, e.g. ``dynamic-optimization/3``."""
        return f"dynamic-optimization/{self.aggressiveness}"


@dataclass(frozen=True)
class NativeMove:
    """One simulated migration."""

    pass_number: int
    time_s: float
    vm: int
    source: int
    target: int
    kind: MoveKind
    memory_mb: int
    reason: str

    def to_dict(self, cluster: Cluster) -> dict[str, Any]:
        """JSON/CSV form with names."""
        return {
            "pass": self.pass_number,
            "time_s": self.time_s,
            "vm": cluster.vm_names[self.vm],
            "source": cluster.host_names[self.source],
            "target": cluster.host_names[self.target],
            "migration_type": self.kind.name.title(),
            "memory_mb": self.memory_mb,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PassRecord:
    """One balancer pass: when it ran, what it saw and what it did."""

    number: int
    time_s: float
    sources: int  # nodes over the threshold (or breaching DO thresholds) at the start
    moves: int
    migration_seconds: float
    threshold_cpu_pct: float | None = None
    threshold_memory_pct: float | None = None


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of a native balancer simulation."""

    name: str
    description: str
    placement: np.ndarray
    moves: tuple[NativeMove, ...]
    passes: tuple[PassRecord, ...]
    converged: bool  # the last pass moved nothing
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def memory_moved_mb(self) -> int:
        """Memory of every moved VM, summed (a VM moved twice counts twice)."""
        return int(sum(m.memory_mb for m in self.moves))

    @property
    def passes_with_moves(self) -> int:
        """Passes that moved at least one VM."""
        return sum(1 for p in self.passes if p.moves)

    @property
    def migration_seconds(self) -> float:
        """Estimated time spent migrating, over all passes."""
        return float(sum(p.migration_seconds for p in self.passes))

    @property
    def converge_seconds(self) -> float:
        """Clock time when the last pass that moved something finished its migrations."""
        moving = [p for p in self.passes if p.moves]
        if not moving:
            return 0.0
        return float(moving[-1].time_s + moving[-1].migration_seconds)


# ----------------------------------------------------------------------------- shared state
def _rule_holds(rule_type: RuleType, hosts: np.ndarray, fd: np.ndarray) -> bool:
    if rule_type == RuleType.SAME_NODE:
        return bool((hosts == hosts[0]).all())
    if rule_type == RuleType.SAME_FAULT_DOMAIN:
        d = fd[hosts]
        return bool((d == d[0]).all())
    key = hosts if rule_type == RuleType.DIFFERENT_NODE else fd[hosts]
    return len(np.unique(key)) == len(key)


class _State:
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

    def unit_load(self, unit: list[int]) -> tuple[int, int, int]:
        """CPU load, memory load and assigned memory of a unit."""
        return (
            int(self.w_cpu[unit].sum()),
            int(self.w_mem[unit].sum()),
            int(self.w_assigned[unit].sum()),
        )

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

    def base_targets(self, unit: list[int]) -> np.ndarray:
        """Hosts every VM of the unit may reach live and that have room (bool mask)."""
        return self.candidates([unit])[3][0]

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


def _record(
    cluster: Cluster,
    st: _State,
    unit: list[int],
    target: int,
    number: int,
    clock: float,
    reason: str,
    out: list[NativeMove],
) -> None:
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


# ----------------------------------------------------------------------------- Node Fairness
def _nf_order(st: _State, vms: np.ndarray, choice: VmChoice) -> list[int]:
    mem = st.w_assigned[vms]
    cpu = st.w_cpu[vms]
    if choice == VmChoice.LARGEST_MEMORY:
        keys: tuple[np.ndarray, ...] = (vms, -cpu, -mem)
    elif choice == VmChoice.SMALLEST_MEMORY:
        keys = (vms, -cpu, mem)
    else:  # HIGHEST_CPU (LOWEST_COST re-chooses after every move)
        keys = (vms, mem, -cpu)
    return [int(v) for v in vms[np.lexsort(keys)]]


def _nf_pass(
    cluster: Cluster,
    st: _State,
    opts: NodeFairnessOptions,
    number: int,
    clock: float,
    only_target: int | None,
) -> tuple[list[NativeMove], int, Threshold]:
    """One Node Fairness pass; returns its moves, the number of sources and the threshold."""
    thr, lim_c, lim_m = st.threshold(opts)
    cpu_pct, mem_pct = st.pct()
    over = ((st.vm_cpu > lim_c) | (st.vm_mem > lim_m)) & st.up
    pressure = np.maximum(cpu_pct - thr.cpu_pct, mem_pct - thr.memory_pct)
    sources = sorted(np.flatnonzero(over).tolist(), key=lambda h: (-pressure[h], h))
    # Targets must be under the threshold when the pass starts.
    eligible = st.up & ~over
    if only_target is not None:
        only = np.zeros_like(eligible)
        only[only_target] = eligible[only_target]
        eligible = only
    choice = VmChoice(opts.vm_choice)
    cap_c = cluster.host_cpu_capacity_milli
    cap_m = cluster.host_memory_mb
    moves: list[NativeMove] = []
    moved: set[int] = set()
    for s in sources:
        on_s = np.flatnonzero((st.p == s) & st.movable)
        order = _nf_order(st, on_s, choice)
        n_here = 0
        while order:
            oc, om = st.vm_cpu[s] - lim_c[s], st.vm_mem[s] - lim_m[s]
            if oc <= 0 and om <= 0:
                break
            if opts.max_moves_per_node is not None and n_here >= opts.max_moves_per_node:
                break
            picked = _nf_pick(
                cluster, st, order, moved, oc, om, eligible, lim_c, lim_m, thr, cap_c, cap_m, choice
            )
            if picked is None:
                break
            unit, target, rest = picked
            order = rest
            reason = f"Node Fairness ({choice.value}): {cluster.host_names[s]} above {thr.rule}"
            _record(cluster, st, unit, target, number, clock, reason, moves)
            moved.update(unit)
            n_here += 1
    return moves, len(sources), thr


def _first_target(st: _State, unit: list[int], ok: np.ndarray, score: np.ndarray) -> int | None:
    """The allowed host of lowest ``score`` (ties: index) that no rule forbids."""
    cand = np.flatnonzero(ok)
    for i in np.lexsort((cand, score[cand])):
        if st.rules_allow(unit, int(cand[i])):
            return int(cand[i])
    return None


def _nf_pick(
    cluster: Cluster,
    st: _State,
    order: list[int],
    moved: set[int],
    oc: int,
    om: int,
    eligible: np.ndarray,
    lim_c: np.ndarray,
    lim_m: np.ndarray,
    thr: Threshold,
    cap_c: np.ndarray,
    cap_m: np.ndarray,
    choice: VmChoice,
) -> tuple[list[int], int, list[int]] | None:
    """The next (unit, target) from ``order`` and the candidates left after it, or None.

    Every choice but ``lowest-cost`` takes the first unit of ``order`` that has a target, so
    the units are examined in growing slices of ``order`` (same result, less work)."""
    pos = [i for i, v in enumerate(order) if v not in moved]
    step = len(pos) if choice == VmChoice.LOWEST_COST else 8
    start = 0
    while start < len(pos):
        part = pos[start : start + step]
        units = [st.unit(order[i]) for i in part]
        d_cpu, d_mem, d_as, ok = st.candidates(units)
        # Only a VM carrying load of an over-threshold resource relieves the node.
        relieves = ((oc > 0) & (d_cpu > 0)) | ((om > 0) & (d_mem > 0))
        ok &= eligible[None, :] & relieves[:, None]
        ok &= (st.vm_cpu[None, :] + d_cpu[:, None] <= lim_c[None, :]) & (
            st.vm_mem[None, :] + d_mem[:, None] <= lim_m[None, :]
        )
        rows = np.flatnonzero(ok.any(axis=1))
        if rows.size:
            after = np.maximum(
                100.0 * (st.vm_cpu[None, :] + d_cpu[:, None] + st.base_c[None, :]) / cap_c[None, :]
                - thr.cpu_pct,
                100.0
                * (st.vm_mem[None, :] + d_mem[:, None] + cluster.host_memory_reserve_mb[None, :])
                / cap_m[None, :]
                - thr.memory_pct,
            )
        if choice == VmChoice.LOWEST_COST and rows.size:
            # Prefer a VM that fixes the node alone (least memory), else the least memory per
            # fraction of excess relieved.
            fixes = (d_cpu[rows] >= oc) & (d_mem[rows] >= om)
            relief = np.zeros(rows.size)
            if oc > 0:
                relief += np.minimum(d_cpu[rows], oc) / max(oc, 1)
            if om > 0:
                relief += np.minimum(d_mem[rows], om) / max(om, 1)
            cost = np.where(
                fixes, d_as[rows].astype(np.float64), d_as[rows] / np.maximum(relief, 1e-300)
            )
            vm_id = np.array([order[part[i]] for i in rows], dtype=np.float64)
            rows = rows[np.lexsort((vm_id, cost, ~fixes))]
        for i in rows:
            target = _first_target(st, units[i], ok[i], after[i])
            if target is None:
                continue
            p = part[i]
            rest = order[:p] + order[p + 1 :] if choice == VmChoice.LOWEST_COST else order[p + 1 :]
            return units[i], target, rest
        start += step
        step *= 4
    return None


def simulate_node_fairness(
    cluster: Cluster,
    options: NodeFairnessOptions | None = None,
    durations: DurationModel = DEFAULT_DURATION_MODEL,
) -> SimulationResult:
    """Simulate Hyper-V's VM Load Balancer from the current placement (module docstring)."""
    opts = options or NodeFairnessOptions()
    choice = VmChoice(opts.vm_choice)
    if opts.mode not in (0, 1, 2):
        raise ValueError(f"mode must be 0, 1 or 2, got {opts.mode}")
    if opts.mode == 1 and opts.joined_host is None:
        raise ValueError("mode 1 (balance on node join) needs joined_host")
    if opts.joined_host is not None and not 0 <= opts.joined_host < cluster.n_hosts:
        raise ValueError(f"joined_host {opts.joined_host} is not a host index")
    if opts.max_passes < 1:
        raise ValueError("max_passes must be >= 1")
    st = _State(cluster, opts.respect_pinned)
    moves: list[NativeMove] = []
    passes: list[PassRecord] = []
    converged = True
    first_rule = resolve_threshold(cluster, opts.level, opts.threshold_pct, opts.high_mode).rule
    n_passes = 0 if opts.mode == 0 else (1 if opts.mode == 1 else opts.max_passes)
    for number in range(1, n_passes + 1):
        clock = float((number - 1) * NODE_FAIRNESS_INTERVAL_S)
        only = opts.joined_host if number == 1 else None
        pm, n_src, thr = _nf_pass(cluster, st, opts, number, clock, only)
        secs = pass_migration_seconds(cluster, pm, durations) if pm else 0.0
        passes.append(PassRecord(number, clock, n_src, len(pm), secs, thr.cpu_pct, thr.memory_pct))
        moves.extend(pm)
        converged = not pm
        if not pm and only is None:
            break
    desc = (
        f"Hyper-V VM Load Balancer, mode {opts.mode}, {first_rule}, VM choice "
        f"'{choice.value}'"
        + (
            ""
            if opts.max_moves_per_node is None
            else f", at most {opts.max_moves_per_node} move(s) per node per pass"
        )
    )
    return SimulationResult(
        opts.name(),
        desc,
        st.p.copy(),
        tuple(moves),
        tuple(passes),
        converged,
        {
            "vm_choice": choice.value,
            "mode": opts.mode,
            "level": opts.level,
            "threshold_pct": opts.threshold_pct,
            "high_mode": HighMode(opts.high_mode).value,
            "max_moves_per_node": opts.max_moves_per_node,
            "max_passes": opts.max_passes,
            "joined_host": opts.joined_host,
            "respect_pinned": opts.respect_pinned,
        },
    )


# ----------------------------------------------------------------------------- SCVMM DO
def _do_breach(cluster: Cluster, st: _State, opts: DynamicOptimizationOptions) -> np.ndarray:
    cap = cluster.host_cpu_capacity_milli
    cpu_free_pct = 100.0 - 100.0 * (st.vm_cpu + st.base_c) / cap
    mem_free = cluster.host_memory_free_mb - st.vm_mem
    return ((cpu_free_pct < opts.cpu_free_pct) | (mem_free < opts.memory_free_mb)) & st.up


def _do_pass(
    cluster: Cluster, st: _State, opts: DynamicOptimizationOptions, number: int, clock: float
) -> tuple[list[NativeMove], int]:
    min_gain = DO_MIN_GAIN_PCT[opts.aggressiveness]
    cap_c = cluster.host_cpu_capacity_milli
    cap_m = cluster.host_memory_mb
    base_c = st.base_c
    res_m = cluster.host_memory_reserve_mb
    # Largest VM CPU load a target may carry: keep the CPU reserve and the DO threshold free.
    keep_free = max(opts.cpu_reserve_pct, opts.cpu_free_pct)
    cpu_room = np.floor(cap_c * (100.0 - keep_free) / 100.0 + 1e-9).astype(np.int64) - base_c
    breach = _do_breach(cluster, st, opts)
    cpu_pct, mem_pct = st.pct()
    load = np.maximum(cpu_pct, mem_pct)
    sources = sorted(np.flatnonzero(breach).tolist(), key=lambda h: (-load[h], h))
    hopeful = _do_hopeful(st, load, min_gain, cap_c, cap_m, res_m) if sources else breach
    moves: list[NativeMove] = []
    moved: set[int] = set()
    touched: set[int] = set()
    for s in sources:
        if not hopeful[s] and s not in touched:
            continue  # _do_best would find nothing: no VM of s can give the minimum gain
        while _do_breach(cluster, st, opts)[s]:
            if opts.max_moves_per_pass is not None and len(moves) >= opts.max_moves_per_pass:
                return moves, len(sources)
            best = _do_best(
                cluster, st, s, moved, cpu_room, opts, min_gain, cap_c, cap_m, base_c, res_m
            )
            if best is None:
                break
            unit, target, gain = best
            reason = (
                f"Dynamic Optimization (aggressiveness {opts.aggressiveness}): "
                f"{cluster.host_names[s]} below the free-resource thresholds; "
                f"gain {gain:.1f} points"
            )
            _record(cluster, st, unit, target, number, clock, reason, moves)
            moved.update(unit)
            touched.update((s, target))
    return moves, len(sources)


def _do_hopeful(
    st: _State,
    load: np.ndarray,
    min_gain: float,
    cap_c: np.ndarray,
    cap_m: np.ndarray,
    res_m: np.ndarray,
) -> np.ndarray:
    """Hosts (bool ``(H,)``) where :func:`_do_best` may find a move at the start of a pass:
    those with a movable unit whose move alone lowers the node by ``min_gain`` points (the
    gain's source-side bound, computed for all VMs at once exactly as :func:`_do_best` does).
    Valid for a host until a move of the pass touches it."""
    p = st.p
    # Each VM's unit load: its SameNode component's when all members share a node, else its own.
    u_cpu, u_mem = st.w_cpu, st.w_mem
    if st.comp_members.size:
        hosts = p[st.comp_members]
        first = st.comp_first
        together = np.minimum.reduceat(hosts, first) == np.maximum.reduceat(hosts, first)
        inside = np.flatnonzero(st.in_component)
        inside = inside[together[st.comp_of[inside]]]
        u_cpu, u_mem = u_cpu.copy(), u_mem.copy()
        u_cpu[inside] = np.add.reduceat(st.w_cpu[st.comp_members], first)[st.comp_of[inside]]
        u_mem[inside] = np.add.reduceat(st.w_mem[st.comp_members], first)[st.comp_of[inside]]
    after = np.maximum(
        100.0 * (st.vm_cpu[p] - u_cpu + st.base_c[p]) / cap_c[p],
        100.0 * (st.vm_mem[p] - u_mem + res_m[p]) / cap_m[p],
    )
    ok = st.movable & (load[p] - after >= min_gain)
    hopeful = np.bincount(p[ok], minlength=st.c.n_hosts) > 0
    return hopeful


def _do_best(
    cluster: Cluster,
    st: _State,
    s: int,
    moved: set[int],
    cpu_room: np.ndarray,
    opts: DynamicOptimizationOptions,
    min_gain: float,
    cap_c: np.ndarray,
    cap_m: np.ndarray,
    base_c: np.ndarray,
    res_m: np.ndarray,
) -> tuple[list[int], int, float] | None:
    """Best (unit, target, gain) from source ``s`` meeting the minimum gain, or None."""
    load_s = max(
        100.0 * (st.vm_cpu[s] + base_c[s]) / cap_c[s], 100.0 * (st.vm_mem[s] + res_m[s]) / cap_m[s]
    )

    def source_after(d_cpu: np.ndarray, d_mem: np.ndarray) -> np.ndarray:
        return np.maximum(
            100.0 * (st.vm_cpu[s] - d_cpu + base_c[s]) / cap_c[s],
            100.0 * (st.vm_mem[s] - d_mem + res_m[s]) / cap_m[s],
        )

    # The gain is at most what the source side alone gives (max(a, b) >= a, and rounding is
    # monotone), so units whose move cannot lower the source by min_gain are left out before
    # the (unit x host) work: exact, and most passes end here.
    units = st.units_on(s, moved, lambda c, m: load_s - source_after(c, m) >= min_gain)
    if not units:
        return None
    d_cpu, d_mem, d_as, ok = st.candidates(units)
    ok &= st.vm_cpu[None, :] + d_cpu[:, None] <= cpu_room[None, :]
    ok &= (
        cluster.host_memory_free_mb[None, :] - (st.vm_mem[None, :] + d_mem[:, None])
        >= opts.memory_free_mb
    )
    t_after = np.maximum(
        100.0 * (st.vm_cpu[None, :] + d_cpu[:, None] + base_c[None, :]) / cap_c[None, :],
        100.0 * (st.vm_mem[None, :] + d_mem[:, None] + res_m[None, :]) / cap_m[None, :],
    )
    s_after = source_after(d_cpu, d_mem)
    gain = load_s - np.maximum(s_after[:, None], t_after)
    ui, hi = np.nonzero(ok & (gain >= min_gain))
    if ui.size == 0:
        return None
    rep = np.array([u[0] for u in units], dtype=np.int64)
    # Ties: the target left least loaded, then less memory moved, then indices.
    order = np.lexsort((hi, rep[ui], d_as[ui], t_after[ui, hi], -gain[ui, hi]))
    for k in order:
        unit, target = units[ui[k]], int(hi[k])
        if st.rules_allow(unit, target):
            return unit, target, float(gain[ui[k], target])
    return None


def simulate_dynamic_optimization(
    cluster: Cluster,
    options: DynamicOptimizationOptions | None = None,
    durations: DurationModel = DEFAULT_DURATION_MODEL,
) -> SimulationResult:
    """Simulate SCVMM Dynamic Optimization from the current placement (module docstring)."""
    opts = options or DynamicOptimizationOptions()
    if opts.aggressiveness not in DO_MIN_GAIN_PCT:
        raise ValueError(f"aggressiveness must be 1..5, got {opts.aggressiveness}")
    if not 10 <= opts.interval_minutes <= 1440:
        raise ValueError(f"interval_minutes must be 10..1440, got {opts.interval_minutes}")
    if opts.max_passes < 1:
        raise ValueError("max_passes must be >= 1")
    st = _State(cluster, opts.respect_pinned)
    moves: list[NativeMove] = []
    passes: list[PassRecord] = []
    converged = False
    for number in range(1, opts.max_passes + 1):
        clock = float((number - 1) * opts.interval_minutes * 60)
        pm, n_src = _do_pass(cluster, st, opts, number, clock)
        secs = pass_migration_seconds(cluster, pm, durations) if pm else 0.0
        passes.append(PassRecord(number, clock, n_src, len(pm), secs))
        moves.extend(pm)
        if not pm:
            converged = True
            break
    desc = (
        f"SCVMM Dynamic Optimization, aggressiveness {opts.aggressiveness} (minimum gain "
        f"{DO_MIN_GAIN_PCT[opts.aggressiveness]:g} points), every "
        f"{opts.interval_minutes} min, thresholds {opts.cpu_free_pct:g} % CPU / "
        f"{opts.memory_free_mb} MB memory free"
    )
    return SimulationResult(
        opts.name(),
        desc,
        st.p.copy(),
        tuple(moves),
        tuple(passes),
        converged,
        {
            "aggressiveness": opts.aggressiveness,
            "interval_minutes": opts.interval_minutes,
            "cpu_free_pct": opts.cpu_free_pct,
            "memory_free_mb": opts.memory_free_mb,
            "cpu_reserve_pct": opts.cpu_reserve_pct,
            "max_passes": opts.max_passes,
            "max_moves_per_pass": opts.max_moves_per_pass,
            "respect_pinned": opts.respect_pinned,
        },
    )


# ----------------------------------------------------------------------------- variants
def default_variants(
    level: Level | str | None = None,
    threshold_pct: float | None = None,
    high_mode: HighMode | str = HighMode.AVERAGE,
) -> list[NodeFairnessOptions | DynamicOptimizationOptions]:
    """The native strategies ``hvplan compare`` runs: Node Fairness with each VM choice
    (all at the given level), one-move-per-pass largest memory, and Dynamic Optimization at
    aggressiveness 3 (default) and 5."""
    nf: list[NodeFairnessOptions | DynamicOptimizationOptions] = [
        NodeFairnessOptions(
            vm_choice=ch, level=level, threshold_pct=threshold_pct, high_mode=high_mode
        )
        for ch in VmChoice
    ]
    nf.append(
        NodeFairnessOptions(
            vm_choice=VmChoice.LARGEST_MEMORY,
            level=level,
            threshold_pct=threshold_pct,
            high_mode=high_mode,
            max_moves_per_node=1,
        )
    )
    nf.append(DynamicOptimizationOptions(aggressiveness=3))
    nf.append(DynamicOptimizationOptions(aggressiveness=5))
    return nf


#: What the cluster's own ``AutoBalancerMode`` means for a simulation (issue 11 item 5).
MODE_NOTES = {
    0: "Node Fairness is off on this cluster (AutoBalancerMode 0): the native balancer "
    "moves nothing",
    1: "Node Fairness acts only when a node joins on this cluster (AutoBalancerMode 1): "
    "with no node joining it moves nothing",
}


def mode_note(cluster: Cluster) -> str | None:
    """Why Node Fairness does nothing on this cluster, or ``None`` in mode 2."""
    return MODE_NOTES.get(cluster.settings.auto_balancer_mode)


def cluster_variants(
    cluster: Cluster,
    level: Level | str | None = None,
    threshold_pct: float | None = None,
    high_mode: HighMode | str = HighMode.AVERAGE,
) -> tuple[list[NodeFairnessOptions | DynamicOptimizationOptions], str | None]:
    """The native strategies as the cluster is configured, and a note when Node Fairness
    does nothing.

    In ``AutoBalancerMode`` 2, :func:`default_variants`.  In mode 0 (off) and mode 1 (on
    node join only; no node joins in a snapshot comparison or a replay) no Node Fairness
    variant is simulated and the note says why.  SCVMM Dynamic Optimization does not
    depend on the mode (when SCVMM manages a cluster it turns Node Fairness off), so its
    variants are always included.
    """
    variants = default_variants(level, threshold_pct, high_mode)
    note = mode_note(cluster)
    if note is not None:
        variants = [v for v in variants if isinstance(v, DynamicOptimizationOptions)]
    return variants, note


class Balancer:
    """A native balancer acting pass by pass while the loads change (``hvplan replay``).

    Each :meth:`act` is one pass (Node Fairness: the periodic pass of mode 2; Dynamic
    Optimization: one run) on the loads given, from the placement the earlier passes left.
    """

    def __init__(
        self,
        cluster: Cluster,
        variant: NodeFairnessOptions | DynamicOptimizationOptions,
        placement: np.ndarray | None = None,
    ) -> None:
        self.cluster = cluster
        self.variant = variant
        self._st = _State(cluster, variant.respect_pinned, placement)
        self._number = 0

    @property
    def interval_s(self) -> int:
        """Seconds between passes (30 min for Node Fairness, fixed by Windows)."""
        if isinstance(self.variant, NodeFairnessOptions):
            return NODE_FAIRNESS_INTERVAL_S
        return self.variant.interval_minutes * 60

    @property
    def placement(self) -> np.ndarray:
        """The placement now (a copy)."""
        return self._st.p.copy()

    def act(
        self, vm_cpu: np.ndarray, vm_mem: np.ndarray, host_base: np.ndarray, clock: float
    ) -> list[NativeMove]:
        """One pass on these loads (per-VM CPU milli-LP and memory MB, 0 for VMs that do not
        consume; per-host base CPU); returns its moves, already applied."""
        self._number += 1
        self._st.set_loads(vm_cpu, vm_mem, host_base)
        if isinstance(self.variant, NodeFairnessOptions):
            moves, _, _ = _nf_pass(self.cluster, self._st, self.variant, self._number, clock, None)
        else:
            moves, _ = _do_pass(self.cluster, self._st, self.variant, self._number, clock)
        return moves


def simulate(
    cluster: Cluster,
    variant: NodeFairnessOptions | DynamicOptimizationOptions,
    durations: DurationModel = DEFAULT_DURATION_MODEL,
) -> SimulationResult:
    """Run the simulation that ``variant`` describes."""
    if isinstance(variant, NodeFairnessOptions):
        return simulate_node_fairness(cluster, variant, durations)
    return simulate_dynamic_optimization(cluster, variant, durations)


def simulate_all(
    cluster: Cluster,
    variants: Iterable[NodeFairnessOptions | DynamicOptimizationOptions],
    durations: DurationModel = DEFAULT_DURATION_MODEL,
) -> list[SimulationResult]:
    """Run several variants (each from the snapshot's current placement)."""
    return [simulate(cluster, v, durations) for v in variants]


__all__ = [
    "DO_MIN_GAIN_PCT",
    "MODE_NOTES",
    "Balancer",
    "cluster_variants",
    "mode_note",
    "NODE_FAIRNESS_INTERVAL_S",
    "DynamicOptimizationOptions",
    "NativeMove",
    "NodeFairnessOptions",
    "PassRecord",
    "SimulationResult",
    "VmChoice",
    "default_variants",
    "pass_migration_seconds",
    "simulate",
    "simulate_all",
    "simulate_dynamic_optimization",
    "simulate_node_fairness",
]
