"""Simulation of SCVMM Dynamic Optimization (see :mod:`planner.native`).

SCVMM Dynamic Optimization
--------------------------
Published (VMM documentation): runs every 10 minutes by default (10-1440), aggressiveness
1-5 (default 3; higher means more migrations for smaller gains), looks at CPU and memory
against the host reserves and the Dynamic Optimization thresholds, moves only highly
available VMs (every VM of a failover cluster is), skips hosts in maintenance.  VMM's exact
rating formula is not published.

Our reading (every number is a field of :class:`DynamicOptimizationOptions`):

* A node is a *source* when its free CPU is below ``cpu_free_pct`` (default 30 % of its
  capacity, i.e. above 70 % load) or its free memory (memory minus the reserve minus VM
  memory) is below ``memory_free_mb`` (default 512 MB) -- VMM's default DO thresholds.
* A *target* must keep, after the move, the host reserves (``cpu_reserve_pct``, default
  10 %, of CPU free; the memory reserve is the snapshot's ``memory_reserve_mb``) and must not
  become a source itself.
* The load of a node is ``max(cpu %, memory %)``.  For each source (highest load first) the
  simulation takes the (VM, target) pair that lowers the higher of the two nodes' loads the
  most -- the *gain*, in percentage points -- and makes it only if the gain is at least the
  aggressiveness' minimum: 1 → 20, 2 → 10, 3 → 5, 4 → 2, 5 → 0.5 points
  (:data:`DO_MIN_GAIN_PCT`).  It repeats while the node is a source.

"""

from __future__ import annotations

import numpy as np

from planner.cluster import Cluster
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel
from planner.native.model import (
    DO_MIN_GAIN_PCT,
    DynamicOptimizationOptions,
    NativeMove,
    PassRecord,
    SimulationResult,
)
from planner.native.state import PlacementState, pass_migration_seconds, record_move


def _do_breach(
    cluster: Cluster, st: PlacementState, opts: DynamicOptimizationOptions
) -> np.ndarray:
    cap = cluster.host_cpu_capacity_milli
    cpu_free_pct = 100.0 - 100.0 * (st.vm_cpu + st.base_c) / cap
    mem_free = cluster.host_memory_free_mb - st.vm_mem
    return ((cpu_free_pct < opts.cpu_free_pct) | (mem_free < opts.memory_free_mb)) & st.up


def do_pass(
    cluster: Cluster,
    st: PlacementState,
    opts: DynamicOptimizationOptions,
    number: int,
    clock: float,
) -> tuple[list[NativeMove], int]:
    """One Dynamic Optimization pass on ``st``; returns its moves (applied) and the number of
    source nodes at its start."""
    min_gain = DO_MIN_GAIN_PCT[opts.aggressiveness]
    cap_c = cluster.host_cpu_capacity_milli
    cap_m = cluster.host_memory_mb
    base_c = st.base_c
    res_m = cluster.host_memory_reserve_mb
    # Largest VM CPU load a target may carry: keep the CPU reserve and the DO threshold free.
    keep_free = max(opts.cpu_reserve_pct, opts.cpu_free_pct)
    cpu_room = np.floor(cap_c * (100.0 - keep_free) / 100.0 + 1e-9).astype(np.int64) - base_c
    breach = _do_breach(cluster, st, opts)
    cpu_pct, mem_pct = st.pct()
    load = np.maximum(cpu_pct, mem_pct)
    sources = sorted(np.flatnonzero(breach).tolist(), key=lambda h: (-load[h], h))
    hopeful = _do_hopeful(st, breach, load, min_gain, cap_c, cap_m, res_m) if sources else breach
    moves: list[NativeMove] = []
    moved: set[int] = set()
    touched: set[int] = set()
    for s in sources:
        if not hopeful[s] and s not in touched:
            continue  # _do_best would find nothing: no VM of s can give the minimum gain
        while _do_breach(cluster, st, opts)[s]:
            if opts.max_moves_per_pass is not None and len(moves) >= opts.max_moves_per_pass:
                return moves, len(sources)
            best = _do_best(
                cluster, st, s, moved, cpu_room, opts, min_gain, cap_c, cap_m, base_c, res_m
            )
            if best is None:
                break
            unit, target, gain = best
            reason = (
                f"Dynamic Optimization (aggressiveness {opts.aggressiveness}): "
                f"{cluster.host_names[s]} below the free-resource thresholds; "
                f"gain {gain:.1f} points"
            )
            record_move(cluster, st, unit, target, number, clock, reason, moves)
            moved.update(unit)
            touched.update((s, target))
    return moves, len(sources)


def _do_hopeful(
    st: PlacementState,
    sources: np.ndarray,
    load: np.ndarray,
    min_gain: float,
    cap_c: np.ndarray,
    cap_m: np.ndarray,
    res_m: np.ndarray,
) -> np.ndarray:
    """Which of the ``sources`` (bool ``(H,)``) :func:`_do_best` may find a move on at the
    start of a pass: those with a movable unit whose move alone lowers the node by
    ``min_gain`` points (the gain's source-side bound, computed for the sources' VMs at once
    exactly as :func:`_do_best` does).  Valid for a host until a move of the pass touches it."""
    p = st.p
    # Each VM's unit load: its SameNode component's when all members share a node, else its own.
    u_cpu, u_mem = st.w_cpu, st.w_mem
    if st.comp_members.size:
        hosts = p[st.comp_members]
        first = st.comp_first
        together = np.minimum.reduceat(hosts, first) == np.maximum.reduceat(hosts, first)
        inside = np.flatnonzero(st.in_component)
        inside = inside[together[st.comp_of[inside]]]
        u_cpu, u_mem = u_cpu.copy(), u_mem.copy()
        u_cpu[inside] = np.add.reduceat(st.w_cpu[st.comp_members], first)[st.comp_of[inside]]
        u_mem[inside] = np.add.reduceat(st.w_mem[st.comp_members], first)[st.comp_of[inside]]
    vms = np.flatnonzero(sources[p] & st.movable)
    h = p[vms]
    after = np.maximum(
        100.0 * (st.vm_cpu[h] - u_cpu[vms] + st.base_c[h]) / cap_c[h],
        100.0 * (st.vm_mem[h] - u_mem[vms] + res_m[h]) / cap_m[h],
    )
    ok = load[h] - after >= min_gain
    hopeful = np.bincount(h[ok], minlength=st.c.n_hosts) > 0
    return hopeful


def _do_best(
    cluster: Cluster,
    st: PlacementState,
    s: int,
    moved: set[int],
    cpu_room: np.ndarray,
    opts: DynamicOptimizationOptions,
    min_gain: float,
    cap_c: np.ndarray,
    cap_m: np.ndarray,
    base_c: np.ndarray,
    res_m: np.ndarray,
) -> tuple[list[int], int, float] | None:
    """Best (unit, target, gain) from source ``s`` meeting the minimum gain, or None."""
    load_s = max(
        100.0 * (st.vm_cpu[s] + base_c[s]) / cap_c[s], 100.0 * (st.vm_mem[s] + res_m[s]) / cap_m[s]
    )

    def source_after(d_cpu: np.ndarray, d_mem: np.ndarray) -> np.ndarray:
        return np.maximum(
            100.0 * (st.vm_cpu[s] - d_cpu + base_c[s]) / cap_c[s],
            100.0 * (st.vm_mem[s] - d_mem + res_m[s]) / cap_m[s],
        )

    # The gain is at most what the source side alone gives (max(a, b) >= a, and rounding is
    # monotone), so units whose move cannot lower the source by min_gain are left out before
    # the (unit x host) work: exact, and most passes end here.
    units = st.units_on(s, moved, lambda c, m: load_s - source_after(c, m) >= min_gain)
    if not units:
        return None
    d_cpu, d_mem, d_as, ok = st.candidates(units)
    ok &= st.vm_cpu[None, :] + d_cpu[:, None] <= cpu_room[None, :]
    ok &= (
        cluster.host_memory_free_mb[None, :] - (st.vm_mem[None, :] + d_mem[:, None])
        >= opts.memory_free_mb
    )
    t_after = np.maximum(
        100.0 * (st.vm_cpu[None, :] + d_cpu[:, None] + base_c[None, :]) / cap_c[None, :],
        100.0 * (st.vm_mem[None, :] + d_mem[:, None] + res_m[None, :]) / cap_m[None, :],
    )
    s_after = source_after(d_cpu, d_mem)
    gain = load_s - np.maximum(s_after[:, None], t_after)
    ui, hi = np.nonzero(ok & (gain >= min_gain))
    if ui.size == 0:
        return None
    rep = np.array([u[0] for u in units], dtype=np.int64)
    # Ties: the target left least loaded, then less memory moved, then indices.
    order = np.lexsort((hi, rep[ui], d_as[ui], t_after[ui, hi], -gain[ui, hi]))
    for k in order:
        unit, target = units[ui[k]], int(hi[k])
        if st.rules_allow(unit, target):
            return unit, target, float(gain[ui[k], target])
    return None


def simulate_dynamic_optimization(
    cluster: Cluster,
    options: DynamicOptimizationOptions | None = None,
    durations: DurationModel = DEFAULT_DURATION_MODEL,
) -> SimulationResult:
    """Simulate SCVMM Dynamic Optimization from the current placement (module docstring)."""
    opts = options or DynamicOptimizationOptions()
    if opts.aggressiveness not in DO_MIN_GAIN_PCT:
        raise ValueError(f"aggressiveness must be 1..5, got {opts.aggressiveness}")
    if not 10 <= opts.interval_minutes <= 1440:
        raise ValueError(f"interval_minutes must be 10..1440, got {opts.interval_minutes}")
    if opts.max_passes < 1:
        raise ValueError("max_passes must be >= 1")
    st = PlacementState(cluster, opts.respect_pinned)
    moves: list[NativeMove] = []
    passes: list[PassRecord] = []
    converged = False
    for number in range(1, opts.max_passes + 1):
        clock = float((number - 1) * opts.interval_minutes * 60)
        pm, n_src = do_pass(cluster, st, opts, number, clock)
        secs = pass_migration_seconds(cluster, pm, durations) if pm else 0.0
        passes.append(PassRecord(number, clock, n_src, len(pm), secs))
        moves.extend(pm)
        if not pm:
            converged = True
            break
    desc = (
        f"SCVMM Dynamic Optimization, aggressiveness {opts.aggressiveness} (minimum gain "
        f"{DO_MIN_GAIN_PCT[opts.aggressiveness]:g} points), every "
        f"{opts.interval_minutes} min, thresholds {opts.cpu_free_pct:g} % CPU / "
        f"{opts.memory_free_mb} MB memory free"
    )
    return SimulationResult(
        opts.name(),
        desc,
        st.p.copy(),
        tuple(moves),
        tuple(passes),
        converged,
        {
            "aggressiveness": opts.aggressiveness,
            "interval_minutes": opts.interval_minutes,
            "cpu_free_pct": opts.cpu_free_pct,
            "memory_free_mb": opts.memory_free_mb,
            "cpu_reserve_pct": opts.cpu_reserve_pct,
            "max_passes": opts.max_passes,
            "max_moves_per_pass": opts.max_moves_per_pass,
            "respect_pinned": opts.respect_pinned,
        },
    )
