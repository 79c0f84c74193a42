"""The staged solve: pre-check, bounds, decomposition, restricted model or LNS, full model.

Stages run in order until the incumbent meets every bound (see :mod:`planner.solve`).
Determinism: every solve uses the given seed; the default is one worker (deterministic by
itself; with more workers ``interleave_search`` keeps it so, and LNS solves one
neighbourhood per worker side by side), and every stage is bounded in CP-SAT's
deterministic time (:class:`~planner.cpsat.budget.Budget`: the time limit times the
profile's ``deterministic_time_per_second``), never in wall-clock time.  The same input,
seed and limit therefore give the same plan on a quiet or a loaded machine; only a run
whose wall-clock cap cut a stage (``wall_clock_cut`` in the parameters) can stop at a
different point.
"""

from __future__ import annotations

import time

import numpy as np

from planner.cpsat.model import PlacementModel
from planner.cpsat.solver import SolverParams
from planner.problem import PlanningProblem, SolveStatus
from planner.solve.bounds import Bounds, TierBounds, add_relaxed_bounds, cover_bounds
from planner.solve.candidates import candidate_vms, hot_hosts
from planner.solve.decompose import decompose
from planner.solve.downtime import live_instead
from planner.solve.full import FullOutcome, explain, solve_full
from planner.solve.incumbent import Budget, Incumbent
from planner.solve.lns import lns
from planner.solve.precheck import precheck
from planner.solve.restricted import greedy_repair, restricted_set, solve_restricted
from planner.solve.result import OptimizeResult, empty_result, finish

#: Seconds (deterministic, by the profile's factor) a stage needs at least to be worth
#: starting; the full model needs :data:`MIN_FULL_SECONDS`.
MIN_STAGE_SECONDS = 0.05
MIN_FULL_SECONDS = 0.5


def solver_params(pb: PlanningProblem) -> SolverParams:
    """The CP-SAT parameters of ``pb``."""
    return SolverParams(
        pb.time_limit_s, pb.workers, pb.seed, pb.profile.deterministic, pb.options.log
    )


def solve(pb: PlanningProblem, budget: Budget | None = None) -> OptimizeResult:
    """Find the lexicographically best placement of ``pb`` within ``budget`` (default: the
    problem's time limit from now).  Never raises for a failed solve: the result says
    INFEASIBLE (with the explanation) or UNKNOWN."""
    t_start = time.perf_counter()
    per_second = pb.profile.budget.deterministic_time_per_second
    budget = budget or Budget.starting_now(pb.time_limit_s, per_second)
    problems = precheck(pb)
    if problems:
        res = empty_result(pb, SolveStatus.INFEASIBLE, problems, "pre-check")
        res.solve_seconds = time.perf_counter() - t_start
        return res
    params = solver_params(pb)
    hot = hot_hosts(pb, pb.cluster.vm_host)
    cand, reasons = candidate_vms(pb, hot)
    # The relaxed bounds (planner.bounds_extra) are added once the cheap ones do not prove
    # the first greedy plan (in the decomposition or just after it).
    bounds = cover_bounds(pb, params, budget)
    inc = Incumbent(pb, TierBounds(bounds, pb.tiers), started=t_start)
    sizes: dict[str, int] = {
        "full_problem_booleans": int(pb.allowed.sum()),
        "cover_models": bounds.cover_models,
    }
    t, cover_s = time.perf_counter(), bounds.seconds
    decompose(pb, bounds, hot, params, inc, budget, sizes)
    inc.offer(pb.cluster.vm_host, "current placement")
    if pb.options.start_placement is not None:
        inc.offer(np.asarray(pb.options.start_placement), "start placement")
    if not inc.proven():
        add_relaxed_bounds(pb, bounds)
    timings = {
        "bounds": round(bounds.seconds, 3),
        "decomposition": round(time.perf_counter() - t - bounds.seconds + cover_s, 3),
    }
    large = (
        pb.profile.budget.large_model_booleans
        if pb.options.large_model_booleans is None
        else int(pb.options.large_model_booleans)
    )
    rs = restricted_set(pb, cand, hot, inc.placement)
    sizes["restricted_booleans"] = rs.booleans
    if not inc.proven():
        greedy_repair(pb, rs, inc)
        sizes["downtime_repairs"] = live_instead(pb, inc)
    model: PlacementModel | None = None
    if not inc.proven() and rs.booleans <= large and not _spent(budget, "restricted model"):
        t = time.perf_counter()
        model = solve_restricted(pb, rs, params, inc, budget, sizes)
        timings["restricted"] = round(time.perf_counter() - t, 3)
    if (
        not inc.proven()
        and inc.placement is not None
        and not _spent(budget, "large-neighbourhood search")
    ):
        t = time.perf_counter()
        _lns_stage(pb, hot, params, inc, budget, rs.booleans > large, large, sizes)
        timings["lns"] = round(time.perf_counter() - t, 3)
    full = FullOutcome(SolveStatus.UNKNOWN)
    if (
        not inc.proven()
        and (inc.placement is None or int(pb.allowed.sum()) <= large)
        and not _spent(budget, "full model", MIN_FULL_SECONDS)
    ):
        t = time.perf_counter()
        full = solve_full(pb, params, inc, budget, sizes)
        model = full.model
        timings["full"] = round(time.perf_counter() - t, 3)
    if not inc.proven():
        sizes["downtime_repairs"] = sizes.get("downtime_repairs", 0) + live_instead(pb, inc)
    if pb.options.export_model is not None:
        (model or PlacementModel(rs.model_input(pb), pb.tiers)).export(pb.options.export_model)
    res = _result(pb, inc, bounds, full, reasons, params, budget)
    res.model_size = sizes
    for key, secs in (
        ("first_plan", inc.first_plan_s),
        ("first_under_threshold", inc.first_under_threshold_s),
    ):
        if secs is not None:
            timings[key] = round(secs, 3)
    timings["deterministic_time"] = round(budget.meter.used, 3)
    res.timings = timings
    res.parameters.update(_budget_parameters(budget))
    res.solve_seconds = time.perf_counter() - t_start
    return res


def _spent(budget: Budget, stage: str, seconds: float = MIN_STAGE_SECONDS) -> bool:
    """Too little deterministic time is left to start ``stage`` (or the wall-clock cap is
    reached: recorded as a cut)."""
    return budget.spent_out(stage, budget.seconds(seconds))


def _budget_parameters(budget: Budget) -> dict[str, object]:
    """How the run was bounded, for ``summary.json``'s parameters."""
    return {
        "deterministic_time_per_second": budget.per_second,
        "deterministic_budget": round(budget.total, 3),
        "wall_clock_cut": budget.wall_cut,
        "wall_clock_cut_stages": list(budget.meter.wall_cuts),
    }


def _lns_stage(
    pb: PlanningProblem,
    hot: np.ndarray,
    params: SolverParams,
    inc: Incumbent,
    budget: Budget,
    no_restricted: bool,
    large: int,
    sizes: dict[str, int],
) -> None:
    """The large-neighbourhood search; small instances keep a share of the remaining time
    for the full model, which is then the widest neighbourhood (LNS does not widen).  When
    no full model follows, the search has all that is left (no stage after it could use it).
    """
    full_follows = int(pb.allowed.sum()) <= large and not no_restricted
    stage = budget.share(pb.profile.budget.lns_share, of_left=True) if full_follows else budget
    stats = lns(pb, hot, params, inc, stage, widen=not full_follows)
    sizes["lns_rounds"] = stats.rounds
    if stats.max_variables:
        sizes["lns_max_variables"] = stats.max_variables
        sizes["lns_max_constraints"] = stats.max_constraints


def _result(
    pb: PlanningProblem,
    inc: Incumbent,
    bounds: Bounds,
    full: FullOutcome,
    reasons: dict[int, str],
    params: SolverParams,
    budget: Budget,
) -> OptimizeResult:
    """The result of the incumbent, or why there is none (INFEASIBLE with the explanation
    when the full model proved it, else UNKNOWN)."""
    if inc.placement is not None:
        return finish(pb, inc, bounds, full.bounds, reasons)
    if full.status == SolveStatus.INFEASIBLE:
        return empty_result(pb, SolveStatus.INFEASIBLE, explain(pb, params, budget), "full model")
    return empty_result(
        pb,
        SolveStatus.UNKNOWN,
        [
            f"No plan was found within the time limit ({budget.limit_s:g} s); "
            "try a longer --time-limit."
        ],
        "",
    )


__all__ = ["solve", "solver_params"]
