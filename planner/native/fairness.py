"""Simulation of Hyper-V's VM Load Balancer, "Node Fairness" (see :mod:`planner.native`).

Hyper-V VM Load Balancer (Node Fairness)
----------------------------------------
Published (Microsoft Learn, Windows Server 2016+; see ``DOMAIN.md``): ``AutoBalancerMode`` 1
balances when a node joins, 2 (default) also every 30 minutes (fixed interval);
``AutoBalancerLevel`` Low moves VMs off nodes above 80 % load, Medium above 70 %, High is
published two ways -- "5 % above the cluster average" or 60 % -- both offered through
:class:`planner.loadmodel.HighMode`.  Load is CPU and memory; either above the threshold makes
a node a source.  Nodes over the threshold are ranked by pressure (highest first) and VMs are
live-migrated from them to nodes under the threshold (or to the node that just joined).

Our assumptions (not published):

* *Pressure* of a node is ``max(cpu % - cpu threshold, memory % - memory threshold)``.
* The High (average) threshold is recomputed at the start of every pass from the Up nodes'
  loads at that time.
* A target must be under the threshold at the start of the pass *and stay at or under it
  after the move* in both resources (so a move never creates a new source: no ping-pong).
  Among valid targets the one with the lowest pressure after the move wins.
* Which VMs move is a named **variant** (:class:`VmChoice`): ``largest-memory`` (largest
  assigned memory first), ``smallest-memory``, ``highest-cpu`` (largest CPU demand first), or
  ``lowest-cost`` (re-chosen after every move: the VM with the least memory whose move alone
  brings the node under the threshold; if none does, the VM with the least memory moved per
  point of excess relieved).  A VM is only chosen when it carries load of a resource that is
  over the threshold.  Moves continue from a node until it is under the threshold, no VM can
  move, or ``max_moves_per_node`` (default unlimited) is reached in the pass.
* Mode 1 runs one pass at the join (targets: the joined node only); mode 2 runs a pass at
  time 0 and then every 30 minutes.  A mode of 0 (off) simulates nothing.
* A SameNode unit moves only when every member can move live (an Off member keeps the
  unit in place).

"""

from __future__ import annotations

import numpy as np

from planner.cluster import Cluster
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel
from planner.loadmodel import HighMode, Threshold, resolve_threshold
from planner.native.model import (
    NODE_FAIRNESS_INTERVAL_S,
    NativeMove,
    NodeFairnessOptions,
    PassRecord,
    SimulationResult,
    VmChoice,
)
from planner.native.state import PlacementState, pass_migration_seconds, record_move


def _nf_order(st: PlacementState, vms: np.ndarray, choice: VmChoice) -> list[int]:
    mem = st.w_assigned[vms]
    cpu = st.w_cpu[vms]
    if choice == VmChoice.LARGEST_MEMORY:
        keys: tuple[np.ndarray, ...] = (vms, -cpu, -mem)
    elif choice == VmChoice.SMALLEST_MEMORY:
        keys = (vms, -cpu, mem)
    else:  # HIGHEST_CPU (LOWEST_COST re-chooses after every move)
        keys = (vms, mem, -cpu)
    return [int(v) for v in vms[np.lexsort(keys)]]


def nf_pass(
    cluster: Cluster,
    st: PlacementState,
    opts: NodeFairnessOptions,
    number: int,
    clock: float,
    only_target: int | None,
) -> tuple[list[NativeMove], int, Threshold]:
    """One Node Fairness pass; returns its moves, the number of sources and the threshold."""
    thr, lim_c, lim_m = st.threshold(opts)
    cpu_pct, mem_pct = st.pct()
    over = ((st.vm_cpu > lim_c) | (st.vm_mem > lim_m)) & st.up
    pressure = np.maximum(cpu_pct - thr.cpu_pct, mem_pct - thr.memory_pct)
    sources = sorted(np.flatnonzero(over).tolist(), key=lambda h: (-pressure[h], h))
    # Targets must be under the threshold when the pass starts.
    eligible = st.up & ~over
    if only_target is not None:
        only = np.zeros_like(eligible)
        only[only_target] = eligible[only_target]
        eligible = only
    choice = VmChoice(opts.vm_choice)
    cap_c = cluster.host_cpu_capacity_milli
    cap_m = cluster.host_memory_mb
    moves: list[NativeMove] = []
    moved: set[int] = set()
    for s in sources:
        on_s = np.flatnonzero((st.p == s) & st.movable)
        order = _nf_order(st, on_s, choice)
        n_here = 0
        while order:
            oc, om = st.vm_cpu[s] - lim_c[s], st.vm_mem[s] - lim_m[s]
            if oc <= 0 and om <= 0:
                break
            if opts.max_moves_per_node is not None and n_here >= opts.max_moves_per_node:
                break
            picked = _nf_pick(
                cluster, st, order, moved, oc, om, eligible, lim_c, lim_m, thr, cap_c, cap_m, choice
            )
            if picked is None:
                break
            unit, target, rest = picked
            order = rest
            reason = f"Node Fairness ({choice.value}): {cluster.host_names[s]} above {thr.rule}"
            record_move(cluster, st, unit, target, number, clock, reason, moves)
            moved.update(unit)
            n_here += 1
    return moves, len(sources), thr


def _first_target(
    st: PlacementState, unit: list[int], ok: np.ndarray, score: np.ndarray
) -> int | None:
    """The allowed host of lowest ``score`` (ties: index) that no rule forbids."""
    cand = np.flatnonzero(ok)
    for i in np.lexsort((cand, score[cand])):
        if st.rules_allow(unit, int(cand[i])):
            return int(cand[i])
    return None


def _nf_pick(
    cluster: Cluster,
    st: PlacementState,
    order: list[int],
    moved: set[int],
    oc: int,
    om: int,
    eligible: np.ndarray,
    lim_c: np.ndarray,
    lim_m: np.ndarray,
    thr: Threshold,
    cap_c: np.ndarray,
    cap_m: np.ndarray,
    choice: VmChoice,
) -> tuple[list[int], int, list[int]] | None:
    """The next (unit, target) from ``order`` and the candidates left after it, or None.

    Every choice but ``lowest-cost`` takes the first unit of ``order`` that has a target, so
    the units are examined in growing slices of ``order`` (same result, less work)."""
    pos = [i for i, v in enumerate(order) if v not in moved]
    step = len(pos) if choice == VmChoice.LOWEST_COST else 8
    start = 0
    while start < len(pos):
        part = pos[start : start + step]
        units = [st.unit(order[i]) for i in part]
        d_cpu, d_mem, d_as, ok = st.candidates(units)
        # Only a VM carrying load of an over-threshold resource relieves the node.
        relieves = ((oc > 0) & (d_cpu > 0)) | ((om > 0) & (d_mem > 0))
        ok &= eligible[None, :] & relieves[:, None]
        ok &= (st.vm_cpu[None, :] + d_cpu[:, None] <= lim_c[None, :]) & (
            st.vm_mem[None, :] + d_mem[:, None] <= lim_m[None, :]
        )
        rows = np.flatnonzero(ok.any(axis=1))
        if rows.size:
            after = np.maximum(
                100.0 * (st.vm_cpu[None, :] + d_cpu[:, None] + st.base_c[None, :]) / cap_c[None, :]
                - thr.cpu_pct,
                100.0
                * (st.vm_mem[None, :] + d_mem[:, None] + cluster.host_memory_reserve_mb[None, :])
                / cap_m[None, :]
                - thr.memory_pct,
            )
        if choice == VmChoice.LOWEST_COST and rows.size:
            # Prefer a VM that fixes the node alone (least memory), else the least memory per
            # fraction of excess relieved.
            fixes = (d_cpu[rows] >= oc) & (d_mem[rows] >= om)
            relief = np.zeros(rows.size)
            if oc > 0:
                relief += np.minimum(d_cpu[rows], oc) / max(oc, 1)
            if om > 0:
                relief += np.minimum(d_mem[rows], om) / max(om, 1)
            cost = np.where(
                fixes, d_as[rows].astype(np.float64), d_as[rows] / np.maximum(relief, 1e-300)
            )
            vm_id = np.array([order[part[i]] for i in rows], dtype=np.float64)
            rows = rows[np.lexsort((vm_id, cost, ~fixes))]
        for i in rows:
            target = _first_target(st, units[i], ok[i], after[i])
            if target is None:
                continue
            p = part[i]
            rest = order[:p] + order[p + 1 :] if choice == VmChoice.LOWEST_COST else order[p + 1 :]
            return units[i], target, rest
        start += step
        step *= 4
    return None


def simulate_node_fairness(
    cluster: Cluster,
    options: NodeFairnessOptions | None = None,
    durations: DurationModel = DEFAULT_DURATION_MODEL,
) -> SimulationResult:
    """Simulate Hyper-V's VM Load Balancer from the current placement (module docstring)."""
    opts = options or NodeFairnessOptions()
    choice = VmChoice(opts.vm_choice)
    if opts.mode not in (0, 1, 2):
        raise ValueError(f"mode must be 0, 1 or 2, got {opts.mode}")
    if opts.mode == 1 and opts.joined_host is None:
        raise ValueError("mode 1 (balance on node join) needs joined_host")
    if opts.joined_host is not None and not 0 <= opts.joined_host < cluster.n_hosts:
        raise ValueError(f"joined_host {opts.joined_host} is not a host index")
    if opts.max_passes < 1:
        raise ValueError("max_passes must be >= 1")
    st = PlacementState(cluster, opts.respect_pinned)
    moves: list[NativeMove] = []
    passes: list[PassRecord] = []
    converged = True
    first_rule = resolve_threshold(cluster, opts.level, opts.threshold_pct, opts.high_mode).rule
    n_passes = 0 if opts.mode == 0 else (1 if opts.mode == 1 else opts.max_passes)
    for number in range(1, n_passes + 1):
        clock = float((number - 1) * NODE_FAIRNESS_INTERVAL_S)
        only = opts.joined_host if number == 1 else None
        pm, n_src, thr = nf_pass(cluster, st, opts, number, clock, only)
        secs = pass_migration_seconds(cluster, pm, durations) if pm else 0.0
        passes.append(PassRecord(number, clock, n_src, len(pm), secs, thr.cpu_pct, thr.memory_pct))
        moves.extend(pm)
        converged = not pm
        if not pm and only is None:
            break
    desc = (
        f"Hyper-V VM Load Balancer, mode {opts.mode}, {first_rule}, VM choice "
        f"'{choice.value}'"
        + (
            ""
            if opts.max_moves_per_node is None
            else f", at most {opts.max_moves_per_node} move(s) per node per pass"
        )
    )
    return SimulationResult(
        opts.name(),
        desc,
        st.p.copy(),
        tuple(moves),
        tuple(passes),
        converged,
        {
            "vm_choice": choice.value,
            "mode": opts.mode,
            "level": opts.level,
            "threshold_pct": opts.threshold_pct,
            "high_mode": HighMode(opts.high_mode).value,
            "max_moves_per_node": opts.max_moves_per_node,
            "max_passes": opts.max_passes,
            "joined_host": opts.joined_host,
            "respect_pinned": opts.respect_pinned,
        },
    )
