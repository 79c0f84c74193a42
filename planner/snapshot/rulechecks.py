"""Whole-cluster checks of the affinity rules and of enforced anti-affinity classes.

Enabled rules and enforced classes that cannot hold now or ever, judged over their running
(Running or Paused) members: more members than nodes (or fault domains) that can take one
each, SameNode against DifferentNode, pinned members apart or together, groups that fit in no
node.  All are warnings: a plan repairs what it can and names the rules it leaves broken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.cluster import CPU_UNITS, Cluster, Rule, RuleType
from planner.diagnostics import Report
from planner.groups import UnionFind
from planner.snapshot.records import RuleRows, VmRows


def _max_matching(candidates: Sequence[Sequence[int]]) -> int:
    """Size of a maximum matching of items to slots (``candidates[i]``: the slots item ``i``
    may take), by breadth-first augmenting paths (no recursion, any size)."""
    owner: dict[int, int] = {}  # slot -> item holding it
    size = 0
    for i in range(len(candidates)):
        reached_by: dict[int, int] = {}  # slot -> item whose edge reached it
        via: dict[int, int | None] = {i: None}  # item -> slot it holds on the path
        frontier = [i]
        free: int | None = None
        while frontier and free is None:
            nxt: list[int] = []
            for it in frontier:
                for s in candidates[it]:
                    if s in reached_by:
                        continue
                    reached_by[s] = it
                    if s not in owner:
                        free = s
                        break
                    o = owner[s]
                    if o not in via:
                        via[o] = s
                        nxt.append(o)
                if free is not None:
                    break
            frontier = nxt
        if free is None:
            continue
        slot: int | None = free
        while slot is not None:
            it = reached_by[slot]
            owner[slot] = it
            slot = via[it]
        size += 1
    return size


#: Said of every rule a check finds unsatisfiable: what the planner does about it.
_LEFT_BROKEN = (
    "; it cannot hold: a plan repairs what it can and names it among the rules "
    "left broken (--strict-rules: no plan)"
)


def _slots(cluster: Cluster, endable: np.ndarray, v: int, by_domain: bool) -> list[int]:
    """Hosts (or fault domains) VM ``v`` may end on: its own host when pinned (if it may
    stay), else every host of :func:`_endable`."""
    if cluster.vm_pinned[v]:
        h = int(cluster.vm_host[v])
        hosts = [h] if endable[v, h] else []
    else:
        hosts = np.flatnonzero(endable[v]).tolist()
    if by_domain:
        return sorted({int(cluster.host_fault_domain[h]) for h in hosts})
    return hosts


def enforced_anti_affinity_checks(
    cluster: Cluster, vms: VmRows, endable: np.ndarray, report: Report
) -> None:
    """Enforced legacy anti-affinity over the running members: pinned members sharing a
    node, and more running members than nodes that can take one each (warnings)."""
    vf, names, hn = vms.file, cluster.vm_names, cluster.host_names
    for c, members in enumerate(cluster.aa_class_members):
        cls = cluster.aa_class_names[c]
        running = [v for v in members if cluster.vm_consumes[v]]
        seen: dict[int, int] = {}
        for v in running:
            if cluster.vm_pinned[v]:
                h = int(cluster.vm_host[v])
                if h in seen:
                    report.warning(
                        vf,
                        f"enforced anti-affinity class '{cls}': pinned VMs "
                        f"{names[seen[h]]} and {names[v]} share node {hn[h]}" + _LEFT_BROKEN,
                        row=vms.rows[v]["_row"],
                        column="anti_affinity_class_names",
                        value=cls,
                    )
                seen.setdefault(h, v)
        if len(running) > 1:
            k = _max_matching([_slots(cluster, endable, v, False) for v in running])
            if k < len(running):
                report.warning(
                    vf,
                    f"enforced anti-affinity class '{cls}' has {len(running)} "
                    f"running VMs but only {k} nodes they may run on can take one "
                    "each" + _LEFT_BROKEN,
                    row=vms.rows[running[0]]["_row"],
                    column="anti_affinity_class_names",
                    value=cls,
                )


@dataclass
class _Groups:
    """SameNode (``node``) and SameNode + SameFaultDomain (``dom``) groups over the running
    members of enabled rules, taken transitively, with the rules that tie each group."""

    node: UnionFind
    dom: UnionFind
    node_rules: dict[int, list[str]]
    dom_rules: dict[int, list[str]]
    node_members: dict[int, set[int]]
    dom_members: dict[int, set[int]]


def _groups(cluster: Cluster, enabled: list[tuple[Rule, tuple[int, ...]]]) -> _Groups:
    g = _Groups(UnionFind(cluster.n_vms), UnionFind(cluster.n_vms), {}, {}, {}, {})
    same = (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN)
    for r, ms in enabled:
        if r.rule_type in same:
            for a, b in zip(ms, ms[1:], strict=False):
                if r.rule_type == RuleType.SAME_NODE:
                    g.node.union(a, b)
                g.dom.union(a, b)
    for r, ms in enabled:
        if r.rule_type == RuleType.SAME_NODE:
            g.node_rules.setdefault(g.node.find(ms[0]), []).append(r.name)
            for m in ms:
                g.node_members.setdefault(g.node.find(m), set()).add(m)
        if r.rule_type in same:
            g.dom_rules.setdefault(g.dom.find(ms[0]), []).append(r.name)
            for m in ms:
                g.dom_members.setdefault(g.dom.find(m), set()).add(m)
    return g


def _quoted(rs: list[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in rs[:3]) + (" ..." if len(rs) > 3 else "")
    return ("rule " if len(rs) == 1 else "rules ") + shown


def rule_checks(cluster: Cluster, rules: RuleRows, endable: np.ndarray, report: Report) -> None:
    """Enabled rules that cannot hold, judged over their running members: contradictions
    between rules, pinned members, and rules no placement satisfies (warnings)."""
    rowof = [r["_row"] for r in rules.rows]
    run = cluster.vm_consumes
    enabled: list[tuple[int, Rule, tuple[int, ...]]] = []
    for i, r in enumerate(cluster.rules):
        ms = tuple(m for m in r.members if run[m])
        if r.enabled and ms:
            enabled.append((i, r, ms))
    g = _groups(cluster, [(r, ms) for _, r, ms in enabled])
    done: set[tuple[bool, int]] = set()
    for i, r, ms in enabled:
        row = rowof[i]
        if r.rule_type in (RuleType.DIFFERENT_NODE, RuleType.DIFFERENT_FAULT_DOMAIN):
            _different_check(cluster, r, ms, g, endable, row, rules.file, report)
            continue
        by_domain = r.rule_type == RuleType.SAME_FAULT_DOMAIN
        uf = g.dom if by_domain else g.node
        root = uf.find(ms[0])
        if (by_domain, root) in done:
            continue
        done.add((by_domain, root))
        members = (g.dom_members if by_domain else g.node_members)[root]
        label = _quoted((g.dom_rules if by_domain else g.node_rules)[root])
        _same_group_check(
            cluster, sorted(members), by_domain, label, r, row, endable, report, rules.file
        )


def _different_check(
    cluster: Cluster,
    r: Rule,
    ms: tuple[int, ...],
    g: _Groups,
    endable: np.ndarray,
    row: int,
    rf: str,
    report: Report,
) -> None:
    """A DifferentNode / DifferentFaultDomain rule over its running members ``ms``."""
    names, hn, fdn = cluster.vm_names, cluster.host_names, cluster.fault_domains
    by_node = r.rule_type == RuleType.DIFFERENT_NODE
    uf, tied = (g.node, g.node_rules) if by_node else (g.dom, g.dom_rules)
    what = "node" if by_node else "fault domain"
    together: dict[int, list[int]] = {}
    for m in ms:
        together.setdefault(uf.find(m), []).append(m)
    for root, grp in together.items():
        if len(grp) > 1:
            report.warning(
                rf,
                f"{r.type_name} rule keeps {names[grp[0]]} and {names[grp[1]]} "
                f"apart, but {_quoted(tied.get(root, ['?']))} put them on the "
                f"same {what}" + _LEFT_BROKEN,
                row=row,
                column="groups",
                value=r.name,
            )
    host, fd = cluster.vm_host, cluster.host_fault_domain
    where: dict[int, int] = {}
    for m in ms:
        if cluster.vm_pinned[m]:
            key = int(host[m]) if by_node else int(fd[host[m]])
            if key in where:
                place = hn[key] if by_node else fdn[key]
                report.warning(
                    rf,
                    f"{r.type_name} rule: pinned VMs {names[where[key]]} and "
                    f"{names[m]} share {what} {place} and cannot move" + _LEFT_BROKEN,
                    row=row,
                    column="groups",
                    value=r.name,
                )
            where.setdefault(key, m)
    if len(ms) > 1:
        k = _max_matching([_slots(cluster, endable, m, not by_node) for m in ms])
        if k < len(ms):
            slots = "nodes" if by_node else "fault domains"
            report.warning(
                rf,
                f"{r.type_name} rule has {len(ms)} running members but only "
                f"{k} {slots} they may run on can take one each (given possible "
                "owners, node states and pinned VMs)" + _LEFT_BROKEN,
                row=row,
                column="groups",
                value=r.name,
            )


def _same_group_check(
    cluster: Cluster,
    group: list[int],
    by_domain: bool,
    label: str,
    r: Rule,
    row: int,
    endable: np.ndarray,
    report: Report,
    rf: str,
) -> None:
    """A SameNode (or SameFaultDomain) group of running VMs: pinned members agree, and the
    group fits in one node (or one fault domain) that every member may use (warnings)."""
    names, hn, fdn = cluster.vm_names, cluster.host_names, cluster.fault_domains
    what = "fault domain" if by_domain else "node"
    key_of = (lambda h: int(cluster.host_fault_domain[h])) if by_domain else int
    pinned_at: dict[int, int] = {}
    for v in group:
        if cluster.vm_pinned[v]:
            pinned_at.setdefault(key_of(int(cluster.vm_host[v])), v)
    if len(pinned_at) > 1:
        (k1, a), (k2, b) = list(pinned_at.items())[:2]
        p1, p2 = (fdn[k1], fdn[k2]) if by_domain else (hn[k1], hn[k2])
        report.warning(
            rf,
            f"{label}: pinned VMs {names[a]} (on {p1}) and {names[b]} (on "
            f"{p2}) can never share a {what}" + _LEFT_BROKEN,
            row=row,
            column="groups",
            value=r.name,
        )
        return
    g = np.asarray(group)
    cpu = int(cluster.vm_cpu_load_milli[g].sum())
    mem = int(cluster.vm_mem_load_mb[g].sum())
    where = _group_fits(cluster, endable[g], g, by_domain, pinned_at, cpu, mem)
    if where == "nowhere":
        report.warning(
            rf,
            f"{r.type_name if not by_domain else 'SameFaultDomain'} group "
            f"({label}) has no {what} that every member may run on" + _LEFT_BROKEN,
            row=row,
            column="groups",
            value=r.name,
        )
    elif where == "too small":
        report.warning(
            rf,
            f"{'SameFaultDomain' if by_domain else 'SameNode'} group ({label}) "
            f"needs {mem} MB and {cpu / CPU_UNITS:.2f} logical processors together "
            f"and fits in no {what}" + _LEFT_BROKEN,
            row=row,
            column="groups",
            value=r.name,
        )


def _group_fits(
    cluster: Cluster,
    endable: np.ndarray,
    g: np.ndarray,
    by_domain: bool,
    pinned_at: dict[int, int],
    cpu: int,
    mem: int,
) -> str:
    """``"ok"``, ``"nowhere"`` (no node / domain every member may end on: ``endable`` rows
    of the members) or ``"too small"``."""
    up = cluster.host_up
    if not by_domain:
        allowed: np.ndarray = np.asarray(endable.all(axis=0))
        if pinned_at:
            (h,) = pinned_at
            only = np.zeros_like(allowed)
            only[h] = allowed[h]
            allowed = only
        vmax = int(cluster.vm_vcpus[g].max())
        fits = (
            allowed
            & (cluster.host_cpu_free_milli >= cpu)
            & (cluster.host_memory_free_mb >= mem)
            & (cluster.host_lp >= vmax)
        )
        return "nowhere" if not allowed.any() else "ok" if fits.any() else "too small"
    nd = len(cluster.fault_domains)
    dom = cluster.host_fault_domain
    usable = np.ones(nd, dtype=bool)
    for row in endable:
        ok = np.zeros(nd, dtype=bool)
        ok[np.unique(dom[row])] = True
        usable &= ok
    if pinned_at:
        (d,) = pinned_at
        only = np.zeros(nd, dtype=bool)
        only[d] = usable[d]
        usable = only
    usable_host = up | cluster.host_keeps
    cpu_cap = np.bincount(
        dom, weights=np.where(usable_host, cluster.host_cpu_free_milli, 0), minlength=nd
    )
    mem_cap = np.bincount(
        dom, weights=np.where(usable_host, cluster.host_memory_free_mb, 0), minlength=nd
    )
    if not usable.any():
        return "nowhere"
    return "ok" if (usable & (cpu_cap >= cpu) & (mem_cap >= mem)).any() else "too small"
