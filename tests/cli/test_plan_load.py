"""``hvplan plan --load``: plans judged over a snapshot's load history (SPEC §2)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from planner.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "examples"
BITBRAINS8 = str(EXAMPLES / "bitbrains8")
SMALL4 = str(EXAMPLES / "small4")
runner = CliRunner()


def test_plan_on_a_history_defaults_to_p95_and_reports_the_window(tmp_path: Path) -> None:
    out = tmp_path / "p"
    r = runner.invoke(app, ["plan", BITBRAINS8, "--out", str(out), "--time-limit", "3", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    h = s["history"]
    assert h["statistic"] == "p95" and h["window"]["samples"] == 2016
    for part in ("before", "after", "latest_plan"):
        assert {"node_samples_over_threshold", "node_samples_over_capacity"} <= set(h[part])
    # The plan holds capacity at every sample of the week; the current placement does not.
    assert h["before"]["node_samples_over_capacity"] > 0
    assert h["after"]["node_samples_over_capacity"] == 0
    assert h["after"]["node_samples_over_threshold"] < h["before"]["node_samples_over_threshold"]
    # The critical samples round-trip through the parameters: the verifier rebuilds them.
    assert s["parameters"]["load_statistic"] == "p95"
    assert len(s["parameters"]["load_sample_indices"]) == s["parameters"]["load_samples"]
    v = runner.invoke(app, ["verify", BITBRAINS8, str(out), "--json"])
    assert v.exit_code == 0, v.output
    assert json.loads(v.stdout[v.stdout.index("{") :])["ok"] is True


def test_load_without_history_plans_the_vms_csv_values(tmp_path: Path) -> None:
    out = tmp_path / "p"
    r = runner.invoke(
        app, ["plan", SMALL4, "--out", str(out), "--level", "medium", "--load", "P99"]
    )
    assert r.exit_code == 0, r.output
    assert r.stderr.count("no load history") == 1
    s = json.loads((out / "summary.json").read_text())
    assert "history" not in s and "load_statistic" not in s["parameters"]
    latest = runner.invoke(
        app, ["plan", SMALL4, "--out", str(tmp_path / "q"), "--level", "medium", "--load", "latest"]
    )
    assert latest.exit_code == 0, latest.output
    assert "no load history" not in latest.stderr
    assert json.loads((tmp_path / "q" / "summary.json").read_text())["moves"] == s["moves"]
