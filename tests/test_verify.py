"""The independent verifier catches tampered plans and accepts the optimizer's plans."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from planner.optimizer import PlanOptions, optimize
from planner.planio import write_plan
from planner.snapshot import load_snapshot
from planner.verify import verify_plan
from tests.strategies import clusters

SMALL4 = Path(__file__).resolve().parent.parent / "data" / "examples" / "small4"


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    return load_snapshot(SMALL4)


@pytest.fixture()
def plan_dir(cluster, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    res = optimize(cluster, PlanOptions(level="medium", time_limit_s=10))
    wo = write_plan(cluster, res, tmp_path / "plan")
    assert wo.ok, wo.violations
    return tmp_path / "plan"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_written_plan_verifies(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rep = verify_plan(cluster, plan_dir)
    assert rep.ok, rep.violations


def test_wrong_migration_type_is_caught(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(plan_dir / "plan.csv")
    rows[0]["migration_type"] = "Quick"
    _write(plan_dir / "plan.csv", rows)
    kinds = {v["kind"] for v in verify_plan(cluster, plan_dir).violations}
    assert "migration_type" in kinds or "kind" in kinds


def test_placement_not_matching_plan_is_caught(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(plan_dir / "placement.csv")
    moved = _rows(plan_dir / "plan.csv")[0]
    for r in rows:
        if r["vm"] == moved["vm"]:
            r["host"] = moved["source"]
    _write(plan_dir / "placement.csv", rows)
    rep = verify_plan(cluster, plan_dir)
    assert not rep.ok and any(v["kind"] == "placement" for v in rep.violations)


def test_objective_mismatch_is_caught(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    s = json.loads((plan_dir / "summary.json").read_text())
    s["objectives"]["migration"] += 1
    (plan_dir / "summary.json").write_text(json.dumps(s))
    rep = verify_plan(cluster, plan_dir)
    assert any(v["kind"] == "objective" for v in rep.violations)


def test_broken_rule_in_final_placement_is_caught(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # Move WEB01 next to WEB02 (DifferentNode rule Web-spread) in both plan and placement.
    rows = _rows(plan_dir / "plan.csv")
    rows.append({**rows[0], "step": str(len(rows) + 1), "wave": str(int(rows[-1]["wave"]) + 1),
                 "vm": "WEB01", "source": "HV01", "target": "HV02", "migration_type": "Live",
                 "memory_mb": "8192"})
    _write(plan_dir / "plan.csv", rows)
    pl = _rows(plan_dir / "placement.csv")
    for r in pl:
        if r["vm"] == "WEB01":
            r["host"] = "HV02"
    _write(plan_dir / "placement.csv", pl)
    rep = verify_plan(cluster, plan_dir)
    assert any(v["kind"] == "different_node" for v in rep.violations)


def test_missing_file_is_reported(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    (plan_dir / "placement.csv").unlink()
    rep = verify_plan(cluster, plan_dir)
    assert not rep.ok and rep.violations[0]["kind"] == "file"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(max_hosts=4, max_vms=8))
def test_random_plans_pass_independent_verification(cluster) -> None:  # type: ignore[no-untyped-def]
    res = optimize(cluster, PlanOptions(level="high", high_mode="absolute", time_limit_s=5))
    if not res.ok:
        return
    with tempfile.TemporaryDirectory() as d:
        wo = write_plan(cluster, res, Path(d) / "plan")
        if wo.ok:
            assert verify_plan(cluster, Path(d) / "plan").ok
        else:
            # Only an order that cannot be executed may stop a solved plan; never the
            # verifier, and nothing is left behind.
            assert wo.message.startswith("no executable order"), (wo.message, wo.violations)
            assert not (Path(d) / "plan").exists()


def test_scalar_objective_matches_its_tier(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # summary.json reports objective/bound as numbers of the deciding tier, and the gap
    # relation holds for them.
    s = json.loads((plan_dir / "summary.json").read_text())
    tier = s["objective_tier"]
    assert s["objective"] == s["objectives"][tier]
    assert s["bound"] == s["bounds"][tier]
    assert s["bound"] <= s["objective"]
    expected_gap = (s["objective"] - s["bound"]) / s["objective"] if s["objective"] else 0.0
    assert abs(s["gap"] - expected_gap) < 1e-6
    s["objective"] += 1
    (plan_dir / "summary.json").write_text(json.dumps(s))
    rep = verify_plan(cluster, plan_dir)
    assert not rep.ok and any(v["kind"] == "objective" for v in rep.violations)
