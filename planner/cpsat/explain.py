"""Explain an infeasible placement model: a small set of constraint groups that cannot hold
together (assumption literals per group, CP-SAT's ``sufficient_assumptions_for_infeasibility``,
then deletion filtering for a small core)."""

from __future__ import annotations

from planner.cpsat.budget import Budget
from planner.cpsat.model import PlacementModel
from planner.cpsat.solver import SolverParams, make_solver, run_solve
from planner.cpsat.variables import ModelInput
from planner.problem import SolveStatus


def explain_infeasible(
    inp: ModelInput, params: SolverParams, time_limit_s: float = 10.0
) -> list[tuple[object, ...]] | None:
    """A small set of constraint groups that cannot hold together, or ``None`` if the model
    turned out feasible (or no core was found in time).

    Groups are ``("capacity", host)``, ``("rule", rule_index)``, ``("anti_affinity",
    class_index)``, ``("budget",)`` and ``("vm", vm)``.  The core CP-SAT returns is shrunk by
    deletion: a group is dropped when the rest is still infeasible.  ``time_limit_s`` is
    turned into deterministic time by the profile's factor (the same core every time; the
    wall clock only caps it), half of it for the first solve, at most 2 s's worth per
    deletion trial.
    """
    per_second = inp.problem.profile.budget.deterministic_time_per_second
    budget = Budget.starting_now(time_limit_s, per_second)
    pm = PlacementModel(inp, (), explain=True)
    st, core = pm.solve_feasibility(params, budget.share(0.5))
    if st != SolveStatus.INFEASIBLE:
        return None
    if not core:
        return []
    keep = list(core)
    for key in list(core):
        if len(keep) <= 1 or budget.spent_out("explanation"):
            break
        trial = [k for k in keep if k != key]
        pm.model.clear_assumptions()
        pm.model.add_assumptions([pm.guards.literals[k] for k in trial])
        solver = make_solver(params, 1.0, workers=1)
        budget.solver_limits(solver, budget.seconds(2.0), floor_s=0.1)
        st = run_solve(solver, pm.model)
        budget.charge(solver, "explanation", st in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE))
        if st == SolveStatus.INFEASIBLE:
            keep = trial
    return keep


__all__ = ["explain_infeasible"]
