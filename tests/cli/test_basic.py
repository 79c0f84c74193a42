"""``hvplan validate`` and ``hvplan status`` through typer's ``CliRunner``: exit codes
(0 success, 1 the data says no, 2 usage), results on stdout, diagnostics on stderr, JSON
keys of SPEC §6, and no traceback for any user error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from planner.cli import app
from tests.fixtures import SnapshotMaker, with_row
from tests.test_loadmodel import SMALL4_CPU, SMALL4_MEM

Maker = SnapshotMaker


def run(*args: str) -> Result:
    """Invoke ``hvplan ARGS``; every run must be free of tracebacks."""
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


BAD_VMS = with_row("vms.csv", 3, "B,H2,Running,Medium,lots,8192,50,None,,,false,false")


# ----------------------------------------------------------------------------- validate
def test_validate_valid(base_snapshot: Path) -> None:
    r = run("validate", str(base_snapshot))
    assert r.exit_code == 0
    assert "valid: 3 hosts, 4 VMs, 2 rules, 0 warning(s)" in r.stdout
    assert r.stderr == ""


def test_validate_warnings_go_to_stderr(small4: Path) -> None:
    r = run("validate", str(small4))
    assert r.exit_code == 0
    assert "valid: 4 hosts, 16 VMs" in r.stdout
    assert "warning: affinity_rules.csv, row 4, column 'enabled'" in r.stderr


def test_validate_invalid_names_file_row_column_value(make_snapshot: Maker) -> None:
    r = run("validate", str(make_snapshot(BAD_VMS)))
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "error: vms.csv, row 3, column 'vcpus', value 'lots': expected an integer" in r.stderr
    assert "invalid: 1 error(s)" in r.stderr


def test_validate_json(make_snapshot: Maker, base_snapshot: Path) -> None:
    ok = run("validate", str(base_snapshot), "--json")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout) == {"valid": True, "errors": [], "warnings": []}
    bad = run("validate", str(make_snapshot(BAD_VMS)), "--json")
    assert bad.exit_code == 1
    d = json.loads(bad.stdout)
    assert d["valid"] is False and d["warnings"] == []
    (e,) = d["errors"]
    assert e == {
        "file": "vms.csv",
        "row": 3,
        "column": "vcpus",
        "value": "lots",
        "message": e["message"],
        "expected": e["expected"],
    }
    assert "integer" in e["message"]
    assert e["expected"] == "an integer from 1 to 1000000"


def test_validate_missing_directory(tmp_path: Path) -> None:
    r = run("validate", str(tmp_path / "nowhere"))
    assert r.exit_code == 1
    assert "snapshot directory does not exist" in r.stderr


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary", b"", "x" * 2_100_000])
def test_validate_hostile_files_never_crash(make_snapshot: Maker, content: bytes | str) -> None:
    r = run("validate", str(make_snapshot({"hosts.csv": content})))
    assert r.exit_code == 1
    assert "error: hosts.csv" in r.stderr


def test_user_text_is_not_taken_for_markup(make_snapshot: Maker) -> None:
    r = run(
        "validate",
        str(
            make_snapshot(
                with_row("vms.csv", 4, "[bold]C[/bold],H9,Running,Low,2,4096,25,None,,,false,false")
            )
        ),
    )
    assert r.exit_code == 1
    assert "value 'H9'" in r.stderr
    r = run(
        "validate",
        str(
            make_snapshot(
                with_row("vms.csv", 4, "C,[red]H9,Running,Low,2,4096,25,None,,,false,false")
            )
        ),
    )
    assert "value '[red]H9'" in r.stderr


# ----------------------------------------------------------------------------- status
def test_status_text(small4: Path) -> None:
    r = run("status", str(small4))
    assert r.exit_code == 0
    assert "Threshold: Low: 80 %" in r.stdout
    assert "Hosts over the threshold: 1" in r.stdout
    assert "soft anti_affinity: anti-affinity class 'SQL'" in r.stdout
    assert "85.5" in r.stdout and "73.4" in r.stdout
    assert "over (CPU)" in r.stdout
    # The snapshot's warning (a disabled rule) is a diagnostic: stderr.
    assert "rule is disabled" in r.stderr and "rule is disabled" not in r.stdout


def test_status_json(small4: Path) -> None:
    r = run("status", str(small4), "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["threshold_pct"] == {"cpu": 80.0, "memory": 80.0}
    assert [h["cpu_pct"] for h in d["hosts"]] == pytest.approx(SMALL4_CPU)
    assert [h["memory_pct"] for h in d["hosts"]] == pytest.approx(SMALL4_MEM)
    for h in d["hosts"]:
        assert {"name", "state", "cpu_pct", "memory_pct", "over_threshold"} <= h.keys()
    for v in d["violations"]:
        assert {"kind", "rule", "vms", "hosts", "message"} <= v.keys()
    # --json keeps the snapshot's warnings: in the document and one line each on stderr.
    (w,) = d["warnings"]
    assert w["file"] == "affinity_rules.csv" and w["column"] == "enabled"
    assert r.stderr.startswith("warning: affinity_rules.csv, row 4, column 'enabled'")


@pytest.mark.parametrize(
    ("args", "rule", "alternative"),
    [
        (("--level", "high"), "High (average reading)", "High (absolute reading): 60 %"),
        (
            ("--level", "HIGH", "--high-mode", "absolute"),
            "High (absolute reading): 60 %",
            "High (average reading)",
        ),
        (("--level", "medium"), "Medium: 70 %", None),
        (("--level", "high", "--threshold", "50"), "--threshold 50 %", None),
    ],
)
def test_status_threshold_options(
    small4: Path, args: tuple[str, ...], rule: str, alternative: str | None
) -> None:
    r = run("status", str(small4), *args)
    assert r.exit_code == 0
    assert f"Threshold: {rule}" in r.stdout
    if alternative is None:
        assert "other reading of High" not in r.stdout
    else:
        assert f"other reading of High, not used: {alternative}" in r.stdout
    d = json.loads(run("status", str(small4), *args, "--json").stdout)
    assert d["threshold_rule"].startswith(rule)


@pytest.mark.parametrize(
    "args",
    [
        ("--threshold", "150"),
        ("--threshold", "abc"),
        ("--level", "extreme"),
        ("--high-mode", "median"),
        ("--no-such-option",),
    ],
)
def test_status_usage_errors_exit_2(small4: Path, args: tuple[str, ...]) -> None:
    r = run("status", str(small4), *args)
    assert r.exit_code == 2
    assert r.stdout == ""
    # One line: the command, what is wrong, where to look.
    (line,) = r.stderr.splitlines()
    assert line.startswith("hvplan status: error: ") and "--help" in line
    assert "Value error" not in line and "Input should" not in line


def test_missing_argument_is_a_usage_error() -> None:
    assert run("status").exit_code == 2
    assert run("validate").exit_code == 2


def test_status_of_an_invalid_snapshot(make_snapshot: Maker) -> None:
    snap = make_snapshot(BAD_VMS)
    r = run("status", str(snap))
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "vms.csv, row 3, column 'vcpus'" in r.stderr
    assert "is not a valid snapshot" in r.stderr
    j = run("status", str(snap), "--json")
    assert j.exit_code == 1
    assert json.loads(j.stdout)["valid"] is False


def test_status_lists_islands(make_snapshot: Maker) -> None:
    # C may only run on H3: it has no other host, and status says so.
    snap = make_snapshot(with_row("vms.csv", 4, "C,H3,Running,Low,2,4096,25,None,H3,,false,false"))
    r = run("status", str(snap))
    assert r.exit_code == 0
    assert "C on H3: no other Up possible owner" in r.stdout
    assert "No compatibility islands" not in r.stdout
    base = run("status", str(make_snapshot(None)))
    assert "No compatibility islands" in base.stdout
