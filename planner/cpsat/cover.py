"""The per-host covering knapsack behind the migration-cost and balance bounds: the cheapest
set of a host's movable VMs whose removal brings it under the threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from planner.cpsat.budget import Budget
from planner.cpsat.solver import SolverParams, make_solver, objective_bound, run_solve
from planner.problem import BP, SolveStatus


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
    budget: Budget | float,
) -> CoverResult:
    """Solve the two-resource covering knapsack of one host, then, among the cheapest sets,
    the one leaving the lowest load.

    ``host_*_used`` is the host's total load (base/reserve included) before removal;
    ``need_*`` how much VM load must leave.  ``budget``: the deterministic time of both
    solves (half for the first; a float is a wall-clock deadline, see
    :meth:`~planner.cpsat.budget.Budget.of`).
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
    order = np.argsort(
        cost / (np.maximum(cpu / max(need_cpu, 1), mem / max(need_mem, 1)) + 1e-9), kind="stable"
    )
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
    budget = Budget.of(budget)
    whole = budget.det_left()
    s = make_solver(params, 1.0, workers=1)
    budget.solver_limits(s, whole / 2)
    st = run_solve(s, m)
    budget.charge(s, "cover model", st in _PROVEN)
    if st not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        return CoverResult(True, None, max(0, objective_bound(s)), None, None, 0)
    c_val = int(round(s.objective_value))
    c_bnd = c_val if st == SolveStatus.OPTIMAL else objective_bound(s)
    chosen = [i for i in range(n) if s.boolean_value(z[i])]
    rem_val = _remaining(chosen, cpu_l, mem_l, host_cpu_used, host_mem_used, cpu_cap, mem_cap)
    if st != SolveStatus.OPTIMAL:
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
    s2 = make_solver(params, 1.0, workers=1)
    budget.solver_limits(s2)
    st2 = run_solve(s2, m)
    budget.charge(s2, "cover model", st2 in _PROVEN)
    if st2 in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        chosen = [i for i in range(n) if s2.boolean_value(z[i])]
        rem_val = _remaining(chosen, cpu_l, mem_l, host_cpu_used, host_mem_used, cpu_cap, mem_cap)
        rem_bnd = rem_val if st2 == SolveStatus.OPTIMAL else objective_bound(s2)
    else:
        rem_bnd = 0
    return CoverResult(
        True, c_val, c_bnd, tuple(int(vms[i]) for i in chosen), rem_val, max(0, rem_bnd)
    )


#: Statuses of a solve that ended by itself (not by a limit).
_PROVEN = (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE)


def _ceil_bp(used: int, cap: int) -> int:
    return -((-BP * int(used)) // int(cap))


def _remaining(
    chosen: list[int], cpu: list[int], mem: list[int], cu: int, mu: int, cc: int, mc: int
) -> int:
    rc = cu - sum(cpu[i] for i in chosen)
    rm = mu - sum(mem[i] for i in chosen)
    return max(_ceil_bp(rc, cc), _ceil_bp(rm, mc))


__all__ = ["CoverResult", "min_cost_cover"]
