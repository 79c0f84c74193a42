"""Decomposition: the per-node cheapest covers leave, placed greedily; then one CP-SAT solve
of their assignment at the bounds.

If the greedy result meets every bound it is optimal for the full problem and no large model
is built (64 nodes / 8,000 VMs with a fifth of the nodes hot: typically this step).  A hot
node that had to take VMs only it could host sheds a second cheapest cover of what is left
of its excess (costs above the bound, but gives a feasible start close to it).
"""

from __future__ import annotations

import numpy as np

from planner.cluster import RuleType
from planner.cpsat.cover import min_cost_cover
from planner.cpsat.model import PlacementModel
from planner.cpsat.solver import SolverParams
from planner.problem import PlanningProblem, host_vm_loads
from planner.solve.bounds import Bounds, add_relaxed_bounds, cover_items
from planner.solve.candidates import make_input
from planner.solve.greedy import greedy_assign, same_partners
from planner.solve.hostcover import swap_covers
from planner.solve.incumbent import Budget, Incumbent

#: Rounds of "greedy, then shed a second cover" before giving up on the decomposition.
MAX_ROUNDS = 4
#: Rounds of "greedy, then swap the covers of the nodes whose VMs found no room for tied
#: ones" (before the covers are extended).
MAX_SWAPS = 6


def decompose(
    pb: PlanningProblem,
    bounds: Bounds,
    hot: np.ndarray,
    params: SolverParams,
    inc: Incumbent,
    budget: Budget,
    sizes: dict[str, int],
) -> None:
    """Run the decomposition stage, offering its placements to ``inc``."""
    if bounds.migration is None or pb.n_samples > 1:
        return  # the covers and the greedy rounds work on one load sample
    split = not pb.enforce_aa and "anti_affinity" in pb.tiers
    covers, costs = bounds.leaver_covers(split)
    leaving = _leaving(pb, covers)
    banned: set[int] = set()
    swaps = 0
    g: np.ndarray | None = None
    dcands = np.zeros(0, dtype=np.int64)
    dtargets: list[np.ndarray] = []
    for _round in range(MAX_ROUNDS + MAX_SWAPS):
        if _round and budget.spent_out("decomposition"):
            break
        dcands = np.flatnonzero(leaving | same_partners(pb, leaving))
        dtargets = decomposition_targets(pb, dcands, leaving, hot)
        if not all(len(t) for t in dtargets):
            return
        misfits: list[list[int]] = []
        g = greedy_assign(
            pb,
            pb.cluster.vm_host,
            dcands,
            dict(zip(dcands.tolist(), dtargets, strict=True)),
            misfits,
        )
        inc.offer(g, "decomposition (greedy assignment)")
        if g is None or inc.proven():
            break
        # The cheap bounds do not prove the greedy plan: bring in the relaxed ones (once).
        add_relaxed_bounds(pb, bounds)
        if inc.proven():
            break
        misfits += _draggers(pb, g, leaving)
        if (
            misfits
            and swaps < MAX_SWAPS
            and swap_covers(pb, params, budget, covers, costs, misfits, banned, split)
        ):
            # Same cost, other VMs: the bound stays reachable (extend_covers would not).
            swaps += 1
            leaving = _leaving(pb, covers)
            continue
        if not extend_covers(pb, g, leaving, params, budget):
            break
    if not inc.proven():
        add_relaxed_bounds(pb, bounds)
    targets = inc.bounds.targets()
    if inc.proven() or targets is None:
        return
    pm = PlacementModel(make_input(pb, dcands, dtargets), pb.tiers)
    d_budget = budget.share(
        pb.profile.budget.decomposition_share, minimum_s=pb.profile.budget.min_targeted_seconds
    )
    start = g if g is not None else pb.cluster.vm_host
    _, pl = pm.solve_targeted(params, start, targets, d_budget, stage="decomposition")
    nv, nc = pm.size()
    sizes.update({"decomposition_variables": nv, "decomposition_constraints": nc})
    inc.offer(pl, "decomposition", from_solver=True)


def _leaving(pb: PlanningProblem, covers: dict[int, tuple[int, ...]]) -> np.ndarray:
    """bool V: the mandatory VMs and those of the covers."""
    leaving = np.zeros(pb.cluster.n_vms, dtype=bool)
    leaving[pb.mandatory] = True
    for vs in covers.values():
        leaving[list(vs)] = True
    return leaving


def _draggers(pb: PlanningProblem, placement: np.ndarray, leaving: np.ndarray) -> list[list[int]]:
    """Leavers whose move made a VM outside the covers move too (a SameNode or
    SameFaultDomain partner that had to follow): the plan then costs more than the covers."""
    c = pb.cluster
    extra = set(np.flatnonzero((placement != c.vm_host) & ~leaving).tolist())
    if not extra:
        return []
    same = (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN)
    out: list[list[int]] = []
    for r in pb.hard_rules + pb.soft_rules:
        m = pb.rule_members[r]
        if c.rules[r].rule_type in same and extra.intersection(m):
            out += [[v] for v in m if leaving[v] and not pb.mandatory[v]]
    return out


def extend_covers(
    pb: PlanningProblem,
    placement: np.ndarray,
    leaving: np.ndarray,
    params: SolverParams,
    budget: Budget,
) -> bool:
    """Add to ``leaving`` (in place) the cheapest extra VMs of every node still above the
    threshold in ``placement``; False when nothing could be added.  Each cover model may use
    an eighth of the deterministic time left (at most 1 s's worth)."""
    cur = pb.cluster.vm_host
    cpu, mem = host_vm_loads(pb, placement)
    cpu, mem = cpu[0], mem[0]
    lim_c, lim_m = pb.cpu_limit[0], pb.mem_limit
    added = False
    for h in np.flatnonzero((cpu > lim_c) | (mem > lim_m)).tolist():
        items, i_cpu, i_mem, i_cost, groups = cover_items(pb, h)
        keep = [
            i
            for i, g in enumerate(groups)
            if not any(leaving[v] for v in g) and all(cur[v] == h for v in g)
        ]
        if not keep:
            continue
        left = max(budget.seconds(0.05), min(budget.seconds(1.0), budget.det_left() / 8))
        cov = min_cost_cover(
            np.arange(len(keep)),
            i_cpu[keep],
            i_mem[keep],
            i_cost[keep],
            int(cpu[h] - lim_c[h]),
            int(mem[h] - lim_m[h]),
            int(cpu[h]),
            int(mem[h]),
            1,
            1,
            params,
            budget.sub(left),
        )
        if cov.chosen:
            for i in cov.chosen:
                leaving[list(groups[keep[i]])] = True
            added = True
    return added


def decomposition_targets(
    pb: PlanningProblem, cands: np.ndarray, leaving: np.ndarray, hot: np.ndarray
) -> list[np.ndarray]:
    """Targets in the decomposition: a leaver goes to a host that is not hot (when it can),
    by its cheapest kind of move (any other keeps the cost above the bound), and stays in its
    fault domain when a SameFaultDomain partner stays (else the partner would follow)."""
    c = pb.cluster
    fd = c.host_fault_domain
    keep_fd: dict[int, int] = {}
    for r in pb.hard_rules:
        if c.rules[r].rule_type != RuleType.SAME_FAULT_DOMAIN:
            continue
        m = pb.rule_members[r]
        doms = {int(fd[c.vm_host[v]]) for v in m}
        if len(doms) == 1 and not all(leaving[v] for v in m):
            d = doms.pop()
            for v in m:
                keep_fd[v] = d
    out = []
    for v in cands.tolist():
        ok = pb.allowed[v].copy()
        if leaving[v]:
            ok[c.vm_host[v]] = False
            ok &= pb.move_cost[v] == pb.min_cost[v]
            if (ok & ~hot).any():
                ok &= ~hot  # hot nodes only when nothing else can take the VM
            if v in keep_fd:
                same = ok & (fd == keep_fd[v])
                if same.any():
                    ok = same
        out.append(np.flatnonzero(ok))
    return out


__all__ = ["decompose", "decomposition_targets", "extend_covers"]
