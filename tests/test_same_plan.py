"""Issue 10, done when: ``compare``, ``report`` and ``plan`` give the same plan for the same
snapshot and options — plan rows identical — here with a drain and with a load history.

Both snapshots are small so that every solve is proven optimal well within its time limit:
the plans are then the same whatever the machine's load.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import planner
from planner.cli import app
from planner.cluster import Cluster
from planner.compare import CompareOptions, compare
from planner.htmlreport import build_report
from planner.pipeline import Plan
from planner.reportplan import read_plan as report_read_plan
from planner.robustplan import plan_with_history

DATA = Path(__file__).resolve().parent.parent / "data" / "examples"
LIMIT = 20.0


def _rows(cluster: Cluster, p: Plan) -> list[dict[str, Any]]:
    assert p.ok and p.sequence is not None, p.message
    return [m.to_row(cluster) for m in p.sequence.moves]


def _cli_plan(args: list[str], out: Path) -> None:
    r = CliRunner().invoke(app, ["plan", *args, "--out", str(out), "--time-limit", str(LIMIT)])
    assert r.exit_code == 0, r.output


def _cli_compare_row(args: list[str]) -> dict[str, Any]:
    r = CliRunner().invoke(app, ["compare", *args, "--time-limit", str(LIMIT), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    return next(s for s in doc["strategies"] if s["name"] == "hvplan")


@pytest.fixture(scope="module")
def history_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """small4 with twelve 5-minute samples in which BACKUP01 (on HV04) holds 120,000 MB from
    the third on: judged at p95 SQL01 cannot go to HV04, where a plan on the vms.csv values
    puts it."""
    snap = tmp_path_factory.mktemp("hist") / "small4h"
    shutil.copytree(DATA / "small4", snap)
    rows = ["timestamp,vm,cpu_usage_pct,memory_mb"]
    for i in range(12):
        rows.append(f"{1796112000 + 300 * i},BACKUP01,15,{120000 if i >= 2 else 16384}")
    (snap / "vm_history.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return snap


def test_drain_plan_compare_and_report_give_the_same_plan(tmp_path: Path) -> None:
    cluster = planner.load_snapshot(DATA / "small4")
    drain = (cluster.host_index["hv03"],)
    p = planner.plan(cluster, planner.PlanOptions(level="medium", drain=drain, time_limit_s=LIMIT))
    assert p.status == planner.SolveStatus.OPTIMAL
    rows = _rows(cluster, p)
    assert any(r["source"] == "HV03" for r in rows)

    c = compare(cluster, CompareOptions(level="medium", drain=drain, time_limit_s=LIMIT))
    assert _rows(cluster, c.plan) == rows
    assert np.array_equal(c.placements[0], p.placement)

    out = tmp_path / "plan"
    _cli_plan([str(DATA / "small4"), "--level", "medium", "--drain", "HV03"], out)
    shown, report = report_read_plan(cluster, out)  # what hvplan report --plan shows
    assert shown is not None and report.valid
    assert [m.to_row(cluster) for m in shown.moves] == rows
    row = _cli_compare_row([str(DATA / "small4"), "--level", "medium", "--drain", "HV03"])
    assert (row["moves"], row["memory_moved_mb"]) == (len(rows), p.summary["memory_moved_mb"])


def test_report_runs_the_plan_hvplan_plan_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = planner.load_snapshot(DATA / "small4")
    p = planner.plan(cluster, planner.PlanOptions(level="medium", time_limit_s=LIMIT))
    seen: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        res = compare(*args, **kwargs)
        seen.append(res)
        return res

    # The report calls planner.compare's compare (looked up when the report runs).
    monkeypatch.setattr(importlib.import_module("planner.compare"), "compare", spy)
    page = build_report(cluster, None, level="medium", compare=True, capacity=False)
    assert page.html and len(seen) == 1
    assert _rows(cluster, seen[0].plan) == _rows(cluster, p)


def test_history_plan_compare_and_report_give_the_same_plan(
    history_snapshot: Path, tmp_path: Path
) -> None:
    cluster = planner.load_snapshot(history_snapshot)
    assert cluster.history is not None
    p = plan_with_history(cluster, planner.PlanOptions(level="medium", time_limit_s=LIMIT))
    rows = _rows(cluster, p)
    latest = _rows(cluster, planner.plan(cluster, planner.PlanOptions(level="medium")))
    assert rows != latest  # the history matters here

    c = compare(cluster, CompareOptions(level="medium", load="p95", time_limit_s=LIMIT))
    assert _rows(cluster, c.plan) == rows

    out = tmp_path / "plan"
    _cli_plan([str(history_snapshot), "--level", "medium"], out)  # p95 by default
    shown, report = report_read_plan(cluster, out)
    assert shown is not None and report.valid
    assert [m.to_row(cluster) for m in shown.moves] == rows
    row = _cli_compare_row([str(history_snapshot), "--level", "medium", "--load", "p95"])
    assert (row["moves"], row["memory_moved_mb"]) == (len(rows), p.summary["memory_moved_mb"])
    # Without --load, compare plans over the history at p95, as hvplan plan does.
    assert (
        _rows(cluster, compare(cluster, CompareOptions(level="medium", time_limit_s=LIMIT)).plan)
        == rows
    )
    row = _cli_compare_row([str(history_snapshot), "--level", "medium"])
    assert (row["moves"], row["memory_moved_mb"]) == (len(rows), p.summary["memory_moved_mb"])
