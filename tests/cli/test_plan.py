"""``hvplan plan`` and ``hvplan verify`` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from planner.cli import app

SMALL4 = str(Path(__file__).resolve().parents[2] / "data" / "examples" / "small4")
runner = CliRunner()


def test_plan_writes_files_and_verifies(tmp_path: Path) -> None:
    out = tmp_path / "p"
    r = runner.invoke(app, ["plan", SMALL4, "--out", str(out), "--level", "medium", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout[r.stdout.index("{") :])
    for key in (
        "status",
        "objective",
        "bound",
        "gap",
        "moves",
        "memory_moved_mb",
        "downtime_moves",
        "threshold_pct",
        "max_cpu_pct_before",
        "max_cpu_pct_after",
        "hosts_over_threshold_before",
        "hosts_over_threshold_after",
        "solve_seconds",
        "waves",
        "estimated_seconds",
        "tiers",
        "seed",
        "parameters",
    ):
        assert key in s
    assert s["status"] == "OPTIMAL" and s["hosts_over_threshold_after"] == 0
    header = (out / "plan.csv").read_text().splitlines()[0]
    assert header.startswith(
        "step,wave,vm,source,target,migration_type,memory_mb,est_seconds,reason"
    )
    assert json.loads((out / "summary.json").read_text())["objective"] == s["objective"]
    v = runner.invoke(app, ["verify", SMALL4, str(out), "--json"])
    assert v.exit_code == 0, v.output
    assert json.loads(v.stdout[v.stdout.index("{") :])["ok"] is True


def test_plan_human_output_and_export(tmp_path: Path) -> None:
    proto = tmp_path / "model.txt"
    r = runner.invoke(
        app,
        [
            "plan",
            SMALL4,
            "--out",
            str(tmp_path / "p"),
            "--level",
            "low",
            "--export-model",
            str(proto),
            "--seed",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Plan:" in r.stdout and "Nodes over the threshold:" in r.stdout
    # The restricted model is exported even when the plan was proven without solving it.
    assert "variables" in proto.read_text()


def test_no_move_needed_gives_an_empty_plan(tmp_path: Path) -> None:
    # Without the soft anti-affinity tier nothing is worth a move at 95 %.
    prof = tmp_path / "noaa.toml"
    prof.write_text('[objective]\ntiers = ["excess", "migration", "balance"]\n')
    out = tmp_path / "p"
    r = runner.invoke(
        app, ["plan", SMALL4, "--out", str(out), "--threshold", "95", "--model", str(prof)]
    )
    assert r.exit_code == 0, r.output
    lines = (out / "plan.csv").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("step,")


def test_infeasible_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "p"
    args = ["plan", SMALL4, "--out", str(out)]
    for h in ("HV01", "HV02", "HV03"):
        args += ["--drain", h]
    r = runner.invoke(app, args)
    assert r.exit_code == 1
    assert "infeasible" in r.output
    assert not out.exists()


def test_unknown_drain_host_exits_1(tmp_path: Path) -> None:
    r = runner.invoke(app, ["plan", SMALL4, "--out", str(tmp_path / "p"), "--drain", "NOPE"])
    assert r.exit_code == 1
    assert "NOPE" in r.output
    assert not (tmp_path / "p").exists()


def test_bad_model_profile_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[objective]\ntiers = ['speed']\n")
    r = runner.invoke(app, ["plan", SMALL4, "--out", str(tmp_path / "p"), "--model", str(bad)])
    assert r.exit_code == 1
    assert "tiers" in r.output


def test_verify_rejects_tampered_plan(tmp_path: Path) -> None:
    out = tmp_path / "p"
    assert (
        runner.invoke(app, ["plan", SMALL4, "--out", str(out), "--level", "medium"]).exit_code == 0
    )
    text = (out / "placement.csv").read_text().replace("SQL01,HV04", "SQL01,HV01")
    (out / "placement.csv").write_text(
        text.replace("SQL01,HV03", "SQL01,HV01").replace("SQL01,HV02", "SQL01,HV01")
    )
    v = runner.invoke(app, ["verify", SMALL4, str(out), "--json"])
    assert v.exit_code == 1
    assert json.loads(v.stdout[v.stdout.index("{") :])["ok"] is False


def test_same_seed_same_plan_csv(tmp_path: Path) -> None:
    for d in ("a", "b"):
        assert (
            runner.invoke(
                app,
                ["plan", SMALL4, "--out", str(tmp_path / d), "--level", "medium", "--seed", "5"],
            ).exit_code
            == 0
        )
    assert (tmp_path / "a" / "plan.csv").read_text() == (tmp_path / "b" / "plan.csv").read_text()


def test_export_model_into_missing_directory_exits_1(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "plan",
            SMALL4,
            "--out",
            str(tmp_path / "p"),
            "--export-model",
            str(tmp_path / "nope" / "m.txt"),
        ],
    )
    assert r.exit_code == 1
    assert "does not exist" in r.output
    assert not (tmp_path / "p").exists()


def test_unwritable_out_directory_exits_1_without_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = blocker / "plan"  # its parent is a file: nothing can be created there
    r = runner.invoke(app, ["plan", SMALL4, "--out", str(out)])
    assert r.exit_code == 1
    assert "cannot write the plan" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert blocker.read_text() == "not a directory"


def test_verify_json_on_a_missing_plan_directory(tmp_path: Path) -> None:
    r = runner.invoke(app, ["verify", SMALL4, str(tmp_path / "none"), "--json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["violations"][0]["kind"] == "plan_file"
