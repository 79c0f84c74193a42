"""Vectorized evaluation of many placements at once.

A *batch* is a ``(K, V)`` integer array ``P``: row ``k`` is one placement, ``P[k, v]`` the
host index of VM ``v``.  :func:`evaluate` computes for every row, without a Python loop over
VMs or placements:

* per-host CPU % and memory % (``K x H``), following the load model of SPEC §2 exactly as
  :func:`planner.loadmodel.host_loads` does;
* for each requested :class:`~planner.loadmodel.Threshold`: load above it (milli-LP and MB,
  summed over hosts, in the integer units of :func:`planner.loadmodel.excess_units`) and the
  number of hosts above it;
* the highest load, the spread (highest minus lowest) and the standard deviation of the Up
  hosts' loads;
* counts of what :func:`planner.checks.placement_violations` reports, by kind: capacity (CPU,
  memory), possible owners, hosts that are not Up, drained hosts, moved pinned VMs, the four
  affinity rule types (enabled rules, counted as that function counts them) and legacy
  anti-affinity pairs.

How it is fast
--------------
The per-host sums dominate: ``K x V`` scatter-adds per resource, streaming the whole batch
from memory, so the batch's integer type matters: any integer type is accepted, and
``uint8`` (enough for up to 255 hosts; Hyper-V allows 64) is the compact format that streams a
quarter of the bytes of ``int32`` (measured by ``tests/benchmarks/bench_evaluator.py``; the
results are identical).  Two engines compute the sums:

* ``"numba"`` (when :mod:`numba` is installed): one compiled pass over ``P``, parallel over
  rows.  CPU and memory are packed into one ``int64`` per VM (memory in the high 32 bits, CPU
  in the low 32), so one add per VM-placement updates both resources; this is exact because
  the *total* CPU of all VMs stays below ``2**32`` milli-LP and the total memory below
  ``2**31`` MB (checked; otherwise the kernel adds the two resources separately).  Two
  accumulator rows per placement break the store-to-load dependency between neighbouring VMs
  that land on the same host.
* ``"numpy"``: ``np.bincount`` over ``P + k * H`` offsets, one call per resource.

The checks touch only the columns of VMs that can break something: rule members, VMs with
restricted possible owners, pinned VMs (and every VM only when a host is not Up or drained).
Those columns are scattered over a row of ``P``; reading them from memory costs a cache miss
each, so the numba engine runs them inside the same pass, right after summing a row, while
the row is still in cache (DifferentNode/DifferentFaultDomain in two bit masks when there are
at most 64 nodes/domains, small anti-affinity classes pairwise).  The NumPy engine does one
vectorized pass per rule type over the member columns of all its rules, told apart by group
numbers.

Measured (``tests/benchmarks/bench_evaluator.py``, 1,000 x 8,000 x 64, 276 rules, this
2-core machine): about 5.5 ms per batch (1.4e9 VM-placement evaluations/s) with both cores
free, 0.8e9 per CPU-second; the time is the scatter-adds (about 65 %), the checks (25 %), the
percentages and thresholds (8 %).

Memory
------
Beyond the input, the results are ``O(K x H)``.  Temporaries that would be ``K x V`` are
bounded by processing rows in chunks of at most :data:`CHUNK_ELEMENTS` VM-placements; the
numba engine needs no such temporary at all.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from planner.cluster import Cluster, HostState, RuleType
from planner.loadmodel import HighMode, Level, Threshold, resolve_threshold, threshold_limits

# The compiled kernels run on OpenMP threads.  Hyper-V admins run hvplan on shared machines
# and CI shares cores too: spinning (active) waiters lose their time slices to other
# processes, which made a 2-thread batch 3-6x slower than one thread on a loaded 2-core box.
# Passive waiting costs microseconds per batch when idle.  A user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:  # numba is optional: without it the NumPy engine is used.
    import numba as _nb

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    _nb = None  # type: ignore[assignment]
    HAVE_NUMBA = False

Engine = Literal["auto", "numpy", "numba"]

#: Largest number of VM-placements a temporary array may hold (rows are processed in chunks).
CHUNK_ELEMENTS = 1 << 22
#: Placements per parallel task of the compiled kernels (scratch arrays are per task).
_ROWS_PER_TASK = 16
#: Below this many VM-placements "auto" uses NumPy: compiling the kernel would cost more.
NUMBA_MIN_ELEMENTS = 1 << 20

#: Violation kinds counted, in the spelling of :class:`planner.checks.Violation.kind`.
VIOLATION_KINDS = (
    "capacity_cpu",
    "capacity_memory",
    "possible_owners",
    "pinned",
    "host_not_up",
    "drained",
    "same_node",
    "different_node",
    "same_fault_domain",
    "different_fault_domain",
    "anti_affinity",
)

_RULE_KIND = {
    RuleType.SAME_NODE: "same_node",
    RuleType.DIFFERENT_NODE: "different_node",
    RuleType.SAME_FAULT_DOMAIN: "same_fault_domain",
    RuleType.DIFFERENT_FAULT_DOMAIN: "different_fault_domain",
}


@dataclass(frozen=True)
class Evaluation:
    """Metrics of a batch of ``K`` placements (arrays indexed by placement first).

    ``thresholds`` lists the ``T`` thresholds the ``*_over`` / ``excess_*`` arrays refer to
    (first axis).  ``violations`` maps each kind of :data:`VIOLATION_KINDS` to a ``(K,)``
    count.  ``hard_violations`` sums the hard kinds (legacy anti-affinity only when the
    cluster enforces it), as :func:`planner.checks.placement_violations` flags them.
    """

    cpu_milli: np.ndarray  # (K, H) int64: base + VM CPU load
    memory_used_mb: np.ndarray  # (K, H) int64: reserve + VM memory
    cpu_pct: np.ndarray  # (K, H) float64
    memory_pct: np.ndarray  # (K, H) float64
    thresholds: tuple[Threshold, ...]
    hosts_over: np.ndarray  # (T, K) int64: hosts (not Down) above threshold t
    excess_cpu_milli: np.ndarray  # (T, K) int64: CPU load above threshold t, summed
    excess_memory_mb: np.ndarray  # (T, K) int64
    max_cpu_pct: np.ndarray  # (K,) highest CPU % among hosts that are not Down
    max_memory_pct: np.ndarray  # (K,)
    spread_cpu_pct: np.ndarray  # (K,) highest minus lowest, Up hosts
    spread_memory_pct: np.ndarray  # (K,)
    std_cpu_pct: np.ndarray  # (K,) population standard deviation, Up hosts
    std_memory_pct: np.ndarray  # (K,)
    violations: dict[str, np.ndarray] = field(default_factory=dict)
    hard_violations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_placements(self) -> int:
        """Number of placements ``K``."""
        return int(self.cpu_pct.shape[0])

    def rule_violations(self) -> np.ndarray:
        """``(K,)`` broken enabled affinity rules (the four rule kinds together)."""
        total = np.zeros(self.n_placements, dtype=np.int64)
        for kind in _RULE_KIND.values():
            total += self.violations[kind]
        return total

    def row(self, k: int, t: int = 0) -> dict[str, Any]:
        """Scalar summary of placement ``k`` against threshold ``t`` (JSON-friendly)."""
        return {
            "hosts_over_threshold": int(self.hosts_over[t, k]),
            "excess_cpu_milli": int(self.excess_cpu_milli[t, k]),
            "excess_memory_mb": int(self.excess_memory_mb[t, k]),
            "max_cpu_pct": round(float(self.max_cpu_pct[k]), 4),
            "max_memory_pct": round(float(self.max_memory_pct[k]), 4),
            "spread_cpu_pct": round(float(self.spread_cpu_pct[k]), 4),
            "spread_memory_pct": round(float(self.spread_memory_pct[k]), 4),
            "std_cpu_pct": round(float(self.std_cpu_pct[k]), 4),
            "std_memory_pct": round(float(self.std_memory_pct[k]), 4),
            "rule_violations": int(self.rule_violations()[k]),
            "hard_violations": int(self.hard_violations[k]),
            "violations": {kind: int(c[k]) for kind, c in self.violations.items()},
        }


def default_thresholds(
    cluster: Cluster, placement: np.ndarray | None = None
) -> tuple[Threshold, ...]:
    """Low, Medium, High (average reading) and High (absolute reading), in that order, the
    High average computed on ``placement`` (default: the current one)."""
    return (
        resolve_threshold(cluster, Level.LOW),
        resolve_threshold(cluster, Level.MEDIUM),
        resolve_threshold(cluster, Level.HIGH, high_mode=HighMode.AVERAGE, placement=placement),
        resolve_threshold(cluster, Level.HIGH, high_mode=HighMode.ABSOLUTE),
    )


# ----------------------------------------------------------------------------- host sums
if HAVE_NUMBA:

    @_nb.njit(cache=True, boundscheck=False)
    def _row_packed(
        row: np.ndarray, packed: np.ndarray, out: np.ndarray, a1: np.ndarray
    ) -> int:  # pragma: no cover - compiled
        """Add one placement's packed loads into ``out``; return how many indices were bad."""
        n_hosts = out.shape[0]
        v_count = row.shape[0]
        bad = 0
        even = v_count - (v_count & 1)
        for v in range(0, even, 2):
            h0 = row[v]
            h1 = row[v + 1]
            # An index outside 0..H-1 is API misuse: count it instead of writing there.
            if h0 < 0 or h0 >= n_hosts or h1 < 0 or h1 >= n_hosts:
                bad += 1
            else:
                out[h0] += packed[v]
                a1[h1] += packed[v + 1]
        if v_count & 1:
            h0 = row[v_count - 1]
            if h0 < 0 or h0 >= n_hosts:
                bad += 1
            else:
                out[h0] += packed[v_count - 1]
        for h in range(n_hosts):
            out[h] += a1[h]
            a1[h] = 0  # the scratch row is reused for the next placement
        return bad

    @_nb.njit(parallel=True, cache=True, boundscheck=False)
    def _sums_packed(
        p: np.ndarray,
        packed: np.ndarray,
        n_hosts: int,
        r_members: np.ndarray,
        r_first: np.ndarray,
        r_size: np.ndarray,
        r_kind: np.ndarray,
        fd: np.ndarray,
        n_keys: int,
        aa_members: np.ndarray,
        aa_first: np.ndarray,
        aa_size: np.ndarray,
        restricted: np.ndarray,
        allowed: np.ndarray,
        pinned: np.ndarray,
        home: np.ndarray,
        host_flags: np.ndarray,
        vm_pinned: np.ndarray,
        checks: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
        k_count = p.shape[0]
        out = np.zeros((k_count, n_hosts), dtype=np.int64)
        bad = np.zeros(k_count, dtype=np.int64)
        n_chunks = (k_count + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
        tags = r_first.shape[0] + aa_first.shape[0]
        for c in _nb.prange(n_chunks):
            # Scratch arrays once per task, not per placement.  Second accumulator:
            # neighbouring VMs on the same host do not wait on each other.
            a1 = np.zeros(n_hosts, dtype=np.int64)
            seen = np.full(n_keys, -1, dtype=np.int64)
            cnt = np.zeros(n_keys, dtype=np.int64)
            for k in range(c * _ROWS_PER_TASK, min((c + 1) * _ROWS_PER_TASK, k_count)):
                bad[k] = _row_packed(p[k], packed, out[k], a1)
                # The checks read scattered columns of the row: do them while it is cached.
                if bad[k] == 0:
                    _row_checks(
                        p[k],
                        r_members,
                        r_first,
                        r_size,
                        r_kind,
                        fd,
                        aa_members,
                        aa_first,
                        aa_size,
                        restricted,
                        allowed,
                        pinned,
                        home,
                        host_flags,
                        vm_pinned,
                        checks[k],
                        seen,
                        cnt,
                        k * tags,
                    )
        return out, bad

    @_nb.njit(cache=True, boundscheck=False)
    def _row_two(
        row: np.ndarray, w_cpu: np.ndarray, w_mem: np.ndarray, cpu: np.ndarray, mem: np.ndarray
    ) -> int:  # pragma: no cover - compiled
        n_hosts = cpu.shape[0]
        bad = 0
        for v in range(row.shape[0]):
            h = row[v]
            if h < 0 or h >= n_hosts:
                bad += 1
            else:
                cpu[h] += w_cpu[v]
                mem[h] += w_mem[v]
        return bad

    @_nb.njit(parallel=True, cache=True, boundscheck=False)
    def _sums_two(
        p: np.ndarray,
        w_cpu: np.ndarray,
        w_mem: np.ndarray,
        n_hosts: int,
        r_members: np.ndarray,
        r_first: np.ndarray,
        r_size: np.ndarray,
        r_kind: np.ndarray,
        fd: np.ndarray,
        n_keys: int,
        aa_members: np.ndarray,
        aa_first: np.ndarray,
        aa_size: np.ndarray,
        restricted: np.ndarray,
        allowed: np.ndarray,
        pinned: np.ndarray,
        home: np.ndarray,
        host_flags: np.ndarray,
        vm_pinned: np.ndarray,
        checks: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
        k_count = p.shape[0]
        cpu = np.zeros((k_count, n_hosts), dtype=np.int64)
        mem = np.zeros((k_count, n_hosts), dtype=np.int64)
        bad = np.zeros(k_count, dtype=np.int64)
        n_chunks = (k_count + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
        tags = r_first.shape[0] + aa_first.shape[0]
        for c in _nb.prange(n_chunks):
            seen = np.full(n_keys, -1, dtype=np.int64)
            cnt = np.zeros(n_keys, dtype=np.int64)
            for k in range(c * _ROWS_PER_TASK, min((c + 1) * _ROWS_PER_TASK, k_count)):
                bad[k] = _row_two(p[k], w_cpu, w_mem, cpu[k], mem[k])
                if bad[k] == 0:
                    _row_checks(
                        p[k],
                        r_members,
                        r_first,
                        r_size,
                        r_kind,
                        fd,
                        aa_members,
                        aa_first,
                        aa_size,
                        restricted,
                        allowed,
                        pinned,
                        home,
                        host_flags,
                        vm_pinned,
                        checks[k],
                        seen,
                        cnt,
                        k * tags,
                    )
        return cpu, mem, bad


def _chunks(k_count: int, width: int) -> list[tuple[int, int]]:
    """Row ranges whose temporaries hold at most ``CHUNK_ELEMENTS`` elements."""
    step = max(1, CHUNK_ELEMENTS // max(width, 1))
    return [(a, min(a + step, k_count)) for a in range(0, k_count, step)]


def _host_sums_numpy(
    p: np.ndarray, w_cpu: np.ndarray, w_mem: np.ndarray, n_hosts: int
) -> tuple[np.ndarray, np.ndarray]:
    k_count, v_count = p.shape
    cpu = np.empty((k_count, n_hosts), dtype=np.int64)
    mem = np.empty((k_count, n_hosts), dtype=np.int64)
    # float64 weights are exact here: per-host sums stay far below 2**53.
    wc = w_cpu.astype(np.float64)
    wm = w_mem.astype(np.float64)
    for a, b in _chunks(k_count, v_count):
        rows = b - a
        idx = (
            p[a:b].astype(np.int64, copy=False)
            + (np.arange(rows, dtype=np.int64) * n_hosts)[:, None]
        ).ravel()
        n = rows * n_hosts
        cpu[a:b] = np.bincount(idx, np.tile(wc, rows), minlength=n).reshape(rows, n_hosts)
        mem[a:b] = np.bincount(idx, np.tile(wm, rows), minlength=n).reshape(rows, n_hosts)
    return cpu, mem


def host_sums(
    cluster: Cluster, placements: np.ndarray, engine: Engine = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """VM CPU load (milli-LP) and VM memory (MB) per host for each placement: two ``(K, H)``
    int64 arrays (without the hosts' base load and reserve)."""
    p = _as_batch(cluster, placements)
    if _pick_engine(engine, p.size) == "numpy" or p.shape[1] == 0:
        return _host_sums_checked_numpy(cluster, p)
    cpu, mem, _ = _numba_pass(cluster, p, with_checks=False)
    return cpu, mem


def _host_sums_checked_numpy(cluster: Cluster, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h_count = cluster.n_hosts
    if p.size and (p.min() < 0 or p.max() >= h_count):
        raise ValueError(f"placements refer to host indices outside 0..{h_count - 1}")
    return _host_sums_numpy(p, cluster.vm_cpu_load_milli, cluster.vm_mem_load_mb, h_count)


def _numba_pass(
    cluster: Cluster, p: np.ndarray, with_checks: bool, drained: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-host sums and (``with_checks``) the row checks, in one compiled pass."""
    h_count = cluster.n_hosts
    w_cpu = cluster.vm_cpu_load_milli.astype(np.int64)
    w_mem = cluster.vm_mem_load_mb.astype(np.int64)
    chk = _check_arrays(cluster, with_checks, drained)
    checks = np.zeros((p.shape[0], 9), dtype=np.int64)
    if int(w_cpu.sum()) < (1 << 32) and int(w_mem.sum()) < (1 << 31):
        packed = (w_mem << 32) | w_cpu
        out, bad = _sums_packed(p, packed, h_count, *chk, checks)  # type: ignore[call-arg]
        cpu, mem = out & 0xFFFFFFFF, out >> 32
    else:
        cpu, mem, bad = _sums_two(p, w_cpu, w_mem, h_count, *chk, checks)  # type: ignore[call-arg]
    if bad.any():
        raise ValueError(f"placements refer to host indices outside 0..{h_count - 1}")
    return cpu, mem, checks


def _pick_engine(engine: Engine, size: int) -> str:
    if engine == "numba":
        if not HAVE_NUMBA:
            raise ValueError("engine='numba' needs the numba package")
        return "numba"
    if engine == "numpy":
        return "numpy"
    if engine != "auto":
        raise ValueError(f"unknown engine {engine!r}")
    return "numba" if HAVE_NUMBA and size >= NUMBA_MIN_ELEMENTS else "numpy"


def _as_batch(cluster: Cluster, placements: np.ndarray) -> np.ndarray:
    p = np.asarray(placements)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != cluster.n_vms:
        raise ValueError(f"placements must have shape (K, {cluster.n_vms}), got {p.shape}")
    if not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"placements must be integer host indices, got dtype {p.dtype}")
    return np.ascontiguousarray(p)


# ----------------------------------------------------------------------------- rule checks
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


def _member_groups(groups: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated members, the group number of each, and each group's first column."""
    sizes = np.array([len(g) for g in groups], dtype=np.intp)
    members = np.concatenate([np.asarray(g, dtype=np.intp) for g in groups])
    gid = np.repeat(np.arange(len(groups), dtype=np.int64), sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    return members, gid, first


def _rule_counts(cluster: Cluster, p: np.ndarray, counts: dict[str, np.ndarray]) -> None:
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
        members, gid, first = _member_groups(groups)
        for a, b in _chunks(p.shape[0], len(members)):
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
            counts[_RULE_KIND[rt]][a:b] += hit
    classes = [m for m in cluster.aa_class_members if len(m) >= 2]
    if classes:
        members, gid, _ = _member_groups(classes)
        for a, b in _chunks(p.shape[0], len(members)):
            key = p[a:b, members].astype(np.int64) + gid[None, :] * h_count
            counts["anti_affinity"][a:b] += _shared_pairs(key)


def _owner_counts(cluster: Cluster, p: np.ndarray, counts: dict[str, np.ndarray]) -> None:
    """Possible owners: only the VMs whose owners are restricted can break them."""
    restricted = np.flatnonzero(~cluster.vm_possible.all(axis=1))
    if restricted.size:
        allowed = cluster.vm_possible[restricted]
        for a, b in _chunks(p.shape[0], restricted.size):
            hosts = p[a:b, restricted]
            ok = np.take_along_axis(allowed[None, :, :], hosts[:, :, None], axis=2)[:, :, 0]
            counts["possible_owners"][a:b] += (~ok).sum(axis=1)


def _placement_counts(
    cluster: Cluster, p: np.ndarray, drained: np.ndarray, counts: dict[str, np.ndarray]
) -> None:
    """Pinned VMs, not-Up and drained hosts: only the VMs that can break them."""
    pinned = np.flatnonzero(cluster.vm_pinned)
    if pinned.size:
        home = cluster.vm_host[pinned]
        for a, b in _chunks(p.shape[0], pinned.size):
            counts["pinned"][a:b] += (p[a:b, pinned] != home).sum(axis=1)
    not_up = cluster.host_state != HostState.UP
    if not_up.any():
        # A pinned VM that stays on its (not Up) host is reported as pinned trouble
        # elsewhere, not here: the same exception placement_violations makes.
        pinned_mask = cluster.vm_pinned | cluster.vm_may_stay
        for a, b in _chunks(p.shape[0], p.shape[1]):
            blk = p[a:b]
            bad = not_up[blk] & ~(pinned_mask & (blk == cluster.vm_host))
            counts["host_not_up"][a:b] += bad.sum(axis=1)
    if drained.any():
        for a, b in _chunks(p.shape[0], p.shape[1]):
            counts["drained"][a:b] += drained[p[a:b]].sum(axis=1)


_KIND_CODE = {
    RuleType.SAME_NODE: 0,
    RuleType.DIFFERENT_NODE: 1,
    RuleType.SAME_FAULT_DOMAIN: 2,
    RuleType.DIFFERENT_FAULT_DOMAIN: 3,
}

if HAVE_NUMBA:

    @_nb.njit(cache=True, boundscheck=False)
    def _row_checks(
        row: np.ndarray,
        r_members: np.ndarray,
        r_first: np.ndarray,
        r_size: np.ndarray,
        r_kind: np.ndarray,
        fd: np.ndarray,
        aa_members: np.ndarray,
        aa_first: np.ndarray,
        aa_size: np.ndarray,
        restricted: np.ndarray,
        allowed: np.ndarray,
        pinned: np.ndarray,
        home: np.ndarray,
        host_flags: np.ndarray,
        vm_pinned: np.ndarray,
        out: np.ndarray,
        seen: np.ndarray,
        cnt: np.ndarray,
        tag0: int,
    ) -> None:  # pragma: no cover - compiled
        """One placement: broken rules by kind code (``out[0..3]``), anti-affinity pairs
        (``out[4]``), VMs off their possible owners (``out[5]``), moved pinned VMs
        (``out[6]``), VMs on hosts that are not Up (``out[7]``, a pinned VM staying home
        excepted) and on drained hosts (``out[8]``)."""
        g_count = r_first.shape[0]
        # seen[key] = tag of the group that last saw key (tags are unique per placement and
        # group, so the scratch arrays need no reset); cnt[key] = how often it saw it.
        for g in range(g_count):
            s = r_first[g]
            e = s + r_size[g]
            kind = r_kind[g]
            tag = tag0 + g
            if kind == 0 or kind == 2:
                h0 = row[r_members[s]]
                k0 = h0 if kind == 0 else fd[h0]
                for j in range(s + 1, e):
                    h = row[r_members[j]]
                    if (h if kind == 0 else fd[h]) != k0:
                        out[kind] += 1
                        break
            elif seen.shape[0] <= 64:
                # Up to 64 keys: two bit masks in registers instead of scratch arrays.
                seen_m = np.uint64(0)
                dup_m = np.uint64(0)
                for j in range(s, e):
                    h = row[r_members[j]]
                    bit = np.uint64(1) << np.uint64(h if kind == 1 else fd[h])
                    if seen_m & bit:
                        dup_m |= bit
                    else:
                        seen_m |= bit
                while dup_m:  # one count per shared node / domain
                    dup_m &= dup_m - np.uint64(1)
                    out[kind] += 1
            else:
                for j in range(s, e):
                    h = row[r_members[j]]
                    key = h if kind == 1 else fd[h]
                    if seen[key] != tag:
                        seen[key] = tag
                        cnt[key] = 1
                    else:
                        cnt[key] += 1
                        if cnt[key] == 2:
                            out[kind] += 1
        for c in range(aa_first.shape[0]):
            s = aa_first[c]
            e = s + aa_size[c]
            if e - s <= 16:
                # Small class: compare each member with the earlier ones directly.
                for j in range(s + 1, e):
                    h = row[aa_members[j]]
                    for i in range(s, j):
                        if row[aa_members[i]] == h:
                            out[4] += 1
                continue
            tag = tag0 + g_count + c
            for j in range(s, e):
                h = row[aa_members[j]]
                if seen[h] != tag:
                    seen[h] = tag
                    cnt[h] = 1
                else:
                    out[4] += cnt[h]  # the new member pairs with each earlier one
                    cnt[h] += 1
        for i in range(restricted.shape[0]):
            if not allowed[i, row[restricted[i]]]:
                out[5] += 1
        for i in range(pinned.shape[0]):
            if row[pinned[i]] != home[i]:
                out[6] += 1
        if host_flags.shape[0]:
            # Only when some host is not Up or drained: one more pass over the cached row.
            for v in range(row.shape[0]):
                f = host_flags[row[v]]
                # vm_pinned: the host each VM may stay on although it is not Up, or -1.
                if f & 1 and row[v] != vm_pinned[v]:
                    out[7] += 1
                if f & 2:
                    out[8] += 1


#: Check arrays per cluster (clusters are immutable, so they never go stale).
_CHECK_CACHE: weakref.WeakKeyDictionary[Cluster, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def _check_arrays(
    cluster: Cluster, with_checks: bool, drained: np.ndarray | None = None
) -> tuple[Any, ...]:
    """Arguments of the compiled row checks (empty ones when ``with_checks`` is False)."""
    if with_checks and (drained is None or not drained.any()):
        cached = _CHECK_CACHE.get(cluster)
        if cached is None:
            cached = _CHECK_CACHE[cluster] = _build_check_arrays(cluster, True, None)
        return cached
    return _build_check_arrays(cluster, with_checks, drained)


def _build_check_arrays(
    cluster: Cluster, with_checks: bool, drained: np.ndarray | None
) -> tuple[Any, ...]:
    empty = np.zeros(0, dtype=np.intp)
    fd = cluster.host_fault_domain.astype(np.int64)
    n_keys = max(cluster.n_hosts, len(cluster.fault_domains), 1)
    no_owner = np.zeros((0, max(cluster.n_hosts, 1)), dtype=bool)
    no_flags = np.zeros(0, dtype=np.int8)
    if not with_checks:
        return (
            empty,
            empty,
            empty,
            np.zeros(0, dtype=np.int64),
            fd,
            n_keys,
            empty,
            empty,
            empty,
            empty,
            no_owner,
            empty,
            empty,
            no_flags,
            _stay_home(cluster),
        )
    run = cluster.vm_consumes  # rules are judged over their running members (SPEC §3)
    rules = [(r, tuple(v for v in r.members if run[v])) for r in cluster.enabled_rules]
    rules = [(r, ms) for r, ms in rules if len(ms) >= 2]
    classes = [m for m in cluster.aa_class_members if len(m) >= 2]
    if rules:
        r_members, _, r_first = _member_groups([ms for _r, ms in rules])
        r_size = np.array([len(ms) for _r, ms in rules], dtype=np.intp)
        r_kind = np.array([_KIND_CODE[r.rule_type] for r, _ms in rules], dtype=np.int64)
    else:
        r_members, r_first, r_size, r_kind = empty, empty, empty, np.zeros(0, dtype=np.int64)
    if classes:
        aa_members, _, aa_first = _member_groups(classes)
        aa_size = np.array([len(m) for m in classes], dtype=np.intp)
    else:
        aa_members, aa_first, aa_size = empty, empty, empty
    restricted = np.flatnonzero(~cluster.vm_possible.all(axis=1)).astype(np.intp)
    allowed = np.ascontiguousarray(cluster.vm_possible[restricted])
    pinned = np.flatnonzero(cluster.vm_pinned).astype(np.intp)
    home = cluster.vm_host[pinned].astype(np.int64)
    flags = (cluster.host_state != HostState.UP).astype(np.int8)
    if drained is not None:
        flags |= drained.astype(np.int8) << 1
    host_flags = flags if flags.any() else no_flags
    return (
        r_members,
        r_first,
        r_size,
        r_kind,
        fd,
        n_keys,
        aa_members,
        aa_first,
        aa_size,
        restricted,
        allowed,
        pinned,
        home,
        host_flags,
        _stay_home(cluster),
    )


def _stay_home(cluster: Cluster) -> np.ndarray:
    """int64 V: the current host of each VM that may end there (pinned, or allowed to stay
    on a node that is not Up: a Paused one, or a Down one for Off/Saved VMs), else -1."""
    ok = cluster.vm_pinned | cluster.vm_may_stay
    return np.where(ok, cluster.vm_host, -1).astype(np.int64)


def _merge_checks(out: np.ndarray, counts: dict[str, np.ndarray]) -> None:
    for rt, code in _KIND_CODE.items():
        counts[_RULE_KIND[rt]] += out[:, code]
    counts["anti_affinity"] += out[:, 4]
    counts["possible_owners"] += out[:, 5]
    counts["pinned"] += out[:, 6]
    counts["host_not_up"] += out[:, 7]
    counts["drained"] += out[:, 8]


# ----------------------------------------------------------------------------- load stats
def _load_stats_numpy(
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
    return {
        "cpu_pct": cpu_pct,
        "memory_pct": mem_pct,
        "hosts_over": hosts_over,
        "excess_cpu": ex_cpu,
        "excess_mem": ex_mem,
        "max_cpu": cpu_pct[:, live].max(axis=1),
        "max_mem": mem_pct[:, live].max(axis=1),
        "spread_cpu": cu.max(axis=1) - cu.min(axis=1),
        "spread_mem": mu.max(axis=1) - mu.min(axis=1),
        "std_cpu": cu.std(axis=1),
        "std_mem": mu.std(axis=1),
        "capacity_cpu": (vm_cpu > cluster.host_cpu_free_milli).sum(axis=1),
        "capacity_memory": (vm_mem > cluster.host_memory_free_mb).sum(axis=1),
    }


if HAVE_NUMBA:

    @_nb.njit(cache=True)
    def _spread_std(x: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
        """Highest, lowest and population standard deviation of ``x[mask]`` (two passes,
        like NumPy, so the results agree to rounding)."""  # pragma: no cover - compiled
        n = 0
        s = 0.0
        hi = -np.inf
        lo = np.inf
        for h in range(x.shape[0]):
            if mask[h]:
                n += 1
                s += x[h]
                hi = max(hi, x[h])
                lo = min(lo, x[h])
        mean = s / n
        var = 0.0
        for h in range(x.shape[0]):
            if mask[h]:
                var += (x[h] - mean) ** 2
        return hi, lo, np.sqrt(var / n)

    @_nb.njit(parallel=True, cache=True)
    def _stats_kernel(
        vm_cpu: np.ndarray,
        vm_mem: np.ndarray,
        base: np.ndarray,
        reserve: np.ndarray,
        cap_cpu: np.ndarray,
        mem_total: np.ndarray,
        cpu_free: np.ndarray,
        mem_free: np.ndarray,
        lim_c: np.ndarray,
        lim_m: np.ndarray,
        counted: np.ndarray,
        up: np.ndarray,
        live: np.ndarray,
        cpu_pct: np.ndarray,
        mem_pct: np.ndarray,
        hosts_over: np.ndarray,
        ex_cpu: np.ndarray,
        ex_mem: np.ndarray,
        scalars: np.ndarray,
        caps: np.ndarray,
    ) -> None:  # pragma: no cover
        k_count, h_count = vm_cpu.shape
        t_count = lim_c.shape[0]
        for k in _nb.prange(k_count):
            n_cap_c = 0
            n_cap_m = 0
            for h in range(h_count):
                c = vm_cpu[k, h]
                m = vm_mem[k, h]
                cpu_pct[k, h] = 100.0 * (c + base[h]) / cap_cpu[h]
                mem_pct[k, h] = 100.0 * (m + reserve[h]) / mem_total[h]
                if c > cpu_free[h]:
                    n_cap_c += 1
                if m > mem_free[h]:
                    n_cap_m += 1
            # Threshold by threshold with local sums (no writes to memory in the host loop).
            for t in range(t_count):
                sc = 0
                sm = 0
                n_over = 0
                for h in range(h_count):
                    oc = vm_cpu[k, h] - lim_c[t, h]
                    om = vm_mem[k, h] - lim_m[t, h]
                    sc += max(oc, 0)
                    sm += max(om, 0)
                    n_over += ((oc > 0) | (om > 0)) & counted[h]
                ex_cpu[t, k] = sc
                ex_mem[t, k] = sm
                hosts_over[t, k] = n_over
            caps[k, 0] = n_cap_c
            caps[k, 1] = n_cap_m
            hi_c = -np.inf
            hi_m = -np.inf
            for h in range(h_count):
                if live[h]:
                    hi_c = max(hi_c, cpu_pct[k, h])
                    hi_m = max(hi_m, mem_pct[k, h])
            scalars[k, 0] = hi_c
            scalars[k, 1] = hi_m
            a, b, sd = _spread_std(cpu_pct[k], up)
            scalars[k, 2] = a - b
            scalars[k, 4] = sd
            a, b, sd = _spread_std(mem_pct[k], up)
            scalars[k, 3] = a - b
            scalars[k, 5] = sd


def _load_stats_numba(
    cluster: Cluster,
    vm_cpu: np.ndarray,
    vm_mem: np.ndarray,
    lim_c: np.ndarray,
    lim_m: np.ndarray,
    counted: np.ndarray,
    up: np.ndarray,
    live: np.ndarray,
) -> dict[str, np.ndarray]:
    """Same as :func:`_load_stats_numpy`, fused into one compiled pass per placement."""
    t_count, (k_count, h_count) = lim_c.shape[0], vm_cpu.shape
    cpu_pct = np.empty((k_count, h_count))
    mem_pct = np.empty((k_count, h_count))
    hosts_over = np.zeros((t_count, k_count), dtype=np.int64)
    ex_cpu = np.zeros((t_count, k_count), dtype=np.int64)
    ex_mem = np.zeros((t_count, k_count), dtype=np.int64)
    scalars = np.empty((k_count, 6))
    caps = np.zeros((k_count, 2), dtype=np.int64)
    _stats_kernel(
        vm_cpu,
        vm_mem,
        cluster.host_cpu_base_milli.astype(np.int64),
        cluster.host_memory_reserve_mb.astype(np.int64),
        cluster.host_cpu_capacity_milli.astype(np.int64),
        cluster.host_memory_mb.astype(np.int64),
        cluster.host_cpu_free_milli.astype(np.int64),
        cluster.host_memory_free_mb.astype(np.int64),
        lim_c,
        lim_m,
        counted,
        up,
        live,
        cpu_pct,
        mem_pct,
        hosts_over,
        ex_cpu,
        ex_mem,
        scalars,
        caps,
    )
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


# ----------------------------------------------------------------------------- evaluate
def evaluate(
    cluster: Cluster,
    placements: np.ndarray,
    thresholds: Sequence[Threshold] | None = None,
    drained: Sequence[int] = (),
    engine: Engine = "auto",
) -> Evaluation:
    """Evaluate a batch of placements.

    Parameters
    ----------
    cluster:
        The snapshot (demands, capacities, rules).
    placements:
        ``(K, V)`` integer host indices (a 1-D placement is treated as ``K = 1``).
    thresholds:
        Thresholds for the ``hosts_over`` / ``excess_*`` metrics; default
        :func:`default_thresholds`.
    drained:
        Host indices that must end empty (counted as ``drained`` violations).
    engine:
        ``"auto"``, ``"numpy"`` or ``"numba"`` for the per-host sums (same results).

    Raises ``ValueError`` for a batch of the wrong shape, dtype or host index (API misuse).
    """
    p = _as_batch(cluster, placements)
    thr = tuple(thresholds) if thresholds is not None else default_thresholds(cluster)
    k_count, h_count = p.shape[0], cluster.n_hosts
    eng = _pick_engine(engine, p.size)
    if p.shape[1] == 0:
        eng = "numpy"
    drained_mask = np.zeros(h_count, dtype=bool)
    if len(drained):
        drained_mask[np.asarray(list(drained), dtype=np.intp)] = True
    if eng == "numba":
        vm_cpu, vm_mem, fused_checks = _numba_pass(cluster, p, True, drained_mask)
    else:
        vm_cpu, vm_mem = _host_sums_checked_numpy(cluster, p)
    counted = cluster.host_state != HostState.DOWN
    up = cluster.host_up if cluster.host_up.any() else np.ones(h_count, dtype=bool)
    live = counted if counted.any() else np.ones(h_count, dtype=bool)
    # Integer limits (floor of the threshold) make "above" exact: an integer load is above
    # floor(x) exactly when it is above x.
    lims = [threshold_limits(cluster, th) for th in thr]
    lim_c = np.array([c for c, _ in lims], dtype=np.int64).reshape(len(thr), h_count)
    lim_m = np.array([m for _, m in lims], dtype=np.int64).reshape(len(thr), h_count)
    stats_fn = _load_stats_numba if eng == "numba" and h_count else _load_stats_numpy
    st = stats_fn(cluster, vm_cpu, vm_mem, lim_c, lim_m, counted, up, live)

    counts = {kind: np.zeros(k_count, dtype=np.int64) for kind in VIOLATION_KINDS}
    counts["capacity_cpu"] += st["capacity_cpu"]
    counts["capacity_memory"] += st["capacity_memory"]
    if eng == "numba":
        _merge_checks(fused_checks, counts)
    else:
        _placement_counts(cluster, p, drained_mask, counts)
        _owner_counts(cluster, p, counts)
        _rule_counts(cluster, p, counts)
    hard = sum(
        (c for kind, c in counts.items() if kind != "anti_affinity"),
        start=np.zeros(k_count, dtype=np.int64),
    )
    if cluster.settings.enforced_anti_affinity:
        hard = hard + counts["anti_affinity"]

    return Evaluation(
        cpu_milli=vm_cpu + cluster.host_cpu_base_milli,
        memory_used_mb=vm_mem + cluster.host_memory_reserve_mb,
        cpu_pct=st["cpu_pct"],
        memory_pct=st["memory_pct"],
        thresholds=thr,
        hosts_over=st["hosts_over"],
        excess_cpu_milli=st["excess_cpu"],
        excess_memory_mb=st["excess_mem"],
        max_cpu_pct=st["max_cpu"],
        max_memory_pct=st["max_mem"],
        spread_cpu_pct=st["spread_cpu"],
        spread_memory_pct=st["spread_mem"],
        std_cpu_pct=st["std_cpu"],
        std_memory_pct=st["std_mem"],
        violations=counts,
        hard_violations=hard,
    )


__all__ = [
    "CHUNK_ELEMENTS",
    "HAVE_NUMBA",
    "VIOLATION_KINDS",
    "Engine",
    "Evaluation",
    "default_thresholds",
    "evaluate",
    "host_sums",
]
