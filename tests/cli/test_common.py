"""One ``--out`` handling for capacity, report and replay (planner.cli.common.OutDir):
refused before any work, with the message publishing would give."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.cli.common import OutDir
from tests.conftest import SMALL4

runner = CliRunner()

COMMANDS = {
    "capacity": ["capacity", str(SMALL4), "--threads", "--workers", "1"],
    "report": ["report", str(SMALL4), "--no-compare", "--no-capacity"],
    # small4 has no load history: the replay would refuse it, but --out is judged first.
    "replay": ["replay", str(SMALL4)],
}


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_an_earlier_output_is_refused_before_any_work(cmd: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("keep")
    r = runner.invoke(app, [*COMMANDS[cmd], "--out", str(out)])
    assert r.exit_code == 1, r.output
    assert "already exists" in r.stderr and "--force" in r.stderr
    assert "no load history" not in r.stderr and "Dask" not in r.stderr
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]


def test_out_dir_check_and_publish(tmp_path: Path) -> None:
    d = OutDir.check(tmp_path / "new", False, "the results")
    with d.publish() as tmp:
        (tmp / "a.txt").write_text("x")
    assert (tmp_path / "new" / "a.txt").read_text() == "x"
    with pytest.raises(ValueError):
        OutDir.check(None, False, "nothing").publish()


def test_capacity_says_when_load_is_not_used(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [*COMMANDS["capacity"], "--out", str(tmp_path / "o"), "--no-growth-limit", "--load", "p99"],
    )
    assert r.exit_code == 0, r.output
    assert "note: no snapshot has a load history: --load p99 is not used" in r.stderr
    # small4's warnings are shown, as every command that reads a snapshot shows them.
    assert "disabled rule(s) are not enforced" in r.stderr
