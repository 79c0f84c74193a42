"""Lower bounds valid for the full problem (every VM free to move to every allowed host).

* ``rules`` >= the soft rules that no placement can repair: every running member stuck on
  its node, or a DifferentNode rule with more running members than the nodes they may use.
* ``excess`` >= the excess of the load that cannot leave its host (pinned VMs and VMs with no
  other allowed host), summed over the load samples.
* ``anti_affinity`` >= per soft class, the pigeonhole count of pairs over the hosts its
  running members may use.
* ``migration`` >= (cost of mandatory moves) + for every node above the threshold the
  cheapest set of its movable VMs whose removal brings it under (a two-resource covering
  knapsack, solved exactly per node by CP-SAT and a dynamic-programming table,
  :mod:`planner.cpsat.cover`).  Valid whenever the excess optimum is 0: a
  node ``h`` over the threshold must lose at least its excess (more if it receives
  anything), so the set of VMs leaving it is a cover and costs at least ``c_h``; sets of
  different nodes are disjoint.  (With several load samples only the mandatory part.)
* ``balance`` >= max(over hot nodes: the lowest load any cheapest cover leaves; over the
  other nodes: their load minus mandatory departures).  Valid when the migration optimum
  equals its bound: every move costs more than 0, so a full solution of exactly that cost
  moves the mandatory VMs plus one cheapest cover per hot node and nothing else.

The SameNode groups that sit wholly on a node are single knapsack items (such a group
either stays or leaves together), which keeps the bound valid and tighter.

:func:`add_relaxed_bounds` adds the bounds of :mod:`planner.bounds_extra` (single load sample
only), each kept with the assumption it needs, so that a tier left unproven does not zero
the bounds of the tiers after it:

* ``anti_affinity_any`` (every feasible placement) and ``anti_affinity_excess0`` (every
  placement with no node above the threshold): min-cost assignment of the classes' members;
* ``migration_relaxed`` (every placement with no node above the threshold, whatever its
  rules and anti-affinity tiers): the larger of the exact CP-SAT cover and the surrogate
  cover per node, plus the mandatory moves;
* :meth:`Bounds.migration_lb` with ``aa_zero`` (every placement with no node above the
  threshold and no legacy anti-affinity pair): per node the larger of its cover bounds and
  the cheapest departures that also leave at most one member of each class on it
  (``aa_cost``: a node holding a pair now must let all but one member go, even when it is
  not over the threshold), plus the mandatory moves; :meth:`Bounds.balance_at` the balance
  bound of a plan at exactly that cost (every node then spends exactly its bound, so the
  lowest load its cheapest set leaves, or its load now, stays);
* ``balance_any`` (every feasible placement): fixed loads and averaging;
  :meth:`Bounds.balance_within` (every placement with no node above the threshold whose
  migration cost is at most a given value): the memory a node keeps when the budget is spent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from planner import bounds_extra as bx
from planner.cluster import RuleType
from planner.cpsat.budget import Budget
from planner.cpsat.solver import SolverParams
from planner.problem import BP, PlanningProblem
from planner.solve.hostcover import aa_split_groups, cover_items, host_cover
from planner.units import ceil_div


@dataclass
class Bounds:
    """Lower bounds valid for the full problem (see the module docstring)."""

    rules: int = 0
    excess: int = 0
    anti_affinity: int = 0
    migration_mandatory: int = 0
    migration: int | None = None  # valid when the excess optimum is 0
    balance: int | None = None  # valid when also migration == this bound
    covers: dict[int, tuple[int, ...]] = field(default_factory=dict)
    cover_cost: dict[int, int] = field(default_factory=dict)
    cover_models: int = 0
    seconds: float = 0.0
    #: Relaxed bounds (see :func:`add_relaxed_bounds`); 0 / None when not computed.
    anti_affinity_any: int = 0
    anti_affinity_excess0: int = 0
    migration_relaxed: int | None = None
    balance_any: int = 0
    #: Per balance node: (memory that stays if nothing leaves, its reserve, its capacity,
    #: the migration lower bound of everything but this node's departures); for
    #: :meth:`balance_within`.  Empty when the budget bound does not apply.
    keep: tuple[tuple[int, int, int, int], ...] = ()
    #: :func:`add_relaxed_bounds` has run (it runs at most once, and only when needed).
    relaxed: bool = False
    #: Per node with a cover model: the lowest load a cheapest cover leaves (basis points;
    #: 0 when the cheapest cost is not proven).
    cover_rem: dict[int, int] = field(default_factory=dict)
    #: Per node holding two running members of one legacy anti-affinity class: the cheapest
    #: departures that also leave at most one member of each class (and bring it under the
    #: threshold), valid for every plan with no node above the threshold and no pair left;
    #: their VMs and the lowest load they leave (0 when not proven).
    aa_cost: dict[int, int] = field(default_factory=dict)
    aa_covers: dict[int, tuple[int, ...]] = field(default_factory=dict)
    aa_rem: dict[int, int] = field(default_factory=dict)
    #: Some class cannot be split on some node: no plan has anti-affinity 0.
    aa_unsplittable: bool = False
    #: Per node, the relaxed cover bound of :func:`add_relaxed_bounds` (0 / missing: none).
    node_lb: dict[int, int] = field(default_factory=dict)
    #: Per balance node with nothing to shed: its load now (basis points, worst resource).
    still_bp: dict[int, int] = field(default_factory=dict)

    def leaver_covers(self, split: bool) -> tuple[dict[int, tuple[int, ...]], dict[int, int]]:
        """Per node, the VMs of its cheapest cover and their cost, for the decomposition;
        with ``split`` (the plan should leave no anti-affinity pair), the covers that also
        split the pairs where there are such."""
        covers, costs = dict(self.covers), dict(self.cover_cost)
        if split and not self.aa_unsplittable:
            covers.update(self.aa_covers)
            costs.update(self.aa_cost)
        return covers, costs

    def node_bound(self, h: int, aa_zero: bool) -> int:
        """Lower bound on what the departures from node ``h`` cost (plans with no node
        above the threshold; with ``aa_zero`` also no anti-affinity pair)."""
        lb = max(self.cover_cost.get(h, 0), self.node_lb.get(h, 0))
        if aa_zero:
            lb = max(lb, self.aa_cost.get(h, 0))
        return lb

    def migration_lb(self, aa_zero: bool) -> int | None:
        """Migration lower bound of every plan with no node above the threshold (and, with
        ``aa_zero``, no anti-affinity pair): the mandatory moves plus every node's
        departures (different nodes' departures are different VMs).  ``None`` when the
        covers do not apply (excess above 0, or several load samples)."""
        if self.migration is None:
            return None
        hosts = set(self.cover_cost) | set(self.node_lb) | (set(self.aa_cost) if aa_zero else set())
        total = self.migration_mandatory + sum(self.node_bound(h, aa_zero) for h in hosts)
        return max(total, self.migration)

    def balance_at(self, m: int, aa_zero: bool) -> int:
        """Balance lower bound of every plan with no node above the threshold (and, with
        ``aa_zero``, no anti-affinity pair) whose migration cost is ``m``, when ``m`` is
        :meth:`migration_lb`; else 0.  Such a plan spends exactly each node's bound on its
        departures (each costs at least that, and the bounds add up to ``m``), so a node
        whose bound is its proven cheapest set keeps at least that set's lowest remaining
        load, and a node with nothing to shed keeps its load."""
        if self.migration is None or m != self.migration_lb(aa_zero):
            return 0
        best = 0
        for h, bp in self.still_bp.items():
            if self.node_bound(h, aa_zero) == 0:
                best = max(best, bp)
        for h in set(self.cover_cost) | (set(self.aa_cost) if aa_zero else set()):
            lb = self.node_bound(h, aa_zero)
            if aa_zero and h in self.aa_cost:
                cost, rem = self.aa_cost[h], self.aa_rem.get(h, 0)
            else:
                cost, rem = self.cover_cost[h], self.cover_rem.get(h, 0)
            if cost == lb:
                best = max(best, rem)
        return best

    def balance_within(self, m: int) -> int:
        """Balance lower bound for every placement with no node above the threshold and a
        migration cost of at most ``m`` (each move costs at least the VM's memory): a node
        keeps its memory now minus what may leave it, and what leaves it costs at most ``m``
        minus the lower bound of every other departure."""
        best = 0
        for stay_m, reserve, cap, others in self.keep:
            kept = stay_m - max(m - others, 0)
            best = max(best, int(ceil_div(BP * (kept + reserve), cap)) if cap > 0 else 0)
        return best

    def unconditional(self, tier: str) -> int:
        """The bound of ``tier`` that holds for every placement, whatever the tiers before."""
        return {
            "rules": self.rules,
            "excess": self.excess,
            "anti_affinity": self.anti_affinity,
            "migration": self.migration_mandatory,
        }.get(tier, 0)


@dataclass(frozen=True)
class TierBounds:
    """The bound of each tier given the values the tiers before it are fixed at."""

    bounds: Bounds
    tiers: tuple[str, ...]

    def __call__(self, name: str, fixed: Mapping[str, int]) -> int:
        """Lower bound of tier ``name`` for every placement whose tiers before it are at most
        the ``fixed`` values (tiers missing from ``fixed`` are unknown)."""
        return self.explain(name, fixed)[0]

    def explain(self, name: str, fixed: Mapping[str, int]) -> tuple[int, str]:
        """:meth:`__call__` and the relaxation the bound assumes, in words."""
        b = self.bounds
        excess_zero = "excess" in self.tiers and fixed.get("excess") == 0
        aa_zero = self._aa_zero(fixed)
        if name in ("rules", "excess"):
            return b.unconditional(name), "every feasible plan"
        if name == "anti_affinity":
            lb = max(b.anti_affinity, b.anti_affinity_any)
            if excess_zero and b.anti_affinity_excess0 > lb:
                return b.anti_affinity_excess0, "every plan with no node above the threshold"
            return lb, "every feasible plan"
        if name == "migration":
            if excess_zero and b.migration is not None:
                lb = max(b.migration, b.migration_relaxed or 0, b.migration_lb(False) or 0)
                with_aa = b.migration_lb(True) or 0 if aa_zero else 0
                if with_aa > lb:
                    return with_aa, (
                        "every plan with no node above the threshold and no anti-affinity "
                        "pair, whatever its rules tier (cheapest covers and pair splits)"
                    )
                return lb, (
                    "every plan with no node above the threshold, whatever its rules and "
                    "anti-affinity tiers (cheapest covers of the nodes over it)"
                )
            return b.migration_mandatory, "the mandatory moves only"
        if name != "balance":
            return 0, "none"
        best, why = b.balance_any, "every feasible plan (fixed loads, averaging)"
        if excess_zero and "migration" in fixed and b.keep:
            within = b.balance_within(int(fixed["migration"]))
            if within > best:
                best, why = (
                    within,
                    (
                        "every plan with no node above the threshold and at most this "
                        "migration cost (memory a node keeps)"
                    ),
                )
        if excess_zero and "migration" in self.tiers and "migration" in fixed:
            at = max(b.balance_at(int(fixed["migration"]), aa) for aa in {False, aa_zero})
            if (
                b.migration is not None
                and b.balance is not None
                and fixed["migration"] == b.migration
            ):
                at = max(at, b.balance)
            if at > best:
                best, why = at, "every plan at the migration bound (cheapest covers)"
        return best, why

    def _aa_zero(self, fixed: Mapping[str, int]) -> bool:
        """The plans judged have no legacy anti-affinity pair (the tier is fixed at 0)."""
        return (
            "anti_affinity" in self.tiers
            and fixed.get("anti_affinity") == 0
            and not self.bounds.aa_unsplittable
        )

    def of(self, name: str, values: Mapping[str, int]) -> int:
        """Bound of ``name`` with the tiers before it at their ``values``."""
        fixed: dict[str, int] = {}
        for t in self.tiers:
            if t == name:
                return self(name, fixed)
            fixed[t] = values[t]
        return 0

    def all_met(self, values: Mapping[str, int]) -> bool:
        """Every tier meets its bound (so the values are optimal)."""
        return all(values[t] == self.of(t, values) for t in self.tiers)

    def targets(self) -> dict[str, int] | None:
        """Every tier at its bound (for a one-shot solve), or None when the bounds of the
        later tiers are not known."""
        b = self.bounds
        if b.migration is None or b.balance is None or "excess" not in self.tiers:
            return None
        aa = max(b.anti_affinity, b.anti_affinity_any, b.anti_affinity_excess0)
        aa_zero = self._aa_zero({"anti_affinity": aa})
        mig = max(b.migration, b.migration_relaxed or 0, b.migration_lb(aa_zero) or 0)
        bal = max(b.balance_any, b.balance_within(mig) if b.keep else 0, b.balance_at(mig, aa_zero))
        if mig == b.migration:
            bal = max(bal, b.balance)
        return {
            "rules": b.rules,
            "excess": b.excess,
            "anti_affinity": aa,
            "migration": mig,
            "balance": bal,
        }


def add_relaxed_bounds(pb: PlanningProblem, b: Bounds) -> None:
    """Add the relaxed bounds of :mod:`planner.bounds_extra` to ``b`` (see the module
    docstring).  Only with one load sample whose loads are the cluster's (the functions read
    the cluster's loads); boot memory and the running-VM limit only add constraints, so the
    bounds stay valid for the planning problem.  Runs once per ``b``: later calls do
    nothing (the pipeline asks for these bounds only when the cheap ones do not prove the
    first greedy plan)."""
    if b.relaxed:
        return
    b.relaxed = True
    c = pb.cluster
    if (
        pb.n_samples != 1
        or not np.array_equal(pb.vm_cpu[0], c.vm_cpu_load_milli)
        or not np.array_equal(pb.vm_mem[0], c.vm_mem_load_mb)
        or not np.array_equal(pb.host_cpu_base[0], c.host_cpu_base_milli)
    ):
        return
    t0 = time.perf_counter()
    allowed = np.asarray(pb.allowed)
    cpu_lim = np.asarray(pb.cpu_limit[0], dtype=np.int64)
    mem_lim = np.asarray(pb.mem_limit, dtype=np.int64)
    cost = np.asarray(pb.move_cost)
    if not pb.enforce_aa:
        b.anti_affinity_any = bx.aa_pairs_lower_bound(c, allowed, cpu_lim, mem_lim)
        b.anti_affinity_excess0 = max(
            b.anti_affinity_any,
            bx.aa_pairs_lower_bound(c, allowed, cpu_lim, mem_lim, excess_zero=True),
        )
    bal = np.asarray(pb.balance_hosts, dtype=bool)
    b.balance_any = bx.balance_lower_bound(c, allowed, cpu_lim, mem_lim, bal)
    mandatory = bx.migration_lower_bound(c, allowed, cpu_lim, mem_lim, cost, excess_zero=False)
    b.migration_mandatory = max(b.migration_mandatory, mandatory)
    if b.excess > 0 or b.migration is None:
        b.seconds += time.perf_counter() - t0
        return
    covers = bx.node_cover_bounds(c, allowed, cpu_lim, mem_lim, cost)
    if any(v < 0 for v in covers.values()):
        b.seconds += time.perf_counter() - t0
        return  # some node cannot get under the threshold: the excess optimum is above 0
    b.node_lb = dict(covers)
    node = {h: max(v, b.cover_cost.get(h, 0)) for h, v in covers.items()}
    for h, v in b.cover_cost.items():
        node.setdefault(h, v)
    total = b.migration_mandatory + sum(node.values())
    b.migration_relaxed = max(total, b.migration)
    _keep_table(pb, b, node, total)
    b.seconds += time.perf_counter() - t0


def _keep_table(pb: PlanningProblem, b: Bounds, node: dict[int, int], total: int) -> None:
    """Per balance node, what :meth:`Bounds.balance_within` needs (only when every move
    costs at least the VM's memory)."""
    c = pb.cluster
    nv = c.n_vms
    cur = c.vm_host
    moves = np.asarray(pb.allowed).copy()
    moves[np.arange(nv), cur] = False
    mem = np.broadcast_to(c.vm_mem_load_mb[:, None], moves.shape)
    if (pb.move_cost[moves] < mem[moves]).any():
        return
    # A mandatory VM (its SameNode partner must leave) is counted in ``total``, not kept.
    stay = pb.allowed[np.arange(nv), cur] & c.vm_consumes & ~pb.mandatory
    stay_m = np.bincount(cur[stay], weights=c.vm_mem_load_mb[stay], minlength=c.n_hosts)
    b.keep = tuple(
        (
            int(stay_m[h]),
            int(c.host_memory_reserve_mb[h]),
            int(c.host_memory_mb[h]),
            total - node.get(h, 0),
        )
        for h in np.flatnonzero(pb.balance_hosts).tolist()
    )


def _stuck_bounds(pb: PlanningProblem, b: Bounds) -> None:
    """Bounds from what cannot move: rules, excess, anti-affinity, mandatory moves."""
    c = pb.cluster
    nh = c.n_hosts
    cur = c.vm_host
    stuck = ~pb.movable & ~pb.mandatory
    for k in range(pb.n_samples):
        st_c = np.bincount(cur[stuck], weights=pb.vm_cpu[k, stuck], minlength=nh)
        st_m = np.bincount(cur[stuck], weights=pb.vm_mem[k, stuck], minlength=nh)
        b.excess += int(
            ceil_div(
                BP * np.maximum(st_c.astype(np.int64) - pb.cpu_limit[k], 0),
                c.host_cpu_capacity_milli,
            ).sum()
            + ceil_div(
                BP * np.maximum(st_m.astype(np.int64) - pb.mem_limit, 0), c.host_memory_mb
            ).sum()
        )
    for r in pb.soft_rules:
        m = list(pb.rule_members[r])
        if (
            all(stuck[v] for v in m)
            or c.rules[r].rule_type == RuleType.DIFFERENT_NODE
            and len(m) > int(pb.allowed[m].any(axis=0).sum())
        ):
            b.rules += 1
    for k in pb.soft_aa:
        m = list(pb.aa_members[k])
        if all(stuck[v] for v in m) or len(m) > int(pb.allowed[m].any(axis=0).sum()):
            b.rules += 1
    if not pb.enforce_aa:
        for members in pb.aa_members:
            n = len(members)
            if n < 2:
                continue
            kk = int(pb.allowed[list(members)].any(axis=0).sum())
            if kk == 0:
                continue
            q, r = divmod(n, kk)
            b.anti_affinity += r * (q + 1) * q // 2 + (kk - r) * q * (q - 1) // 2
    b.migration_mandatory = int(pb.min_cost[pb.mandatory].sum())


def compute_bounds(pb: PlanningProblem, params: SolverParams, deadline: Budget | float) -> Bounds:
    """Compute the full-problem lower bounds, the per-node cheapest covers and the relaxed
    bounds of :func:`add_relaxed_bounds` (the pipeline computes the last ones lazily)."""
    b = cover_bounds(pb, params, deadline)
    add_relaxed_bounds(pb, b)
    return b


def cover_bounds(pb: PlanningProblem, params: SolverParams, deadline: Budget | float) -> Bounds:
    """The full-problem lower bounds and the per-node cheapest covers (module docstring);
    the cover models within the run's ``deadline`` (a float: a wall-clock deadline)."""
    t0 = time.perf_counter()
    deadline = Budget.of(deadline, pb.profile.budget.deterministic_time_per_second)
    b = Bounds()
    _stuck_bounds(pb, b)
    if b.excess > 0 or pb.n_samples > 1:
        if b.excess == 0:
            _sample_cover_bounds(pb, params, deadline, b)
        b.seconds = time.perf_counter() - t0
        return b
    c = pb.cluster
    nh = c.n_hosts
    cur = c.vm_host
    stay = ~pb.mandatory
    c_now = np.bincount(cur[stay], weights=pb.vm_cpu[0, stay], minlength=nh).astype(np.int64)
    m_now = np.bincount(cur[stay], weights=pb.vm_mem[0, stay], minlength=nh).astype(np.int64)
    total = b.migration_mandatory
    balance = 0
    split = not pb.enforce_aa and "anti_affinity" in pb.tiers
    pairs = _pair_hosts(pb) if split else set()
    for h in range(nh):
        used_c = int(c_now[h] + pb.host_cpu_base[0, h])
        used_m = int(m_now[h] + c.host_memory_reserve_mb[h])
        loads = (
            int(c_now[h] - pb.cpu_limit[0, h]),
            int(m_now[h] - pb.mem_limit[h]),
            used_c,
            used_m,
        )
        if loads[0] <= 0 and loads[1] <= 0:
            if pb.balance_hosts[h]:
                cap_c, cap_m = int(c.host_cpu_capacity_milli[h]), int(c.host_memory_mb[h])
                bp = max(int(ceil_div(BP * used_c, cap_c)), int(ceil_div(BP * used_m, cap_m)))
                b.still_bp[h] = bp
                balance = max(balance, bp)
        else:
            cov, groups = host_cover(pb, params, deadline, h, 0, loads)
            b.cover_models += 1
            if not cov.feasible:
                # Cannot get under the threshold even by moving everything: excess > 0.
                b.seconds = time.perf_counter() - t0
                return b
            total += cov.cost_bound
            b.cover_cost[h] = cov.cost_bound
            if cov.chosen is not None:
                b.covers[h] = tuple(v for i in cov.chosen for v in groups[i])
            if pb.balance_hosts[h]:
                balance = max(balance, cov.remaining_bound)
                b.cover_rem[h] = cov.remaining_bound
        if h in pairs:
            _split_cover(pb, params, deadline, h, loads, b)
    b.migration = total
    b.balance = balance
    b.seconds = time.perf_counter() - t0
    return b


def _pair_hosts(pb: PlanningProblem) -> set[int]:
    """Nodes holding two or more running members of one legacy anti-affinity class that
    are not bound to leave."""
    cur = pb.cluster.vm_host
    out: set[int] = set()
    for members in pb.aa_members:
        hs = [int(cur[v]) for v in members if not pb.mandatory[v]]
        out.update(h for h in set(hs) if hs.count(h) > 1)
    return out


def _split_cover(
    pb: PlanningProblem,
    params: SolverParams,
    deadline: Budget,
    h: int,
    loads: tuple[int, int, int, int],
    b: Bounds,
) -> None:
    """The cheapest departures from node ``h`` that bring it under the threshold and leave
    at most one member of each legacy anti-affinity class on it (``b.aa_cost``), when two
    or more members sit there now; ``b.aa_unsplittable`` when two members cannot leave."""
    groups = cover_items(pb, h)[4]
    split = aa_split_groups(pb, h, groups)
    if split is None:
        b.aa_unsplittable = True
        return
    stays, forced = split
    if not stays and not forced:
        return
    cov, _ = host_cover(pb, params, deadline, h, 0, loads, stays, forced)
    b.cover_models += 1
    if not cov.feasible:
        b.aa_unsplittable = True
        return
    b.aa_cost[h] = cov.cost_bound
    if cov.chosen is not None:
        b.aa_covers[h] = tuple(v for i in cov.chosen for v in groups[i])
    if pb.balance_hosts[h]:
        b.aa_rem[h] = cov.remaining_bound


def _sample_cover_bounds(
    pb: PlanningProblem, params: SolverParams, deadline: Budget, b: Bounds
) -> None:
    """The migration bound with several load samples (a plan judged over a history).

    A plan with no node above the threshold at any sample makes every node shed, at each
    sample, what it carries above its limit there; so a node's departures cost at least its
    cheapest cover at any one sample.  Per node the covers at its worst CPU and its worst
    memory sample are solved and the larger is kept; departures from different nodes are
    different VMs, so the sum (plus the mandatory moves) bounds the migration cost of every
    such plan.  ``b.migration`` stays ``None`` when some node cannot get under the threshold
    at a sample even by moving everything.  No covers for the decomposition and no balance
    bound are set: those stages and bounds work on one sample."""
    c = pb.cluster
    cur = c.vm_host
    stay = ~pb.mandatory
    total = b.migration_mandatory
    for h in range(c.n_hosts):
        on = stay & (cur == h)
        c_now = pb.vm_cpu[:, on].sum(axis=1, dtype=np.int64)
        m_now = pb.vm_mem[:, on].sum(axis=1, dtype=np.int64)
        need_c = c_now - pb.cpu_limit[:, h]
        need_m = m_now - int(pb.mem_limit[h])
        if (need_c <= 0).all() and (need_m <= 0).all():
            continue
        best = 0
        for k in sorted({int(np.argmax(need_c)), int(np.argmax(need_m))}):
            if need_c[k] <= 0 and need_m[k] <= 0:
                continue
            loads = (
                int(need_c[k]),
                int(need_m[k]),
                int(c_now[k] + pb.host_cpu_base[k, h]),
                int(m_now[k] + c.host_memory_reserve_mb[h]),
            )
            cov, _ = host_cover(pb, params, deadline, h, k, loads)
            b.cover_models += 1
            if not cov.feasible:
                return  # this node stays above the threshold at sample k: excess > 0
            best = max(best, int(cov.cost_bound))
        b.cover_cost[h] = best
        total += best
    b.migration = total


__all__ = [
    "Bounds",
    "TierBounds",
    "add_relaxed_bounds",
    "compute_bounds",
    "cover_bounds",
    "cover_items",
]
