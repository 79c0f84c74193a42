"""Large-neighbourhood search on the first tier not at its bound, the tiers before it held.

Each round frees the VMs of a few hot nodes (those that sent or received VMs together, plus
one chosen by a seeded generator), lets them go to any allowed node that is not hot (or back
home), fixes everyone else at the best placement so far, and solves that small CP-SAT model
(one worker, a deterministic-time budget, so a round gives the same answer every time).
The search as a whole counts deterministic time too: what its solves report, plus
:data:`BUILD_SECONDS_PER_VARIABLE` per sub-model variable for the Python work of a round
(so a long series of quick rounds is paid for as well), and stops when its budget is spent.
The best placement is kept when it is lexicographically better.  After two passes over the
hot nodes without improvement the search does not stop while the gap is open: it first
tries :func:`repair_anti_affinity` (one extra move per anti-affinity pair sharing a node,
to a node where the VM fits under the threshold), then widens the neighbourhoods by one more
seeded hot node and goes on; it stops when its budget is spent, when every tier meets its bound, or
when the widest neighbourhood (every hot node) made no progress either.  Every round is
bounded in deterministic time, so a run gives the same plan for the same seed whenever it
ends before the wall-clock cap; a run cut by the cap (recorded) depends on how many rounds
fitted.  On large instances this replaces the restricted model, whose presolve alone takes
seconds there.

With ``workers`` > 1 every round builds one neighbourhood per worker (seed hosts in the same
order, the generator drawn in the same order) and solves them side by side, one
deterministic CP-SAT worker each (:func:`~planner.cpsat.solver.run_solves`); the results are
offered in that fixed order, a later one first merged with an earlier improvement of the
same round.  The run stays deterministic for a given seed and worker count; one worker
gives exactly the rounds of the one-neighbourhood search.  When a full model follows (small
instances), the search does not widen: the full model is the widest neighbourhood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.cpsat.budget import Budget
from planner.cpsat.model import PlacementModel, TargetedSolve
from planner.cpsat.solver import SolverParams, run_solves
from planner.problem import PlanningProblem, SolveStatus, host_vm_loads
from planner.solve.candidates import make_input
from planner.solve.incumbent import Incumbent

#: Share of a node's capacity under its threshold limit below which it counts as tight.
TIGHT_SHARE = 0.03
#: Seconds of Python work (neighbourhood, model build, checking the answer) per variable of
#: a sub-model, counted in deterministic time by the profile's factor; measured on an idle
#: machine: 25-38 us per variable on b16-skew, b64-mild and b128-big.
BUILD_SECONDS_PER_VARIABLE = 25e-6
#: The stage name of the search in the budget's records.
STAGE = "large-neighbourhood search"


@dataclass
class LnsStats:
    """What the search did."""

    rounds: int = 0
    improvements: int = 0
    widenings: int = 0
    aa_repairs: int = 0
    max_variables: int = 0
    max_constraints: int = 0


def _neighbourhood(
    pb: PlanningProblem,
    best: np.ndarray,
    hot: np.ndarray,
    seed_host: int,
    rng: np.random.Generator,
    width: int = 1,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The freed VMs and their targets around ``seed_host``."""
    c = pb.cluster
    cur = c.vm_host
    hot_list = np.flatnonzero(hot).tolist()
    group = {seed_host}
    # Hot nodes linked to it by moves of the current plan (a VM went from one to the other).
    for v in np.flatnonzero(best != cur).tolist():
        a, b = int(cur[v]), int(best[v])
        if a == seed_host and hot[b]:
            group.add(b)
        if b == seed_host and hot[a]:
            group.add(a)
    extra = [h for h in hot_list if h not in group]
    if extra:
        group.update(int(h) for h in rng.choice(extra, size=min(width, len(extra)), replace=False))
    hs = np.array(sorted(group))
    in_group = np.isin(np.arange(c.n_hosts), hs)
    # Receivers close to the threshold limit their room: the VMs moved onto them are freed
    # too, so the sub-model can trade room between senders.
    cpu, mem = host_vm_loads(pb, best)
    tight = ~hot & (
        (cpu > pb.cpu_limit - TIGHT_SHARE * c.host_cpu_capacity_milli).any(axis=0)
        | (mem > pb.mem_limit - TIGHT_SHARE * c.host_memory_mb).any(axis=0)
    )
    onto_tight = (best != cur) & tight[best]
    free = ((np.isin(cur, hs) | np.isin(best, hs)) & (pb.movable | pb.mandatory)) | onto_tight
    cands = np.flatnonzero(free)
    targets = []
    for v in cands.tolist():
        ok = pb.allowed[v] & (~hot | in_group)
        ok[cur[v]] = pb.allowed[v, cur[v]]
        ok[best[v]] = True
        targets.append(np.flatnonzero(ok))
    return cands, targets


def _seed_hosts(
    pb: PlanningProblem, inc: Incumbent, order: list[int], tried: set[int], n: int
) -> list[int]:
    """The ``n`` hot nodes to start this round's neighbourhoods from: the one whose departures
    cost most above its cheapest cover (where the plan is furthest from the bound) first;
    nodes already tried since the last improvement come last, then in index order."""
    assert inc.placement is not None
    c = pb.cluster
    cur = c.vm_host
    leaving_cost = np.bincount(
        cur, weights=pb.move_cost[np.arange(c.n_vms), inc.placement], minlength=c.n_hosts
    )
    cover = inc.bounds.bounds.cover_cost
    seeds: list[int] = []
    for _ in range(min(n, len(order))):
        seed_host = min(
            (h for h in order if h not in seeds),
            key=lambda h: (h in tried, -(float(leaving_cost[h]) - cover.get(h, 0)), h),
        )
        if seed_host in tried:
            tried.clear()
        tried.add(seed_host)
        seeds.append(seed_host)
    return seeds


def _sub_model(
    pb: PlanningProblem,
    best: np.ndarray,
    hot: np.ndarray,
    seed_host: int,
    rng: np.random.Generator,
    width: int,
) -> tuple[PlacementModel, np.ndarray]:
    """The sub-model of the neighbourhood around ``seed_host`` and its freed VMs."""
    cur = pb.cluster.vm_host
    cands, targets = _neighbourhood(pb, best, hot, seed_host, rng, width)
    budget = None
    if pb.max_moves is not None:
        # The budget left for the freed VMs once the fixed VMs' moves are counted.
        outside = best != cur
        outside[cands] = False
        budget = max(0, pb.max_moves - int(outside.sum()))
    # No symmetry breaking in the sub-models: measured, it slowed the search (64x8000
    # heavy, generator seed 2: 60 s without proof against 24 s to the proven optimum).
    inp = make_input(pb, cands, targets, base=best, max_moves=budget, symmetry=False)
    return PlacementModel(inp, pb.tiers), cands


def lns(
    pb: PlanningProblem,
    hot: np.ndarray,
    params: SolverParams,
    inc: Incumbent,
    budget: Budget,
    widen: bool = True,
) -> LnsStats:
    """Improve the incumbent by large-neighbourhood search (see the module docstring) within
    the deterministic time of ``budget``.

    ``widen=False`` (a full model follows, the widest neighbourhood of all): stop after two
    passes without progress and one anti-affinity repair, leaving the time to that model."""
    stats = LnsStats()
    if inc.placement is None or inc.values is None:
        return stats
    b = pb.profile.budget
    rng = np.random.default_rng(int(params.seed))
    # One neighbourhood per worker and round, each solved by one deterministic worker.
    n_parallel = max(1, int(params.workers))
    order = np.flatnonzero(hot).tolist()
    if not order:
        return stats
    sub = SolverParams(params.time_limit_s, 1, params.seed, True, params.log)
    per_round = min(b.lns_deterministic_time, budget.seconds(b.lns_round_seconds))
    if repair_anti_affinity(pb, inc):
        stats.aa_repairs += 1
    stale = 0
    width = 1
    tried: set[int] = set()
    while not inc.proven() and not budget.spent_out(STAGE, budget.seconds(0.05), 0.3):
        if stale >= 2 * len(order):
            if repair_anti_affinity(pb, inc):
                stats.aa_repairs += 1
            elif not widen or width >= len(order):
                break  # no widening, or every hot node in each neighbourhood: no progress
            else:
                width += 1
                stats.widenings += 1
            stale = 0
            tried.clear()
            continue
        best, vals = inc.placement, inc.values
        # The first tier not yet at its bound is minimised; the tiers before it are held at
        # the incumbent's values.
        focus = next((t for t in pb.tiers if vals[t] > inc.bounds.of(t, vals)), None)
        if focus is None:
            break
        stats.rounds += 1
        seeds = _seed_hosts(pb, inc, order, tried, n_parallel)
        jobs = []
        goal = {t: int(vals[t]) for t in pb.tiers}
        goal[focus] = 0
        round_budget = budget.sub(per_round)
        built = 0
        for seed_host in seeds:
            pm, cands = _sub_model(pb, best, hot, seed_host, rng, width)
            nv, nc = pm.size()
            built += nv
            if nv > stats.max_variables:
                stats.max_variables, stats.max_constraints = nv, nc
            job = pm.prepare_targeted(sub, best, goal, round_budget, last=focus, stage=STAGE)
            if not isinstance(job, SolveStatus):
                jobs.append((job, cands))
        statuses = run_solves([j.job() for j, _ in jobs])
        budget.charge_work(budget.seconds(BUILD_SECONDS_PER_VARIABLE * built))
        budget.charge_round(
            [(j.solver, _ended(j, st)) for (j, _), st in zip(jobs, statuses, strict=True)], STAGE
        )
        improved_any = False
        for (job, cands), st in zip(jobs, statuses, strict=True):
            _st, pl = job.finish(st, charge=False)
            improved = False
            if pl is not None and improved_any and inc.placement is not None:
                # An earlier neighbourhood of this round improved: first try both changes.
                merged = inc.placement.copy()
                merged[cands] = pl[cands]
                improved = inc.offer(merged, "large-neighbourhood search")
            improved = improved or inc.offer(pl, "large-neighbourhood search", from_solver=True)
            stale = 0 if improved else stale + 1
            if improved:
                improved_any = True
                stats.improvements += 1
        if improved_any:
            tried.clear()
    return stats


def _ended(job: TargetedSolve, status: SolveStatus) -> bool:
    """The round's solve ended by proof or at its target (not by a limit)."""
    cb = job.callback
    reached = cb is not None and cb.reached
    return reached or TargetedSolve.ended_by_itself(status)


def repair_anti_affinity(pb: PlanningProblem, inc: Incumbent, max_offers: int = 64) -> bool:
    """One extra move per legacy anti-affinity pair sharing a node: a member goes (or goes
    back) to an allowed node without a member of its class where it fits under the
    threshold at every load sample, the cheapest such move first.  Each candidate is offered
    to the incumbent, which keeps it only when it breaks no hard rule and is
    lexicographically better.  Returns whether the incumbent improved."""
    if pb.enforce_aa or inc.placement is None or "anti_affinity" not in pb.tiers:
        return False
    p = inc.placement.copy()
    cpu, mem = host_vm_loads(pb, p)
    improved = False
    offers = 0
    for members in pb.aa_members:
        if len(members) < 2 or offers >= max_offers:
            continue
        m = np.asarray(members)
        hosts, counts = np.unique(p[m], return_counts=True)
        for h in hosts[counts > 1].tolist():
            if offers >= max_offers:
                break
            taken = np.zeros(pb.cluster.n_hosts, dtype=bool)
            taken[p[m]] = True
            moves: list[tuple[int, int, int]] = []
            for v in m[p[m] == h].tolist():
                ok = pb.allowed[v] & ~taken
                boot = pb.boot_move[v][None, :]
                vm_m = np.where(boot, pb.vm_mem_boot[:, v : v + 1], pb.vm_mem[:, v : v + 1])
                fits = ok & (
                    (cpu + pb.vm_cpu[:, v : v + 1] <= pb.cpu_limit).all(axis=0)
                    & (mem + vm_m <= pb.mem_limit[None, :]).all(axis=0)
                )
                moves += [(int(pb.move_cost[v, t]), v, t) for t in np.flatnonzero(fits).tolist()]
            for _cost, v, t in sorted(moves)[:4]:
                q = p.copy()
                q[v] = t
                offers += 1
                if inc.offer(q, "anti-affinity repair"):
                    p = q
                    cpu, mem = host_vm_loads(pb, p)
                    improved = True
                    break
    return improved


__all__ = ["LnsStats", "lns", "repair_anti_affinity"]
