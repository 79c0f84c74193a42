"""Every command that writes publishes whole and asks for ``--force`` (issue 13 item 2,
issue 15 items 2 and 7), and the same mistake gives the same exit code everywhere
(issue 13 item 11)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from planner.cli import app
from planner.publish import leftovers

SMALL4 = str(Path(__file__).resolve().parents[2] / "data" / "examples" / "small4")


def run(*args: str) -> Result:
    r = CliRunner().invoke(app, list(args))
    assert "Traceback" not in r.stdout + r.stderr
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


#: One quick invocation per writing command, ``{out}`` standing for the output.
WRITERS = {
    "plan": ["plan", SMALL4, "--out", "{out}", "--level", "medium"],
    "report": ["report", SMALL4, "--out", "{out}", "--no-compare", "--no-capacity"],
    "compare": ["compare", SMALL4, "--out", "{out}", "--time-limit", "5"],
    "generate": ["generate", "--hosts", "3", "--vms", "12", "--out", "{out}"],
    "capacity": [
        "capacity",
        SMALL4,
        "--out",
        "{out}",
        "--threads",
        "--workers",
        "1",
        "--no-growth-limit",
    ],
}


def _args(cmd: str, out: Path) -> list[str]:
    return [a.replace("{out}", str(out)) for a in WRITERS[cmd]]


@pytest.mark.parametrize("cmd", sorted(WRITERS))
def test_an_earlier_output_needs_force_and_is_replaced_whole(cmd: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("approved")
    r = run(*_args(cmd, out))
    assert r.exit_code == 1, r.output
    assert "--force" in r.stderr and "already exists" in r.stderr
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]
    r = run(*_args(cmd, out), "--force")
    assert r.exit_code == 0, r.output
    names = {p.name for p in out.iterdir()}
    assert "earlier.txt" not in names and names  # replaced as a whole
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("cmd", sorted(WRITERS))
def test_out_naming_a_file_is_a_usage_error_everywhere(cmd: str, tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("keep")
    r = run(*_args(cmd, f), "--force")
    assert r.exit_code == 2, r.output
    assert "not a directory" in r.stderr
    assert f.read_text() == "keep"


@pytest.mark.parametrize("cmd", ["plan", "report", "generate"])
def test_a_full_disk_leaves_nothing_and_exits_1(
    cmd: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_text = Path.write_text

    def full(self: Path, *a: object, **k: object) -> int:
        if ".hvplan-" in str(self):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", full)
    out = tmp_path / "out"
    r = run(*_args(cmd, out))
    assert r.exit_code == 1, r.output
    assert "No space left on device" in r.stderr
    assert not out.exists() and leftovers(tmp_path) == []


def test_collector_publishes_whole_and_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "Export-ClusterState.ps1"
    assert run("collector", "--out", str(target)).exit_code == 0
    first = target.read_bytes()
    r = run("collector", "--out", str(target))
    assert r.exit_code == 1 and "--force" in r.stderr
    assert run("collector", "--out", str(target), "--force").exit_code == 0
    assert target.read_bytes() == first
    assert run("collector", "--out", str(tmp_path)).exit_code == 2
    assert leftovers(tmp_path) == []


def test_export_model_is_published_and_needs_force(tmp_path: Path) -> None:
    model = tmp_path / "model.txt"
    args = ["plan", SMALL4, "--level", "medium", "--export-model", str(model)]
    assert run(*args, "--out", str(tmp_path / "a")).exit_code == 0
    assert "variables" in model.read_text()
    r = run(*args, "--out", str(tmp_path / "b"))
    assert r.exit_code == 1 and "--force" in r.stderr
    assert not (tmp_path / "b").exists()  # refused before anything was written
    assert leftovers(tmp_path) == []


def test_plan_json_keeps_the_snapshot_warnings(tmp_path: Path) -> None:
    r = run("plan", SMALL4, "--out", str(tmp_path / "p"), "--level", "medium", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [w["column"] for w in doc["warnings"]] == ["enabled"]
    # Outside validate/status a disabled rule is counted in one line, not listed.
    assert "1 disabled rule(s) are not enforced" in r.stderr
    assert "affinity_rules.csv, row 4" not in r.stderr
