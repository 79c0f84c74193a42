"""planner.plan: a target that cannot be ordered safely is excluded and re-optimised within
one time budget; the plan is verified in memory."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import planner.pipeline as pipeline
from planner.cluster import RuleType
from planner.problem import PlanningProblem, PlanOptions
from planner.solve.pipeline import solve as real_solve
from planner.solve.result import OptimizeResult
from planner.verify import verify_plan
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster


def rotation_cluster():  # type: ignore[no-untyped-def]
    # Three nodes, each its own fault domain, and a DifferentFaultDomain rule over three VMs,
    # one per domain.  Rotating them (A->H2, B->H3, C->H1) can never be done safely: the first
    # move of any order puts two members in one domain, and there is no fourth domain for a
    # temporary hop.
    hosts = [HostSpec(f"H{i}", fault_domain=f"D{i}") for i in (1, 2, 3)]
    vms = [VmSpec("A", "H1"), VmSpec("B", "H2"), VmSpec("C", "H3")]
    return make_cluster(
        hosts, vms, [RuleSpec("apart", RuleType.DIFFERENT_FAULT_DOMAIN, ("A", "B", "C"))]
    )


ROT = np.array([1, 2, 0])


def test_unorderable_target_is_excluded_and_the_next_best_written(
    tmp_path: Path, monkeypatch: Any
) -> None:
    c = rotation_cluster()
    calls: list[PlanningProblem] = []

    def fake_solve(pb: PlanningProblem, budget: Any = None) -> OptimizeResult:
        calls.append(pb)
        res = real_solve(pb, budget)
        if len(calls) == 1:
            # The first answer is the rotation: a final placement that keeps every rule but
            # cannot be reached safely.
            return dataclasses.replace(res, placement=ROT, moves=np.arange(3))
        return res

    monkeypatch.setattr(pipeline, "solve", fake_solve)
    out = tmp_path / "plan"
    res, wo = pipeline.plan_to_directory(c, PlanOptions(threshold_pct=80.0), out)
    assert len(calls) == 2
    # Held through the problem's allowed targets, not by marking the VMs pinned.
    assert calls[1].held == (0, 1, 2) and not calls[1].cluster.vm_pinned.any()
    assert wo is not None and wo.ok, wo.message if wo else None
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["held_for_sequencing"] == ["A", "B", "C"]
    assert summary["moves"] == 0
    # Bounds kept are valid for the full problem and the plan meets them here.
    assert summary["status"] == "OPTIMAL"
    assert verify_plan(c, out).ok


def test_stops_when_nothing_new_can_be_held(monkeypatch: Any) -> None:
    c = rotation_cluster()

    def always_rotation(pb: PlanningProblem, budget: Any = None) -> OptimizeResult:
        res = real_solve(pb, budget)
        return dataclasses.replace(res, placement=ROT, moves=np.arange(3))

    monkeypatch.setattr(pipeline, "solve", always_rotation)
    p = pipeline.plan(c, PlanOptions(threshold_pct=80.0), retries=3)
    # Every round returns the same unorderable target: after holding the three VMs there is
    # nothing new to hold, so it stops without an executable plan.
    assert not p.ok
    assert "no executable order" in p.message
    assert p.rounds == 1


def test_retries_share_one_time_budget_inside_the_limit(monkeypatch: Any) -> None:
    # The re-optimisation must not start a fresh budget: it gets what the first solve left
    # plus the retry reserve, and both wall-clock caps end before the limit by at least the
    # post-solve reserve (sequencing and verification happen inside the limit).
    c = rotation_cluster()
    budgets: list[Any] = []

    def rotation_once(pb: PlanningProblem, budget: Any = None) -> OptimizeResult:
        budgets.append(budget)
        res = real_solve(pb, budget)
        if len(budgets) == 1:
            return dataclasses.replace(res, placement=ROT, moves=np.arange(3))
        return res

    monkeypatch.setattr(pipeline, "solve", rotation_once)
    t0 = time.monotonic()
    p = pipeline.plan(c, PlanOptions(threshold_pct=80.0, time_limit_s=5.0))
    assert p.ok and p.rounds == 1
    first, again = budgets
    post, reserve = pipeline.post_solve_seconds(c, 5.0), pipeline.retry_reserve(5.0)
    pre = pipeline.pre_solve_seconds(c, 5.0)
    assert post > 0 and reserve > 0 and pre > 0
    assert abs(first.deadline - (t0 + 5.0 - post - reserve)) < 0.5
    assert again.deadline == first.deadline + reserve
    assert again.meter is first.meter
    assert first.det == pytest.approx(first.per_second * (5.0 - post - reserve - pre))


def test_a_retry_the_first_solve_left_no_time_for_gets_the_reserve(monkeypatch: Any) -> None:
    # The first solve uses its whole wall clock and returns an unorderable target: the
    # re-optimisation around the blocked VMs still runs within the reserve kept for it, and
    # a plan that holds them is written instead of nothing -- all within the limit.
    c = rotation_cluster()
    budgets: list[Any] = []

    def slow_rotation(pb: PlanningProblem, budget: Any = None) -> OptimizeResult:
        budgets.append(budget)
        res = real_solve(pb, budget)
        if len(budgets) == 1:
            time.sleep(max(0.0, budget.left()))
            return dataclasses.replace(res, placement=ROT, moves=np.arange(3))
        return res

    monkeypatch.setattr(pipeline, "solve", slow_rotation)
    t0 = time.monotonic()
    p = pipeline.plan(c, PlanOptions(threshold_pct=80.0, time_limit_s=2.0))
    assert p.ok and p.rounds == 1, p.message
    assert len(budgets) == 2 and budgets[1].deadline > budgets[0].deadline
    assert budgets[1].deadline <= t0 + 2.0
    assert time.monotonic() - t0 < 2.0 + 0.5
