"""The one plan reader (:func:`planner.planrows.read_plan_files` and its parsers): every
command and function that reads a plan directory reads the same plan, and a corrupted file
gives the same clean error (file, row, column, value; exit 1) in each of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import planner
from planner import planio
from planner.cli import app
from planner.cli.replay import read_placement
from planner.cluster import Cluster
from planner.diagnostics import InvalidInput
from planner.pipeline import Plan
from planner.planrows import PLAN_COLUMNS, read_plan_files
from planner.reportplan import read_plan as report_read_plan

DATA = Path(__file__).resolve().parent.parent / "data" / "examples"
BAD_STEP = "plan.csv, row 2, column 'step', value 'x1'"


@pytest.fixture(scope="module")
def small4() -> Cluster:
    return planner.load_snapshot(DATA / "small4")


@pytest.fixture(scope="module")
def made(small4: Cluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    """A plan of small4 with moves, written by write_plan."""
    p = planner.plan(small4, planner.PlanOptions(level="medium", time_limit_s=20))
    assert p.ok and len(p.result.moves) > 0
    out = tmp_path_factory.mktemp("plans") / "plan"
    planner.write_plan(p, out)
    return p, out


def _corrupt(src: Path, dst: Path) -> Path:
    """A copy of the plan whose first plan.csv row has the step ``x1``."""
    shutil.copytree(src, dst)
    lines = (dst / "plan.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = "x1" + lines[1][lines[1].index(",") :]
    (dst / "plan.csv").write_text("".join(lines), encoding="utf-8")
    return dst


def test_every_consumer_reads_the_plan_write_plan_wrote(
    small4: Cluster, made: tuple[Plan, Path]
) -> None:
    p, out = made
    assert p.sequence is not None
    written = [m.to_row(small4) for m in p.sequence.moves]

    verify_files = read_plan_files(small4, out)  # hvplan verify
    report_plan, report = report_read_plan(small4, out)  # hvplan report --plan
    replay_placement = read_placement(small4, out)  # hvplan replay --plan
    planio_files = planio.read_plan(small4, out)
    public = planner.read_plan(out)

    assert verify_files.ok and report.valid and report_plan is not None
    assert [m.to_row(small4) for m in verify_files.moves] == written
    assert report_plan.moves == verify_files.moves == planio_files.moves
    assert public.moves == written and set(public.moves[0]) == set(PLAN_COLUMNS)
    final = np.asarray(p.placement)
    for got in (verify_files.placement, report_plan.placement, replay_placement):
        assert np.array_equal(np.asarray(got), final)
    by_name = {small4.vm_names[v]: small4.host_names[h] for v, h in enumerate(final)}
    assert public.placement == by_name
    assert verify_files.summary == report_plan.summary == public.summary == p.summary


def test_a_corrupted_plan_csv_is_one_clean_error_everywhere(
    small4: Cluster, made: tuple[Plan, Path], tmp_path: Path
) -> None:
    bad = _corrupt(made[1], tmp_path / "bad")
    files = read_plan_files(small4, bad)
    assert [str(p) for p in files.report.errors] == [f"{BAD_STEP}: expected a whole number >= 0"]
    assert [v.kind for v in files.problems] == ["plan_file"]
    with pytest.raises(InvalidInput) as e:
        planner.read_plan(bad)
    assert BAD_STEP in str(e.value)

    runner = CliRunner()
    r = runner.invoke(app, ["verify", str(DATA / "small4"), str(bad)])
    assert r.exit_code == 1, r.output
    assert BAD_STEP.replace("row 2,", "row 2:") in r.output
    assert "1 violation(s)" in r.output  # the bad row only, no echo of it in later checks
    r = runner.invoke(
        app, ["report", str(DATA / "small4"), "--plan", str(bad), "--out", str(tmp_path / "r")]
    )
    assert r.exit_code == 1 and BAD_STEP in r.output
    assert not (tmp_path / "r").exists()


def test_a_bad_cell_of_a_plan_csv_row_names_its_step(
    small4: Cluster, made: tuple[Plan, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(made[1], bad)
    lines = (bad / "plan.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[1].split(",")
    cells[PLAN_COLUMNS.index("memory_mb")] = "lots"
    lines[1] = ",".join(cells)
    (bad / "plan.csv").write_text("".join(lines), encoding="utf-8")
    (v,) = read_plan_files(small4, bad).problems
    assert (v.kind, v.step, v.vms, v.unresolved) == ("plan_file", 1, (), None)
    assert "'lots'" in v.message


def test_replay_plan_with_a_corrupted_plan_csv_exits_1(tmp_path: Path) -> None:
    snap = DATA / "bitbrains8"
    c = planner.load_snapshot(snap)
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    src, dst = c.host_names[int(c.vm_host[0])], c.host_names[(int(c.vm_host[0]) + 1) % c.n_hosts]
    (plan_dir / "plan.csv").write_text(
        ",".join(PLAN_COLUMNS) + f"\nx1,1,{c.vm_names[0]},{src},{dst},Live,1024,1.0,,false\n",
        encoding="utf-8",
    )
    r = CliRunner().invoke(app, ["replay", str(snap), "--plan", str(plan_dir), "--period", "0"])
    assert r.exit_code == 1, r.output
    assert BAD_STEP in r.output and "Traceback" not in r.output
