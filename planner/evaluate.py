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
  rows (:func:`planner.kernels.batch_sums`, compiled at its first call).  CPU and memory are
  packed into one ``int64`` per VM (memory in the high 32 bits, CPU in the low 32), so one add
  per VM-placement updates both resources; this is exact because the *total* CPU of all VMs
  stays below ``2**32`` milli-LP and the total memory below ``2**31`` MB (checked; otherwise
  the same kernel runs once per resource).  Two accumulator rows per placement break the
  store-to-load dependency between neighbouring VMs that land on the same host.  Placements
  reach the kernels as ``uint8``, ``int16`` or ``int32`` (:func:`kernel_batch`).
* ``"numpy"`` (:mod:`planner.evaluate_numpy`): ``np.bincount`` over ``P + k * H`` offsets,
  one call per resource; ``"auto"`` uses it below :data:`NUMBA_MIN_ELEMENTS`.

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

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from planner import kernels
from planner.cluster import Cluster, HostState, RuleType
from planner.evaluate_numpy import (
    CHUNK_ELEMENTS,
    RULE_KIND,
    checked_host_sums,
    load_stats_numpy,
    member_groups,
    owner_counts,
    placement_counts,
    rule_counts,
    stats_dict,
)
from planner.kernels import HAVE_NUMBA
from planner.loadmodel import HighMode, Level, Threshold, resolve_threshold, threshold_limits

Engine = Literal["auto", "numpy", "numba"]

#: Below this many VM-placements "auto" uses NumPy: compiling the kernel would cost more.
NUMBA_MIN_ELEMENTS = 1 << 20

#: Violation kinds counted (keys of the one vocabulary, :data:`planner.violation.KINDS`).
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

_RULE_KIND = RULE_KIND


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
def host_sums(
    cluster: Cluster, placements: np.ndarray, engine: Engine = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """VM CPU load (milli-LP) and VM memory (MB) per host for each placement: two ``(K, H)``
    int64 arrays (without the hosts' base load and reserve)."""
    p = _as_batch(cluster, placements)
    if _pick_engine(engine, p.size) == "numpy" or p.shape[1] == 0:
        return checked_host_sums(cluster, p)
    cpu, mem, _ = _numba_pass(cluster, p, with_checks=False)
    return cpu, mem


#: Placement dtypes the compiled kernels take as they are (each is one compilation).
KERNEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.int32))


def kernel_batch(p: np.ndarray, n_hosts: int) -> np.ndarray:
    """``p`` in a dtype of :data:`KERNEL_DTYPES`: as it is, or (after checking its host
    indices, so that nothing wraps) converted to int32.  A process thus compiles the kernels
    for at most three placement types, whatever integer types the callers use."""
    if p.dtype in KERNEL_DTYPES:
        return p
    if p.size and (p.min() < 0 or p.max() >= n_hosts):
        raise ValueError(f"placements refer to host indices outside 0..{n_hosts - 1}")
    return p.astype(np.int32)


def _numba_pass(
    cluster: Cluster, p: np.ndarray, with_checks: bool, drained: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-host sums and (``with_checks``) the row checks, in one compiled pass."""
    h_count = cluster.n_hosts
    p = kernel_batch(p, h_count)
    w_cpu = cluster.vm_cpu_load_milli.astype(np.int64)
    w_mem = cluster.vm_mem_load_mb.astype(np.int64)
    chk = check_arrays(cluster, with_checks, drained)
    checks = np.zeros((p.shape[0], 9), dtype=np.int64)
    if int(w_cpu.sum()) < (1 << 32) and int(w_mem.sum()) < (1 << 31):
        # CPU and memory packed into one int64 per VM: one add per VM-placement for both.
        out, bad = kernels.batch_sums(p, (w_mem << 32) | w_cpu, h_count, chk, checks)
        cpu, mem = out & 0xFFFFFFFF, out >> 32
    else:  # too large to pack: the same kernel once per resource
        cpu, bad = kernels.batch_sums(p, w_cpu, h_count, chk, checks)
        mem, _ = kernels.batch_sums(p, w_mem, h_count, check_arrays(cluster, False), checks)
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
_KIND_CODE = {
    RuleType.SAME_NODE: 0,
    RuleType.DIFFERENT_NODE: 1,
    RuleType.SAME_FAULT_DOMAIN: 2,
    RuleType.DIFFERENT_FAULT_DOMAIN: 3,
}

#: Check arrays per cluster (clusters are immutable, so they never go stale).
_CHECK_CACHE: weakref.WeakKeyDictionary[Cluster, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def check_arrays(
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
        r_members, _, r_first = member_groups([ms for _r, ms in rules])
        r_size = np.array([len(ms) for _r, ms in rules], dtype=np.intp)
        r_kind = np.array([_KIND_CODE[r.rule_type] for r, _ms in rules], dtype=np.int64)
    else:
        r_members, r_first, r_size, r_kind = empty, empty, empty, np.zeros(0, dtype=np.int64)
    if classes:
        aa_members, _, aa_first = member_groups(classes)
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
    """Same as :func:`planner.evaluate_numpy.load_stats_numpy`, fused into one compiled
    pass per placement (:func:`planner.kernels.load_stats`)."""
    t_count, (k_count, h_count) = lim_c.shape[0], vm_cpu.shape
    cpu_pct = np.empty((k_count, h_count))
    mem_pct = np.empty((k_count, h_count))
    hosts_over = np.zeros((t_count, k_count), dtype=np.int64)
    ex_cpu = np.zeros((t_count, k_count), dtype=np.int64)
    ex_mem = np.zeros((t_count, k_count), dtype=np.int64)
    scalars = np.empty((k_count, 6))
    caps = np.zeros((k_count, 2), dtype=np.int64)
    host = tuple(
        a.astype(np.int64)
        for a in (
            cluster.host_cpu_base_milli,
            cluster.host_memory_reserve_mb,
            cluster.host_cpu_capacity_milli,
            cluster.host_memory_mb,
            cluster.host_cpu_free_milli,
            cluster.host_memory_free_mb,
        )
    )
    out = (cpu_pct, mem_pct, hosts_over, ex_cpu, ex_mem, scalars, caps)
    kernels.load_stats(vm_cpu, vm_mem, host, lim_c, lim_m, (counted, up, live), out)
    return stats_dict(cpu_pct, mem_pct, hosts_over, ex_cpu, ex_mem, scalars, caps)


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
        vm_cpu, vm_mem = checked_host_sums(cluster, p)
    counted = cluster.host_state != HostState.DOWN
    up = cluster.host_up if cluster.host_up.any() else np.ones(h_count, dtype=bool)
    live = counted if counted.any() else np.ones(h_count, dtype=bool)
    # Integer limits (floor of the threshold) make "above" exact: an integer load is above
    # floor(x) exactly when it is above x.
    lims = [threshold_limits(cluster, th) for th in thr]
    lim_c = np.array([c for c, _ in lims], dtype=np.int64).reshape(len(thr), h_count)
    lim_m = np.array([m for _, m in lims], dtype=np.int64).reshape(len(thr), h_count)
    stats_fn = _load_stats_numba if eng == "numba" and h_count else load_stats_numpy
    st = stats_fn(cluster, vm_cpu, vm_mem, lim_c, lim_m, counted, up, live)

    counts = {kind: np.zeros(k_count, dtype=np.int64) for kind in VIOLATION_KINDS}
    counts["capacity_cpu"] += st["capacity_cpu"]
    counts["capacity_memory"] += st["capacity_memory"]
    if eng == "numba":
        _merge_checks(fused_checks, counts)
    else:
        placement_counts(cluster, p, drained_mask, counts)
        owner_counts(cluster, p, counts)
        rule_counts(cluster, p, counts)
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
