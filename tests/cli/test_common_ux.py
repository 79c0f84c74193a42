"""The command line as an administrator meets it (issue 13 items 3, 5, 10-12; issue 15
items 4 and 6): case-insensitive choices, one-line usage errors, help without internal
types, ``--version``, completion, start-up imports, names shown whole and escaped, the
move budget and the snapshot's age said plainly."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from planner import __version__
from planner.cli import app
from planner.cli.common import age_text, snapshot_age
from planner.cli.plan import tier_words
from tests.fixtures import SnapshotMaker, base_lines

SMALL4 = str(Path(__file__).resolve().parents[2] / "data" / "examples" / "small4")
COMMANDS = [
    "validate",
    "status",
    "plan",
    "verify",
    "compare",
    "capacity",
    "generate",
    "report",
    "collector",
    "replay",
]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    r = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in r.stdout + r.stderr
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


# ----------------------------------------------------------------------------- choices
@pytest.mark.parametrize(
    "args",
    [
        ("status", SMALL4, "--level", "Medium", "--json"),
        ("status", SMALL4, "--level", "HIGH", "--high-mode", "Absolute", "--json"),
        ("plan", SMALL4, "--out", "{tmp}/p", "--level", "Medium", "--minimise", "Moves", "--json"),
        (
            "report",
            SMALL4,
            "--out",
            "{tmp}/r",
            "--level",
            "MEDIUM",
            "--high-mode",
            "Average",
            "--no-compare",
            "--no-capacity",
            "--json",
        ),
        (
            "generate",
            "--hosts",
            "2",
            "--vms",
            "4",
            "--vendors",
            "Mixed",
            "--level",
            "High",
            "--out",
            "{tmp}/g",
        ),
    ],
)
def test_choices_accept_any_case(args: tuple[str, ...], tmp_path: Path) -> None:
    r = run(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert r.exit_code == 0, r.output


def test_status_medium_is_medium() -> None:
    d = json.loads(run("status", SMALL4, "--level", "mEdIuM", "--json").stdout)
    assert d["threshold_pct"] == {"cpu": 70.0, "memory": 70.0}


# ----------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    "args",
    [
        ("plan", SMALL4, "--out", "x", "--seed", str(2**70)),
        ("plan", SMALL4, "--out", "x", "--seed", "-1"),
        ("compare", SMALL4, "--seed", str(2**31)),
        ("capacity", SMALL4, "--out", "x", "--scheduler", "not a url"),
        ("capacity", SMALL4, "--out", "x", "--scheduler", "tcp://host-without-port"),
        ("plan", SMALL4, "--out", "x", "--level", "extreme"),
        ("plan", SMALL4, "--out", "x", "--minimise", "speed"),
        ("plan", SMALL4, "--out", "x", "--load", "p50"),
        ("status", SMALL4, "--no-such-option"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: tuple[str, ...], tmp_path: Path) -> None:
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"hvplan {args[0]}: error: ") and "--help" in line
    assert not (tmp_path / "x").exists()


def test_seed_error_names_the_range() -> None:
    r = run("plan", SMALL4, "--out", "x", "--seed", str(2**70))
    assert "0..2147483647" in r.stderr and "32-bit" in r.stderr


# ----------------------------------------------------------------------------- help
@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_shows_no_internal_types_and_whole_option_names(cmd: str) -> None:
    r = run(cmd, "--help", env={"COLUMNS": "60"})
    assert r.exit_code == 0
    for internal in ("<bool>", "<list[", "<str>", "<path>", "list[str]", "…"):
        assert internal not in r.stdout, (internal, r.stdout)
    import typer.main

    command = typer.main.get_command(app).commands[cmd]  # type: ignore[attr-defined]
    for p in command.params:
        for opt in p.opts:
            if opt.startswith("--"):
                assert opt in r.stdout, opt


def test_top_level_help_lists_every_command_with_a_whole_summary() -> None:
    r = run("--help", env={"COLUMNS": "80"})
    assert r.exit_code == 0
    for cmd in COMMANDS:
        assert f"  {cmd} " in r.stdout
    assert "..." not in r.stdout.split("Commands:")[1]
    assert "--version" in r.stdout and "--install-completion" in r.stdout


def test_no_arguments_shows_the_help() -> None:
    r = run()
    assert r.exit_code == 0 and "Commands:" in r.stdout


def test_version() -> None:
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"hvplan {__version__}"


def test_shell_completion_script_and_completions() -> None:
    r = run("--show-completion", "bash")
    assert r.exit_code == 0
    assert "complete -o default -F _hvplan_completion hvplan" in r.stdout
    env = {
        "COMP_WORDS": "hvplan plan x --level ",
        "COMP_CWORD": "4",
        "_HVPLAN_COMPLETE": "complete_bash",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from planner.cli import main; main()"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert done.stdout.split() == ["low", "medium", "high"]


# ----------------------------------------------------------------------------- start-up
def test_help_and_validate_import_no_heavy_library() -> None:
    heavy = ("ortools", "dask", "distributed", "matplotlib", "numba", "scipy")
    code = (
        "import sys\n"
        "from planner.cli import app\n"
        "import typer.main\n"
        "typer.main.get_command(app)\n"
        f"print(sorted(m for m in {heavy!r} + ('numpy', 'pandas') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"  # --help: not even numpy
    code = (
        "import sys\n"
        "from planner.cli import app\n"
        "from typer.testing import CliRunner\n"
        f"r = CliRunner().invoke(app, ['validate', {SMALL4!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        f"print(sorted(m for m in {heavy!r} + ('pandas', 'pyarrow') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- names
def _renamed_host(make_snapshot: SnapshotMaker, new: str) -> Path:
    hosts = base_lines("hosts.csv")
    hosts[3] = (
        hosts[3]
        .replace("H3,", f"{new},", 1)
        .replace("Icelake-Server,", "Cascadelake-Server-noTSX,")
    )
    vms = base_lines("vms.csv")
    vms[3] = vms[3].replace(",H3,", f",{new},")
    return make_snapshot({"hosts.csv": "\n".join(hosts) + "\n", "vms.csv": "\n".join(vms) + "\n"})


def test_status_escapes_terminal_control_characters(make_snapshot: SnapshotMaker) -> None:
    snap = _renamed_host(make_snapshot, "H3\x1b[2J\x1b[31m")
    r = run("status", str(snap))
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout + r.stderr
    assert "H3\\x1b[2J\\x1b[31m" in r.stdout


def test_tables_never_cut_names(make_snapshot: SnapshotMaker) -> None:
    long = "CONTOSO-HYPERV-NODE-0003-WITH-A-VERY-LONG-NAME"
    snap = _renamed_host(make_snapshot, long)
    for columns in ("80", "50"):
        r = run("status", str(snap), env={"COLUMNS": columns})
        assert r.exit_code == 0
        assert long in r.stdout and "Cascadelake-Server-noTSX" in r.stdout
        assert "…" not in r.stdout


def test_status_says_what_the_vm_column_counts() -> None:
    r = run("status", SMALL4)
    assert "running VMs" in r.stdout and "16 VMs (14 running)" in r.stdout


# ----------------------------------------------------------------------------- plan output
def test_plan_speaks_an_administrators_language(tmp_path: Path) -> None:
    r = run("plan", SMALL4, "--out", str(tmp_path / "p"), "--level", "medium")
    assert r.exit_code == 0, r.output
    assert "Plan: " in r.stdout and "Nodes over the threshold: 1 -> 0" in r.stdout
    assert "tier " not in r.stdout and "greedy" not in r.stdout
    assert "bound" not in r.stdout
    v = run("plan", SMALL4, "--out", str(tmp_path / "q"), "--level", "medium", "--verbose")
    assert "tier migration:" in v.stdout


def test_a_move_budget_that_leaves_nodes_over_says_so_and_exits_0(tmp_path: Path) -> None:
    r = run("plan", SMALL4, "--out", str(tmp_path / "p"), "--level", "medium", "--max-moves", "0")
    assert r.exit_code == 0, r.output
    assert "the move budget of 0 leaves 1 node(s) over the threshold" in r.stdout
    j = run(
        "plan",
        SMALL4,
        "--out",
        str(tmp_path / "q"),
        "--level",
        "medium",
        "--max-moves",
        "0",
        "--json",
    )
    assert "move budget of 0" in json.loads(j.stdout)["budget_note"]


def test_tier_gaps_in_words() -> None:
    lines = tier_words(
        [
            {"name": "rules", "objective": 0, "bound": 0},
            {"name": "anti_affinity", "objective": 3, "bound": 2},
            {"name": "migration", "objective": 1063, "bound": 1000},
            {"name": "balance", "objective": 7900, "bound": 0},
        ]
    )
    assert lines == [
        "1 anti-affinity pair(s) sharing a node may be avoidable",
        "the migration cost is at most 6.3 % above the least possible",
        "the highest node load may still be lowered",
    ]


def test_snapshot_age() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert snapshot_age("2026-12-01T07:00:00Z", now) == pytest.approx(5.0)
    assert snapshot_age("2026-12-01T13:00:00+02:00", now) == pytest.approx(1.0)
    assert snapshot_age(None, now) is None and snapshot_age("yesterday", now) is None
    assert age_text(0.5) == "30 min" and age_text(5) == "5.0 h" and age_text(72) == "3.0 days"


def test_plan_warns_about_an_old_snapshot(make_snapshot: SnapshotMaker, tmp_path: Path) -> None:
    from planner.cluster import ClusterSettings

    if "collected_utc" not in {f.name for f in dataclasses.fields(ClusterSettings)}:
        pytest.skip("cluster.csv has no collected_utc in this build")
    old = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster = base_lines("cluster.csv")
    snap = make_snapshot({"cluster.csv": f"{cluster[0]},collected_utc\n{cluster[1]},{old}\n"})
    r = run("plan", str(snap), "--out", str(tmp_path / "p"))
    assert r.exit_code == 0, r.output
    assert "collected 30.0 h ago" in r.stderr and "collect a new one" in r.stderr


def test_verify_against_another_snapshot_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import planner.verify

    class Rep:
        ok = False
        violations = [
            {
                "kind": "snapshot",
                "step": None,
                "vm": None,
                "host": None,
                "message": "the plan was made from another snapshot",
            }
        ] + [
            {"kind": "capacity", "step": i, "vm": "X", "host": "H", "message": "over"}
            for i in range(500)
        ]

        def to_dict(self) -> dict[str, object]:
            return {"ok": False, "violations": self.violations}

    monkeypatch.setattr(planner.verify, "verify_plan", lambda cluster, d: Rep())
    r = run("verify", SMALL4, str(tmp_path))
    assert r.exit_code == 1
    assert r.stderr.splitlines()[-1] == "hvplan: the plan was made from another snapshot"
    assert len([ln for ln in r.stderr.splitlines() if "over" in ln]) == 0


def test_plan_options_reach_the_summary(tmp_path: Path) -> None:
    r = run(
        "plan",
        SMALL4,
        "--out",
        str(tmp_path / "p"),
        "--level",
        "medium",
        "--headroom",
        "5",
        "--minimise",
        "Moves",
        "--strict-rules",
        "--load",
        "P95",
        "--json",
    )
    assert r.exit_code in (0, 1), r.output
    assert "no load history" in r.stderr
    if r.exit_code == 0:
        params = json.loads(r.stdout)["parameters"]
        assert params.get("minimise") == "moves" and params.get("headroom_pct") == 5.0
