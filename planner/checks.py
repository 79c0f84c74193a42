"""Rule and capacity checks of one placement, independent of any solver.

Used by ``hvplan status`` (what the current placement already breaks), by the independent
plan verifier and by the capacity planner.  Nothing here imports OR-Tools.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.cluster import CPU_UNITS, Cluster, HostState, RuleType


@dataclass(frozen=True)
class Violation:
    """One broken rule or limit.  ``hard`` violations make a placement unacceptable."""

    kind: str
    message: str
    rule: str | None = None
    vms: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    hard: bool = True
    step: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (keys of SPEC §6: kind, rule, vms, hosts, message, plus hard/step)."""
        return {
            "kind": self.kind,
            "rule": self.rule,
            "vms": list(self.vms),
            "hosts": list(self.hosts),
            "message": self.message,
            "hard": self.hard,
            "step": self.step,
        }


def _names(seq: tuple[str, ...], idx: Iterable[int]) -> tuple[str, ...]:
    return tuple(seq[int(i)] for i in idx)


def rule_violations(cluster: Cluster, placement: np.ndarray | None = None,
                    include_disabled: bool = False) -> list[Violation]:
    """Affinity rules (enabled ones; disabled ones too when asked, as soft) broken by
    ``placement``."""
    p = cluster.vm_host if placement is None else np.asarray(placement)
    fd = cluster.host_fault_domain
    out: list[Violation] = []
    for r in cluster.rules:
        if not r.enabled and not include_disabled:
            continue
        if len(r.members) < 2:
            continue
        m = np.asarray(r.members)
        hosts = p[m]
        vn = _names(cluster.vm_names, m)
        label = f"{r.type_name} rule '{r.name}'" + ("" if r.enabled else " (disabled)")
        if r.rule_type == RuleType.SAME_NODE:
            if len(set(hosts.tolist())) > 1:
                hs = sorted(set(hosts.tolist()))
                out.append(Violation("same_node", f"{label}: members are on "
                                     f"{len(hs)} different nodes", r.name, vn,
                                     _names(cluster.host_names, hs), r.enabled))
        elif r.rule_type == RuleType.SAME_FAULT_DOMAIN:
            doms = fd[hosts]
            if len(set(doms.tolist())) > 1:
                out.append(Violation("same_fault_domain", f"{label}: members are in "
                                     f"{len(set(doms.tolist()))} fault domains", r.name, vn,
                                     _names(cluster.host_names, sorted(set(hosts.tolist()))),
                                     r.enabled))
        else:
            key = hosts if r.rule_type == RuleType.DIFFERENT_NODE else fd[hosts]
            what = "node" if r.rule_type == RuleType.DIFFERENT_NODE else "fault domain"
            kind = ("different_node" if r.rule_type == RuleType.DIFFERENT_NODE
                    else "different_fault_domain")
            # Only VMs that are placed count: rules concern where VMs are, running or not.
            vals, counts = np.unique(key, return_counts=True)
            for val in vals[counts > 1]:
                sel = m[key == val]
                where = (cluster.host_names[int(val)] if what == "node"
                         else cluster.fault_domains[int(val)])
                out.append(Violation(kind, f"{label}: {len(sel)} members share {what} {where}",
                                     r.name, _names(cluster.vm_names, sel),
                                     _names(cluster.host_names, sorted(set(p[sel].tolist()))),
                                     r.enabled))
    return out


def anti_affinity_pairs(cluster: Cluster, placement: np.ndarray | None = None
                        ) -> list[tuple[int, int, int]]:
    """Legacy anti-affinity: ``(class, vm_a, vm_b)`` for each pair sharing a node."""
    p = cluster.vm_host if placement is None else np.asarray(placement)
    out: list[tuple[int, int, int]] = []
    for c, members in enumerate(cluster.aa_class_members):
        by_host: dict[int, list[int]] = {}
        for v in members:
            by_host.setdefault(int(p[v]), []).append(v)
        for vs in by_host.values():
            for i in range(len(vs)):
                for j in range(i + 1, len(vs)):
                    out.append((c, vs[i], vs[j]))
    return out


def anti_affinity_violations(cluster: Cluster, placement: np.ndarray | None = None
                             ) -> list[Violation]:
    """Legacy anti-affinity classes with members sharing a node (hard when enforced)."""
    p = cluster.vm_host if placement is None else np.asarray(placement)
    hard = cluster.settings.enforced_anti_affinity
    out = []
    for c, a, b in anti_affinity_pairs(cluster, p):
        cls = cluster.aa_class_names[c]
        h = cluster.host_names[int(p[a])]
        out.append(Violation("anti_affinity", f"anti-affinity class '{cls}': "
                             f"{cluster.vm_names[a]} and {cluster.vm_names[b]} share node {h}"
                             + ("" if hard else " (soft)"), cls,
                             (cluster.vm_names[a], cluster.vm_names[b]), (h,), hard))
    return out


def placement_violations(
    cluster: Cluster,
    placement: np.ndarray | None = None,
    drained: Iterable[int] = (),
) -> list[Violation]:
    """Every hard and soft problem of a final placement (SPEC §3, "Final placement").

    Capacity (100 % CPU and memory after the reserve), possible owners, pinned VMs, hosts that
    are not Up or are drained, enabled affinity rules and legacy anti-affinity.
    """
    p = cluster.vm_host if placement is None else np.asarray(placement)
    out: list[Violation] = []
    hn, vn = cluster.host_names, cluster.vm_names
    cpu = np.bincount(p, weights=cluster.vm_cpu_load_milli, minlength=cluster.n_hosts)
    mem = np.bincount(p, weights=cluster.vm_mem_load_mb, minlength=cluster.n_hosts)
    for h in np.flatnonzero(cpu > cluster.host_cpu_free_milli):
        free = cluster.host_cpu_free_milli[h] / CPU_UNITS
        out.append(Violation("capacity_cpu", f"node {hn[h]} needs {cpu[h] / CPU_UNITS:.2f} "
                             f"logical processors for VMs but has {free:.2f}",
                             hosts=(hn[h],)))
    for h in np.flatnonzero(mem > cluster.host_memory_free_mb):
        out.append(Violation("capacity_memory", f"node {hn[h]} needs {int(mem[h])} MB for VMs "
                             f"but has {int(cluster.host_memory_free_mb[h])} MB after its reserve",
                             hosts=(hn[h],)))
    v_idx = np.arange(cluster.n_vms)
    bad_owner = ~cluster.vm_possible[v_idx, p]
    for v in np.flatnonzero(bad_owner):
        out.append(Violation("possible_owners", f"VM {vn[v]} is on {hn[p[v]]}, which is not one "
                             "of its possible owners", vms=(vn[v],), hosts=(hn[p[v]],)))
    moved_pinned = cluster.vm_pinned & (p != cluster.vm_host)
    for v in np.flatnonzero(moved_pinned):
        out.append(Violation("pinned", f"VM {vn[v]} is pinned to {hn[cluster.vm_host[v]]} but "
                             f"ends on {hn[p[v]]}", vms=(vn[v],), hosts=(hn[p[v]],)))
    drained_set = set(int(d) for d in drained)
    not_up = cluster.host_state[p] != HostState.UP
    # A VM may stay on a Paused node (and an Off/Saved one on a Down node): SPEC §3.
    stays = (cluster.vm_pinned | cluster.vm_may_stay) & (p == cluster.vm_host)
    for v in np.flatnonzero(not_up & ~stays):
        state = HostState(cluster.host_state[p[v]]).name.title()
        out.append(Violation("host_not_up", f"VM {vn[v]} is on {hn[p[v]]}, which is {state}",
                             vms=(vn[v],), hosts=(hn[p[v]],)))
    if drained_set:
        on_drained = np.isin(p, list(drained_set))
        for v in np.flatnonzero(on_drained):
            out.append(Violation("drained", f"VM {vn[v]} is on {hn[p[v]]}, which is drained",
                                 vms=(vn[v],), hosts=(hn[p[v]],)))
    out.extend(rule_violations(cluster, p))
    out.extend(anti_affinity_violations(cluster, p))
    return out


def compatibility_islands(cluster: Cluster) -> list[dict[str, Any]]:
    """VMs that have no other host they could reach without downtime (live or quick).

    Returns one record per such VM: name, host, state and the reason.
    """
    out = []
    targets = cluster.vm_live_targets
    for v in np.flatnonzero(targets == 0):
        h = int(cluster.vm_host[v])
        if cluster.vm_pinned[v]:
            reason = "pinned"
        elif not (cluster.vm_possible[v] & cluster.host_up).sum() - int(
                cluster.vm_possible[v, h] and cluster.host_up[h]):
            reason = "no other Up possible owner"
        else:
            reason = "no other Up host of the same vendor offers its CPU feature set"
        out.append({"vm": cluster.vm_names[v], "host": cluster.host_names[h], "reason": reason})
    return out
