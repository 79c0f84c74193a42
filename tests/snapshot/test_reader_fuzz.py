"""Every column of a valid small snapshot, set to bad values one cell at a time: the reader
never raises, and a value its column cannot hold is an error on exactly that file, row,
column and value (SPEC §1: the error contract).

The snapshot has every column of every file (:data:`planner.snapshot.COLUMNS`) and both
history files; values are empty, non-numeric, negative, huge, unknown enum texts, a line
break, a NUL, a list separator, and a name used twice.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.diagnostics import Problem, Report
from planner.snapshot import COLUMNS, FILES, HISTORY_FILES, MAX_FIELD_CHARS, read_snapshot
from planner.snapshot.schema import BadValue, Col

#: One valid row set per file, every column present (header, then data rows).
BASE: dict[str, list[list[str]]] = {
    "cluster.csv": [
        [
            "name",
            "auto_balancer_mode",
            "auto_balancer_level",
            "maximum_parallel_migrations",
            "enforced_anti_affinity",
            "collected_utc",
        ],
        ["fuzz", "2", "1", "2", "false", "2026-12-01T08:00:00Z"],
    ],
    "hosts.csv": [
        [
            "name",
            "state",
            "fault_domain",
            "cpu_vendor",
            "cpu_model",
            "cpu_features",
            "logical_processors",
            "memory_mb",
            "memory_reserve_mb",
            "cpu_base_pct",
            "max_vm_migrations",
            "max_config_version",
            "max_running_vms",
        ],
        ["H1", "Up", "A", "GenuineIntel", "Icelake-Server", "", "32", "262144", "4096", "5"]
        + ["2", "12.0", "1024"],
        ["H2", "Up", "A", "GenuineIntel", "Icelake-Server", "", "32", "262144", "4096", "5"]
        + ["2", "12.0", "1024"],
        ["H3", "Up", "B", "GenuineIntel", "Icelake-Server", "", "32", "262144", "4096", "5"]
        + ["2", "12.0", "1024"],
    ],
    "vms.csv": [
        [
            "name",
            "host",
            "state",
            "priority",
            "vcpus",
            "memory_mb",
            "dynamic_memory",
            "memory_startup_mb",
            "memory_minimum_mb",
            "memory_maximum_mb",
            "cpu_usage_pct",
            "config_version",
            "compat_mode",
            "possible_owners",
            "preferred_owners",
            "anti_affinity_class_names",
            "allow_downtime",
            "pinned",
        ],
        ["V1", "H1", "Running", "High", "4", "8192", "true", "4096", "2048", "16384", "20"]
        + ["10.0", "None", "", "H1", "web", "false", "false"],
        ["V2", "H2", "Running", "Medium", "2", "4096", "false", "4096", "4096", "4096", "10"]
        + ["10.0", "None", "H1;H2", "", "web", "true", "false"],
        ["V3", "H3", "Off", "Low", "2", "4096", "false", "4096", "4096", "4096", "0"]
        + ["9.0", "MinimumFeatureSet", "", "", "", "false", "false"],
    ],
    "affinity_rules.csv": [
        ["name", "rule_type", "enabled", "groups"],
        ["together", "SameNode", "false", "V1;V3"],
        ["apart", "DifferentNode", "true", "V1;V2"],
    ],
    "networks.csv": [
        ["name", "role", "live_migration_order", "bandwidth_gbps"],
        ["LM1", "Cluster", "1", "25"],
        ["LM2", "ClusterAndClient", "2", "10"],
    ],
}
HISTORY: dict[str, list[list[str]]] = {
    "vm_history.csv": [
        ["timestamp", "vm", "cpu_usage_pct", "memory_mb"],
        ["2026-12-01T08:00:00Z", "V1", "20", "8192"],
        ["2026-12-01T08:00:00Z", "V2", "10", ""],
        ["2026-12-01T08:05:00Z", "V1", "25", "8192"],
        ["2026-12-01T08:05:00Z", "V2", "15", "4096"],
    ],
    "host_history.csv": [
        ["timestamp", "host", "cpu_base_pct"],
        ["2026-12-01T08:00:00Z", "H1", "5"],
        ["2026-12-01T08:05:00Z", "H1", "6"],
    ],
}

#: Bad (or odd) values every cell is set to, one at a time.
VALUES = [
    "",
    "abc",
    "-1",
    "-0.5",
    "1e308",
    "99999999999999999999999",
    "nan",
    "inf",
    "Bogus",
    "1,5",
    "12%",
    "a;b",
    "a\nb",
    "a\x00b",
    "\uff11\uff12",  # full-width digits
    "1_000",
    "0x10",
    "-0",
    "=1+1",
    '"',
    "x" * (MAX_FIELD_CHARS + 1),
]
#: Columns whose values other rows list (a ``;`` in them is an error, SPEC §1 names).
LISTED_NAMES = {("hosts.csv", "name"), ("vms.csv", "name")}


def _text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    # Every field quoted (as PowerShell writes them): the csv module leaves a lone "\r"
    # unquoted when the line terminator is "\n".
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(rows)
    return buf.getvalue()


def _write(d: Path, files: dict[str, list[list[str]]]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        (d / name).write_text(_text(rows), encoding="utf-8", newline="")
    return d


def _read(d: Path) -> Report:
    """Read the snapshot: it must not raise, and every problem must be well formed."""
    cluster, report = read_snapshot(d)
    assert (cluster is None) == (not report.valid)
    for p in report.problems:
        assert isinstance(p, Problem) and p.message, p
        assert p.file in FILES + HISTORY_FILES or p.file.endswith(".csv") or " and " in p.file, p
        if p.row is not None:
            assert 1 <= p.row <= 10, p
        str(p)  # printable
    return report


def _col(file: str, column: str) -> Col:
    return next(c for c in COLUMNS[file] if c.name == column)


def _cell_is_bad(file: str, column: str, value: str) -> bool:
    """Whether the value cannot stand in the cell, whatever the other cells hold."""
    if set(value) & {"\n", "\r", "\x00"} or len(value) > MAX_FIELD_CHARS:
        return True
    if (file, column) in LISTED_NAMES and ";" in value:
        return True
    c = _col(file, column)
    if value == "":
        return c.required
    try:
        c.parse(value)
    except BadValue:
        return True
    return False


def _errors_at(report: Report, file: str, row: int, column: str) -> list[Problem]:
    return [
        p
        for p in report.errors
        if p.file == file and p.row == row and (p.column or "").casefold() == column
    ]


CELLS = [
    pytest.param(file, j, id=f"{file}:{rows[0][j]}")
    for file, rows in BASE.items()
    for j in range(len(rows[0]))
]


def test_the_base_snapshot_is_valid(tmp_path: Path) -> None:
    report = _read(_write(tmp_path / "base", {**BASE, **HISTORY}))
    assert report.valid, report.errors


@pytest.mark.parametrize(("file", "j"), CELLS)
def test_a_bad_cell_is_an_error_on_its_file_row_column_and_value(
    tmp_path: Path, file: str, j: int
) -> None:
    column = BASE[file][0][j]
    for k, value in enumerate(VALUES):
        rows = [list(r) for r in BASE[file]]
        rows[1][j] = value
        report = _read(_write(tmp_path / f"v{k}", {**BASE, file: rows}))
        if _cell_is_bad(file, column, value):
            at = _errors_at(report, file, 2, column)
            assert at, (value, report.problems)
            assert any(p.value == value for p in at), (value, at)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cell=st.sampled_from([(f, j) for f, rows in BASE.items() for j in range(len(rows[0]))]),
    row=st.integers(1, 2),
    value=st.text(
        st.sampled_from("0123456789.-+eE,;% \t\n\r\"'aZ\x00\x85\u00e9\uff11"), max_size=8
    ).filter(lambda v: v.count("\x00") <= 1),
)
def test_any_text_in_any_cell_is_read_or_reported_on_its_cell(
    tmp_path_factory: pytest.TempPathFactory, cell: tuple[str, int], row: int, value: str
) -> None:
    file, j = cell
    rows = [list(r) for r in BASE[file]]
    if row >= len(rows):
        row = 1
    rows[row][j] = value
    report = _read(_write(tmp_path_factory.mktemp("any"), {**BASE, file: rows}))
    seen = value.strip()  # the reader trims every cell
    if _cell_is_bad(file, BASE[file][0][j], seen):
        at = _errors_at(report, file, row + 1, BASE[file][0][j])
        assert any(p.value == seen for p in at), (value, report.problems)


@pytest.mark.parametrize("file", ["hosts.csv", "vms.csv", "affinity_rules.csv", "networks.csv"])
def test_a_name_used_twice_is_an_error_on_the_second_row(tmp_path: Path, file: str) -> None:
    rows = [list(r) for r in BASE[file]]
    rows[2][0] = rows[1][0].lower()  # names ignore case
    report = _read(_write(tmp_path / "dup", {**BASE, file: rows}))
    (p,) = [p for p in _errors_at(report, file, 3, "name") if "duplicate" in p.message]
    assert p.value == rows[2][0] and "first on row 2" in p.message


HISTORY_CELLS = [
    pytest.param(file, j, id=f"{file}:{rows[0][j]}")
    for file, rows in HISTORY.items()
    for j in range(len(rows[0]))
]


@pytest.mark.parametrize(("file", "j"), HISTORY_CELLS)
def test_a_bad_history_cell_is_reported_on_its_row_and_column(
    tmp_path: Path, file: str, j: int
) -> None:
    column = HISTORY[file][0][j]
    for k, value in enumerate(VALUES):
        rows = [list(r) for r in HISTORY[file]]
        rows[1][j] = value
        report = _read(_write(tmp_path / f"v{k}", {**BASE, **HISTORY, file: rows}))
        at = [
            p
            for p in report.problems
            if p.file == file and p.row == 2 and p.column == column and p.value == value
        ]
        if value in ("", "abc", "Bogus", "a\nb", "a\x00b") and column != "memory_mb":
            # No timestamp, entity or percentage: an error (an unknown name: a warning).
            assert at, (value, report.problems)
        if column != "vm" and column != "host" and value in ("-1", "abc", "nan", "inf"):
            assert at and at[0].severity == "error", (value, report.problems)


def test_a_history_row_repeated_is_an_error_on_the_second(tmp_path: Path) -> None:
    rows = [list(r) for r in HISTORY["vm_history.csv"]]
    rows.append(list(rows[1]))
    report = _read(_write(tmp_path / "dup", {**BASE, **HISTORY, "vm_history.csv": rows}))
    (p,) = [p for p in report.errors if "second row" in p.message]
    assert (p.file, p.row, p.column) == ("vm_history.csv", len(rows), "vm")
