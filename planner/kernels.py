"""The compiled kernels of hvplan, defined once: the per-host sums and placement checks of
:mod:`planner.evaluate` and the per-sample node loads of :mod:`planner.history.loads`.

Each kernel is a plain Python function over NumPy arrays.  When :mod:`numba` is installed it
is compiled with ``numba.njit(cache=True)`` -- lazily: importing this module imports neither
numba nor compiles anything; the first call of an entry point (:func:`batch_sums`,
:func:`load_stats`, :func:`timeline_sums`) imports numba and binds the jitted kernels, and
numba compiles each kernel for the argument types of its first call (the compiled code is
cached on disk next to this file, or in ``NUMBA_CACHE_DIR``).  The callers pass one placement
dtype family (``uint8``, ``int16`` or ``int32``; see :func:`planner.evaluate.kernel_batch`)
so that a process compiles each kernel at most a few times.  Without numba the same
functions run as plain Python (correct, slow: the callers then use their NumPy engines).

How the kernels are fast is described in :mod:`planner.evaluate` and
:mod:`planner.history.loads`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

# The compiled kernels run on OpenMP threads.  Hyper-V admins run hvplan on shared machines
# and CI shares cores too: spinning (active) waiters lose their time slices to other
# processes, which made a 2-thread batch 3-6x slower than one thread on a loaded 2-core box.
# Passive waiting costs microseconds per batch when idle.  A user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: numba can be imported (it is not imported until a kernel runs).
HAVE_NUMBA = importlib.util.find_spec("numba") is not None

#: Placements per parallel task of the sums kernel (scratch arrays are per task).
ROWS_PER_TASK = 16
#: Samples per parallel block of the timeline kernel.
SAMPLES_PER_BLOCK = 32

F = TypeVar("F", bound=Callable[..., Any])
#: name -> (plain function, parallel) of every kernel of this module.
_PLAIN: dict[str, tuple[Callable[..., Any], bool]] = {}
_BOUND: list[bool] = [False]

prange = range  # numba.prange once the kernels are bound


def _kernel(parallel: bool = False) -> Callable[[F], F]:
    """Register a kernel (compiled with numba, if installed, when first needed)."""

    def wrap(fn: F) -> F:
        _PLAIN[fn.__name__] = (fn, parallel)
        return fn

    return wrap


def _bind() -> None:
    """Replace every kernel of this module by its numba dispatcher (once; numba compiles a
    dispatcher at its first call).  Kernels call each other through these globals."""
    if _BOUND[0] or not HAVE_NUMBA:
        return
    import numba

    g = globals()
    g["prange"] = numba.prange
    for name, (fn, parallel) in _PLAIN.items():
        g[name] = numba.njit(cache=True, boundscheck=False, parallel=parallel)(fn)
    _BOUND[0] = True


# ----------------------------------------------------------------------------- host sums
@_kernel()
def row_add(row: np.ndarray, w: np.ndarray, out: np.ndarray, a1: np.ndarray) -> int:
    """Add weight ``w[v]`` into ``out[row[v]]`` for every VM ``v`` of one placement; return
    how many host indices were outside ``0..H-1`` (API misuse: counted, never written).

    ``a1`` is a zeroed scratch row: a second accumulator, so that neighbouring VMs on the same
    host do not wait on each other; it is added into ``out`` and zeroed again."""
    n_hosts = out.shape[0]
    v_count = row.shape[0]
    bad = 0
    even = v_count - (v_count & 1)
    for v in range(0, even, 2):
        h0 = row[v]
        h1 = row[v + 1]
        if h0 < 0 or h0 >= n_hosts or h1 < 0 or h1 >= n_hosts:
            bad += 1
        else:
            out[h0] += w[v]
            a1[h1] += w[v + 1]
    if v_count & 1:
        h0 = row[v_count - 1]
        if h0 < 0 or h0 >= n_hosts:
            bad += 1
        else:
            out[h0] += w[v_count - 1]
    for h in range(n_hosts):
        out[h] += a1[h]
        a1[h] = 0
    return bad


@_kernel(parallel=True)
def _batch_sums(
    p: np.ndarray, w: np.ndarray, n_hosts: int, chk: tuple[Any, ...], checks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-host sums of ``w`` for every placement of ``p`` and, right after each row's sums
    while it is in cache, the row checks into ``checks`` (see :func:`row_checks`)."""
    k_count = p.shape[0]
    out = np.zeros((k_count, n_hosts), dtype=np.int64)
    bad = np.zeros(k_count, dtype=np.int64)
    n_chunks = (k_count + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    n_keys = chk[5]
    tags = chk[1].shape[0] + chk[7].shape[0]
    for c in prange(n_chunks):
        # Scratch arrays once per task, not per placement.
        a1 = np.zeros(n_hosts, dtype=np.int64)
        seen = np.full(n_keys, -1, dtype=np.int64)
        cnt = np.zeros(n_keys, dtype=np.int64)
        for k in range(c * ROWS_PER_TASK, min((c + 1) * ROWS_PER_TASK, k_count)):
            bad[k] = row_add(p[k], w, out[k], a1)
            if bad[k] == 0:
                row_checks(p[k], chk, checks[k], seen, cnt, k * tags)
    return out, bad


# ----------------------------------------------------------------------------- row checks
@_kernel()
def row_checks(
    row: np.ndarray,
    chk: tuple[Any, ...],
    out: np.ndarray,
    seen: np.ndarray,
    cnt: np.ndarray,
    tag0: int,
) -> None:
    """One placement: broken rules by kind code (``out[0..3]``), anti-affinity pairs
    (``out[4]``), VMs off their possible owners (``out[5]``), moved pinned VMs (``out[6]``),
    VMs on hosts that are not Up (``out[7]``, a VM allowed to stay home excepted) and on
    drained hosts (``out[8]``).  ``chk`` is :func:`planner.evaluate.check_arrays`' tuple.

    ``seen[key]`` holds the tag of the group that last saw ``key`` (tags are unique per
    placement and group, so the scratch arrays need no reset), ``cnt[key]`` how often."""
    rule_checks(row, chk[0], chk[1], chk[2], chk[3], chk[4], out, seen, cnt, tag0)
    aa_checks(row, chk[6], chk[7], chk[8], out, seen, cnt, tag0 + chk[1].shape[0])
    placement_checks(row, chk[9], chk[10], chk[11], chk[12], chk[13], chk[14], out)


@_kernel()
def rule_checks(
    row: np.ndarray,
    members: np.ndarray,
    first: np.ndarray,
    size: np.ndarray,
    kind_of: np.ndarray,
    fd: np.ndarray,
    out: np.ndarray,
    seen: np.ndarray,
    cnt: np.ndarray,
    tag0: int,
) -> None:
    """Broken enabled rules of one placement, by kind code (0 SameNode, 1 DifferentNode,
    2 SameFaultDomain, 3 DifferentFaultDomain) into ``out[kind]``."""
    for g in range(first.shape[0]):
        s = first[g]
        e = s + size[g]
        kind = kind_of[g]
        tag = tag0 + g
        if kind == 0 or kind == 2:
            h0 = row[members[s]]
            k0 = h0 if kind == 0 else fd[h0]
            for j in range(s + 1, e):
                h = row[members[j]]
                if (h if kind == 0 else fd[h]) != k0:
                    out[kind] += 1
                    break
        elif seen.shape[0] <= 64:
            # Up to 64 keys: two bit masks in registers instead of scratch arrays.
            seen_m = np.uint64(0)
            dup_m = np.uint64(0)
            for j in range(s, e):
                h = row[members[j]]
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
                h = row[members[j]]
                key = h if kind == 1 else fd[h]
                if seen[key] != tag:
                    seen[key] = tag
                    cnt[key] = 1
                else:
                    cnt[key] += 1
                    if cnt[key] == 2:
                        out[kind] += 1


@_kernel()
def aa_checks(
    row: np.ndarray,
    members: np.ndarray,
    first: np.ndarray,
    size: np.ndarray,
    out: np.ndarray,
    seen: np.ndarray,
    cnt: np.ndarray,
    tag0: int,
) -> None:
    """Pairs of members of one legacy anti-affinity class on one node, into ``out[4]``."""
    for c in range(first.shape[0]):
        s = first[c]
        e = s + size[c]
        if e - s <= 16:
            # Small class: compare each member with the earlier ones directly.
            for j in range(s + 1, e):
                h = row[members[j]]
                for i in range(s, j):
                    if row[members[i]] == h:
                        out[4] += 1
            continue
        tag = tag0 + c
        for j in range(s, e):
            h = row[members[j]]
            if seen[h] != tag:
                seen[h] = tag
                cnt[h] = 1
            else:
                out[4] += cnt[h]  # the new member pairs with each earlier one
                cnt[h] += 1


@_kernel()
def placement_checks(
    row: np.ndarray,
    restricted: np.ndarray,
    allowed: np.ndarray,
    pinned: np.ndarray,
    home: np.ndarray,
    host_flags: np.ndarray,
    stay_home: np.ndarray,
    out: np.ndarray,
) -> None:
    """Possible owners (``out[5]``), moved pinned VMs (``out[6]``), VMs on nodes that are
    not Up (``out[7]``) or drained (``out[8]``) of one placement."""
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
            # stay_home: the host each VM may stay on although it is not Up, or -1.
            if f & 1 and row[v] != stay_home[v]:
                out[7] += 1
            if f & 2:
                out[8] += 1


# ----------------------------------------------------------------------------- load stats
@_kernel()
def spread_std(x: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """Highest, lowest and population standard deviation of ``x[mask]`` (two passes, like
    NumPy, so the results agree to rounding)."""
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


@_kernel(parallel=True)
def _stats(
    vm_cpu: np.ndarray,
    vm_mem: np.ndarray,
    host: tuple[np.ndarray, ...],
    lim_c: np.ndarray,
    lim_m: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray, np.ndarray],
    out: tuple[np.ndarray, ...],
) -> None:
    """Per placement: CPU/memory %, threshold excess and hosts over it, capacity counts,
    highest load, spread and deviation (see :func:`load_stats`)."""
    base, reserve, cap_cpu, mem_total, cpu_free, mem_free = host
    counted, up, live = masks
    cpu_pct, mem_pct, hosts_over, ex_cpu, ex_mem, scalars, caps = out
    k_count, h_count = vm_cpu.shape
    for k in prange(k_count):
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
        for t in range(lim_c.shape[0]):
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
        a, b, sd = spread_std(cpu_pct[k], up)
        scalars[k, 2] = a - b
        scalars[k, 4] = sd
        a, b, sd = spread_std(mem_pct[k], up)
        scalars[k, 3] = a - b
        scalars[k, 5] = sd


# ----------------------------------------------------------------------------- timelines
@_kernel(parallel=True)
def _timelines(
    cpu: np.ndarray,
    mem: np.ndarray,
    init: np.ndarray,
    events: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_hosts: int,
) -> np.ndarray:
    """Packed node loads ``(S, T, H)`` of ``S`` timelines (see :func:`timeline_sums`)."""
    ev_t, ev_v, ev_h, ev_first = events
    t_count, v_count = cpu.shape
    s_count = init.shape[0]
    out = np.zeros((s_count, t_count, n_hosts), dtype=np.int64)
    n_blocks = (t_count + SAMPLES_PER_BLOCK - 1) // SAMPLES_PER_BLOCK
    for b in prange(n_blocks):
        t0 = b * SAMPLES_PER_BLOCK
        t1 = min(t_count, t0 + SAMPLES_PER_BLOCK)
        cur = init.copy()
        ptr = np.empty(s_count, dtype=np.int64)
        for s in range(s_count):
            i = ev_first[s]
            while i < ev_first[s + 1] and ev_t[i] <= t0:
                cur[s, ev_v[i]] = ev_h[i]
                i += 1
            ptr[s] = i
        packed = np.empty(v_count, dtype=np.int64)
        a1 = np.zeros(n_hosts, dtype=np.int64)
        for t in range(t0, t1):
            for v in range(v_count):
                packed[v] = (np.int64(mem[t, v]) << 32) | np.int64(cpu[t, v])
            for s in range(s_count):
                i = ptr[s]
                while i < ev_first[s + 1] and ev_t[i] <= t:
                    cur[s, ev_v[i]] = ev_h[i]
                    i += 1
                ptr[s] = i
                row_add(cur[s], packed, out[s, t], a1)
    return out


# ----------------------------------------------------------------------------- entry points
def batch_sums(
    p: np.ndarray, w: np.ndarray, n_hosts: int, chk: tuple[Any, ...], checks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(K, H)`` int64 sums of the weights ``w`` (V,) per host for each placement of ``p``
    (``K x V``), and the number of bad host indices per placement; the row checks of ``chk``
    are counted into ``checks`` (``K x 9``)."""
    _bind()
    return globals()["_batch_sums"](p, w, n_hosts, chk, checks)  # type: ignore[no-any-return]


def load_stats(
    vm_cpu: np.ndarray,
    vm_mem: np.ndarray,
    host: tuple[np.ndarray, ...],
    lim_c: np.ndarray,
    lim_m: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray, np.ndarray],
    out: tuple[np.ndarray, ...],
) -> None:
    """Fill ``out`` = (CPU %, memory %, hosts over, CPU excess, memory excess, scalars
    ``(K, 6)``: highest CPU/memory, spread CPU/memory, deviation CPU/memory, capacity counts
    ``(K, 2)``) from the per-host VM sums; ``host`` = (base CPU, memory reserve, CPU capacity,
    memory, free CPU, free memory), ``masks`` = (counted, Up, live) hosts."""
    _bind()
    globals()["_stats"](vm_cpu, vm_mem, host, lim_c, lim_m, masks, out)


def timeline_sums(
    cpu: np.ndarray,
    mem: np.ndarray,
    init: np.ndarray,
    events: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_hosts: int,
) -> np.ndarray:
    """``(S, T, H)`` node loads of ``S`` timelines, packed (memory in the high 32 bits):
    ``cpu``/``mem`` ``(T, V)`` per-sample VM loads, ``init`` ``(S, V)`` int32 placements,
    ``events`` = (sample, VM, host, first event of each timeline ``(S + 1,)``)."""
    _bind()
    return globals()["_timelines"](cpu, mem, init, events, n_hosts)  # type: ignore[no-any-return]


__all__ = ["HAVE_NUMBA", "batch_sums", "load_stats", "timeline_sums"]
