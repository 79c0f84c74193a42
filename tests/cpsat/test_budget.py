"""planner.cpsat.budget: deterministic-time budgets with a wall-clock cap."""

from __future__ import annotations

import time

import pytest
from ortools.sat.python import cp_model

from planner.cpsat.budget import Budget
from planner.cpsat.solver import SolverParams, make_solver, run_solve
from planner.problem import SolveStatus


def _hard_model() -> cp_model.CpModel:
    # A multi-dimensional knapsack CP-SAT does not prove within 0.05 deterministic units.
    n, k = 300, 8
    m = cp_model.CpModel()
    xs = [m.new_bool_var(f"x{i}") for i in range(n)]
    for j in range(k):
        w = [(37 * i * i + 11 * i * (j + 1) + 13 * j) % 997 + 3 for i in range(n)]
        m.add(cp_model.LinearExpr.weighted_sum(xs, w) <= sum(w) // 2)
    v = [(53 * i + 7 * i * i) % 991 + 5 for i in range(n)]
    m.maximize(cp_model.LinearExpr.weighted_sum(xs, v))
    return m


def test_a_budget_is_the_limit_times_the_factor_less_the_reserve() -> None:
    t0 = time.monotonic()
    b = Budget.starting_now(10.0, 0.5, reserve_s=2.0)
    assert b.det == pytest.approx(4.0) and b.total == pytest.approx(4.0)
    assert b.deadline == pytest.approx(t0 + 8.0, abs=0.1)
    assert b.seconds(3.0) == pytest.approx(1.5)
    part = b.share(0.25)
    assert part.det == pytest.approx(1.0) and part.meter is b.meter
    b.charge_work(3.5)
    assert b.det_left() == pytest.approx(0.5)
    assert part.det_left() == pytest.approx(0.0) and part.spent_out("x")
    assert b.share(0.25).det == pytest.approx(0.5)  # never more than is left
    assert not b.wall_cut


def test_a_solve_stopped_by_its_deterministic_limit_is_counted_not_cut() -> None:
    b = Budget.starting_now(60.0, 0.5)
    s = make_solver(SolverParams(), 1.0, workers=1)
    b.solver_limits(s, 0.05)
    assert s.parameters.max_deterministic_time == pytest.approx(0.05)
    st = run_solve(s, _hard_model())
    assert st == SolveStatus.FEASIBLE
    used = b.charge(s, "stage", finished=False)
    assert used == pytest.approx(b.meter.used) and used >= 0.049
    assert not b.wall_cut


def test_a_solve_stopped_by_the_wall_clock_is_recorded_as_a_cut() -> None:
    b = Budget(time.monotonic() + 0.05, 1.0, det=1000.0)
    s = make_solver(SolverParams(), 1.0, workers=1)
    b.solver_limits(s)
    st = run_solve(s, _hard_model())
    assert st in (SolveStatus.FEASIBLE, SolveStatus.UNKNOWN)
    b.charge(s, "restricted model", finished=False)
    assert b.wall_cut and b.meter.wall_cuts == ["restricted model"]
    assert b.spent_out("next stage")  # the cap is reached: the next stage is cut too
    assert b.meter.wall_cuts == ["restricted model", "next stage"]


def test_a_scaled_budget_gives_more_solver_time_and_counts_less() -> None:
    b = Budget.starting_now(10.0, 0.1)
    full = b.scaled(4.0)
    s = make_solver(SolverParams(), 1.0, workers=1)
    full.solver_limits(s)
    assert s.parameters.max_deterministic_time == pytest.approx(4.0)
    run_solve(s, _hard_model())
    full.charge(s, "full model", finished=False)
    assert b.meter.used == pytest.approx(s.deterministic_time / 4.0)
