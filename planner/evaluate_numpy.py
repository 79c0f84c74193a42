"""The NumPy engine of :func:`planner.evaluate.evaluate`: the same per-host sums, load
statistics and placement checks as the compiled kernels of :mod:`planner.kernels`, written as
whole-batch array operations (no compilation: the engine for small batches, and for every
batch when numba is not installed).  ``tests/test_evaluate.py`` holds both engines equal, and
equal to :func:`planner.checks.placement_violations`, on random clusters and batches.

Temporaries that would be ``K x V`` are bounded by processing rows in chunks of at most
:data:`CHUNK_ELEMENTS` VM-placements.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from planner.cluster import Cluster, HostState, RuleType
from planner.violation import RULE_TYPE_KINDS

#: Largest number of VM-placements a temporary array may hold (rows are processed in chunks).
CHUNK_ELEMENTS = 1 << 22

#: Violation kind of each rule type (the one vocabulary, :data:`planner.violation.KINDS`).
RULE_KIND = RULE_TYPE_KINDS


def chunks(k_count: int, width: int) -> list[tuple[int, int]]:
    """Row ranges whose temporaries hold at most ``CHUNK_ELEMENTS`` elements."""
    step = max(1, CHUNK_ELEMENTS // max(width, 1))
    return [(a, min(a + step, k_count)) for a in range(0, k_count, step)]


def host_sums_numpy(
    p: np.ndarray, w_cpu: np.ndarray, w_mem: np.ndarray, n_hosts: int
) -> tuple[np.ndarray, np.ndarray]:
    k_count, v_count = p.shape
    cpu = np.empty((k_count, n_hosts), dtype=np.int64)
    mem = np.empty((k_count, n_hosts), dtype=np.int64)
    # float64 weights are exact here: per-host sums stay far below 2**53.
    wc = w_cpu.astype(np.float64)
    wm = w_mem.astype(np.float64)
    for a, b in chunks(k_count, v_count):
        rows = b - a
        idx = (
            p[a:b].astype(np.int64, copy=False)
            + (np.arange(rows, dtype=np.int64) * n_hosts)[:, None]
        ).ravel()
        n = rows * n_hosts
        cpu[a:b] = np.bincount(idx, np.tile(wc, rows), minlength=n).reshape(rows, n_hosts)
        mem[a:b] = np.bincount(idx, np.tile(wm, rows), minlength=n).reshape(rows, n_hosts)
    return cpu, mem


def checked_host_sums(cluster: Cluster, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h_count = cluster.n_hosts
    if p.size and (p.min() < 0 or p.max() >= h_count):
        raise ValueError(f"placements refer to host indices outside 0..{h_count - 1}")
    return host_sums_numpy(p, cluster.vm_cpu_load_milli, cluster.vm_mem_load_mb, h_count)


def _duplicate_groups(keys: np.ndarray) -> np.ndarray:
    """Per row, how many distinct values occur more than once."""
    if keys.shape[1] < 2:
        return np.zeros(keys.shape[0], dtype=np.int64)
    s = np.sort(keys, axis=1)
    eq = s[:, 1:] == s[:, :-1]
    starts = eq.copy()
    starts[:, 1:] &= ~eq[:, :-1]
    return starts.sum(axis=1).astype(np.int64)


def _shared_pairs(keys: np.ndarray) -> np.ndarray:
    """Per row, the number of pairs of columns holding the same value."""
    if keys.shape[1] < 2:
        return np.zeros(keys.shape[0], dtype=np.int64)
    s = np.sort(keys, axis=1)
    eq = (s[:, 1:] == s[:, :-1]).astype(np.int64)
    # Position of each element inside its run of equal values = pairs it closes.
    c = np.cumsum(eq, axis=1)
    reset = np.maximum.accumulate(np.where(eq == 0, c, 0), axis=1)
    return (c - reset).sum(axis=1)


def member_groups(groups: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated members, the group number of each, and each group's first column."""
    sizes = np.array([len(g) for g in groups], dtype=np.intp)
    members = np.concatenate([np.asarray(g, dtype=np.intp) for g in groups])
    gid = np.repeat(np.arange(len(groups), dtype=np.int64), sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    return members, gid, first


def rule_counts(cluster: Cluster, p: np.ndarray, counts: dict[str, np.ndarray]) -> None:
    """Broken enabled rules and anti-affinity pairs.  All rules of one type are checked in
    one pass over the concatenated member columns (group numbers keep rules apart), so the
    cost does not grow with the number of rules, only with their members."""
    fd = cluster.host_fault_domain.astype(np.int64)
    h_count, n_fd = cluster.n_hosts, max(len(cluster.fault_domains), 1)
    by_type: dict[RuleType, list[tuple[int, ...]]] = {}
    run = cluster.vm_consumes  # rules are judged over their running members (SPEC §3)
    for r in cluster.enabled_rules:
        ms = tuple(v for v in r.members if run[v])
        if len(ms) >= 2:
            by_type.setdefault(r.rule_type, []).append(ms)
    for rt, groups in by_type.items():
        members, gid, first = member_groups(groups)
        for a, b in chunks(p.shape[0], len(members)):
            hosts = p[a:b, members].astype(np.int64)
            if rt in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN):
                key = hosts if rt == RuleType.SAME_NODE else fd[hosts]
                # A member away from its rule's first member breaks the rule (once per rule).
                away = key != key[:, first][:, gid]
                hit = np.logical_or.reduceat(away, first, axis=1).sum(axis=1)
            else:
                key = hosts if rt == RuleType.DIFFERENT_NODE else fd[hosts]
                width = h_count if rt == RuleType.DIFFERENT_NODE else n_fd
                hit = _duplicate_groups(key + gid[None, :] * width)
            counts[RULE_KIND[rt]][a:b] += hit
    classes = [m for m in cluster.aa_class_members if len(m) >= 2]
    if classes:
        members, gid, _ = member_groups(classes)
        for a, b in chunks(p.shape[0], len(members)):
            key = p[a:b, members].astype(np.int64) + gid[None, :] * h_count
            counts["anti_affinity"][a:b] += _shared_pairs(key)


def owner_counts(cluster: Cluster, p: np.ndarray, counts: dict[str, np.ndarray]) -> None:
    """Possible owners: only the VMs whose owners are restricted can break them."""
    restricted = np.flatnonzero(~cluster.vm_possible.all(axis=1))
    if restricted.size:
        allowed = cluster.vm_possible[restricted]
        for a, b in chunks(p.shape[0], restricted.size):
            hosts = p[a:b, restricted]
            ok = np.take_along_axis(allowed[None, :, :], hosts[:, :, None], axis=2)[:, :, 0]
            counts["possible_owners"][a:b] += (~ok).sum(axis=1)


def placement_counts(
    cluster: Cluster, p: np.ndarray, drained: np.ndarray, counts: dict[str, np.ndarray]
) -> None:
    """Pinned VMs, not-Up and drained hosts: only the VMs that can break them."""
    pinned = np.flatnonzero(cluster.vm_pinned)
    if pinned.size:
        home = cluster.vm_host[pinned]
        for a, b in chunks(p.shape[0], pinned.size):
            counts["pinned"][a:b] += (p[a:b, pinned] != home).sum(axis=1)
    not_up = cluster.host_state != HostState.UP
    if not_up.any():
        # A pinned VM that stays on its (not Up) host is reported as pinned trouble
        # elsewhere, not here: the same exception placement_violations makes.
        pinned_mask = cluster.vm_pinned | cluster.vm_may_stay
        for a, b in chunks(p.shape[0], p.shape[1]):
            blk = p[a:b]
            bad = not_up[blk] & ~(pinned_mask & (blk == cluster.vm_host))
            counts["host_not_up"][a:b] += bad.sum(axis=1)
    if drained.any():
        for a, b in chunks(p.shape[0], p.shape[1]):
            counts["drained"][a:b] += drained[p[a:b]].sum(axis=1)


def load_stats_numpy(
    cluster: Cluster,
    vm_cpu: np.ndarray,
    vm_mem: np.ndarray,
    lim_c: np.ndarray,
    lim_m: np.ndarray,
    counted: np.ndarray,
    up: np.ndarray,
    live: np.ndarray,
) -> dict[str, np.ndarray]:
    """Percentages, threshold excess, extremes, spread, deviation and capacity counts."""
    t_count, k_count = lim_c.shape[0], vm_cpu.shape[0]
    cpu_pct = 100.0 * (vm_cpu + cluster.host_cpu_base_milli) / cluster.host_cpu_capacity_milli
    mem_pct = 100.0 * (vm_mem + cluster.host_memory_reserve_mb) / cluster.host_memory_mb
    hosts_over = np.zeros((t_count, k_count), dtype=np.int64)
    ex_cpu = np.zeros((t_count, k_count), dtype=np.int64)
    ex_mem = np.zeros((t_count, k_count), dtype=np.int64)
    for t in range(t_count):
        oc = vm_cpu - lim_c[t]
        om = vm_mem - lim_m[t]
        hosts_over[t] = (((oc > 0) | (om > 0)) & counted).sum(axis=1)
        ex_cpu[t] = np.maximum(oc, 0).sum(axis=1)
        ex_mem[t] = np.maximum(om, 0).sum(axis=1)
    cu, mu = cpu_pct[:, up], mem_pct[:, up]
    scalars = np.column_stack(
        [
            cpu_pct[:, live].max(axis=1),
            mem_pct[:, live].max(axis=1),
            cu.max(axis=1) - cu.min(axis=1),
            mu.max(axis=1) - mu.min(axis=1),
            cu.std(axis=1),
            mu.std(axis=1),
        ]
    )
    caps = np.column_stack(
        [
            (vm_cpu > cluster.host_cpu_free_milli).sum(axis=1),
            (vm_mem > cluster.host_memory_free_mb).sum(axis=1),
        ]
    )
    return stats_dict(cpu_pct, mem_pct, hosts_over, ex_cpu, ex_mem, scalars, caps)


def stats_dict(
    cpu_pct: np.ndarray,
    mem_pct: np.ndarray,
    hosts_over: np.ndarray,
    ex_cpu: np.ndarray,
    ex_mem: np.ndarray,
    scalars: np.ndarray,
    caps: np.ndarray,
) -> dict[str, np.ndarray]:
    """The load statistics by name, from the arrays both engines fill (``scalars`` ``(K, 6)``:
    highest CPU/memory, spread CPU/memory, deviation CPU/memory; ``caps`` ``(K, 2)``: hosts
    over their CPU / memory capacity)."""
    return {
        "cpu_pct": cpu_pct,
        "memory_pct": mem_pct,
        "hosts_over": hosts_over,
        "excess_cpu": ex_cpu,
        "excess_mem": ex_mem,
        "max_cpu": scalars[:, 0],
        "max_mem": scalars[:, 1],
        "spread_cpu": scalars[:, 2],
        "spread_mem": scalars[:, 3],
        "std_cpu": scalars[:, 4],
        "std_mem": scalars[:, 5],
        "capacity_cpu": caps[:, 0],
        "capacity_memory": caps[:, 1],
    }
