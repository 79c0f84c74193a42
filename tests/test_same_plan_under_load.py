"""Same input, seed and limit, same plan, whatever the machine's load (every stage is bounded
in CP-SAT deterministic time; the wall clock is only a recorded safety cap); and a run whose
deterministic budget outlasts the wall clock ends within its time limit and says so.

The load test uses a generated cluster that the search does not prove optimal: the run ends
by its deterministic budget, not by proof.  Its profile gives a small
``deterministic_time_per_second`` so that the budget is spent long before the wall-clock cap
even with two CPU hogs on a two-core machine shared with other work.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.profiles import MODELS_DIR

LIMIT = 20.0


def _profile(tmp_path: Path, per_second: float) -> Path:
    # The rebalance profile (the defaults) with another factor.
    text = (MODELS_DIR / "rebalance.toml").read_text(encoding="utf-8")
    text = re.sub(
        r"(?m)^deterministic_time_per_second = .*$",
        f"deterministic_time_per_second = {per_second}",
        text,
    )
    assert f"deterministic_time_per_second = {per_second}" in text
    path = tmp_path / f"slow{per_second:g}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("load") / "snap"
    # Half the nodes hot, three CPU generations, classes of three and rules: the cover swaps
    # of the decomposition do not prove this one.
    args = (
        "--hosts 12 --vms 800 --seed 5 --hot-fraction 0.5 --skew 0.8 --load-pct 60 "
        "--hot-load-pct 78 --cpu-generations 3 --aa-class-size 3 --anti-affinity-classes 40 "
        "--rule-density 0.2 --vendors mixed"
    )
    r = CliRunner().invoke(app, ["generate", *args.split(), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _plan(snap: Path, out: Path, profile: Path, limit: float) -> dict[str, Any]:
    args = ["plan", str(snap), "--out", str(out), "--level", "medium", "--model", str(profile)]
    r = CliRunner().invoke(app, [*args, "--time-limit", str(limit), "--json"])
    assert r.exit_code == 0, r.output
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def test_the_same_plan_idle_and_beside_two_cpu_hogs(snapshot: Path, tmp_path: Path) -> None:
    profile = _profile(tmp_path, 0.02)
    quiet = _plan(snapshot, tmp_path / "quiet", profile, LIMIT)
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    try:
        busy = _plan(snapshot, tmp_path / "busy", profile, LIMIT)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    for doc in (quiet, busy):
        # Ended by its deterministic budget: not proven, not cut by the wall clock.
        assert doc["status"] == "FEASIBLE" and doc["gap"] > 0
        assert doc["parameters"]["wall_clock_cut"] is False
        assert (
            doc["timings"]["deterministic_time"] >= 0.9 * doc["parameters"]["deterministic_budget"]
        )
    assert quiet["timings"]["deterministic_time"] == busy["timings"]["deterministic_time"]
    plan_a = (tmp_path / "quiet" / "plan.csv").read_bytes()
    assert plan_a == (tmp_path / "busy" / "plan.csv").read_bytes()
    assert (tmp_path / "quiet" / "placement.csv").read_bytes() == (
        tmp_path / "busy" / "placement.csv"
    ).read_bytes()


def test_a_budget_longer_than_the_wall_clock_is_cut_within_the_limit(
    snapshot: Path, tmp_path: Path
) -> None:
    # Far more deterministic time than the machine can do in 0.6 s: the wall-clock cap ends
    # the search, the run still ends within its limit (sequencing and verification
    # included), and the cut is reported in summary.json and in the CLI's words.
    profile = _profile(tmp_path, 50.0)
    t0 = time.monotonic()
    doc = _plan(snapshot, tmp_path / "cut", profile, 0.6)
    assert doc["solve_seconds"] <= 0.6
    assert time.monotonic() - t0 < 0.6 + 3.0  # + loading the snapshot and writing the files
    assert doc["parameters"]["wall_clock_cut"] is True
    assert doc["parameters"]["wall_clock_cut_stages"]
    r = CliRunner().invoke(
        app,
        ["plan", str(snapshot), "--out", str(tmp_path / "cut2"), "--level", "medium"]
        + ["--model", str(profile), "--time-limit", "0.6"],
    )
    assert r.exit_code == 0, r.output
    assert "another run may give a different plan" in " ".join(r.output.split())
