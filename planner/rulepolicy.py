"""Which affinity rules and anti-affinity classes bind a plan (SPEC §3): their running
members, hard (they hold now, or ``--strict-rules``) or soft (broken now: tier ``rules``),
and the VMs a hard SameNode rule makes leave with a partner."""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.cluster import Cluster, RuleType
from planner.groups import components
from planner.reference import members_broken


def with_partners(cluster: Cluster, rules: dict[str, Any], mandatory: np.ndarray) -> np.ndarray:
    """``mandatory`` with the partners of a leaving VM in a hard SameNode rule whose members
    share a node now: they end on one node, and it cannot be this one."""
    out = mandatory.copy()
    tied = [
        rules["rule_members"][r]
        for r in rules["hard_rules"]
        if cluster.rules[r].rule_type == RuleType.SAME_NODE
    ]
    tied = [m for m in tied if len(set(cluster.vm_host[list(m)].tolist())) == 1]
    for g in set(components(cluster.n_vms, tied).values()):
        if out[list(g)].any():
            out[list(g)] = True
    return out


def rule_policy(
    cluster: Cluster, running: np.ndarray, enforce: bool, strict: bool
) -> dict[str, Any]:
    """Running members per rule and class, and which are hard (hold now, or strict) and
    which soft (broken now: tier ``rules``)."""
    cur = cluster.vm_host
    rule_members = tuple(
        tuple(int(v) for v in r.members if running[v]) if r.enabled else () for r in cluster.rules
    )
    aa_members = tuple(tuple(int(v) for v in m if running[v]) for m in cluster.aa_class_members)
    out: dict[str, list[int]] = {"hard_rules": [], "soft_rules": [], "hard_aa": [], "soft_aa": []}
    for r, rule in enumerate(cluster.rules):
        if rule.enabled and len(rule_members[r]) >= 2:
            broken = members_broken(cluster, rule.rule_type, rule_members[r], cur)
            out["soft_rules" if broken and not strict else "hard_rules"].append(r)
    for k, m in enumerate(aa_members):
        if enforce and len(m) >= 2:
            broken = len(set(cur[list(m)].tolist())) < len(m)
            out["soft_aa" if broken and not strict else "hard_aa"].append(k)
    return {
        "rule_members": rule_members,
        "aa_members": aa_members,
        **{key: tuple(v) for key, v in out.items()},
    }


__all__ = ["rule_policy", "with_partners"]
