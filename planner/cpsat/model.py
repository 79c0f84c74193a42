"""Wire the placement model, hint it, solve the lexicographic tiers and check every answer.

Tiers are solved **in sequence**, not with dominating weights: after each tier its optimum
(or, when the time runs out, the best value found) is added as a constraint and the next
term becomes the objective, hinted with the previous tier's solution.  Weights that provably
dominate would need coefficients like (max migration cost) x (max balance) per excess unit,
products that reach 10^15 on large clusters and wreck the LP relaxation; sequential tiers keep
every objective small and let a tier whose value is already proven (its hint meets a lower
bound valid for the full problem) be skipped without a solve.

:meth:`PlacementModel.solve_targeted` is the shortcut: when lower bounds valid for the full
problem are known for every tier, one solve with each tier constrained to its bound (the last
one minimised) proves all tiers at once when the bounds are attainable.

**Every solution is checked** against the reference of :mod:`planner.problem`: a placement
that breaks a hard rule, a tier whose reference value is above what CP-SAT claims, or a
proven optimum that differs from the reference raises :class:`~planner.problem.SolverBug`.
A too-weak constraint therefore fails loudly instead of quietly giving a worse plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ortools.sat.python import cp_model

from planner.cpsat.budget import Budget
from planner.cpsat.constraints import HARD_FAMILIES, Guards
from planner.cpsat.objective import TIER_TERMS
from planner.cpsat.solver import (
    SolverParams,
    StopAtBound,
    make_solver,
    objective_bound,
    run_solve,
    solve_to_bound,
)
from planner.cpsat.variables import ModelInput, Vars, create_variables, hint_context
from planner.problem import SolverBug, SolveStatus, hard_violations, objective_values

_OK = (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


@dataclass
class TierOutcome:
    """Result of one objective tier in one model (``note`` says how it was decided)."""

    name: str
    status: SolveStatus
    objective: int | None
    bound: int | None
    seconds: float
    note: str = ""


@dataclass
class SolveOutcome:
    """Result of solving all tiers of one model."""

    status: SolveStatus
    placement: np.ndarray | None
    tiers: list[TierOutcome]
    n_variables: int
    n_constraints: int
    build_seconds: float
    solve_seconds: float


@dataclass
class TargetedSolve:
    """A prepared :meth:`PlacementModel.solve_targeted` solve: run ``solver`` on
    ``model.model`` with ``callback``, then :meth:`finish` with the status."""

    model: PlacementModel
    solver: cp_model.CpSolver
    callback: StopAtBound | None
    claims: dict[str, int]
    minimised: str | None
    budget: Budget | None = None
    stage: str = "model"

    def job(self) -> tuple[cp_model.CpSolver, cp_model.CpModel, StopAtBound | None]:
        """The solve as a :func:`~planner.cpsat.solver.run_solves` job."""
        return self.solver, self.model.model, self.callback

    def finish(
        self, status: SolveStatus, charge: bool = True
    ) -> tuple[SolveStatus, np.ndarray | None]:
        """The status (OPTIMAL once the objective met its target) and the checked
        placement (``None`` without a solution).  ``charge``: count the solve's
        deterministic time in the budget it was prepared with (the caller counts it
        otherwise, e.g. solves run side by side)."""
        cb = self.callback
        if cb is not None and cb.reached and status in _OK:
            status = SolveStatus.OPTIMAL
        if charge and self.budget is not None:
            self.budget.charge(self.solver, self.stage, self.ended_by_itself(status))
        if status not in _OK:
            return status, None
        p = self.model.placement_from(self.solver)
        claims = dict(self.claims)
        if self.minimised is not None:
            claims[self.minimised] = int(round(self.solver.objective_value))
        self.model.check(p, claims)
        return status, p

    @staticmethod
    def ended_by_itself(status: SolveStatus) -> bool:
        """A solve with this (finished) status ended by proof or at its target, not by a
        limit."""
        return status in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE)


class PlacementModel:
    """The CP-SAT placement model of one :class:`ModelInput`.

    Parameters
    ----------
    inp:
        The model input.
    tiers:
        Objective tier names to create (a subset of :data:`planner.problem.TIER_NAMES`), in
        lexicographic order.
    explain:
        Guard every constraint group with an assumption literal (for
        :func:`planner.cpsat.explain.explain_infeasible`).
    """

    def __init__(self, inp: ModelInput, tiers: Sequence[str], explain: bool = False) -> None:
        t0 = time.perf_counter()
        self.inp = inp
        self.model = cp_model.CpModel()
        self.vars: Vars = create_variables(self.model, inp)
        self.guards = Guards(self.model, explain)
        for family in HARD_FAMILIES:
            family(self.model, inp, self.vars, self.guards)
        self.tier_names = list(tiers)
        self.terms: dict[str, cp_model.LinearExprT | None] = {
            t: TIER_TERMS[t](self.model, inp, self.vars) for t in self.tier_names
        }
        self.build_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------------ helpers
    def size(self) -> tuple[int, int]:
        """(variables, constraints) of the model."""
        proto = self.model.proto
        return len(proto.variables), len(proto.constraints)

    def export(self, path: str | Path) -> None:
        """Write the model proto in text form."""
        Path(path).write_text(str(self.model.proto), encoding="utf-8")

    def add_hint(self, placement: np.ndarray) -> None:
        """Hint a complete placement (every variable gets a value).  The hosts of
        interchangeable VMs are first sorted into index order, as the symmetry breaking
        constraints require, so a feasible placement stays a feasible hint."""
        self.model.clear_hints()
        placement = np.asarray(placement).copy()
        for group in self.inp.symmetric_groups:
            idx = list(group)
            placement[idx] = np.sort(placement[idx])
        for i, v in enumerate(self.inp.candidates.tolist()):
            h = int(placement[v])
            for hh, b in self.vars.x[i].items():
                self.model.add_hint(b, hh == h)
        ctx = hint_context(self.inp.problem, placement)
        for var, value_of in self.vars.aux:
            self.model.add_hint(var, value_of(ctx))

    def placement_from(self, solver: cp_model.CpSolver) -> np.ndarray:
        """The placement of every VM in the solver's current solution."""
        p = self.inp.base_placement.astype(np.int64).copy()
        for i, v in enumerate(self.inp.candidates.tolist()):
            s = self.vars.single[i]
            if s is not None:
                p[v] = s
                continue
            for h, b in self.vars.x[i].items():
                if solver.boolean_value(b):
                    p[v] = h
                    break
        return p

    def in_domain(self, placement: np.ndarray) -> bool:
        """``placement`` is one of this model's assignments (fixed VMs at their base,
        candidates on one of their targets)."""
        p = np.asarray(placement)
        fixed = np.ones(len(p), dtype=bool)
        fixed[self.inp.candidates] = False
        if not np.array_equal(p[fixed], self.inp.base_placement[fixed]):
            return False
        return all(
            int(p[v]) in set(t.tolist())
            for v, t in zip(self.inp.candidates.tolist(), self.inp.targets, strict=True)
        )

    def feasible_values(self, placement: np.ndarray | None) -> dict[str, int] | None:
        """Tier values of ``placement`` when it is a solution of this model, else None."""
        if placement is None or not self.in_domain(placement):
            return None
        if hard_violations(self.inp.problem, placement):
            return None
        mm = self.inp.max_moves
        moved = (
            np.asarray(placement)[self.inp.candidates]
            != self.inp.cluster.vm_host[self.inp.candidates]
        )
        if mm is not None and int(moved.sum()) > mm:
            return None
        return objective_values(self.inp.problem, placement)

    def check(
        self, placement: np.ndarray, claims: Mapping[str, int], exact: Sequence[str] = ()
    ) -> dict[str, int]:
        """The reference values of a CP-SAT solution; raises
        :class:`~planner.problem.SolverBug` when it breaks a hard rule, when a tier is above
        what CP-SAT ``claims`` for it, or differs from a claimed ``exact`` optimum."""
        pb = self.inp.problem
        bad = hard_violations(pb, placement)
        if bad:
            raise SolverBug(
                "CP-SAT returned a placement that breaks a hard rule: "
                + "; ".join(v.message for v in bad[:5])
            )
        ref = objective_values(pb, placement)
        for t, val in claims.items():
            if ref[t] > val or (t in exact and ref[t] != val):
                raise SolverBug(
                    f"tier {t}: CP-SAT says {val}, the reference objective of "
                    f"its placement is {ref[t]}"
                )
        return ref

    # ------------------------------------------------------------------ solving
    def solve_tiers(
        self,
        params: SolverParams,
        hint: np.ndarray | None,
        lower_bound: Callable[[str, Mapping[str, int]], int],
        deadline: Budget | float,
        stage: str = "model",
    ) -> SolveOutcome:
        """Solve the tiers in order, fixing each one's value before the next, within the
        deterministic time of ``deadline`` (a float: a wall-clock deadline); each tier may
        use all that is left.

        ``hint`` is a complete placement.  ``lower_bound(tier, fixed)`` returns a bound on the
        tier valid for the problem with the previous tiers fixed at ``fixed``; a tier whose
        current solution meets it is proven without a solve, and the bound is added as a
        constraint so that CP-SAT stops as soon as it reaches it.  When no tier needs a solve
        and the hint is no solution of the model, one feasibility solve decides.
        """
        t_start = time.perf_counter()
        budget = self._budget(deadline)
        tiers: list[TierOutcome] = []
        current = hint
        values = self.feasible_values(hint)
        fixed: dict[str, int] = {}
        status = SolveStatus.OPTIMAL
        for name in self.tier_names:
            expr = self.terms[name]
            lb = int(lower_bound(name, fixed))
            t0 = time.perf_counter()
            if expr is None or isinstance(expr, int):
                val = 0 if expr is None else int(expr)
                tiers.append(
                    TierOutcome(
                        name, SolveStatus.OPTIMAL, val, val, 0.0, "term is constant in this model"
                    )
                )
                fixed[name] = val
                continue
            if values is not None and values[name] == lb:
                # The hint is a solution and meets a valid lower bound: optimal, no solve.
                self.model.add(expr <= lb)
                tiers.append(
                    TierOutcome(name, SolveStatus.OPTIMAL, lb, lb, 0.0, "hint meets the bound")
                )
                fixed[name] = lb
                continue
            if budget.spent_out(stage):
                if values is None:
                    return self._outcome(SolveStatus.UNKNOWN, None, tiers, t_start)
                val = int(values[name])
                self.model.add(expr <= val)
                tiers.append(TierOutcome(name, SolveStatus.FEASIBLE, val, lb, 0.0, "no time left"))
                fixed[name] = val
                status = SolveStatus.FEASIBLE
                continue
            self.model.minimize(expr)
            if lb > 0:
                self.model.add(expr >= lb)
            if current is not None:
                self.add_hint(current)
            solver = make_solver(params, 1.0)
            budget.solver_limits(solver)
            st = solve_to_bound(solver, self.model, lb)
            budget.charge(solver, stage, TargetedSolve.ended_by_itself(st))
            secs = time.perf_counter() - t0
            if st in _OK:
                val = int(round(solver.objective_value))
                bnd = val if st == SolveStatus.OPTIMAL else max(lb, objective_bound(solver))
                current = self.placement_from(solver)
                values = self.check(
                    current, {**fixed, name: val}, [name] if st == SolveStatus.OPTIMAL else []
                )
                val = values[name]  # a feasible solution's term may lie above the reference
                self.model.add(expr <= val)
                fixed[name] = val
                tiers.append(TierOutcome(name, st, val, min(bnd, val), secs))
                if st == SolveStatus.FEASIBLE:
                    status = SolveStatus.FEASIBLE
                continue
            if st == SolveStatus.INFEASIBLE:
                tiers.append(TierOutcome(name, st, None, None, secs))
                return self._outcome(SolveStatus.INFEASIBLE, None, tiers, t_start)
            # UNKNOWN: no solution within the time; keep the previous one if there is one.
            if values is None:
                tiers.append(TierOutcome(name, SolveStatus.UNKNOWN, None, lb, secs))
                return self._outcome(SolveStatus.UNKNOWN, None, tiers, t_start)
            val = int(values[name])
            self.model.add(expr <= val)
            tiers.append(
                TierOutcome(name, SolveStatus.FEASIBLE, val, lb, secs, "time limit: hint kept")
            )
            fixed[name] = val
            status = SolveStatus.FEASIBLE
        if values is None:
            return self._feasibility(params, current, tiers, budget, t_start)
        return self._outcome(status, current, tiers, t_start)

    def _budget(self, deadline: Budget | float) -> Budget:
        """``deadline`` as a budget (a float: a wall-clock deadline, by the profile's
        factor)."""
        per_second = self.inp.problem.profile.budget.deterministic_time_per_second
        return Budget.of(deadline, per_second)

    def _feasibility(
        self,
        params: SolverParams,
        hint: np.ndarray | None,
        tiers: list[TierOutcome],
        budget: Budget,
        t_start: float,
    ) -> SolveOutcome:
        """Every tier was constant: one solve without objective says whether the model has
        a solution at all (skipping it would call an infeasible model optimal)."""
        self.model.clear_objective()
        if hint is not None:
            self.add_hint(hint)
        solver = make_solver(params, 1.0)
        budget.solver_limits(solver, floor_s=0.05)
        st = run_solve(solver, self.model)
        budget.charge(solver, "feasibility", TargetedSolve.ended_by_itself(st))
        if st in _OK:
            p = self.placement_from(solver)
            self.check(p, {t.name: int(t.objective) for t in tiers if t.objective is not None})
            return self._outcome(SolveStatus.OPTIMAL, p, tiers, t_start)
        return self._outcome(st, None, tiers, t_start)

    def _outcome(
        self,
        status: SolveStatus,
        placement: np.ndarray | None,
        tiers: list[TierOutcome],
        t_start: float,
    ) -> SolveOutcome:
        nv, nc = self.size()
        return SolveOutcome(
            status, placement, tiers, nv, nc, self.build_seconds, time.perf_counter() - t_start
        )

    def solve_targeted(
        self,
        params: SolverParams,
        hint: np.ndarray | None,
        targets: Mapping[str, int],
        deadline: Budget | float,
        last: str | None = None,
        stage: str = "model",
    ) -> tuple[SolveStatus, np.ndarray | None]:
        """One solve aimed straight at the bounds: every tier but the last is constrained to
        at most its target (its lower bound), the last (or ``last``; later tiers are ignored)
        is minimised down to its target.

        When the bounds are attainable this replaces the whole tier sequence by one solve: a
        solution proves every tier at once.  Returns the status and the (checked) placement
        (``None`` when no solution was found).  Use a fresh model: the constraints stay.
        """
        job = self.prepare_targeted(params, hint, targets, deadline, last, stage)
        if isinstance(job, SolveStatus):
            return job, None
        return job.finish(run_solve(job.solver, self.model, job.callback))

    def prepare_targeted(
        self,
        params: SolverParams,
        hint: np.ndarray | None,
        targets: Mapping[str, int],
        deadline: Budget | float,
        last: str | None = None,
        stage: str = "model",
    ) -> TargetedSolve | SolveStatus:
        """The constraints, objective, hint and solver of :meth:`solve_targeted`, not yet
        solved (run several with :func:`~planner.cpsat.solver.run_solves`); a status when
        no solve is needed (OPTIMAL: nothing to decide; INFEASIBLE: a constant tier is
        above its target)."""
        names = list(self.tier_names)
        if last is not None:
            if last not in names:
                return SolveStatus.OPTIMAL
            names = names[: names.index(last) + 1]
        if not names:
            return SolveStatus.OPTIMAL
        claims: dict[str, int] = {}
        for name in names[:-1]:
            expr = self.terms[name]
            if expr is None:
                continue
            if isinstance(expr, int):
                if expr > targets[name]:
                    return SolveStatus.INFEASIBLE
                continue
            self.model.add(expr <= int(targets[name]))
            claims[name] = int(targets[name])
        obj = self.terms[names[-1]]
        lb = int(targets.get(names[-1], 0))
        minimised = obj is not None and not isinstance(obj, int)
        if obj is not None and not isinstance(obj, int):
            self.model.minimize(obj)
            if lb > 0:
                self.model.add(obj >= lb)
        if hint is not None:
            self.add_hint(hint)
        budget = self._budget(deadline)
        solver = make_solver(params, 1.0)
        budget.solver_limits(solver, floor_s=0.05)
        cb = StopAtBound(lb) if minimised else None
        return TargetedSolve(
            self, solver, cb, claims, names[-1] if minimised else None, budget, stage
        )

    def solve_feasibility(
        self, params: SolverParams, time_limit_s: Budget | float
    ) -> tuple[SolveStatus, list[tuple[object, ...]]]:
        """Check feasibility under all guards; on infeasibility return CP-SAT's core keys.
        ``time_limit_s``: a budget, or seconds (deterministic, by the profile's factor)."""
        if isinstance(time_limit_s, Budget):
            budget = time_limit_s
        else:
            per_second = self.inp.problem.profile.budget.deterministic_time_per_second
            budget = Budget.starting_now(float(time_limit_s), per_second)
        lits = list(self.guards.literals.values())
        self.model.clear_assumptions()
        self.model.add_assumptions(lits)
        self.model.clear_objective()
        solver = make_solver(params, 1.0, workers=1)
        budget.solver_limits(solver, floor_s=0.05)
        st = run_solve(solver, self.model)
        budget.charge(solver, "explanation", TargetedSolve.ended_by_itself(st))
        if st != SolveStatus.INFEASIBLE:
            return st, []
        core = solver.sufficient_assumptions_for_infeasibility()
        return st, [self.guards.labels[i] for i in core if i in self.guards.labels]


__all__ = ["PlacementModel", "SolveOutcome", "SolverParams", "TargetedSolve", "TierOutcome"]
