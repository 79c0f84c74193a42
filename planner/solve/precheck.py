"""Pre-check: the obvious impossibilities of a problem, in plain words, before any solve.

Each message names what cannot hold (a pinned VM on a drained node, a VM with no allowed
host, a DifferentNode group larger than its hosts, demand above the remaining capacity, more
mandatory moves than the move budget, ...).  An empty list proves nothing: the CP-SAT models
decide the rest and explain a conflict the pre-check cannot see.
"""

from __future__ import annotations

import numpy as np

from planner.cluster import HostState, RuleType
from planner.problem import PlanningProblem


def precheck(pb: PlanningProblem) -> list[str]:
    """Plain-English reasons that make ``pb`` infeasible (empty: none found)."""
    out = _unplaceable(pb)
    out += _totals(pb)
    out += _rules(pb)
    return out


def _names(pb: PlanningProblem, vms: list[int]) -> str:
    vn = pb.cluster.vm_names
    return ", ".join(vn[v] for v in vms[:8]) + (" ..." if len(vms) > 8 else "")


def _unplaceable(pb: PlanningProblem) -> list[str]:
    """VMs with no allowed host, or none they fit on."""
    c = pb.cluster
    out: list[str] = []
    hn, vn = c.host_names, c.vm_names
    drained = set(pb.drained)
    for v in np.flatnonzero(~pb.allowed.any(axis=1)).tolist():
        h = int(c.vm_host[v])
        if c.vm_pinned[v] or v in pb.held:
            why = (
                "drained"
                if h in drained
                else HostState(c.host_state[h]).name.title()
                if c.host_state[h] != HostState.UP
                else "not one of its possible owners"
            )
            what = "pinned" if c.vm_pinned[v] else "held"
            out.append(
                f"VM {vn[v]} is {what} to {hn[h]}, which is {why}: it must stay and "
                "must leave at once."
            )
            continue
        owners = [
            o for o in np.flatnonzero(c.vm_possible[v] & c.host_up).tolist() if o not in drained
        ]
        if not owners:
            out.append(f"VM {vn[v]} has no possible owner that is Up and not drained.")
        else:
            why = (
                "its CPU features or vendor do not match, and it does not allow downtime"
                if pb.allow_shutdown
                else "its CPU features or vendor do not match, and the profile forbids Shutdown "
                "moves"
            )
            out.append(
                f"VM {vn[v]} cannot reach any of its possible owners "
                f"({', '.join(hn[o] for o in owners[:8])}): {why}."
            )
    free_c = c.host_cpu_capacity_milli[None, :] - pb.host_cpu_base
    free_m = c.host_memory_free_mb
    for v in np.flatnonzero(pb.allowed.any(axis=1)).tolist():
        hs = np.flatnonzero(pb.allowed[v])
        mem = np.where(
            pb.boot_move[v, hs][None, :], pb.vm_mem_boot[:, v : v + 1], pb.vm_mem[:, v : v + 1]
        )
        fits = ((pb.vm_cpu[:, v : v + 1] <= free_c[:, hs]) & (mem <= free_m[hs])).all(axis=0)
        if not fits.any():
            out.append(
                f"VM {vn[v]} ({int(pb.vm_mem_boot[:, v].max())} MB, "
                f"{pb.vm_cpu[:, v].max() / 1000:.2f} LP) fits on none of the nodes "
                f"it may use ({', '.join(hn[h] for h in hs[:8].tolist())})."
            )
    return out


def _totals(pb: PlanningProblem) -> list[str]:
    """Cluster-wide sums: demand against capacity, running VMs against the node limits,
    mandatory moves against the move budget."""
    c = pb.cluster
    out: list[str] = []
    usable = pb.allowed.any(axis=0)
    free_c = c.host_cpu_capacity_milli[None, :] - pb.host_cpu_base
    need_c = pb.vm_cpu.sum(axis=1)
    offer_c = free_c[:, usable].sum(axis=1)
    if (need_c > offer_c).any():
        k = int(np.argmax(need_c - offer_c))
        out.append(
            f"The running VMs need {need_c[k] / 1000:.1f} logical processors, but the "
            f"nodes they may use offer {offer_c[k] / 1000:.1f} in total."
        )
    need_m = int(pb.vm_mem.sum(axis=1).max())
    offer_m = int(c.host_memory_free_mb[usable].sum())
    if need_m > offer_m:
        out.append(
            f"The running VMs need {need_m} MB of memory, but the nodes they may use "
            f"offer {offer_m} MB after their reserves."
        )
    n_run = int(pb.vm_running.sum())
    room = int(pb.running_limit[usable].sum())
    if n_run > room:
        out.append(
            f"{n_run} VMs run, but the nodes they may use run at most {room} VMs "
            "together (host_max_running_vms)."
        )
    must = np.flatnonzero(pb.mandatory).tolist()
    if pb.max_moves is not None and len(must) > pb.max_moves:
        out.append(
            f"{len(must)} VM(s) must leave their node ({_names(pb, must)}), but "
            f"--max-moves allows {pb.max_moves}."
        )
    return out


def _rules(pb: PlanningProblem) -> list[str]:
    """Hard rules and enforced anti-affinity classes that no placement can satisfy."""
    c = pb.cluster
    out: list[str] = []
    fd = c.host_fault_domain
    for r in pb.hard_rules:
        rule = c.rules[r]
        m = list(pb.rule_members[r])
        union = pb.allowed[m].any(axis=0)
        inter = pb.allowed[m].all(axis=0)
        names = _names(pb, m)
        if rule.rule_type == RuleType.DIFFERENT_NODE and len(m) > int(union.sum()):
            out.append(
                f"DifferentNode rule '{rule.name}' has {len(m)} running members "
                f"({names}) but they may use only {int(union.sum())} node(s)."
            )
        elif rule.rule_type == RuleType.DIFFERENT_FAULT_DOMAIN:
            doms = {int(fd[h]) for h in np.flatnonzero(union).tolist()}
            if len(m) > len(doms):
                out.append(
                    f"DifferentFaultDomain rule '{rule.name}' has {len(m)} running "
                    f"members ({names}) but they may use only {len(doms)} fault "
                    "domain(s)."
                )
        elif rule.rule_type == RuleType.SAME_NODE and not inter.any():
            out.append(
                f"SameNode rule '{rule.name}': no node is allowed for all of its "
                f"running members ({names})."
            )
        elif rule.rule_type == RuleType.SAME_FAULT_DOMAIN:
            common: set[int] | None = None
            for v in m:
                doms = {int(fd[h]) for h in np.flatnonzero(pb.allowed[v]).tolist()}
                common = doms if common is None else common & doms
            if not common:
                out.append(
                    f"SameFaultDomain rule '{rule.name}': no fault domain is allowed "
                    f"for all of its running members ({names})."
                )
    for k in pb.hard_aa:
        cls = pb.aa_members[k]
        union = pb.allowed[list(cls)].any(axis=0)
        if len(cls) > int(union.sum()):
            out.append(
                f"Enforced anti-affinity class '{c.aa_class_names[k]}' has "
                f"{len(cls)} running members but they may use only "
                f"{int(union.sum())} node(s)."
            )
    return out


__all__ = ["precheck"]
