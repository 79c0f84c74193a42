"""One plan-row type and one reader/writer for plan.csv and placement.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from planner.cluster import MoveKind
from planner.planrows import (
    PLAN_COLUMNS,
    PlanMove,
    placement_csv_text,
    plan_csv_text,
    read_placement_csv,
    read_plan_csv,
)
from tests.strategies import HostSpec, VmSpec, make_cluster

HOSTILE = ['=HYPERLINK("http://x")', "+SUM(A1)", "-1", "@cmd", "'quoted", "\ttab", "plain"]


def hostile_cluster():  # type: ignore[no-untyped-def]
    hosts = [HostSpec("H1"), HostSpec("-H2")]
    return make_cluster(hosts, [VmSpec(n, "H1") for n in HOSTILE])


def test_names_round_trip_exactly_and_are_never_formulas(tmp_path: Path) -> None:
    c = hostile_cluster()
    moves = [
        PlanMove(i + 1, 1, i, 0, 1, MoveKind.LIVE, 4096, 12.5, "=why", False)
        for i in range(len(HOSTILE))
    ]
    (tmp_path / "plan.csv").write_text(plan_csv_text(c, moves), encoding="utf-8")
    p = np.ones(c.n_vms, dtype=np.int64)
    (tmp_path / "placement.csv").write_text(placement_csv_text(c, p), encoding="utf-8")
    with (tmp_path / "plan.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(PLAN_COLUMNS)
    for r in rows:
        for col in ("vm", "source", "target", "reason"):
            assert r[col][0] not in "=+-@\t\r", (col, r[col])
    back, problems = read_plan_csv(c, tmp_path / "plan.csv")
    assert problems == [] and back == moves
    placement, problems = read_placement_csv(c, tmp_path / "placement.csv")
    assert problems == [] and placement is not None and np.array_equal(placement, p)


def test_each_bad_row_is_one_problem_naming_row_and_columns(tmp_path: Path) -> None:
    c = hostile_cluster()
    (tmp_path / "plan.csv").write_text(
        ",".join(PLAN_COLUMNS) + "\n"
        "1,1,plain,H1,'-H2,Live,4096,1.0,,false\n"
        "x,1,NOPE,H1,H9,Teleport,4096,nan,,maybe\n",
        encoding="utf-8",
    )
    moves, problems = read_plan_csv(c, tmp_path / "plan.csv")
    assert len(moves) == 1 and len(problems) == 1
    msg = problems[0].message
    for part in ("row 3", "step", "vm", "target", "migration_type", "est_seconds", "temporary"):
        assert part in msg, part


def test_placement_listing_a_vm_twice_or_not_at_all(tmp_path: Path) -> None:
    c = hostile_cluster()
    (tmp_path / "placement.csv").write_text("vm,host\nplain,H1\nplain,H1\n", encoding="utf-8")
    placement, problems = read_placement_csv(c, tmp_path / "placement.csv")
    assert placement is None
    assert [p.kind for p in problems] == ["plan_file", "plan_file"]
    assert "twice" in problems[0].message and "does not list" in problems[1].message


def test_parse_plan_row_gives_to_row_and_names_each_bad_cell(tmp_path: Path) -> None:
    from planner.diagnostics import Report
    from planner.planrows import parse_plan_row

    c = hostile_cluster()
    move = PlanMove(3, 2, 0, 0, 1, MoveKind.SHUTDOWN, 4096, 7.5, "=why", True)
    (tmp_path / "plan.csv").write_text(plan_csv_text(c, [move]), encoding="utf-8")
    with (tmp_path / "plan.csv").open(newline="", encoding="utf-8") as f:
        raw = next(csv.DictReader(f))
    report = Report()
    row, ok = parse_plan_row("plan.csv", 2, raw, report)
    assert ok and report.valid and row == move.to_row(c)

    bad = dict(raw, wave="-1", migration_type="Teleport", memory_mb="1.5", temporary="maybe")
    row, ok = parse_plan_row("plan.csv", 2, bad, report)
    assert not ok and row["vm"] == c.vm_names[0]
    assert {(p.row, p.column, p.value) for p in report.errors} == {
        (2, "wave", "-1"),
        (2, "migration_type", "Teleport"),
        (2, "memory_mb", "1.5"),
        (2, "temporary", "maybe"),
    }
