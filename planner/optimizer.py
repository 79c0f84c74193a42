"""The rebalancing optimizer: solver-agnostic API around the CP-SAT placement model.

:func:`optimize` never raises for a failed solve; it returns an :class:`OptimizeResult`.

How a plan is found and proven (speed by formulation)
-----------------------------------------------------
1. **Pre-checks** name the obvious impossibilities in plain words (pinned VM on a drained
   node, VM with no allowed host, DifferentNode group larger than its hosts, demand above the
   remaining capacity, ...).
2. **Bounds valid for the full problem** (every VM free to move to every allowed host):

   * ``excess`` >= the excess of the load that cannot leave its host (pinned VMs and VMs
     with no other allowed host).
   * ``anti_affinity`` >= per soft class, the pigeonhole count of pairs over the hosts its
     members may use.
   * ``migration`` >= (cost of mandatory moves: VMs on Paused/Down/drained nodes or off their
     possible owners) + for every node above the threshold the cheapest set of its movable
     VMs whose removal brings it under (a two-resource covering knapsack, solved exactly per
     node by CP-SAT).  Valid whenever the excess optimum is 0: a node ``h`` over the
     threshold must lose at least its excess (more if it receives anything), so the set of
     VMs leaving it is a cover and costs at least ``c_h``; sets of different nodes are
     disjoint.
   * ``balance`` >= max(over hot nodes: the lowest load any cheapest cover leaves; over the
     other nodes: their load minus mandatory departures).  Valid when the migration optimum
     equals its bound: every move costs more than 0, so a full solution of exactly that cost
     moves the mandatory VMs plus one cheapest cover per hot node and nothing else -- hot
     nodes keep at least what the best cheapest cover leaves, the others lose nothing else.

   The SameNode groups that sit wholly on a node are single knapsack items (such a group
   either stays or leaves together), which keeps the bound valid and tighter.

3. **Decomposition**: take the per-node cheapest covers and place the leaving VMs greedily
   (most constrained first, on the allowed node left lowest, never above the threshold when
   avoidable, rules respected; a node still above it sheds a second cheapest cover).  If the
   result meets every bound it is optimal for the full problem and no large model is built
   (64 nodes / 8,000 VMs with a fifth of the nodes hot: typically this step).  Else one
   CP-SAT solve of the leavers' assignment *at the bounds* (every tier constrained to its
   bound, the last minimised) is tried.
4. **Restricted model** (when it has at most ``LARGE_MODEL_BOOLEANS`` placement Booleans):
   the VMs that may need to move (on hot, drained, Paused or Down nodes, off their possible
   owners, in broken rules or colliding anti-affinity classes, plus SameNode/SameFaultDomain
   partners) get variables for their allowed hosts that are not themselves hot; everyone
   else is fixed; interchangeable VMs are ordered (symmetry breaking).  First one solve at
   the bounds, then the tiers in sequence.  A tier is proven when its value meets the
   full-problem bound; its CP-SAT bounds are *not* reported (they hold only for the
   restricted model).
5. **Large-neighbourhood search** (:func:`_lns`): small sub-models around a few hot nodes,
   the rest fixed at the best placement, one worker and a deterministic-time budget per
   round.  On large instances this replaces the restricted model, whose presolve alone takes
   seconds there (64 / 8,000 with half the nodes hot: it reaches the bounds in about 20 s).
6. **Full model** (small instances only): every VM gets variables for every allowed host,
   hinted with the best solution so far; its CP-SAT bounds are valid and combined with ours.
   It is also what proves infeasibility and yields the explanation core.

Determinism: every solve uses the given seed; the default is one worker (deterministic by
itself; with more workers ``interleave_search`` keeps it so), and LNS rounds are bounded in
CP-SAT's deterministic time.  The same input and seed therefore give the same plan whenever
the run ends by proof (status OPTIMAL) or by running out of improving rounds; only a run cut
by the wall-clock ``time_limit_s`` can stop at a different point.

The reported ``gap`` is the relative gap of the first tier (lexicographic order) whose value
is not proven: ``(objective - bound) / objective``; 0 when every tier is proven.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from planner.checks import placement_violations, rule_violations
from planner.cluster import Cluster, HostState, MoveKind, RuleType
from planner.loadmodel import (
    HighMode,
    Threshold,
    host_loads,
    resolve_threshold,
    threshold_limits,
)
from planner.profiles import Profile, load_profile
from planner.verify import BP, TIER_NAMES, balance_hosts, objective_values


class SolveStatus(StrEnum):
    """Outcome of an optimization (SPEC §5 ``status``)."""

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    INFEASIBLE = "INFEASIBLE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class PlanOptions:
    """What to optimise and how.

    ``drain`` holds host indices to empty; ``profile`` is a built-in profile name, a TOML
    path or a :class:`planner.profiles.Profile`; ``time_limit_s`` and ``workers`` override the
    profile's values when given.
    """

    level: str | None = None
    threshold_pct: float | None = None
    high_mode: str = HighMode.AVERAGE.value
    drain: tuple[int, ...] = ()
    max_moves: int | None = None
    time_limit_s: float | None = None
    seed: int = 0
    workers: int | None = None
    profile: Profile | str | None = None
    export_model: Path | None = None
    log: bool = False
    #: Placement Booleans above which restricted/full CP-SAT models give way to LNS.
    large_model_booleans: int | None = None


@dataclass
class TierResult:
    """One lexicographic tier: value, bound valid for the full problem, how it was found."""

    name: str
    objective: int | None
    bound: int | None
    status: str
    seconds: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "objective": self.objective, "bound": self.bound,
                "status": self.status, "seconds": round(self.seconds, 4), "note": self.note}


@dataclass
class OptimizeResult:
    """Result of :func:`optimize`; ``placement`` is ``None`` when there is no solution.

    ``objective``/``bound`` hold every tier's value and a lower bound valid for the full
    problem; ``gap`` is the relative gap ``(value - bound) / value`` of ``gap_tier``, the first
    tier in lexicographic order that is not proven (0 and ``None`` when all are).
    """

    status: SolveStatus
    placement: np.ndarray | None
    threshold: Threshold
    tiers: list[TierResult] = field(default_factory=list)
    objective: dict[str, int] = field(default_factory=dict)
    bound: dict[str, int] = field(default_factory=dict)
    gap: float | None = None
    gap_tier: str | None = None
    solve_seconds: float = 0.0
    moves: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    memory_moved_mb: int = 0
    downtime_moves: int = 0
    explanation: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    reasons: dict[int, str] = field(default_factory=dict)
    method: str = ""
    model_size: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    drained: tuple[int, ...] = ()
    profile: str = "rebalance"

    @property
    def ok(self) -> bool:
        """A placement is available (OPTIMAL or FEASIBLE)."""
        return self.placement is not None and self.status in (SolveStatus.OPTIMAL,
                                                              SolveStatus.FEASIBLE)


# ---------------------------------------------------------------------------- domains
@dataclass(frozen=True, eq=False)
class Domain:
    """Where each VM may end and what that costs (solver-free)."""

    allowed: np.ndarray  # bool (V, H)
    move_cost: np.ndarray  # int64 (V, H), 0 on the current host
    mandatory: np.ndarray  # bool V: must leave its current host
    movable: np.ndarray  # bool V: has an allowed host other than its current one
    min_cost: np.ndarray  # int64 V: cheapest move (0 when not movable)
    drained: tuple[int, ...]


def build_domain(cluster: Cluster, drained: tuple[int, ...], profile: Profile) -> Domain:
    """Allowed hosts per VM: possible owners, Up, not drained, reachable (Live/Quick, or
    Shutdown when the VM allows downtime and the profile allows Shutdown); pinned VMs only on
    their current host."""
    allowed = cluster.vm_allowed.copy()
    if drained:
        allowed[:, list(drained)] = False
    kind = cluster.vm_move_kind
    if not profile.allow_shutdown:
        allowed &= kind != MoveKind.SHUTDOWN
        cur_ok = cluster.vm_allowed[np.arange(cluster.n_vms), cluster.vm_host]
        allowed[np.arange(cluster.n_vms), cluster.vm_host] = cur_ok & ~np.isin(
            cluster.vm_host, list(drained))
    v_idx = np.arange(cluster.n_vms)
    cur = cluster.vm_host
    pinned = cluster.vm_pinned
    if pinned.any():
        keep = allowed[v_idx, cur] & pinned
        allowed[pinned] = False
        allowed[v_idx[pinned], cur[pinned]] = keep[pinned]
    mandatory = np.asarray(~allowed[v_idx, cur], dtype=bool)
    cost = (cluster.vm_memory_mb[:, None]
            + profile.shutdown_penalty_mb * (kind == MoveKind.SHUTDOWN)).astype(np.int64)
    cost[v_idx, cur] = 0
    other = allowed.copy()
    other[v_idx, cur] = False
    movable = np.asarray(other.any(axis=1), dtype=bool)
    big = np.iinfo(np.int64).max // 4
    min_cost = np.asarray(np.where(other, cost, big).min(axis=1) if cluster.n_hosts
                          else np.zeros(cluster.n_vms), dtype=np.int64)
    min_cost = np.where(movable, min_cost, 0).astype(np.int64)
    return Domain(allowed, cost, mandatory, movable, min_cost, drained)


# ---------------------------------------------------------------------------- pre-checks
def precheck(cluster: Cluster, dom: Domain, profile: Profile) -> list[str]:
    """Plain-English reasons that make the problem infeasible before any solve."""
    out: list[str] = []
    hn, vn = cluster.host_names, cluster.vm_names
    drained = set(dom.drained)
    for v in np.flatnonzero(~dom.allowed.any(axis=1)).tolist():
        h = int(cluster.vm_host[v])
        if cluster.vm_pinned[v]:
            why = ("drained" if h in drained else
                   HostState(cluster.host_state[h]).name.title()
                   if cluster.host_state[h] != HostState.UP else "not one of its possible owners")
            out.append(f"VM {vn[v]} is pinned to {hn[h]}, which is {why}: it must stay and "
                       "must leave at once.")
            continue
        owners = [o for o in np.flatnonzero(cluster.vm_possible[v] & cluster.host_up).tolist()
                  if o not in drained]
        if not owners:
            out.append(f"VM {vn[v]} has no possible owner that is Up and not drained.")
        else:
            why = ("its CPU features or vendor do not match, and it does not allow downtime"
                   if profile.allow_shutdown else
                   "its CPU features or vendor do not match, and the profile forbids Shutdown "
                   "moves")
            out.append(f"VM {vn[v]} cannot reach any of its possible owners "
                       f"({', '.join(hn[o] for o in owners[:8])}): {why}.")
    free_c = cluster.host_cpu_free_milli
    free_m = cluster.host_memory_free_mb
    usable = cluster.host_up.copy()
    if drained:
        usable[list(drained)] = False
    need_c = int(cluster.vm_cpu_load_milli.sum())
    need_m = int(cluster.vm_mem_load_mb.sum())
    if need_c > int(free_c[usable].sum()):
        out.append(f"The running VMs need {need_c / 1000:.1f} logical processors, but the Up, "
                   f"not drained nodes offer {free_c[usable].sum() / 1000:.1f} in total.")
    if need_m > int(free_m[usable].sum()):
        out.append(f"The running VMs need {need_m} MB of memory, but the Up, not drained nodes "
                   f"offer {int(free_m[usable].sum())} MB after their reserves.")
    for v in np.flatnonzero(dom.allowed.any(axis=1)).tolist():
        hs = np.flatnonzero(dom.allowed[v])
        fits = ((cluster.vm_cpu_load_milli[v] <= free_c[hs])
                & (cluster.vm_mem_load_mb[v] <= free_m[hs]))
        if not fits.any():
            out.append(f"VM {vn[v]} ({int(cluster.vm_mem_load_mb[v])} MB, "
                       f"{cluster.vm_cpu_load_milli[v] / 1000:.2f} LP) fits on none of the nodes "
                       f"it may use ({', '.join(hn[h] for h in hs[:8].tolist())}).")
    fd = cluster.host_fault_domain
    for r in cluster.enabled_rules:
        m = list(r.members)
        if len(m) < 2:
            continue
        union = dom.allowed[m].any(axis=0)
        inter = dom.allowed[m].all(axis=0)
        names = ", ".join(vn[v] for v in m[:8]) + (" ..." if len(m) > 8 else "")
        if r.rule_type == RuleType.DIFFERENT_NODE and len(m) > int(union.sum()):
            out.append(f"DifferentNode rule '{r.name}' has {len(m)} members ({names}) but they "
                       f"may use only {int(union.sum())} node(s).")
        elif r.rule_type == RuleType.DIFFERENT_FAULT_DOMAIN:
            doms = {int(fd[h]) for h in np.flatnonzero(union).tolist()}
            if len(m) > len(doms):
                out.append(f"DifferentFaultDomain rule '{r.name}' has {len(m)} members "
                           f"({names}) but they may use only {len(doms)} fault domain(s).")
        elif r.rule_type == RuleType.SAME_NODE and not inter.any():
            out.append(f"SameNode rule '{r.name}': no node is allowed for all of its members "
                       f"({names}).")
        elif r.rule_type == RuleType.SAME_FAULT_DOMAIN:
            common: set[int] | None = None
            for v in m:
                doms = {int(fd[h]) for h in np.flatnonzero(dom.allowed[v]).tolist()}
                common = doms if common is None else common & doms
            if not common:
                out.append(f"SameFaultDomain rule '{r.name}': no fault domain is allowed for all "
                           f"of its members ({names}).")
    if profile.enforce_anti_affinity(cluster.settings.enforced_anti_affinity):
        for k, cls in enumerate(cluster.aa_class_members):
            union = (dom.allowed[list(cls)].any(axis=0) if cls
                     else np.zeros(cluster.n_hosts, bool))
            if len(cls) > int(union.sum()):
                out.append(f"Enforced anti-affinity class '{cluster.aa_class_names[k]}' has "
                           f"{len(cls)} members but they may use only {int(union.sum())} "
                           "node(s).")
    return out


# ---------------------------------------------------------------------------- candidates
def hot_hosts(cluster: Cluster, placement: np.ndarray, cpu_lim: np.ndarray,
              mem_lim: np.ndarray) -> np.ndarray:
    """bool per host: VM load above the threshold limits in either resource."""
    nh = cluster.n_hosts
    cpu = np.bincount(placement, weights=cluster.vm_cpu_load_milli, minlength=nh)
    mem = np.bincount(placement, weights=cluster.vm_mem_load_mb, minlength=nh)
    return (cpu > cpu_lim) | (mem > mem_lim)


def candidate_vms(cluster: Cluster, dom: Domain, hot: np.ndarray, enforce_aa: bool
                  ) -> tuple[np.ndarray, dict[int, str]]:
    """VMs that may need to move, with the first reason found for each."""
    reasons: dict[int, str] = {}
    hn = cluster.host_names
    cur = cluster.vm_host
    drained = set(dom.drained)
    for v in np.flatnonzero(dom.mandatory).tolist():
        h = int(cur[v])
        if h in drained:
            reasons[v] = f"node {hn[h]} is drained"
        elif cluster.host_state[h] != HostState.UP:
            reasons[v] = f"node {hn[h]} is {HostState(cluster.host_state[h]).name.title()}"
        else:
            reasons[v] = f"node {hn[h]} is not a possible owner"
    for v in np.flatnonzero(hot[cur] & dom.movable).tolist():
        reasons.setdefault(v, f"node {hn[int(cur[v])]} is over the threshold")
    for viol in rule_violations(cluster, cur):
        for name in viol.vms:
            reasons.setdefault(cluster.vm_index[name.casefold()],
                               f"rule '{viol.rule}' is broken")
    placed = cur
    for k, members in enumerate(cluster.aa_class_members):
        if len(members) < 2:
            continue
        _, counts = np.unique(placed[list(members)], return_counts=True)
        if (counts > 1).any():
            for v in members:
                reasons.setdefault(v, f"anti-affinity class '{cluster.aa_class_names[k]}' "
                                   "shares a node")
    # SameNode / SameFaultDomain partners move together: close the set over those rules.
    changed = True
    while changed:
        changed = False
        for r in cluster.enabled_rules:
            if r.rule_type not in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN):
                continue
            if any(v in reasons for v in r.members):
                for v in r.members:
                    if v not in reasons:
                        reasons[v] = f"moves with its {r.type_name} rule '{r.name}'"
                        changed = True
    cand = np.array(sorted(reasons), dtype=np.int64)
    return cand, reasons


# ---------------------------------------------------------------------------- bounds
@dataclass
class Bounds:
    """Lower bounds valid for the full problem (see the module docstring)."""

    excess: int = 0
    anti_affinity: int = 0
    migration_mandatory: int = 0
    migration: int | None = None  # valid when the excess optimum is 0
    balance: int | None = None  # valid when also migration == this bound
    covers: dict[int, tuple[int, ...]] = field(default_factory=dict)
    cover_cost: dict[int, int] = field(default_factory=dict)
    cover_models: int = 0
    seconds: float = 0.0


def _ceil_div(a: np.ndarray | int, b: np.ndarray | int) -> Any:
    return -((-a) // b)


def compute_bounds(cluster: Cluster, dom: Domain, cpu_lim: np.ndarray, mem_lim: np.ndarray,
                   enforce_aa: bool, params: Any, deadline: float) -> Bounds:
    """Compute the full-problem lower bounds and the per-node cheapest covers."""
    from planner.cpsat.model import min_cost_cover

    t0 = time.perf_counter()
    b = Bounds()
    nh = cluster.n_hosts
    cur = cluster.vm_host
    cpu_v, mem_v = cluster.vm_cpu_load_milli, cluster.vm_mem_load_mb
    stuck = ~dom.movable & ~dom.mandatory  # must stay where it is
    st_c = np.bincount(cur[stuck], weights=cpu_v[stuck], minlength=nh).astype(np.int64)
    st_m = np.bincount(cur[stuck], weights=mem_v[stuck], minlength=nh).astype(np.int64)
    b.excess = int(_ceil_div(BP * np.maximum(st_c - cpu_lim, 0),
                             cluster.host_cpu_capacity_milli).sum()
                   + _ceil_div(BP * np.maximum(st_m - mem_lim, 0), cluster.host_memory_mb).sum())
    if not enforce_aa:
        for members in cluster.aa_class_members:
            n = len(members)
            if n < 2:
                continue
            k = int(dom.allowed[list(members)].any(axis=0).sum())
            if k == 0:
                continue
            q, r = divmod(n, k)
            b.anti_affinity += r * (q + 1) * q // 2 + (k - r) * q * (q - 1) // 2
    b.migration_mandatory = int(dom.min_cost[dom.mandatory].sum())
    if b.excess > 0:
        b.seconds = time.perf_counter() - t0
        return b
    stay = ~dom.mandatory
    c_now = np.bincount(cur[stay], weights=cpu_v[stay], minlength=nh).astype(np.int64)
    m_now = np.bincount(cur[stay], weights=mem_v[stay], minlength=nh).astype(np.int64)
    bal = balance_hosts(cluster, dom.drained)
    total = b.migration_mandatory
    balance = 0
    groups_of = _same_node_groups(cluster)
    for h in range(nh):
        used_c = int(c_now[h] + cluster.host_cpu_base_milli[h])
        used_m = int(m_now[h] + cluster.host_memory_reserve_mb[h])
        cap_c = int(cluster.host_cpu_capacity_milli[h])
        cap_m = int(cluster.host_memory_mb[h])
        need_c = int(c_now[h] - cpu_lim[h])
        need_m = int(m_now[h] - mem_lim[h])
        if need_c <= 0 and need_m <= 0:
            if bal[h]:
                balance = max(balance, int(_ceil_div(BP * used_c, cap_c)),
                              int(_ceil_div(BP * used_m, cap_m)))
            continue
        items, i_cpu, i_mem, i_cost, groups = _cover_items(cluster, dom, h, groups_of)
        left = max(0.05, min(2.0, (deadline - time.monotonic()) / 4))
        cov = min_cost_cover(items, i_cpu, i_mem, i_cost, need_c,
                             need_m, used_c, used_m, cap_c, cap_m, params, left)
        b.cover_models += 1
        if not cov.feasible:
            # Cannot get under the threshold even by moving everything: excess > 0 for sure.
            b.seconds = time.perf_counter() - t0
            return b
        total += cov.cost_bound
        b.cover_cost[h] = cov.cost_bound
        if cov.chosen is not None:
            b.covers[h] = tuple(v for i in cov.chosen for v in groups[i])
        if bal[h]:
            balance = max(balance, cov.remaining_bound)
    b.migration = total
    b.balance = balance
    b.seconds = time.perf_counter() - t0
    return b


# ---------------------------------------------------------------------------- greedy
def greedy_assign(cluster: Cluster, start: np.ndarray, movers: np.ndarray,
                  targets: dict[int, np.ndarray], cpu_lim: np.ndarray, mem_lim: np.ndarray
                  ) -> np.ndarray | None:
    """Place ``movers`` (VM indices) one SameNode unit at a time, largest first, on the
    allowed target that leaves the lowest worst-resource load, keeping every node at or
    under the threshold when possible (else under 100 %) and every rule and anti-affinity
    class intact.  Returns the placement, or ``None`` when some unit finds no host.  A
    complete, feasible start for the CP-SAT models, and often already optimal.
    """
    c = cluster
    nh = c.n_hosts
    p = start.astype(np.int64).copy()
    moving = np.zeros(c.n_vms, dtype=bool)
    moving[movers] = True
    p[moving] = -1
    stay = ~moving
    cpu = np.bincount(p[stay], weights=c.vm_cpu_load_milli[stay], minlength=nh).astype(np.int64)
    mem = np.bincount(p[stay], weights=c.vm_mem_load_mb[stay], minlength=nh).astype(np.int64)
    cap_c = np.minimum(c.host_cpu_free_milli, np.maximum(cpu_lim, 0))
    cap_m = np.minimum(c.host_memory_free_mb, np.maximum(mem_lim, 0))
    fd = c.host_fault_domain
    rules_of: dict[int, list[int]] = {}
    for r, rule in enumerate(c.rules):
        if rule.enabled:
            for v in rule.members:
                rules_of.setdefault(v, []).append(r)
    # Units: movers tied by SameNode rules move together.
    parent = {int(v): int(v) for v in movers.tolist()}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for rule in c.enabled_rules:
        if rule.rule_type == RuleType.SAME_NODE:
            ms = [v for v in rule.members if v in parent]
            for v in ms[1:]:
                parent[find(v)] = find(ms[0])
    units: dict[int, list[int]] = {}
    for v in parent:
        units.setdefault(find(v), []).append(v)
    scale_c = float(c.host_cpu_capacity_milli.mean()) or 1.0
    scale_m = float(c.host_memory_mb.mean()) or 1.0

    def size(u: list[int]) -> float:
        return max(c.vm_cpu_load_milli[u].sum() / scale_c, c.vm_mem_load_mb[u].sum() / scale_m)

    def n_targets(u: list[int]) -> int:
        ok = np.ones(nh, dtype=bool)
        for v in u:
            t = np.zeros(nh, dtype=bool)
            t[targets[v]] = True
            ok &= t
        return int(ok.sum())

    # Most constrained first (fewest hosts), then largest: VMs that only a few nodes can take
    # get those nodes before flexible VMs fill them.
    order = sorted(units.values(), key=lambda u: (n_targets(u), -size(u), u[0]))
    cap_cpu_full = c.host_cpu_capacity_milli
    def hosts_for(u: list[int]) -> np.ndarray:
        """Hosts ``u`` may take given where everyone else is now (targets and rules)."""
        ok = np.ones(nh, dtype=bool)
        for v in u:
            t = np.zeros(nh, dtype=bool)
            t[targets[v]] = True
            ok &= t
        for v in u:
            for r in rules_of.get(v, ()):
                rule = c.rules[r]
                others = [w for w in rule.members if w not in u and p[w] >= 0]
                if not others:
                    continue
                hs = p[others]
                if rule.rule_type == RuleType.DIFFERENT_NODE:
                    ok[hs] = False
                elif rule.rule_type == RuleType.DIFFERENT_FAULT_DOMAIN:
                    ok &= ~np.isin(fd, fd[hs])
                elif rule.rule_type == RuleType.SAME_FAULT_DOMAIN:
                    ok &= np.isin(fd, fd[hs])
                elif rule.rule_type == RuleType.SAME_NODE:
                    only = np.zeros(nh, dtype=bool)
                    only[hs] = True
                    ok &= only
            for k in c.vm_aa_classes[v]:
                others = [w for w in c.aa_class_members[k] if w not in u and p[w] >= 0]
                if others:
                    ok[p[others]] = False
        return ok

    unit_load = {id(u): (int(c.vm_cpu_load_milli[u].sum()), int(c.vm_mem_load_mb[u].sum()))
                 for u in order}
    for u in order:
        ok = hosts_for(u)
        uc, um = unit_load[id(u)]
        under = ok & (cpu + uc <= cap_c) & (mem + um <= cap_m)
        pool = under if under.any() else ok & (cpu + uc <= c.host_cpu_free_milli) & (
            mem + um <= c.host_memory_free_mb)
        if not pool.any():
            return None
        home = int(start[u[0]])
        if all(int(start[v]) == home for v in u) and pool[home]:
            h = home  # not forced to leave and still fits: staying costs nothing
        else:
            load = np.maximum((cpu + uc + c.host_cpu_base_milli) / cap_cpu_full,
                              (mem + um + c.host_memory_reserve_mb) / c.host_memory_mb)
            h = int(np.flatnonzero(pool)[np.argmin(load[pool])])
        p[u] = h
        cpu[h] += uc
        mem[h] += um
    # Repair: a node left above the threshold hands one of its incoming units to another
    # node that stays under it (no extra cost: those VMs move anyway).
    for _ in range(2 * len(order)):
        over = np.flatnonzero((cpu > cap_c) | (mem > cap_m))
        if not len(over):
            break
        moved = False
        for h in over.tolist():
            incoming = [u for u in order if int(p[u[0]]) == h and int(start[u[0]]) != h]
            incoming.sort(key=lambda u: -max(unit_load[id(u)][0] / scale_c,
                                             unit_load[id(u)][1] / scale_m))
            for u in incoming:
                uc, um = unit_load[id(u)]
                p[u] = -1
                cpu[h] -= uc
                mem[h] -= um
                ok = hosts_for(u)
                ok[h] = False
                room = ok & (cpu + uc <= cap_c) & (mem + um <= cap_m)
                if room.any():
                    load = np.maximum((cpu + uc + c.host_cpu_base_milli) / cap_cpu_full,
                                      (mem + um + c.host_memory_reserve_mb) / c.host_memory_mb)
                    h2 = int(np.flatnonzero(room)[np.argmin(load[room])])
                    moved = True
                else:
                    h2 = h
                p[u] = h2
                cpu[h2] += uc
                mem[h2] += um
                if moved:
                    break
            if moved:
                break
        if not moved:
            break
    return p


def _extend_covers(cluster: Cluster, dom: Domain, placement: np.ndarray, leaving: np.ndarray,
                   cpu_lim: np.ndarray, mem_lim: np.ndarray, params: Any, deadline: float
                   ) -> bool:
    """Add to ``leaving`` (in place) the cheapest extra VMs of every node still above the
    threshold in ``placement``; False when nothing could be added."""
    from planner.cpsat.model import min_cost_cover

    nh = cluster.n_hosts
    cur = cluster.vm_host
    cpu = np.bincount(placement, weights=cluster.vm_cpu_load_milli, minlength=nh)
    mem = np.bincount(placement, weights=cluster.vm_mem_load_mb, minlength=nh)
    groups_of = _same_node_groups(cluster)
    added = False
    for h in np.flatnonzero((cpu > cpu_lim) | (mem > mem_lim)).tolist():
        items, i_cpu, i_mem, i_cost, groups = _cover_items(cluster, dom, h, groups_of)
        keep = [i for i, g in enumerate(groups)
                if not any(leaving[v] for v in g) and all(cur[v] == h for v in g)]
        if not keep:
            continue
        left = max(0.05, min(1.0, (deadline - time.monotonic()) / 8))
        cov = min_cost_cover(np.arange(len(keep)), i_cpu[keep], i_mem[keep], i_cost[keep],
                             int(cpu[h] - cpu_lim[h]), int(mem[h] - mem_lim[h]),
                             int(cpu[h]), int(mem[h]), 1, 1, params, left)
        if cov.chosen:
            for i in cov.chosen:
                leaving[list(groups[keep[i]])] = True
            added = True
    return added


def _decomposition_targets(cluster: Cluster, dom: Domain, cands: np.ndarray,
                           leaving: np.ndarray, hot: np.ndarray) -> list[np.ndarray]:
    """Targets in the decomposition: a leaver goes to a host that is not hot (when it can),
    by its cheapest kind of move (any other keeps the cost above the bound), and stays in its
    fault domain when a SameFaultDomain partner stays (else the partner would follow)."""
    fd = cluster.host_fault_domain
    keep_fd: dict[int, int] = {}
    for r in cluster.enabled_rules:
        if r.rule_type == RuleType.SAME_FAULT_DOMAIN:
            doms = {int(fd[cluster.vm_host[v]]) for v in r.members}
            if len(doms) == 1 and not all(leaving[v] for v in r.members):
                d = doms.pop()
                for v in r.members:
                    keep_fd[v] = d
    out = []
    for v in cands.tolist():
        ok = dom.allowed[v].copy()
        if leaving[v]:
            ok[cluster.vm_host[v]] = False
            ok &= dom.move_cost[v] == dom.min_cost[v]
            if (ok & ~hot).any():
                ok &= ~hot  # hot nodes only when nothing else can take the VM
            if v in keep_fd:
                same = ok & (fd == keep_fd[v])
                if same.any():
                    ok = same
        out.append(np.flatnonzero(ok))
    return out


def symmetric_groups(cluster: Cluster, dom: Domain, cands: np.ndarray,
                     targets: list[np.ndarray]) -> tuple[tuple[int, ...], ...]:
    """Interchangeable candidates: same source, CPU and memory load, memory size, cost row,
    targets and state, and in no affinity rule or anti-affinity class (so no constraint can
    tell them apart).  Groups of two or more, each sorted by VM index."""
    in_rule = np.zeros(cluster.n_vms, dtype=bool)
    for r in cluster.enabled_rules:
        in_rule[list(r.members)] = True
    groups: dict[tuple[Any, ...], list[int]] = {}
    for v, t in zip(cands.tolist(), targets, strict=True):
        if in_rule[v] or cluster.vm_aa_classes[v] or len(t) < 2:
            continue
        key = (int(cluster.vm_host[v]), int(cluster.vm_cpu_load_milli[v]),
               int(cluster.vm_mem_load_mb[v]), int(cluster.vm_memory_mb[v]),
               int(cluster.vm_state[v]), t.tobytes(), dom.move_cost[v, t].tobytes())
        groups.setdefault(key, []).append(v)
    return tuple(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def domain_mask(cluster: Cluster, cands: np.ndarray, targets: list[np.ndarray]) -> np.ndarray:
    """bool (V, H): where each VM may be in a model with these candidates and targets."""
    m = np.zeros((cluster.n_vms, cluster.n_hosts), dtype=bool)
    m[np.arange(cluster.n_vms), cluster.vm_host] = True
    for v, t in zip(cands.tolist(), targets, strict=True):
        m[v] = False
        m[v, t] = True
    return m


def _same_node_groups(cluster: Cluster) -> dict[int, tuple[int, ...]]:
    """VM → the VMs it must share a node with (enabled SameNode rules, transitively)."""
    return cluster.same_node_groups


def _cover_items(cluster: Cluster, dom: Domain, h: int,
                 groups_of: dict[int, tuple[int, ...]]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple[int, ...]]]:
    """Knapsack items of host ``h``: its movable VMs, a SameNode group that sits wholly on
    ``h`` as one item (in a final placement the group either stays on ``h`` or leaves it
    together), so the cover bound stays valid and gets tighter."""
    cur = cluster.vm_host
    vms = np.flatnonzero((cur == h) & dom.movable & ~dom.mandatory).tolist()
    seen: set[int] = set()
    groups: list[tuple[int, ...]] = []
    for v in vms:
        if v in seen:
            continue
        g = groups_of.get(v, (v,))
        if all(int(cur[w]) == h for w in g):
            if not all(dom.movable[w] and not dom.mandatory[w] for w in g):
                seen.update(g)
                continue  # the group cannot leave: no item
            seen.update(g)
            groups.append(tuple(g))
        else:
            seen.add(v)
            groups.append((v,))
    idx = np.arange(len(groups))
    cpu = np.array([int(cluster.vm_cpu_load_milli[list(g)].sum()) for g in groups], dtype=np.int64)
    mem = np.array([int(cluster.vm_mem_load_mb[list(g)].sum()) for g in groups], dtype=np.int64)
    cost = np.array([int(dom.min_cost[list(g)].sum()) for g in groups], dtype=np.int64)
    return idx, cpu, mem, cost, groups


#: Placement Booleans above which a restricted or full CP-SAT model is not attempted (its
#: presolve alone takes several seconds on two cores); LNS over sub-models is used instead.
LARGE_MODEL_BOOLEANS = 40_000

#: Deterministic-time budget of one LNS sub-model solve (CP-SAT's own work unit).
LNS_DETERMINISTIC_TIME = 1.0


def _lns(cluster: Cluster, dom: Domain, start: np.ndarray, hot: np.ndarray,
         cpu_lim: np.ndarray, mem_lim: np.ndarray, bal: np.ndarray, enforce_aa: bool,
         evaluate: Any, tiers: tuple[str, ...], params: Any, deadline: float,
         bound_fn: Any, sizes: dict[str, int] | None = None, max_moves: int | None = None,
         cover_cost: dict[int, int] | None = None) -> tuple[np.ndarray, int]:
    """Large-neighbourhood search on the migration tier with the tiers before it held.

    Each round frees the VMs of a few hot nodes (those that sent or received VMs together,
    plus one chosen by a seeded generator), lets them go to any allowed node that is not hot
    (or back home), fixes everyone else at the best placement so far, and solves that small
    CP-SAT model (one worker, a deterministic-time budget, so a round gives the same answer
    every time).  The best placement is kept when it is lexicographically better.  Stops at
    the deadline, when every tier meets its bound, or after two passes over the hot nodes
    without improvement.
    """
    from planner.cpsat.model import PlacementModel, SolverParams
    from planner.cpsat.variables import ModelInput

    rng = np.random.default_rng(int(params.seed))
    cover_cost = cover_cost or {}
    best = start.copy()
    best_vals = evaluate(best)
    if best_vals is None:
        return best, 0
    cur = cluster.vm_host
    hot_hosts_list = np.flatnonzero(hot).tolist()
    if not hot_hosts_list:
        return best, 0
    sub_params = SolverParams(params.time_limit_s, 1, params.seed, True, params.log,
                              {"max_deterministic_time": LNS_DETERMINISTIC_TIME})

    def bound_of(name: str, vals: dict[str, int]) -> int:
        fixed: dict[str, int] = {}
        for t in tiers:
            if t == name:
                return int(bound_fn(name, fixed))
            fixed[t] = vals[t]
        return 0

    rounds = 0
    stale = 0
    order = list(hot_hosts_list)
    tried: set[int] = set()
    while time.monotonic() < deadline - 0.3 and stale < 2 * len(order):
        if _all_proven(best_vals, tiers, bound_fn):
            break  # every tier meets its bound: proven optimal
        rounds += 1
        # Start from the hot node whose departures cost most above its cheapest cover (where
        # the plan is furthest from the bound); nodes already tried since the last
        # improvement come last, then in index order.
        leaving_cost = np.bincount(cur, weights=dom.move_cost[np.arange(cluster.n_vms), best],
                                   minlength=cluster.n_hosts)
        slack = {h: float(leaving_cost[h]) - cover_cost.get(h, 0) for h in order}
        seed_host = min(order, key=lambda h: (h in tried, -slack[h], h))
        if seed_host in tried:
            tried.clear()
        tried.add(seed_host)
        group = {seed_host}
        # Hot nodes linked to it by moves of the current plan (a VM went from one to the other).
        moved = np.flatnonzero(best != cur)
        for v in moved.tolist():
            a, b = int(cur[v]), int(best[v])
            if a == seed_host and hot[b]:
                group.add(b)
            if b == seed_host and hot[a]:
                group.add(a)
        extra = [h for h in hot_hosts_list if h not in group]
        if extra:
            group.add(int(rng.choice(extra)))
        hs = np.array(sorted(group))
        # Receivers close to the threshold limit their room: the VMs moved onto them are
        # freed too, so the sub-model can trade room between senders.
        nh = cluster.n_hosts
        load_c = np.bincount(best, weights=cluster.vm_cpu_load_milli, minlength=nh)
        load_m = np.bincount(best, weights=cluster.vm_mem_load_mb, minlength=nh)
        tight = ~hot & ((load_c > cpu_lim - 0.03 * cluster.host_cpu_capacity_milli)
                        | (load_m > mem_lim - 0.03 * cluster.host_memory_mb))
        onto_tight = (best != cur) & tight[best]
        free = ((np.isin(cur, hs) | np.isin(best, hs)) & (dom.movable | dom.mandatory)) \
            | onto_tight
        cands = np.flatnonzero(free)
        targets = []
        for v in cands.tolist():
            ok = dom.allowed[v] & (~hot | np.isin(np.arange(cluster.n_hosts), hs))
            ok[cur[v]] = dom.allowed[v, cur[v]]
            ok[best[v]] = True
            targets.append(np.flatnonzero(ok))
        budget = None
        if max_moves is not None:
            # The budget left for the freed VMs once the fixed VMs' moves are counted.
            outside = (best != cur)
            outside[cands] = False
            budget = max(0, max_moves - int(outside.sum()))
        # No symmetry breaking in the sub-models: measured, it slowed the search (64x8000
        # heavy, generator seed 2: 60 s without proof against 24 s to the proven optimum).
        inp = ModelInput(cluster, cands, tuple(targets), best.astype(np.int64), dom.move_cost,
                         cpu_lim, mem_lim, bal, enforce_aa, budget)
        # The first tier not yet at its bound is minimised; the tiers before it are held at
        # the best values (the sub-model sees only the freed VMs' part of each term, so the
        # result is judged on the whole placement before it is kept).
        focus = next((t for t in tiers if best_vals[t] > bound_of(t, best_vals)), None)
        if focus is None:
            break
        pm = PlacementModel(inp, tiers)
        if sizes is not None:
            nv, nc = pm.size()
            if nv > sizes.get("lns_max_variables", 0):
                sizes["lns_max_variables"], sizes["lns_max_constraints"] = nv, nc
        goal = {t: int(best_vals[t]) for t in tiers}
        # The migration term of a sub-model covers the freed VMs only: hold it at their part.
        goal["migration"] = int(dom.move_cost[cands, best[cands]].sum())
        goal[focus] = 0
        _status, pl = pm.solve_targeted(sub_params, best, goal,
                                        min(deadline, time.monotonic() + 5.0), last=focus)
        improved = False
        if pl is not None:
            vals = evaluate(pl)
            if vals is not None and _lex_better(vals, best_vals, tiers):
                best, best_vals, improved = pl, vals, True
        stale = 0 if improved else stale + 1
        if improved:
            tried.clear()
    return best, rounds


# ---------------------------------------------------------------------------- main entry
def _tier_bound_fn(b: Bounds, tiers: tuple[str, ...]) -> Any:
    def bound(name: str, fixed: dict[str, int]) -> int:
        if name == "excess":
            return b.excess
        if name == "anti_affinity":
            return b.anti_affinity
        excess_zero = fixed.get("excess", 0) == 0 and "excess" in tiers
        if name == "migration":
            if excess_zero and b.migration is not None:
                return b.migration
            return b.migration_mandatory
        if name == "balance":
            if (excess_zero and b.migration is not None and b.balance is not None
                    and "migration" in tiers and fixed.get("migration") == b.migration):
                return b.balance
            return 0
        return 0

    return bound


def optimize(cluster: Cluster, options: PlanOptions | None = None) -> OptimizeResult:
    """Find the lexicographically best plan for ``cluster`` (see the module docstring)."""
    from planner.cpsat.model import PlacementModel, SolverParams, explain_infeasible
    from planner.cpsat.variables import ModelInput

    opts = options or PlanOptions()
    t_start = time.perf_counter()
    prof = _resolve_profile(opts.profile)
    thr = resolve_threshold(cluster, opts.level, opts.threshold_pct, opts.high_mode)
    drained = tuple(sorted({int(h) for h in opts.drain}))
    time_limit = float(opts.time_limit_s if opts.time_limit_s is not None else prof.time_limit_s)
    workers = int(opts.workers if opts.workers is not None else prof.workers)
    params = SolverParams(time_limit, workers, int(opts.seed), prof.deterministic, opts.log)
    deadline = time.monotonic() + time_limit
    enforce_aa = prof.enforce_anti_affinity(cluster.settings.enforced_anti_affinity)
    parameters = {**params.to_dict(), "profile": prof.name, "profile_source": prof.source,
                  "tiers": list(prof.tiers), "shutdown_penalty_mb": prof.shutdown_penalty_mb,
                  "allow_shutdown": prof.allow_shutdown, "enforce_anti_affinity": enforce_aa,
                  "max_moves": opts.max_moves}
    res = OptimizeResult(SolveStatus.UNKNOWN, None, thr, parameters=parameters,
                         seed=int(opts.seed), drained=drained, profile=prof.name)
    bad_drain = [h for h in drained if not 0 <= h < cluster.n_hosts]
    if bad_drain:
        raise ValueError(f"drain refers to unknown host indices {bad_drain}")
    dom = build_domain(cluster, drained, prof)
    problems = precheck(cluster, dom, prof)
    if problems:
        res.status = SolveStatus.INFEASIBLE
        res.explanation = problems
        res.method = "pre-check"
        res.solve_seconds = time.perf_counter() - t_start
        return res
    cpu_lim, mem_lim = threshold_limits(cluster, thr)
    bal = balance_hosts(cluster, drained)
    hot = hot_hosts(cluster, cluster.vm_host, cpu_lim, mem_lim)
    cand, reasons = candidate_vms(cluster, dom, hot, enforce_aa)
    bounds = compute_bounds(cluster, dom, cpu_lim, mem_lim, enforce_aa, params, deadline)
    bound_fn = _tier_bound_fn(bounds, prof.tiers)
    timings = {"bounds": round(bounds.seconds, 3)}
    sizes: dict[str, int] = {"full_problem_booleans": int(dom.allowed.sum()),
                             "cover_models": bounds.cover_models}
    t_stage = time.perf_counter()

    def evaluate_in(allowed_mask: np.ndarray) -> Any:
        def ev(p: np.ndarray) -> dict[str, int] | None:
            if not allowed_mask[np.arange(cluster.n_vms), p].all():
                return None
            if opts.max_moves is not None and int((p != cluster.vm_host).sum()) > opts.max_moves:
                return None
            if any(v.hard for v in placement_violations(cluster, p, drained)):
                return None
            if enforce_aa and not cluster.settings.enforced_anti_affinity and _aa_pairs(
                    cluster, p):
                return None
            return objective_values(cluster, p, thr, drained, prof.shutdown_penalty_mb,
                                    enforce_aa)
        return ev

    evaluate = evaluate_in(dom.allowed)

    def make_input(cands: np.ndarray, targets: list[np.ndarray]) -> Any:
        return ModelInput(cluster, cands, tuple(targets), cluster.vm_host.astype(np.int64),
                          dom.move_cost, cpu_lim, mem_lim, bal, enforce_aa, opts.max_moves,
                          symmetric_groups(cluster, dom, cands, targets))

    best: np.ndarray | None = None
    best_vals: dict[str, int] | None = None
    method = ""
    tiers_out: list[TierResult] = []

    def consider(p: np.ndarray | None, label: str) -> None:
        nonlocal best, best_vals, method
        if p is None:
            return
        vals = evaluate(p)
        if vals is not None and (best_vals is None or _lex_better(vals, best_vals, prof.tiers)):
            if np.array_equal(p, cluster.vm_host):
                label = "current placement"
            best, best_vals, method = p, vals, label

    def is_proven() -> bool:
        return best_vals is not None and _all_proven(best_vals, prof.tiers, bound_fn)

    # Bound targets for a one-shot solve: every tier at its full-problem lower bound.
    targets: dict[str, int] | None = None
    if bounds.migration is not None and bounds.balance is not None and "excess" in prof.tiers:
        targets = {"excess": bounds.excess, "anti_affinity": bounds.anti_affinity,
                   "migration": bounds.migration, "balance": bounds.balance}

    # --- 3. decomposition: cheapest covers + assignment of the leavers --------------------
    if bounds.migration is not None:
        leaving = np.zeros(cluster.n_vms, dtype=bool)
        leaving[dom.mandatory] = True
        for vs in bounds.covers.values():
            leaving[list(vs)] = True
        for _round in range(4):
            tied = _same_partners(cluster, leaving)
            dcands = np.flatnonzero(leaving | tied)
            dtargets = _decomposition_targets(cluster, dom, dcands, leaving, hot)
            if not all(len(t) for t in dtargets):
                break
            g = greedy_assign(cluster, cluster.vm_host, dcands,
                              dict(zip(dcands.tolist(), dtargets, strict=True)), cpu_lim, mem_lim)
            consider(g, "decomposition (greedy assignment)")
            if g is None or is_proven():
                break
            # A hot node that had to take VMs only it could host sheds that much more: a
            # second, cheapest cover of the remaining excess (costs above the bound, but
            # gives a feasible start close to it).
            if not _extend_covers(cluster, dom, g, leaving, cpu_lim, mem_lim, params,
                                  deadline):
                break
        if all(len(t) for t in dtargets) and not is_proven() and targets is not None:
            pm = PlacementModel(make_input(dcands, dtargets), prof.tiers)
            d_deadline = min(deadline, time.monotonic() + max(0.5, 0.15 * time_limit))
            _, pl = pm.solve_targeted(params, g if g is not None else cluster.vm_host,
                                      targets, d_deadline)
            nv, nc = pm.size()
            sizes.update({"decomposition_variables": nv, "decomposition_constraints": nc})
            consider(pl, "decomposition")
    if best is None:
        consider(cluster.vm_host.astype(np.int64), "current placement")
    proven = is_proven()
    timings["decomposition"] = round(time.perf_counter() - t_stage, 3)
    t_stage = time.perf_counter()

    # --- 4. restricted model (or LNS when it is large) ------------------------------------
    large = (LARGE_MODEL_BOOLEANS if opts.large_model_booleans is None
             else int(opts.large_model_booleans))
    explained_model: Any = None
    exported = False
    r_size = 0
    # The restricted candidate set (also what --export-model writes).
    rmask = np.zeros(cluster.n_vms, dtype=bool)
    rmask[cand] = True
    if best is not None:
        rmask |= best != cluster.vm_host
    rmask |= _same_partners(cluster, rmask)
    rc = np.flatnonzero(rmask)
    rtargets = []
    for v in rc.tolist():
        ok = dom.allowed[v] & ~hot
        ok[cluster.vm_host[v]] = dom.allowed[v, cluster.vm_host[v]]
        if best is not None:
            ok[best[v]] = True
        if not ok.any():
            ok = dom.allowed[v]
        rtargets.append(np.flatnonzero(ok))
    r_size = int(sum(len(t) for t in rtargets))
    sizes["restricted_booleans"] = r_size
    if not proven and (best_vals is None or best_vals.get("excess", 0) > bounds.excess):
        # No start under the threshold yet: a greedy repair over all candidates (VMs stay
        # home while their node fits under the threshold, the rest go where it is lowest).
        consider(greedy_assign(cluster, cluster.vm_host, rc,
                               dict(zip(rc.tolist(), rtargets, strict=True)), cpu_lim,
                               mem_lim), "greedy repair")
    if not proven and time.monotonic() < deadline - 0.05 and r_size <= large:
        # Small enough for CP-SAT: the exact restricted model first, with half the time.
        r_deadline = time.monotonic() + 0.5 * (deadline - time.monotonic())
        rin = make_input(rc, rtargets)
        hint = best
        if hint is None:
            hint = greedy_assign(cluster, cluster.vm_host, rc,
                                 dict(zip(rc.tolist(), rtargets, strict=True)), cpu_lim, mem_lim)
        if targets is not None:
            tm = PlacementModel(rin, prof.tiers)
            t_deadline = min(r_deadline, time.monotonic() + max(0.5, 0.25 * time_limit))
            # Aim at the bounds up to the migration tier: the balance bound is often met by
            # the first migration-optimal solution, and when it is not, one search for every
            # bound at once can spend its whole budget; the tier sequence below then takes
            # balance on its own, stopping as soon as its bound is reached.
            last = "migration" if "migration" in prof.tiers else None
            _, pl = tm.solve_targeted(params, hint, targets, t_deadline, last=last)
            consider(pl, "restricted model (at the bounds)")
            proven = is_proven()
            if best is not None:
                hint = best
        rm = PlacementModel(rin, prof.tiers)
        if opts.export_model is not None:
            rm.export(opts.export_model)
            exported = True
        nv, nc = rm.size()
        sizes.update({"variables": nv, "constraints": nc, "candidates": len(rc)})
        if not proven:
            out = rm.solve_tiers(params, hint, evaluate_in(domain_mask(cluster, rc, rtargets)
                                                           & dom.allowed), bound_fn, r_deadline)
            consider(out.placement, "restricted model")
        proven = is_proven()
        explained_model = rin
        timings["restricted"] = round(time.perf_counter() - t_stage, 3)
        t_stage = time.perf_counter()

    if not proven and time.monotonic() < deadline - 0.05 and best is not None:
        # Large-neighbourhood search over small sub-models: on large instances it reaches the
        # bounds far faster than one restricted model, whose presolve alone takes seconds.
        # Small instances keep half of the remaining time for the full model below.
        lns_deadline = deadline if r_size > large else (
            time.monotonic() + 0.5 * (deadline - time.monotonic()))
        lns_best, rounds = _lns(cluster, dom, best, hot, cpu_lim, mem_lim, bal, enforce_aa,
                                evaluate, prof.tiers, params, lns_deadline, bound_fn,
                                sizes, opts.max_moves, bounds.cover_cost)
        consider(lns_best, "large-neighbourhood search")
        sizes["lns_rounds"] = rounds
        proven = is_proven()
        timings["lns"] = round(time.perf_counter() - t_stage, 3)
        t_stage = time.perf_counter()

    # --- 5. full model ---------------------------------------------------------------------
    full_bounds: dict[str, int] = {}
    full_status = ""
    full_size = int(dom.allowed.sum())
    if not proven and time.monotonic() < deadline - 0.5 and (
            best is None or full_size <= large):
        allc = np.arange(cluster.n_vms)
        fin = make_input(allc, [np.flatnonzero(dom.allowed[v]) for v in range(cluster.n_vms)])
        fm = PlacementModel(fin, prof.tiers)
        if opts.export_model is not None:
            fm.export(opts.export_model)
            exported = True
        out = fm.solve_tiers(params, best, evaluate, bound_fn, deadline)
        sizes.update({"full_variables": out.n_variables, "full_constraints": out.n_constraints})
        full_status = out.status
        consider(out.placement, "full model")
        if best_vals is not None:
            # CP-SAT bounds of the full model are valid; keep them per tier while the values
            # before it agree with the full model's fixed values.
            for t in out.tiers:
                if t.bound is not None and t.objective is not None and \
                        best_vals.get(t.name) == t.objective:
                    full_bounds[t.name] = t.bound
                else:
                    break
        explained_model = fin
        timings["full"] = round(time.perf_counter() - t_stage, 3)

    if opts.export_model is not None and not exported:
        # Proven without the restricted model: write it anyway, as it would have been solved.
        PlacementModel(make_input(rc, rtargets), prof.tiers).export(opts.export_model)
    res.solve_seconds = time.perf_counter() - t_start
    res.model_size = sizes
    res.timings = timings
    res.method = method
    if best is None or best_vals is None:
        if full_status == "INFEASIBLE":
            res.status = SolveStatus.INFEASIBLE
            core = explain_infeasible(explained_model, params,
                                      max(2.0, min(20.0, time_limit / 3)))
            res.explanation = describe_core(cluster, core or [], opts.max_moves)
            if res.explanation and drained:
                res.explanation.append("Drained nodes: "
                                       + ", ".join(cluster.host_names[h] for h in drained) + ".")
            must = np.flatnonzero(dom.mandatory).tolist()
            if res.explanation and must:
                shown = ", ".join(
                    f"{cluster.vm_names[v]} ({int(cluster.vm_mem_load_mb[v])} MB, "
                    f"{cluster.vm_cpu_load_milli[v] / 1000:.2f} LP)" for v in must[:10])
                res.explanation.append(f"VMs that must leave their node: {shown}"
                                       + (f" and {len(must) - 10} more." if len(must) > 10
                                          else "."))
            if not res.explanation:
                res.explanation = ["The rules, capacities and allowed hosts cannot all hold "
                                   "together (no smaller conflicting set was isolated)."]
        else:
            res.status = SolveStatus.UNKNOWN
            res.explanation = ["No plan was found within the time limit "
                               f"({time_limit:g} s); try a longer --time-limit."]
        res.solve_seconds = time.perf_counter() - t_start
        return res

    fixed: dict[str, int] = {}
    all_proven = True
    gap = 0.0
    for name in prof.tiers:
        val = best_vals[name]
        if all_proven:
            # The tiers before are proven optimal: bounds conditional on them hold.
            lb = max(bound_fn(name, fixed), full_bounds.get(name, 0))
        else:
            # After an unproven tier only bounds that hold for every placement are valid.
            lb = {"excess": bounds.excess, "anti_affinity": bounds.anti_affinity,
                  "migration": bounds.migration_mandatory}.get(name, 0)
        lb = min(lb, val)
        st = "OPTIMAL" if val == lb and all_proven else "FEASIBLE"
        if st != "OPTIMAL" and all_proven:
            all_proven = False
            gap = (val - lb) / val if val else 0.0
            res.gap_tier = name
        tiers_out.append(TierResult(name, val, lb, st))
        fixed[name] = val
    res.tiers = tiers_out
    res.objective = dict(best_vals)
    res.bound = {t.name: int(t.bound) for t in tiers_out if t.bound is not None}
    res.gap = gap
    res.status = SolveStatus.OPTIMAL if all_proven else SolveStatus.FEASIBLE
    res.placement = best
    moved = np.flatnonzero(best != cluster.vm_host)
    res.moves = moved
    res.memory_moved_mb = int(cluster.vm_memory_mb[moved].sum())
    res.downtime_moves = int((cluster.vm_move_kind[moved, best[moved]]
                              == MoveKind.SHUTDOWN).sum())
    res.reasons = {int(v): reasons.get(int(v), "balance: frees room or evens the load")
                   for v in moved.tolist()}
    res.solve_seconds = time.perf_counter() - t_start
    return res


def _aa_pairs(cluster: Cluster, p: np.ndarray) -> int:
    n = 0
    for members in cluster.aa_class_members:
        if len(members) > 1:
            _, c = np.unique(p[list(members)], return_counts=True)
            n += int((c * (c - 1) // 2).sum())
    return n


def _same_partners(cluster: Cluster, mask: np.ndarray) -> np.ndarray:
    """VMs tied by SameNode/SameFaultDomain rules to a VM in ``mask`` (not in it)."""
    out = np.zeros(cluster.n_vms, dtype=bool)
    changed = True
    cur = mask.copy()
    while changed:
        changed = False
        for r in cluster.enabled_rules:
            if r.rule_type in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN) and any(
                    cur[v] for v in r.members):
                for v in r.members:
                    if not cur[v]:
                        cur[v] = out[v] = True
                        changed = True
    return out


def _all_proven(vals: dict[str, int], tiers: tuple[str, ...], bound_fn: Any) -> bool:
    fixed: dict[str, int] = {}
    for name in tiers:
        if vals[name] != bound_fn(name, fixed):
            return False
        fixed[name] = vals[name]
    return True


def _lex_better(a: dict[str, int], b: dict[str, int], tiers: tuple[str, ...]) -> bool:
    return tuple(a[t] for t in tiers) < tuple(b[t] for t in tiers)


def _resolve_profile(p: Profile | str | None) -> Profile:
    if isinstance(p, Profile):
        return p
    prof, rep = load_profile(p)
    if prof is None:
        raise ValueError("; ".join(str(e) for e in rep.errors))
    return prof


def describe_core(cluster: Cluster, core: list[tuple[object, ...]],
                  max_moves: int | None) -> list[str]:
    """Plain-English names of the constraint groups of an infeasibility core."""
    out: list[str] = []
    for key in core:
        kind = key[0]
        if kind == "capacity":
            h = int(key[1])  # type: ignore[call-overload]
            out.append(f"the CPU and memory capacity of node {cluster.host_names[h]}")
        elif kind == "rule":
            r = cluster.rules[int(key[1])]  # type: ignore[call-overload]
            out.append(f"{r.type_name} rule '{r.name}' "
                       f"({', '.join(cluster.vm_names[v] for v in r.members[:8])})")
        elif kind == "anti_affinity":
            out.append(f"enforced anti-affinity class "
                       f"'{cluster.aa_class_names[int(key[1])]}'")  # type: ignore[call-overload]
        elif kind == "budget":
            out.append(f"the migration budget --max-moves {max_moves}")
        elif kind == "vm":
            out.append(f"VM {cluster.vm_names[int(key[1])]} "  # type: ignore[call-overload]
                       "has no allowed node")
    if out:
        return ["These cannot all hold together: " + "; ".join(out) + "."]
    return out


def summary_loads(cluster: Cluster, placement: np.ndarray, thr: Threshold,
                  drained: tuple[int, ...] = ()) -> dict[str, Any]:
    """Max CPU/memory percent and hosts over the threshold for a placement, over the hosts
    that are not Down (Paused and drained ones included: before the plan they still carry
    their VMs; a Down node runs nothing, whatever the snapshot lists on it)."""
    loads = host_loads(cluster, placement)
    up = cluster.host_state != HostState.DOWN
    if not up.any():
        up = np.ones(cluster.n_hosts, dtype=bool)
    over = loads.over(thr) & up
    return {"max_cpu_pct": round(float(loads.cpu_pct[up].max()), 4),
            "max_memory_pct": round(float(loads.memory_pct[up].max()), 4),
            "hosts_over_threshold": int(over.sum())}


__all__ = ["OptimizeResult", "PlanOptions", "SolveStatus", "TierResult", "TIER_NAMES",
           "optimize", "build_domain", "precheck", "candidate_vms", "compute_bounds",
           "describe_core", "summary_loads"]
