"""Rule and capacity checks of one placement, independent of any solver.

Used by ``hvplan status`` (what the current placement already breaks), by the independent
plan verifier and by the capacity planner.  Nothing here imports OR-Tools.

Every check returns :class:`planner.violation.Violation` values (indices inside; names come
out of :meth:`~planner.violation.Violation.to_dict`); the type, its kind vocabulary
(:data:`KINDS`) and :func:`dedupe` are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from planner.cluster import CPU_UNITS, Cluster, HostState, MoveKind, RuleType
from planner.violation import (
    CONSEQUENCE_KINDS,
    KINDS,
    RULE_KINDS,
    RULE_TYPE_KINDS,
    RuleRef,
    Violation,
    dedupe,
)

__all__ = [
    "CONSEQUENCE_KINDS",
    "KINDS",
    "RULE_KINDS",
    "RuleRef",
    "Violation",
    "anti_affinity_pairs",
    "anti_affinity_violations",
    "compatibility_islands",
    "dedupe",
    "placement_violations",
    "rule_violations",
    "running_members",
    "vm_memory_on_mb",
]


def running_members(cluster: Cluster, members: Iterable[int]) -> list[int]:
    """The members that count for a rule: Running or Paused VMs (SPEC §3)."""
    consumes = cluster.vm_consumes
    return [int(v) for v in members if consumes[int(v)]]


def rule_violations(
    cluster: Cluster, placement: np.ndarray | None = None, include_disabled: bool = False
) -> list[Violation]:
    """Affinity rules (enabled ones; disabled ones too when asked, as soft) broken by
    ``placement``, judged over their running members."""
    p = cluster.vm_host if placement is None else np.asarray(placement)
    fd = cluster.host_fault_domain
    out: list[Violation] = []
    for i, r in enumerate(cluster.rules):
        if not r.enabled and not include_disabled:
            continue
        m = np.asarray(running_members(cluster, r.members), dtype=np.int64)
        if len(m) < 2:
            continue
        hosts = p[m]
        label = f"{r.type_name} rule '{r.name}'" + ("" if r.enabled else " (disabled)")
        if r.rule_type in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN):
            node = r.rule_type == RuleType.SAME_NODE
            key = hosts if node else fd[hosts]
            n = len(set(key.tolist()))
            if n > 1:
                what = "nodes" if node else "fault domains"
                out.append(
                    Violation(
                        RULE_TYPE_KINDS[r.rule_type],
                        f"{label}: members are on {n} different {what}",
                        vms=tuple(m.tolist()),
                        hosts=tuple(sorted(set(hosts.tolist()))),
                        rule=RuleRef.affinity(i),
                        hard=r.enabled,
                    )
                )
            continue
        node = r.rule_type == RuleType.DIFFERENT_NODE
        key = hosts if node else fd[hosts]
        vals, counts = np.unique(key, return_counts=True)
        for val in vals[counts > 1]:
            sel = m[key == val]
            where = (
                f"node {cluster.host_names[int(val)]}"
                if node
                else f"fault domain {cluster.fault_domains[int(val)]}"
            )
            out.append(
                Violation(
                    RULE_TYPE_KINDS[r.rule_type],
                    f"{label}: {len(sel)} members share {where}",
                    vms=tuple(sel.tolist()),
                    hosts=tuple(sorted(set(p[sel].tolist()))),
                    rule=RuleRef.affinity(i),
                    hard=r.enabled,
                )
            )
    return out


def anti_affinity_pairs(
    cluster: Cluster, placement: np.ndarray | None = None
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


def anti_affinity_violations(
    cluster: Cluster, placement: np.ndarray | None = None
) -> list[Violation]:
    """Legacy anti-affinity classes with members sharing a node (hard when enforced)."""
    p = cluster.vm_host if placement is None else np.asarray(placement)
    hard = cluster.settings.enforced_anti_affinity
    out = []
    for c, a, b in anti_affinity_pairs(cluster, p):
        cls = cluster.aa_class_names[c]
        h = int(p[a])
        out.append(
            Violation(
                "anti_affinity",
                f"anti-affinity class '{cls}': "
                f"{cluster.vm_names[a]} and {cluster.vm_names[b]} share node "
                f"{cluster.host_names[h]}" + ("" if hard else " (soft)"),
                vms=(a, b),
                hosts=(h,),
                rule=RuleRef.anti_affinity(c),
                hard=bool(hard),
            )
        )
    return out


def vm_memory_on_mb(cluster: Cluster, placement: np.ndarray) -> np.ndarray:
    """Memory each VM occupies in ``placement``: its boot memory where it arrives by a
    Start or Shutdown move (it boots there), else its assigned memory (0 when not running)."""
    p = np.asarray(placement, dtype=np.int64)
    mem = np.asarray(cluster.vm_mem_load_mb, dtype=np.int64).copy()
    moved = np.flatnonzero(p != cluster.vm_host)
    if len(moved):
        kinds = cluster.vm_move_kind[moved, p[moved]]
        boots = moved[(kinds == MoveKind.START) | (kinds == MoveKind.SHUTDOWN)]
        mem[boots] = np.asarray(cluster.vm_boot_memory_mb)[boots]
    return mem


def _host_violations(cluster: Cluster, p: np.ndarray) -> list[Violation]:
    """Capacity (CPU, memory) and the running-VM limit of every node in ``p``."""
    out: list[Violation] = []
    hn, nh = cluster.host_names, cluster.n_hosts
    cpu = np.bincount(p, weights=cluster.vm_cpu_load_milli, minlength=nh)
    mem = np.bincount(p, weights=vm_memory_on_mb(cluster, p), minlength=nh)
    running = np.bincount(p[np.asarray(cluster.vm_consumes)], minlength=nh)
    limit = np.asarray(cluster.host_max_running_vms)
    for h in np.flatnonzero(cpu > cluster.host_cpu_free_milli).tolist():
        free = cluster.host_cpu_free_milli[h] / CPU_UNITS
        out.append(
            Violation(
                "capacity_cpu",
                f"node {hn[h]} needs "
                f"{cpu[h] / CPU_UNITS:.2f} logical processors for VMs but has "
                f"{free:.2f}",
                hosts=(h,),
            )
        )
    for h in np.flatnonzero(mem > cluster.host_memory_free_mb).tolist():
        out.append(
            Violation(
                "capacity_memory",
                f"node {hn[h]} needs "
                f"{int(mem[h])} MB for VMs but has "
                f"{int(cluster.host_memory_free_mb[h])} MB after its reserve",
                hosts=(h,),
            )
        )
    for h in np.flatnonzero(running > limit).tolist():
        out.append(
            Violation(
                "running_vms",
                f"node {hn[h]} runs {int(running[h])} "
                f"VMs, its limit is {int(limit[h])} (host_max_running_vms)",
                hosts=(h,),
            )
        )
    return out


def _vm_violations(cluster: Cluster, p: np.ndarray, drained: set[int]) -> list[Violation]:
    """Owners, configuration version, pinned VMs, node states and drained nodes per VM."""
    out: list[Violation] = []
    hn, vn = cluster.host_names, cluster.vm_names
    v_idx = np.arange(cluster.n_vms)
    stays = p == cluster.vm_host
    for v in np.flatnonzero(~cluster.vm_possible[v_idx, p]).tolist():
        out.append(
            Violation(
                "possible_owners",
                f"VM {vn[v]} is on {hn[p[v]]}, which is not one of its possible owners",
                vms=(v,),
                hosts=(p[v],),
            )
        )
    cap = np.asarray(cluster.host_max_config_version_x10)[p]
    ver = np.asarray(cluster.vm_config_version_x10)
    for v in np.flatnonzero((cap >= 0) & (ver > cap)).tolist():
        out.append(
            Violation(
                "config_version",
                f"VM {vn[v]} (configuration "
                f"version {ver[v] / 10:.1f}) is on {hn[p[v]]}, whose OS runs "
                f"versions up to {cap[v] / 10:.1f}",
                vms=(v,),
                hosts=(p[v],),
            )
        )
    for v in np.flatnonzero(cluster.vm_pinned & ~stays).tolist():
        out.append(
            Violation(
                "pinned",
                f"VM {vn[v]} is pinned to {hn[cluster.vm_host[v]]} but ends on {hn[p[v]]}",
                vms=(v,),
                hosts=(p[v],),
            )
        )
    state = cluster.host_state[p]
    # A VM may not arrive on a node that is not Up; one may stay on a Paused node (it keeps
    # its VMs), and on a Down node only when it is not running (nothing to start).
    moved_bad = ~stays & (state != HostState.UP)
    stay_bad = stays & (state == HostState.DOWN) & cluster.vm_consumes & ~cluster.vm_pinned
    for v in np.flatnonzero(moved_bad | stay_bad).tolist():
        st = HostState(int(state[v])).name.title()
        why = "must be started on another node" if stays[v] else "receives no VMs"
        out.append(
            Violation(
                "host_not_up",
                f"VM {vn[v]} is on {hn[p[v]]}, which is {st} ({why})",
                vms=(v,),
                hosts=(p[v],),
            )
        )
    if drained:
        for v in np.flatnonzero(np.isin(p, sorted(drained))).tolist():
            out.append(
                Violation(
                    "drained",
                    f"VM {vn[v]} is on {hn[p[v]]}, which is drained",
                    vms=(v,),
                    hosts=(p[v],),
                )
            )
    return out


def placement_violations(
    cluster: Cluster,
    placement: np.ndarray | None = None,
    drained: Iterable[int] = (),
) -> list[Violation]:
    """Every hard and soft problem of a final placement (SPEC §3, "Final placement").

    Capacity (100 % CPU and memory after the reserve; boot memory for VMs that arrive by a
    Start or Shutdown move), the running-VM limit per node, possible owners, configuration
    versions, pinned VMs, node states (nothing arrives on a Paused or Down node; a Paused
    node keeps its VMs; a running VM listed on a Down node must be started elsewhere),
    drained nodes, enabled affinity rules and legacy anti-affinity (over running members).
    """
    p = np.asarray(cluster.vm_host if placement is None else placement, dtype=np.int64)
    out = _host_violations(cluster, p)
    out.extend(_vm_violations(cluster, p, {int(d) for d in drained}))
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
            cluster.vm_possible[v, h] and cluster.host_up[h]
        ):
            reason = "no other Up possible owner"
        else:
            reason = "no other Up host of the same vendor offers its CPU feature set"
        out.append({"vm": cluster.vm_names[v], "host": cluster.host_names[h], "reason": reason})
    return out
