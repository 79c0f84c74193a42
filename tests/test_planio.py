"""Plan writing: a target that cannot be ordered safely is excluded and re-optimised."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import planner.planio as planio
from planner.cluster import RuleType
from planner.optimizer import OptimizeResult, PlanOptions
from planner.optimizer import optimize as real_optimize
from planner.verify import verify_plan
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster


def rotation_cluster():  # type: ignore[no-untyped-def]
    # Three nodes, each its own fault domain, and a DifferentFaultDomain rule over three VMs,
    # one per domain.  Rotating them (A->H2, B->H3, C->H1) can never be done safely: the first
    # move of any order puts two members in one domain, and there is no fourth domain for a
    # temporary hop.
    hosts = [HostSpec(f"H{i}", fault_domain=f"D{i}") for i in (1, 2, 3)]
    vms = [VmSpec("A", "H1"), VmSpec("B", "H2"), VmSpec("C", "H3")]
    return make_cluster(hosts, vms, [RuleSpec("apart", RuleType.DIFFERENT_FAULT_DOMAIN,
                                              ("A", "B", "C"))])


def test_unorderable_target_is_excluded_and_the_next_best_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = rotation_cluster()
    calls: list[int] = []

    def fake_optimize(cluster: Any, options: PlanOptions) -> OptimizeResult:
        calls.append(1)
        res = real_optimize(cluster, options)
        if len(calls) == 1:
            # The first answer is the rotation: a final placement that keeps every rule but
            # cannot be reached safely.
            rot = np.array([1, 2, 0])
            return dataclasses.replace(res, placement=rot, moves=np.arange(3))
        return res

    monkeypatch.setattr(planio, "optimize", fake_optimize)
    out = tmp_path / "plan"
    res, wo = planio.plan_to_directory(c, PlanOptions(threshold_pct=80.0), out)
    assert len(calls) == 2
    assert wo is not None and wo.ok, wo.message if wo else None
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["held_for_sequencing"] == ["A", "B", "C"]
    assert summary["moves"] == 0
    # Bounds kept are valid for the full problem and the plan meets them here.
    assert summary["status"] == "OPTIMAL"
    assert verify_plan(c, out).ok


def test_stops_when_nothing_new_can_be_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = rotation_cluster()
    rot = np.array([1, 2, 0])

    def always_rotation(cluster: Any, options: PlanOptions) -> OptimizeResult:
        res = real_optimize(cluster, options)
        return dataclasses.replace(res, placement=rot, moves=np.arange(3))

    monkeypatch.setattr(planio, "optimize", always_rotation)
    out = tmp_path / "plan"
    _, wo = planio.plan_to_directory(c, PlanOptions(threshold_pct=80.0), out, retries=3)
    # Every round returns the same unorderable target: after holding the three VMs there is
    # nothing new to hold, so it stops and writes nothing.
    assert wo is not None and not wo.ok
    assert "no executable order" in wo.message
    assert not out.exists()
