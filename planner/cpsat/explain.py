"""Explain an infeasible placement model: a small set of constraint groups that cannot hold
together (assumption literals per group, CP-SAT's ``sufficient_assumptions_for_infeasibility``,
then deletion filtering for a small core)."""

from __future__ import annotations

import time

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
    deletion: a group is dropped when the rest is still infeasible.
    """
    deadline = time.monotonic() + time_limit_s
    pm = PlacementModel(inp, (), explain=True)
    st, core = pm.solve_feasibility(params, time_limit_s / 2)
    if st != SolveStatus.INFEASIBLE:
        return None
    if not core:
        return []
    keep = list(core)
    for key in list(core):
        if len(keep) <= 1 or time.monotonic() > deadline:
            break
        trial = [k for k in keep if k != key]
        pm.model.clear_assumptions()
        pm.model.add_assumptions([pm.guards.literals[k] for k in trial])
        solver = make_solver(params, max(0.1, min(2.0, deadline - time.monotonic())), workers=1)
        if run_solve(solver, pm.model) == SolveStatus.INFEASIBLE:
            keep = trial
    return keep


__all__ = ["explain_infeasible"]
