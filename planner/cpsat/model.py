"""Wire the placement model, hint it, solve the lexicographic tiers and map the status.

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

Also here: :func:`explain_infeasible` (assumption literals per constraint group, CP-SAT's
``sufficient_assumptions_for_infeasibility``, then deletion filtering for a small core) and
:func:`min_cost_cover` (the per-host covering knapsack behind the migration-cost and balance
bounds of :mod:`planner.optimizer`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from planner.cpsat.constraints import HARD_FAMILIES, Guards
from planner.cpsat.objective import BP, TIER_TERMS
from planner.cpsat.variables import ModelInput, Vars, create_variables

_STATUS = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.MODEL_INVALID: "UNKNOWN",
    cp_model.UNKNOWN: "UNKNOWN",
}


class _StopAtBound(cp_model.CpSolverSolutionCallback):
    """Stops the search at the first solution whose objective reaches ``bound``.

    The bound is valid for the full problem (computed outside CP-SAT), so such a solution is
    optimal; CP-SAT cannot see that by itself: a constraint ``objective >= bound`` does not
    raise its own objective bound without the LP relaxation, and it would search on until
    the time limit.
    """

    def __init__(self, bound: int) -> None:
        super().__init__()
        self._bound = bound
        self.reached = False

    def on_solution_callback(self) -> None:
        if self.objective_value <= self._bound + 1e-9:
            self.reached = True
            self.stop_search()


def _solve_to_bound(solver: cp_model.CpSolver, model: cp_model.CpModel, bound: int) -> str:
    """Solve ``model``; when a solution reaches the valid lower ``bound`` stop and call it
    OPTIMAL.  Returns the status name."""
    cb = _StopAtBound(bound)
    st = _STATUS.get(solver.solve(model, cb), "UNKNOWN")
    if cb.reached and st in ("OPTIMAL", "FEASIBLE"):
        return "OPTIMAL"
    return st


@dataclass(frozen=True)
class SolverParams:
    """CP-SAT parameters used for every solve of one plan.

    Same input, same ``seed`` and ``workers`` and a solve that ends by proof (or by a
    deterministic-time limit) give the same plan.  One worker is deterministic by itself;
    with more, ``deterministic`` interleaves them in one thread in a fixed order
    (``interleave_search``) so the search does not depend on thread timing.  A wall-clock
    ``time_limit_s`` that cuts a search short can still make two runs differ.
    """

    time_limit_s: float = 60.0
    workers: int = 1
    seed: int = 0
    deterministic: bool = True
    log: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Parameters as reported in ``summary.json``."""
        return {"time_limit_s": self.time_limit_s, "workers": self.workers, "seed": self.seed,
                "deterministic": self.deterministic, **dict(self.extra)}


def make_solver(params: SolverParams, time_limit_s: float, workers: int | None = None
                ) -> cp_model.CpSolver:
    """A CP-SAT solver configured from ``params`` with a given time budget."""
    s = cp_model.CpSolver()
    p = s.parameters
    p.max_time_in_seconds = max(0.01, float(time_limit_s))
    p.random_seed = int(params.seed)
    p.num_workers = int(workers if workers is not None else params.workers)
    if params.deterministic and p.num_workers > 1:
        p.interleave_search = True
    p.log_search_progress = bool(params.log)
    for k, v in params.extra.items():
        setattr(p, k, v)
    return s


@dataclass
class TierOutcome:
    """Result of one objective tier."""

    name: str
    status: str  # OPTIMAL / FEASIBLE / UNKNOWN / SKIPPED / INFEASIBLE
    objective: int | None
    bound: int | None
    seconds: float
    note: str = ""


@dataclass
class SolveOutcome:
    """Result of solving all tiers of one model."""

    status: str
    placement: np.ndarray | None
    tiers: list[TierOutcome]
    n_variables: int
    n_constraints: int
    build_seconds: float
    solve_seconds: float


class PlacementModel:
    """The CP-SAT placement model of one :class:`ModelInput`.

    Parameters
    ----------
    inp:
        The model input.
    tiers:
        Objective tier names to create (subset of ``excess``, ``anti_affinity``,
        ``migration``, ``balance``), in lexicographic order.
    explain:
        Guard every constraint group with an assumption literal (for
        :func:`explain_infeasible`).
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
        """Hint a complete placement (every placement Boolean gets a value).  The hosts of
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
        for var, value_of in self.vars.aux:
            self.model.add_hint(var, value_of(placement))

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

    # ------------------------------------------------------------------ solving
    def solve_tiers(
        self,
        params: SolverParams,
        hint: np.ndarray | None,
        evaluate: Callable[[np.ndarray], dict[str, int] | None],
        lower_bound: Callable[[str, Mapping[str, int]], int],
        deadline: float,
    ) -> SolveOutcome:
        """Solve the tiers in order, fixing each one's value before the next.

        ``hint`` is a complete placement.  ``evaluate(placement)`` returns the tier values of a
        placement that satisfies every hard constraint and lies in this model's domain, else
        ``None``.  ``lower_bound(tier, fixed)`` returns a bound on the tier valid for the
        problem with the previous tiers fixed at ``fixed``; a tier whose current solution meets
        it is proven without a solve, and the bound is added as a constraint so that CP-SAT
        stops as soon as it reaches it.
        """
        t_start = time.perf_counter()
        tiers: list[TierOutcome] = []
        current = hint
        current_values = evaluate(hint) if hint is not None else None
        fixed: dict[str, int] = {}
        status = "OPTIMAL"
        for name in self.tier_names:
            expr = self.terms[name]
            lb = int(lower_bound(name, fixed))
            t0 = time.perf_counter()
            if expr is None or isinstance(expr, int):
                val = 0 if expr is None else int(expr)
                tiers.append(TierOutcome(name, "SKIPPED", val, val, 0.0,
                                         "term is constant in this model"))
                fixed[name] = val
                continue
            if current_values is not None and current_values.get(name) == lb:
                # The hint is feasible and meets a valid lower bound: optimal without a solve.
                self.model.add(expr <= lb)
                tiers.append(TierOutcome(name, "OPTIMAL", lb, lb, 0.0, "hint meets the bound"))
                fixed[name] = lb
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                if current is None or current_values is None:
                    return self._outcome("UNKNOWN", None, tiers, t_start)
                val = int(current_values.get(name, 0))
                self.model.add(expr <= val)
                tiers.append(TierOutcome(name, "FEASIBLE", val, lb, 0.0, "no time left"))
                fixed[name] = val
                status = "FEASIBLE"
                continue
            self.model.minimize(expr)
            if lb > 0:
                self.model.add(expr >= lb)
            if current is not None:
                self.add_hint(current)
            solver = make_solver(params, remaining)
            st = _solve_to_bound(solver, self.model, lb)
            secs = time.perf_counter() - t0
            if st in ("OPTIMAL", "FEASIBLE"):
                val = int(round(solver.objective_value))
                bnd = max(lb, int(math.ceil(solver.best_objective_bound - 1e-6)))
                if st == "OPTIMAL":
                    bnd = val
                current = self.placement_from(solver)
                current_values = evaluate(current)
                self.model.add(expr <= val)
                fixed[name] = val
                tiers.append(TierOutcome(name, st, val, min(bnd, val), secs))
                if st == "FEASIBLE":
                    status = "FEASIBLE"
                continue
            if st == "INFEASIBLE":
                tiers.append(TierOutcome(name, "INFEASIBLE", None, None, secs))
                return self._outcome("INFEASIBLE", None, tiers, t_start)
            # UNKNOWN: no solution within the time; keep the previous one if there is one.
            if current is None or current_values is None or name not in current_values:
                tiers.append(TierOutcome(name, "UNKNOWN", None, lb, secs))
                return self._outcome("UNKNOWN", current if current_values else None,
                                     tiers, t_start)
            val = int(current_values[name])
            self.model.add(expr <= val)
            tiers.append(TierOutcome(name, "FEASIBLE", val, lb, secs, "time limit: hint kept"))
            fixed[name] = val
            status = "FEASIBLE"
        return self._outcome(status, current, tiers, t_start)

    def _outcome(self, status: str, placement: np.ndarray | None, tiers: list[TierOutcome],
                 t_start: float) -> SolveOutcome:
        nv, nc = self.size()
        return SolveOutcome(status, placement, tiers, nv, nc, self.build_seconds,
                            time.perf_counter() - t_start)

    def solve_targeted(
        self,
        params: SolverParams,
        hint: np.ndarray | None,
        targets: Mapping[str, int],
        deadline: float,
        last: str | None = None,
    ) -> tuple[str, np.ndarray | None]:
        """One solve aimed straight at the bounds: every tier but the last is constrained to
        at most its target (its lower bound), the last (or ``last``; later tiers are ignored)
        is minimised down to its target.

        When the bounds are attainable this replaces the whole tier sequence by one solve: a
        solution proves every tier at once.  Returns the CP-SAT status and the placement
        (``None`` when no solution was found).  Use a fresh model: the constraints stay.
        """
        names = [t for t in self.tier_names if self.terms[t] is not None]
        if last is not None:
            if last not in names:
                return "OPTIMAL", None
            names = names[: names.index(last) + 1]
        if not names:
            return "OPTIMAL", None
        for name in names[:-1]:
            expr = self.terms[name]
            assert expr is not None
            if isinstance(expr, int):
                if expr > targets[name]:
                    return "INFEASIBLE", None
                continue
            self.model.add(expr <= int(targets[name]))
        obj = self.terms[names[-1]]
        assert obj is not None
        lb = int(targets.get(names[-1], 0))
        if not isinstance(obj, int):
            self.model.minimize(obj)
            if lb > 0:
                self.model.add(obj >= lb)
        if hint is not None:
            self.add_hint(hint)
        solver = make_solver(params, max(0.05, deadline - time.monotonic()))
        if isinstance(obj, int):
            st = _STATUS.get(solver.solve(self.model), "UNKNOWN")
        else:
            st = _solve_to_bound(solver, self.model, lb)
        if st in ("OPTIMAL", "FEASIBLE"):
            return st, self.placement_from(solver)
        return st, None

    def solve_feasibility(self, params: SolverParams, time_limit_s: float
                          ) -> tuple[str, list[tuple[object, ...]]]:
        """Check feasibility under all guards; on infeasibility return CP-SAT's core keys."""
        lits = list(self.guards.literals.values())
        self.model.clear_assumptions()
        self.model.add_assumptions(lits)
        self.model.clear_objective()
        solver = make_solver(params, time_limit_s, workers=1)
        st = _STATUS.get(solver.solve(self.model), "UNKNOWN")
        if st != "INFEASIBLE":
            return st, []
        core = solver.sufficient_assumptions_for_infeasibility()
        return st, [self.guards.labels[i] for i in core if i in self.guards.labels]


def explain_infeasible(inp: ModelInput, params: SolverParams, time_limit_s: float = 10.0
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
    if st != "INFEASIBLE":
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
        if solver.solve(pm.model) == cp_model.INFEASIBLE:
            keep = trial
    return keep


@dataclass(frozen=True)
class CoverResult:
    """Cheapest set of a host's movable VMs whose removal brings it under the threshold.

    ``cost_bound`` is a valid lower bound on that cheapest cost (equal to ``cost`` when
    proven); ``chosen`` the VMs of the best set found (``None`` if no set covers);
    ``remaining_bound`` a lower bound on the host's load (basis points, worst resource) after
    removing any cheapest set, ``remaining`` its value for ``chosen``.
    """

    feasible: bool
    cost: int | None
    cost_bound: int
    chosen: tuple[int, ...] | None
    remaining: int | None
    remaining_bound: int


def min_cost_cover(
    vms: np.ndarray,
    cpu: np.ndarray,
    mem: np.ndarray,
    cost: np.ndarray,
    need_cpu: int,
    need_mem: int,
    host_cpu_used: int,
    host_mem_used: int,
    cpu_cap: int,
    mem_cap: int,
    params: SolverParams,
    time_limit_s: float,
) -> CoverResult:
    """Solve the two-resource covering knapsack of one host, then, among the cheapest sets,
    the one leaving the lowest load.

    ``host_*_used`` is the host's total load (base/reserve included) before removal;
    ``need_*`` how much VM load must leave.
    """
    n = len(vms)
    if need_cpu <= 0 and need_mem <= 0:
        rem = max(_ceil_bp(host_cpu_used, cpu_cap), _ceil_bp(host_mem_used, mem_cap))
        return CoverResult(True, 0, 0, (), rem, rem)
    if int(cpu.sum()) < need_cpu or int(mem.sum()) < need_mem:
        return CoverResult(False, None, 0, None, None, 0)
    m = cp_model.CpModel()
    z = [m.new_bool_var(f"z{i}") for i in range(n)]
    cpu_l, mem_l, cost_l = cpu.tolist(), mem.tolist(), cost.tolist()
    if need_cpu > 0:
        m.add(cp_model.LinearExpr.weighted_sum(z, cpu_l) >= need_cpu)
    if need_mem > 0:
        m.add(cp_model.LinearExpr.weighted_sum(z, mem_l) >= need_mem)
    total = cp_model.LinearExpr.weighted_sum(z, cost_l)
    m.minimize(total)
    # Hint: greedy by cost per unit of the scarcer need, a complete feasible start.
    order = np.argsort(cost / (np.maximum(cpu / max(need_cpu, 1), mem / max(need_mem, 1)) + 1e-9),
                       kind="stable")
    got_c = got_m = 0
    pick = np.zeros(n, dtype=bool)
    for i in order.tolist():
        if got_c >= need_cpu and got_m >= need_mem:
            break
        pick[i] = True
        got_c += cpu_l[i]
        got_m += mem_l[i]
    for i in range(n):
        m.add_hint(z[i], bool(pick[i]))
    t0 = time.monotonic()
    s = make_solver(params, time_limit_s / 2, workers=1)
    st = s.solve(m)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CoverResult(True, None, max(0, int(math.ceil(s.best_objective_bound - 1e-6))),
                           None, None, 0)
    c_val = int(round(s.objective_value))
    c_bnd = c_val if st == cp_model.OPTIMAL else int(math.ceil(s.best_objective_bound - 1e-6))
    chosen = [i for i in range(n) if s.boolean_value(z[i])]
    rem_val = _remaining(chosen, cpu_l, mem_l, host_cpu_used, host_mem_used, cpu_cap, mem_cap)
    if st != cp_model.OPTIMAL:
        return CoverResult(True, c_val, c_bnd, tuple(int(vms[i]) for i in chosen), rem_val, 0)
    # Second phase: among the cheapest sets, leave the lowest worst-resource load.
    m.add(total == c_val)
    r = m.new_int_var(0, 2 * BP, "rem")
    m.add(cpu_cap * r >= BP * (host_cpu_used - cp_model.LinearExpr.weighted_sum(z, cpu_l)))
    m.add(mem_cap * r >= BP * (host_mem_used - cp_model.LinearExpr.weighted_sum(z, mem_l)))
    m.minimize(r)
    m.clear_hints()
    for i in range(n):
        m.add_hint(z[i], i in set(chosen))
    s2 = make_solver(params, max(0.05, time_limit_s - (time.monotonic() - t0)), workers=1)
    st2 = s2.solve(m)
    if st2 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = [i for i in range(n) if s2.boolean_value(z[i])]
        rem_val = _remaining(chosen, cpu_l, mem_l, host_cpu_used, host_mem_used, cpu_cap,
                             mem_cap)
        rem_bnd = rem_val if st2 == cp_model.OPTIMAL else int(
            math.ceil(s2.best_objective_bound - 1e-6))
    else:
        rem_bnd = 0
    return CoverResult(True, c_val, c_bnd, tuple(int(vms[i]) for i in chosen), rem_val,
                       max(0, rem_bnd))


def _ceil_bp(used: int, cap: int) -> int:
    return -((-BP * int(used)) // int(cap))


def _remaining(chosen: list[int], cpu: list[int], mem: list[int], cu: int, mu: int,
               cc: int, mc: int) -> int:
    rc = cu - sum(cpu[i] for i in chosen)
    rm = mu - sum(mem[i] for i in chosen)
    return max(_ceil_bp(rc, cc), _ceil_bp(rm, mc))
