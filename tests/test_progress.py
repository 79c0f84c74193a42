"""Progress on stderr for long work (issue 13 item 9): stage, elapsed, time left, best so
far; only on a terminal or with ``--progress``, never under ``--json`` unless asked, never
for work under a second; the capacity count is of scenarios."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from typer.testing import CliRunner

from planner.cli import app
from planner.progress import NULL_PROGRESS, StderrProgress, reporter

SMALL4 = str(Path(__file__).resolve().parents[1] / "data" / "examples" / "small4")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_names_stage_elapsed_time_left_and_best() -> None:
    p = StderrProgress(io.StringIO(), unit="scenarios", delay=0.0)
    p.stage("solving: load above the threshold", time_left=90, best="3 nodes over")
    p.advance(5, 20)
    line = p.line()
    assert line.startswith("solving: load above the threshold | 5/20 scenarios | ")
    assert "elapsed" in line and ("about 1:30 left" in line or "about 1:29 left" in line)
    assert line.endswith("best so far: 3 nodes over")
    p.stage("ordering the moves")  # a new stage forgets the best of the last one
    assert "best so far" not in p.line()


def test_a_terminal_line_is_drawn_after_the_delay_and_erased() -> None:
    tty = _Tty()
    with StderrProgress(tty, delay=0.05, tty=True) as p:
        p.stage("optimising")
        time.sleep(0.5)
    text = tty.getvalue()
    assert "\roptimising | " in text
    assert text.endswith("\r")  # erased: the terminal is left clean
    quick = _Tty()
    with StderrProgress(quick, delay=1.0, tty=True) as p:
        p.stage("optimising")
    assert quick.getvalue() == ""  # under a second: nothing at all


def test_a_log_gets_one_line_per_stage() -> None:
    log = io.StringIO()
    with StderrProgress(log, delay=0.0, tty=False) as p:
        p.stage("one")
        time.sleep(0.4)
        p.stage("two")
        time.sleep(0.4)
    lines = log.getvalue().splitlines()
    assert [ln.split(" | ")[0] for ln in lines] == ["one", "two"]


def test_who_gets_progress() -> None:
    assert reporter(stream=io.StringIO()) is None  # a pipe
    assert reporter(stream=_Tty()) is not None  # a terminal
    assert reporter(json_mode=True, stream=_Tty()) is None  # --json
    assert reporter(json_mode=True, force=True, stream=io.StringIO()) is not None  # --progress
    assert reporter(force=False, stream=_Tty()) is None  # --no-progress
    NULL_PROGRESS.stage("x", time_left=1, best="y")
    NULL_PROGRESS.advance(1, 2)


def test_json_stays_clean_and_progress_can_be_asked_for(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["plan", SMALL4, "--out", str(tmp_path / "a"), "--level", "medium", "--json"]
    )
    assert r.exit_code == 0
    json.loads(r.stdout)
    assert " elapsed" not in r.stderr
    r = CliRunner().invoke(app, ["compare", SMALL4, "--time-limit", "5", "--json", "--progress"])
    assert r.exit_code == 0
    json.loads(r.stdout)  # stdout stays one JSON document


def test_capacity_counts_scenarios(tmp_path: Path, monkeypatch: object) -> None:
    from planner.capacity.batch import BatchOptions, dask_client, run_batch

    seen: list[tuple[int, int]] = []
    with dask_client(None, 1, processes=False) as client:
        res = run_batch(
            [SMALL4],
            BatchOptions(growth=(1.0, 1.2), growth_limit=False),
            client,
            lambda d, t: seen.append((d, t)),
        )
    scenarios = res.summary()["scenarios"]
    assert seen[0] == (0, scenarios)  # the total is known before the first result
    assert seen[-1] == (scenarios, scenarios)
    assert all(t == scenarios for _, t in seen)
