"""Which VMs get variables in a sub-model, and the model inputs built from them."""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.cluster import HostState
from planner.cpsat.variables import ModelInput
from planner.problem import PlanningProblem, aa_broken, host_vm_loads, rule_broken


def hot_hosts(pb: PlanningProblem, placement: np.ndarray) -> np.ndarray:
    """bool per host: VM load above the threshold limits in either resource, at any load
    sample (the one over-the-threshold predicate of the solver)."""
    cpu, mem = host_vm_loads(pb, placement)
    return np.asarray(((cpu > pb.cpu_limit) | (mem > pb.mem_limit[None, :])).any(axis=0))


def candidate_vms(pb: PlanningProblem, hot: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """VMs that may need to move, with the first reason found for each."""
    c = pb.cluster
    reasons: dict[int, str] = {}
    hn = c.host_names
    cur = c.vm_host
    drained = set(pb.drained)
    for v in np.flatnonzero(pb.mandatory).tolist():
        h = int(cur[v])
        if h in drained:
            reasons[v] = f"node {hn[h]} is drained"
        elif c.host_state[h] != HostState.UP:
            reasons[v] = f"node {hn[h]} is {HostState(c.host_state[h]).name.title()}"
        else:
            reasons[v] = f"node {hn[h]} is not a possible owner"
    for v in np.flatnonzero(hot[cur] & pb.movable).tolist():
        reasons.setdefault(v, f"node {hn[int(cur[v])]} is over the threshold")
    for r in pb.soft_rules + pb.hard_rules:
        if rule_broken(pb, r, cur):
            for v in pb.rule_members[r]:
                reasons.setdefault(v, f"rule '{c.rules[r].name}' is broken")
    for k in pb.soft_aa + pb.hard_aa:
        if aa_broken(pb, k, cur):
            for v in pb.aa_members[k]:
                reasons.setdefault(v, f"anti-affinity class '{c.aa_class_names[k]}' shares a node")
    if not pb.enforce_aa:
        for k, members in enumerate(pb.aa_members):
            if len(members) > 1 and aa_broken(pb, k, cur):
                for v in members:
                    reasons.setdefault(
                        v, f"anti-affinity class '{c.aa_class_names[k]}' shares a node"
                    )
    _close_same(pb, reasons)
    cand = np.array(sorted(reasons), dtype=np.int64)
    return cand, reasons


def _close_same(pb: PlanningProblem, reasons: dict[int, str]) -> None:
    """SameNode / SameFaultDomain partners move together: close the set over those rules."""
    from planner.cluster import RuleType

    c = pb.cluster
    same = [
        r
        for r in pb.hard_rules + pb.soft_rules
        if c.rules[r].rule_type in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN)
    ]
    changed = True
    while changed:
        changed = False
        for r in same:
            rule = c.rules[r]
            m = pb.rule_members[r]
            if any(v in reasons for v in m):
                for v in m:
                    if v not in reasons:
                        reasons[v] = f"moves with its {rule.type_name} rule '{rule.name}'"
                        changed = True


def symmetric_groups(
    pb: PlanningProblem, cands: np.ndarray, targets: list[np.ndarray]
) -> tuple[tuple[int, ...], ...]:
    """Interchangeable candidates: same source, loads, memory, cost row, targets and state,
    and in no affinity rule or anti-affinity class (so no constraint can tell them apart).
    Groups of two or more, each sorted by VM index."""
    c = pb.cluster
    in_rule = np.zeros(c.n_vms, dtype=bool)
    for rule in c.rules:
        if rule.enabled:
            in_rule[list(rule.members)] = True
    groups: dict[tuple[Any, ...], list[int]] = {}
    for v, t in zip(cands.tolist(), targets, strict=True):
        if in_rule[v] or c.vm_aa_classes[v] or len(t) < 2:
            continue
        key = (
            int(c.vm_host[v]),
            pb.vm_cpu[:, v].tobytes(),
            pb.vm_mem[:, v].tobytes(),
            pb.vm_mem_boot[:, v].tobytes(),
            int(c.vm_memory_mb[v]),
            int(c.vm_state[v]),
            t.tobytes(),
            pb.move_cost[v, t].tobytes(),
            pb.boot_move[v, t].tobytes(),
        )
        groups.setdefault(key, []).append(v)
    return tuple(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def make_input(
    pb: PlanningProblem,
    cands: np.ndarray,
    targets: list[np.ndarray],
    base: np.ndarray | None = None,
    max_moves: int | None = None,
    symmetry: bool = True,
) -> ModelInput:
    """The model input with ``cands`` on ``targets``, every other VM fixed at ``base``
    (default: where it is now).  ``max_moves`` defaults to the problem's budget."""
    p = pb.cluster.vm_host.astype(np.int64) if base is None else base.astype(np.int64)
    groups = symmetric_groups(pb, cands, targets) if symmetry else ()
    return ModelInput(
        pb, cands, tuple(targets), p, pb.max_moves if max_moves is None else max_moves, groups
    )


def restricted_targets(
    pb: PlanningProblem, cands: np.ndarray, hot: np.ndarray, best: np.ndarray | None
) -> list[np.ndarray]:
    """Targets of the restricted model: allowed hosts that are not hot, the current host
    when allowed, and the host of the best placement so far."""
    out = []
    cur = pb.cluster.vm_host
    for v in cands.tolist():
        ok = pb.allowed[v] & ~hot
        ok[cur[v]] = pb.allowed[v, cur[v]]
        if best is not None:
            ok[best[v]] = True
        if not ok.any():
            ok = pb.allowed[v].copy()
        out.append(np.flatnonzero(ok))
    return out


__all__ = ["candidate_vms", "hot_hosts", "make_input", "restricted_targets", "symmetric_groups"]
