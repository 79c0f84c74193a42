"""Hard constraint families of the placement model, one function each.

Families that are pure domain reductions (possible owners, pinned VMs, nothing on
Paused/Down/drained hosts, live-migration compatibility, downtime only with
``allow_downtime``, Off/Saved VMs as Quick) are applied when the optimizer builds each
candidate's target list (see :mod:`planner.cpsat.variables`); the functions here state the
families that link several variables.  Every function accepts a :class:`Guards` object: when
the model is built to explain an infeasibility, each constraint group is enforced only under
its own assumption literal, so that CP-SAT can name a small set of groups that cannot hold
together.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ortools.sat.python import cp_model

from planner.cluster import RuleType
from planner.cpsat.variables import ModelInput, Vars


class Guards:
    """Assumption literals per constraint group (inactive unless explaining)."""

    def __init__(self, model: cp_model.CpModel, active: bool) -> None:
        self.model = model
        self.active = active
        self.literals: dict[tuple[object, ...], cp_model.IntVar] = {}
        self.labels: dict[int, tuple[object, ...]] = {}

    def __call__(self, *key: object) -> list[cp_model.IntVar]:
        """Enforcement literals for the group ``key`` (empty when not explaining)."""
        if not self.active:
            return []
        lit = self.literals.get(key)
        if lit is None:
            lit = self.model.new_bool_var("guard_" + "_".join(str(k) for k in key))
            self.literals[key] = lit
            self.labels[lit.index] = key
        return [lit]


def _add(ct: cp_model.Constraint, guard: list[cp_model.IntVar]) -> None:
    if guard:
        ct.only_enforce_if(guard)


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
    """VM CPU on each host stays within its capacity minus the non-VM base load (100 %)."""
    free = inp.cluster.host_cpu_free_milli
    for h in np.flatnonzero(xv.cpu_max > free).tolist():
        _add(model.add(xv.cpu_load[h] <= int(free[h])), g("capacity", h))


def add_memory_capacity(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """VM memory on each host stays within its memory minus the reserve (100 %)."""
    free = inp.cluster.host_memory_free_mb
    for h in np.flatnonzero(xv.mem_max > free).tolist():
        _add(model.add(xv.mem_load[h] <= int(free[h])), g("capacity", h))


def _member_hosts(inp: ModelInput, xv: Vars, members: tuple[int, ...]) -> list[int]:
    hs: set[int] = set()
    for v in members:
        hs.update(xv.hosts_of(inp, v))
    return sorted(hs)


def add_same_node(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards,
                  r: int) -> None:
    """All members of an enabled SameNode rule end on one node."""
    members = inp.cluster.rules[r].members
    if len(members) < 2:
        return
    guard = g("rule", r)
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


def add_different_node(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards,
                       r: int) -> None:
    """No two members of an enabled DifferentNode rule end on the same node."""
    members = inp.cluster.rules[r].members
    guard = g("rule", r)
    for h in _member_hosts(inp, xv, members):
        terms = [xv.on(inp, v, h) for v in members]
        if sum(1 for t in terms if not isinstance(t, int) or t) > 1:
            _add(model.add(sum(terms) <= 1), guard)


def add_same_fault_domain(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards,
                          r: int) -> None:
    """All members of an enabled SameFaultDomain rule end in one fault domain."""
    members = inp.cluster.rules[r].members
    if len(members) < 2:
        return
    fd = inp.cluster.host_fault_domain
    guard = g("rule", r)
    hosts = _member_hosts(inp, xv, members)
    domains = sorted({int(fd[h]) for h in hosts})
    # One Boolean per domain: "the group lives in domain d"; each member's host implies it.
    dom = {d: model.new_bool_var(f"sfd{r}_{d}") for d in domains}
    for d, b in dom.items():
        # Hint: the group's domain is the one its first member ends in.
        xv.aux.append((b, _in_domain_fn(fd, members[0], d)))
    _add(model.add_exactly_one(list(dom.values())), guard)
    for v in members:
        for h in xv.hosts_of(inp, v):
            on = xv.on(inp, v, h)
            if isinstance(on, int):
                if on:
                    _add(model.add(dom[int(fd[h])] == 1), guard)
            else:
                assert isinstance(on, cp_model.IntVar)
                _add(model.add_implication(on, dom[int(fd[h])]), guard)


def _in_domain_fn(fd: np.ndarray, v: int, d: int) -> Callable[[np.ndarray], int]:
    return lambda p: int(int(fd[int(p[v])]) == d)


def add_different_fault_domain(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards,
                               r: int) -> None:
    """No two members of an enabled DifferentFaultDomain rule end in the same fault domain."""
    members = inp.cluster.rules[r].members
    fd = inp.cluster.host_fault_domain
    guard = g("rule", r)
    by_dom: dict[int, list[cp_model.LinearExprT]] = {}
    for v in members:
        for h in xv.hosts_of(inp, v):
            by_dom.setdefault(int(fd[h]), []).append(xv.on(inp, v, h))
    for terms in by_dom.values():
        if sum(1 for t in terms if not isinstance(t, int) or t) > 1:
            _add(model.add(sum(terms) <= 1), guard)


def add_anti_affinity_hard(model: cp_model.CpModel, inp: ModelInput, xv: Vars,
                           g: Guards) -> None:
    """Enforced legacy anti-affinity: no two members of a class share a node."""
    if not inp.enforce_anti_affinity:
        return
    for k, members in enumerate(inp.cluster.aa_class_members):
        if len(members) < 2:
            continue
        guard = g("anti_affinity", k)
        for h in _member_hosts(inp, xv, members):
            terms = [xv.on(inp, v, h) for v in members]
            if sum(1 for t in terms if not isinstance(t, int) or t) > 1:
                _add(model.add(sum(terms) <= 1), guard)


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


def add_symmetry_breaking(model: cp_model.CpModel, inp: ModelInput, xv: Vars,
                          g: Guards) -> None:
    """Interchangeable VMs take hosts in index order: host(a) <= host(b) for a < b."""
    if g.active:
        return  # explanations should not mention an ordering that is no rule of the user's
    for group in inp.symmetric_groups:
        for a, b in zip(group, group[1:], strict=False):
            ia, ib = xv.cand_pos.get(a), xv.cand_pos.get(b)
            if ia is None or ib is None or xv.single[ia] is not None \
                    or xv.single[ib] is not None:
                continue
            hosts = sorted(xv.x[ia])
            if hosts != sorted(xv.x[ib]):
                continue
            # host(a) <= host(b) as one linear constraint over the hosts' ranks.
            ranks = list(range(len(hosts)))
            model.add(cp_model.LinearExpr.weighted_sum([xv.x[ia][h] for h in hosts], ranks)
                      <= cp_model.LinearExpr.weighted_sum([xv.x[ib][h] for h in hosts], ranks))


def add_rules(model: cp_model.CpModel, inp: ModelInput, xv: Vars, g: Guards) -> None:
    """Every enabled affinity rule, by type (disabled rules are reported, not enforced)."""
    by_type: dict[RuleType, Callable[..., None]] = {
        RuleType.SAME_NODE: add_same_node,
        RuleType.DIFFERENT_NODE: add_different_node,
        RuleType.SAME_FAULT_DOMAIN: add_same_fault_domain,
        RuleType.DIFFERENT_FAULT_DOMAIN: add_different_fault_domain,
    }
    for r, rule in enumerate(inp.cluster.rules):
        if rule.enabled:
            by_type[rule.rule_type](model, inp, xv, g, r)


#: The hard constraint families, in the order they are added.
HARD_FAMILIES: tuple[Callable[[cp_model.CpModel, ModelInput, Vars, Guards], None], ...] = (
    add_assignment,
    add_cpu_capacity,
    add_memory_capacity,
    add_rules,
    add_anti_affinity_hard,
    add_move_budget,
    add_symmetry_breaking,
)
