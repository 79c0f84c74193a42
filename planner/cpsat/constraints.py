"""Hard constraint families of the placement model, one function each.

Families that are pure domain reductions (possible owners, pinned and held VMs, nothing on
Paused/Down/drained hosts, live-migration compatibility, downtime only with
``allow_downtime``, Off/Saved VMs as Quick, configuration versions) are applied when each
candidate's target list is built (see :mod:`planner.cpsat.variables`); the functions here
state the families that link several variables.

Every function accepts a :class:`Guards` object: when the model is built to explain an
infeasibility, each constraint group is enforced only under its own assumption literal, so
that CP-SAT can name a small set of groups that cannot hold together.  A rule (or enforced
anti-affinity class) that is broken now and not strict is *soft*: its constraints are
enforced only while its ``broken`` indicator is 0, and tier ``rules`` counts the indicators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from planner.cluster import RuleType
from planner.cpsat.variables import AuxFn, ModelInput, Vars

#: Enforcement literals of one constraint (empty: always enforced); literals or their
#: negations, which OR-Tools types apart.
Enf = list[Any]


class Guards:
    """Assumption literals per constraint group (inactive unless explaining)."""

    def __init__(self, model: cp_model.CpModel, active: bool) -> None:
        self.model = model
        self.active = active
        self.literals: dict[tuple[object, ...], cp_model.IntVar] = {}
        self.labels: dict[int, tuple[object, ...]] = {}

    def __call__(self, *key: object) -> Enf:
        """Enforcement literals for the group ``key`` (empty when not explaining)."""
        if not self.active:
            return []
        lit = self.literals.get(key)
        if lit is None:
            lit = self.model.new_bool_var("guard_" + "_".join(str(k) for k in key))
            self.literals[key] = lit
            self.labels[lit.index] = key
        return [lit]


def _add(ct: cp_model.Constraint, enf: Enf) -> None:
    if enf:
        ct.only_enforce_if(enf)


def _rule_enf(xv: Vars, g: Guards, r: int) -> Enf:
    """Enforcement of rule ``r``: its guard, and "not left broken" when it is soft."""
    b = xv.broken_rule.get(r)
    return g("rule", r) + ([~b] if b is not None else [])


def add_assignment(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """Every candidate VM ends on exactly one of its allowed hosts."""
    for i, d in enumerate(xv.x):
        if xv.single[i] is not None:
            continue
        v = int(inp.candidates[i])
        if not d:
            _add(model.add_bool_or([]), g("vm", v))
        else:
            # Structural, never guarded: an explanation "VM X need not be placed" is no help.
            model.add_exactly_one(list(d.values()))


def add_cpu_capacity(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """VM CPU on each host stays within its capacity minus its own use, at every sample."""
    pb = inp.problem
    free = inp.cluster.host_cpu_capacity_milli[None, :] - pb.host_cpu_base
    for k, h in zip(*np.nonzero(xv.cpu_max > free), strict=True):
        _add(model.add(xv.cpu_load[k][h] <= int(free[k, h])), g("capacity", int(h)))


def add_memory_capacity(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """VM memory on each host stays within its memory minus the reserve, at every sample."""
    free = inp.cluster.host_memory_free_mb
    for k, h in zip(*np.nonzero(xv.mem_max > free[None, :]), strict=True):
        _add(model.add(xv.mem_load[k][h] <= int(free[h])), g("capacity", int(h)))


def add_running_limit(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """A node runs at most its running-VM limit (``host_max_running_vms``) of VMs."""
    pb = inp.problem
    nh = inp.cluster.n_hosts
    fixed = np.ones(inp.cluster.n_vms, dtype=bool)
    fixed[inp.candidates] = False
    fixed &= pb.vm_running
    count = np.bincount(inp.base_placement[fixed], minlength=nh).astype(np.int64)
    terms: list[list[cp_model.LinearExprT]] = [[] for _ in range(nh)]
    for v in inp.candidates.tolist():
        if not pb.vm_running[v]:
            continue
        for h in xv.hosts_of(inp, v):
            on = xv.on(inp, v, h)
            if isinstance(on, int):
                count[h] += on
            else:
                terms[h].append(on)
    for h in range(nh):
        if count[h] + len(terms[h]) > pb.running_limit[h]:
            _add(
                model.add(sum(terms[h]) + int(count[h]) <= int(pb.running_limit[h])),
                g("running", h),
            )


def _member_hosts(inp: ModelInput, xv: Vars, members: tuple[int, ...]) -> list[int]:
    hs: set[int] = set()
    for v in members:
        hs.update(xv.hosts_of(inp, v))
    return sorted(hs)


def add_same_node(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards, r: int) -> None:
    """All members of an enabled SameNode rule end on one node."""
    members = inp.problem.rule_members[r]
    if len(members) < 2:
        return
    guard = _rule_enf(xv, g, r)
    first = members[0]
    for h in _member_hosts(inp, xv, members):
        a = xv.on(inp, first, h)
        for v in members[1:]:
            b = xv.on(inp, v, h)
            if isinstance(a, int) and isinstance(b, int):
                if a != b:
                    _add(model.add_bool_or([]), guard)
                continue
            _add(model.add(a == b), guard)


def add_different_node(
    model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards, r: int
) -> None:
    """No two members of an enabled DifferentNode rule end on the same node."""
    members = inp.problem.rule_members[r]
    guard = _rule_enf(xv, g, r)
    for h in _member_hosts(inp, xv, members):
        terms = [xv.on(inp, v, h) for v in members]
        if sum(1 for t in terms if not isinstance(t, int) or t) > 1:
            _add(model.add(sum(terms) <= 1), guard)


def add_same_fault_domain(
    model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards, r: int
) -> None:
    """All members of an enabled SameFaultDomain rule end in one fault domain."""
    members = inp.problem.rule_members[r]
    if len(members) < 2:
        return
    fd = inp.cluster.host_fault_domain
    guard = _rule_enf(xv, g, r)
    hosts = _member_hosts(inp, xv, members)
    domains = sorted({int(fd[h]) for h in hosts})
    # One Boolean per domain: "the group lives in domain d"; each member's host implies it.
    dom = {d: model.new_bool_var(f"sfd{r}_{d}") for d in domains}
    for d, b in dom.items():
        # Hint: the group's domain is the one its first member ends in.
        xv.aux.append((b, _in_domain_fn(fd, members[0], d)))
    _add(model.add(sum(dom.values()) == 1), guard)
    for v in members:
        for h in xv.hosts_of(inp, v):
            on = xv.on(inp, v, h)
            if isinstance(on, int):
                if on:
                    _add(model.add(dom[int(fd[h])] == 1), guard)
            else:
                _add(model.add(dom[int(fd[h])] >= on), guard)


def _in_domain_fn(fd: np.ndarray, v: int, d: int) -> AuxFn:
    return lambda ctx: int(int(fd[int(ctx.placement[v])]) == d)


def add_different_fault_domain(
    model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards, r: int
) -> None:
    """No two members of an enabled DifferentFaultDomain rule end in the same fault domain."""
    members = inp.problem.rule_members[r]
    fd = inp.cluster.host_fault_domain
    guard = _rule_enf(xv, g, r)
    by_dom: dict[int, list[cp_model.LinearExprT]] = {}
    for v in members:
        for h in xv.hosts_of(inp, v):
            by_dom.setdefault(int(fd[h]), []).append(xv.on(inp, v, h))
    for terms in by_dom.values():
        if sum(1 for t in terms if not isinstance(t, int) or t) > 1:
            _add(model.add(sum(terms) <= 1), guard)


def add_anti_affinity_hard(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """Enforced legacy anti-affinity: no two running members of a class share a node."""
    pb = inp.problem
    for k in pb.hard_aa + pb.soft_aa:
        members = pb.aa_members[k]
        b = xv.broken_aa.get(k)
        enf = g("anti_affinity", k) + ([~b] if b is not None else [])
        for h in _member_hosts(inp, xv, members):
            terms = [xv.on(inp, v, h) for v in members]
            if sum(1 for t in terms if not isinstance(t, int) or t) > 1:
                _add(model.add(sum(terms) <= 1), enf)


def moved_indicators(inp: ModelInput, xv: Vars) -> list[cp_model.LinearExprT]:
    """0/1 expression per candidate: it ends away from its current host."""
    cur = inp.cluster.vm_host
    out: list[cp_model.LinearExprT] = []
    for i, v in enumerate(inp.candidates.tolist()):
        s = xv.single[i]
        if s is not None:
            out.append(int(s != cur[v]))
        else:
            stay = xv.x[i].get(int(cur[v]))
            out.append(1 if stay is None else 1 - stay)
    return out


def add_move_budget(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """``--max-moves N``: at most N VMs change host."""
    if inp.max_moves is None:
        return
    _add(model.add(sum(moved_indicators(inp, xv)) <= inp.max_moves), g("budget"))


def add_symmetry_breaking(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """Interchangeable VMs take hosts in index order: host(a) <= host(b) for a < b."""
    if g.active:
        return  # explanations should not mention an ordering that is no rule of the user's
    for group in inp.symmetric_groups:
        for a, b in zip(group, group[1:], strict=False):
            ia, ib = xv.cand_pos.get(a), xv.cand_pos.get(b)
            if ia is None or ib is None or xv.single[ia] is not None or xv.single[ib] is not None:
                continue
            hosts = sorted(xv.x[ia])
            if hosts != sorted(xv.x[ib]):
                continue
            # host(a) <= host(b) as one linear constraint over the hosts' ranks.
            ranks = list(range(len(hosts)))
            model.add(
                cp_model.LinearExpr.weighted_sum([xv.x[ia][h] for h in hosts], ranks)
                <= cp_model.LinearExpr.weighted_sum([xv.x[ib][h] for h in hosts], ranks)
            )


def add_rules(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """Every enabled affinity rule over its running members, by type (disabled rules are
    reported, not enforced; soft ones only while not left broken)."""
    by_type: dict[RuleType, Callable[..., None]] = {
        RuleType.SAME_NODE: add_same_node,
        RuleType.DIFFERENT_NODE: add_different_node,
        RuleType.SAME_FAULT_DOMAIN: add_same_fault_domain,
        RuleType.DIFFERENT_FAULT_DOMAIN: add_different_fault_domain,
    }
    rules = inp.cluster.rules
    for r in sorted(inp.problem.hard_rules + inp.problem.soft_rules):
        by_type[rules[r].rule_type](model, inp, xv, g, r)


#: The hard constraint families, in the order they are added.
HARD_FAMILIES: tuple[Callable[[cp_model.CpModel, ModelInput, Vars, Guards], None], ...] = (
    add_assignment,
    add_cpu_capacity,
    add_memory_capacity,
    add_running_limit,
    add_rules,
    add_anti_affinity_hard,
    add_move_budget,
    add_symmetry_breaking,
)
