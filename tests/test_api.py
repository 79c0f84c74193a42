"""The public API at package level: the README's notebook-sized example runs as written,
``import planner`` stays light, and ``compare`` and ``plan`` give the same plan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import planner

SMALL4 = Path(__file__).resolve().parent.parent / "data" / "examples" / "small4"


def test_readme_example(tmp_path: Path) -> None:
    cluster = planner.load_snapshot(SMALL4)
    now = planner.status(cluster, level="medium")
    assert now.threshold.cpu_pct == 70.0
    plan = planner.plan(cluster, planner.PlanOptions(level="medium", time_limit_s=30))
    assert plan.ok and plan.status == planner.SolveStatus.OPTIMAL
    r = plan.result
    assert r.method and r.deciding_tier is None and r.rules_left_broken == []
    assert [t.name for t in r.tiers] == ["rules", "excess", "anti_affinity", "migration", "balance"]
    assert plan.sequence is not None and len(plan.sequence.moves) == len(r.moves)
    out = tmp_path / "plan"
    planner.write_plan(plan, out)
    files = planner.read_plan(out)
    assert files.status == "OPTIMAL" and len(files.moves) == len(r.moves)
    assert planner.verify(cluster, out).ok
    assert planner.verify(cluster, plan).ok


def test_compare_row_is_the_plan() -> None:
    from planner.compare import CompareOptions

    cluster = planner.load_snapshot(SMALL4)
    plan = planner.plan(cluster, planner.PlanOptions(level="medium", time_limit_s=20))
    res = planner.compare(cluster, CompareOptions(level="medium", time_limit_s=20))
    i = next(i for i, r in enumerate(res.rows) if r.name == "hvplan")
    assert res.rows[i].moves == len(plan.result.moves)
    assert res.rows[i].memory_moved_mb == plan.result.memory_moved_mb
    assert np.array_equal(res.placements[i], plan.placement)


def test_import_planner_is_light() -> None:
    code = (
        "import sys, planner; heavy = [m for m in ('ortools', 'pandas', 'matplotlib', "
        "'dask', 'numba') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"
