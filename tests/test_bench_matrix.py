"""The benchmark matrix reads both summary.json formats (the previous release's
``objectives``/``bounds`` dicts and the per-tier ``tiers`` list)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

PATH = Path(__file__).resolve().parent / "benchmarks" / "bench_matrix.py"


@pytest.fixture(scope="module")
def bm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_matrix", PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


OLD = {
    "status": "FEASIBLE",
    "objectives": {"excess": 0, "anti_affinity": 1, "migration": 100, "balance": 7000},
    "bounds": {"excess": 0, "anti_affinity": 0, "migration": 0, "balance": 0},
    "moves": 3,
    "memory_moved_mb": 100,
    "downtime_moves": 0,
    "hosts_over_threshold": {"before": 2, "after": 0},
}
NEW = {
    "status": "FEASIBLE",
    "tiers": [
        {"name": "rules", "value": 0, "bound": 0, "gap": 0, "status": "OPTIMAL"},
        {"name": "excess", "value": 0, "bound": 0, "gap": 0, "status": "OPTIMAL"},
        {"name": "anti_affinity", "value": 0, "bound": 0, "gap": 0, "status": "OPTIMAL"},
        {"name": "migration", "value": 200, "bound": 150, "gap": 0.25, "status": "FEASIBLE"},
        {"name": "balance", "value": 6900, "bound": 6000, "gap": 0.13, "status": "FEASIBLE"},
    ],
    "moves": 4,
    "memory_moved_mb": 200,
    "downtime_moves": 1,
    "first_plan_under_threshold_seconds": 1.5,
}


def test_old_summary_format(bm: ModuleType) -> None:
    r = bm.parse_summary(OLD)
    assert [t["name"] for t in r["tiers"]] == ["excess", "anti_affinity", "migration", "balance"]
    assert r["deciding_tier"] == "anti_affinity"
    aa = r["tiers"][1]
    assert aa["abs_gap"] == 1 and aa["rel_gap"] == 1.0
    assert r["hosts_over_before"] == 2 and r["hosts_over_after"] == 0
    assert r["first_plan_under_threshold_seconds"] is None


def test_new_summary_format(bm: ModuleType) -> None:
    r = bm.parse_summary(NEW)
    assert r["deciding_tier"] == "migration"
    mig = next(t for t in r["tiers"] if t["name"] == "migration")
    assert mig["abs_gap"] == 50 and mig["rel_gap"] == 0.25
    assert r["downtime_moves"] == 1 and r["first_plan_under_threshold_seconds"] == 1.5


def test_every_tier_proven_has_no_deciding_tier(bm: ModuleType) -> None:
    s = {"objectives": {"excess": 0, "migration": 5}, "bounds": {"excess": 0, "migration": 5}}
    assert bm.parse_summary(s)["deciding_tier"] is None


def test_generated_cases_are_valid_generator_options(bm: ModuleType) -> None:
    from typer.testing import CliRunner

    from planner.cli import app

    # Only the option names are checked here (the sizes take seconds to generate).
    r = CliRunner().invoke(app, ["generate", "--help"])
    for args in bm.GENERATED.values():
        for a in args:
            if a.startswith("--"):
                assert a in r.stdout, a


def test_time_to_first_plan_under_threshold_from_the_timings(bm: ModuleType) -> None:
    # summary.json of this release: the solve's timings carry it (seconds from the start).
    s = {**NEW, "timings": {"bounds": 0.2, "first_plan": 0.3, "first_under_threshold": 0.4}}
    del s["first_plan_under_threshold_seconds"]
    assert bm.parse_summary(s)["first_plan_under_threshold_seconds"] == 0.4
