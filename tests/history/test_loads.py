"""Load history: reading, validation (file/row/column/value), statistics, the evaluator."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.diagnostics import Report
from planner.history import LoadStatistic, nearest_rank, parse_statistic
from planner.history.loads import (
    Timeline,
    node_quantiles,
    over_capacity,
    sample_loads,
)
from planner.history.synthetic import synthetic_history, write_history
from planner.snapshot import load_snapshot, read_snapshot

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "examples" / "small4"


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    d = tmp_path / "snap"
    shutil.copytree(EXAMPLE, d)
    return d


def _write(d: Path, name: str, text: str) -> None:
    (d / name).write_text(text, encoding="utf-8")


def _problems(report: Report, severity: str = "error") -> list[str]:
    return [str(p) for p in report.problems if p.severity == severity]


def test_nearest_rank() -> None:
    # 20 values: p95 is the 19th smallest (ceil(0.95 * 20) = 19), index 18; max index 19.
    assert nearest_rank(20, 0.95) == 18
    assert nearest_rank(20, 1.0) == 19
    assert nearest_rank(1, 0.95) == 0
    # 2016 samples: ceil(1915.2) = 1916th smallest.
    assert nearest_rank(2016, 0.95) == 1915
    assert parse_statistic("P95") is LoadStatistic.P95
    with pytest.raises(ValueError):
        parse_statistic("p50")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip(snap: Path, fmt: str) -> None:
    c = load_snapshot(snap)
    assert c.history is None
    h = synthetic_history(c, 288, seed=3)
    write_history(h, c, snap, fmt)  # type: ignore[arg-type]
    c2, report = read_snapshot(snap)
    assert c2 is not None, report.problems
    assert not [p for p in report.problems if "history" in p.file]
    h2 = c2.history
    assert h2 is not None
    assert h2.n_samples == 288 and h2.step_seconds == 300
    np.testing.assert_array_equal(h2.vm_cpu_milli, h.vm_cpu_milli)
    np.testing.assert_array_equal(h2.vm_mem_mb, h.vm_mem_mb)
    assert h2.window()["samples"] == 288


def test_iso_timestamps_memory_default_and_vms_without_history(snap: Path) -> None:
    # SQL01 has 8 vCPUs: 50 % = 4 LP = 4000 milli-LP; an empty memory cell is vms.csv's.
    _write(
        snap,
        "vm_history.csv",
        "Timestamp,VM,cpu_usage_pct,memory_mb\n"
        "2026-12-01T09:00:00Z,sql01,50,\n"
        "2026-12-01T10:05:00+01:00,SQL01,25,60000\n",
    )
    c, report = read_snapshot(snap)
    assert c is not None, report.problems
    h = c.history
    assert h is not None and h.n_samples == 2 and h.step_seconds == 300
    v = c.vm_index["sql01"]
    assert h.vm_cpu_milli[:, v].tolist() == [4000, 2000]
    assert h.vm_mem_mb[:, v].tolist() == [65536, 60000]
    other = c.vm_index["app01"]
    assert not h.vm_has_history[other]
    assert (h.vm_cpu_milli[:, other] == c.vm_cpu_load_milli[other]).all()


def test_errors_carry_file_row_column_value(snap: Path) -> None:
    _write(
        snap,
        "vm_history.csv",
        "timestamp,vm,cpu_usage_pct,memory_mb\n"
        "1796112000,SQL01,50,65536\n"  # row 2 fine
        "2026-12-01T09:05:00,SQL01,50,\n"  # row 3: no UTC offset
        "1796112300,SQL02,150,\n"  # row 4: CPU out of range
        "1796112300,SQL01,10,-5\n"  # row 5: bad memory
        "1796112310,APP01,10,\n"  # row 6: off the 300 s grid
        "1796112000,SQL01,20,\n",
    )  # row 7: duplicate of row 2
    c, report = read_snapshot(snap)
    assert c is None
    errs = {(p.row, p.column): p for p in report.errors}
    assert errs[(3, "timestamp")].value == "2026-12-01T09:05:00"
    assert errs[(4, "cpu_usage_pct")].value == "150"
    assert errs[(5, "memory_mb")].value == "-5"
    assert "off the common sample grid" in errs[(6, "timestamp")].message
    assert all(p.file == "vm_history.csv" for p in report.errors)


def test_duplicates_reported(snap: Path) -> None:
    _write(
        snap,
        "vm_history.csv",
        "timestamp,vm,cpu_usage_pct\n1796112000,SQL01,50\n1796112300,SQL01,50\n"
        "1796112000,sql01,20\n",
    )
    c, report = read_snapshot(snap)
    assert c is None
    (dup,) = report.errors
    assert dup.row == 4 and "second row" in dup.message and dup.column == "vm"


def test_unknown_vm_and_gap_are_warnings(snap: Path) -> None:
    # SQL01 has no row at 09:05: it keeps its 09:00 value (a warning); GHOST is ignored.
    _write(
        snap,
        "vm_history.csv",
        "timestamp,vm,cpu_usage_pct\n"
        "2026-12-01T09:00:00Z,SQL01,50\n2026-12-01T09:00:00Z,SQL02,10\n"
        "2026-12-01T09:05:00Z,SQL02,20\n2026-12-01T09:10:00Z,SQL01,75\n"
        "2026-12-01T09:10:00Z,SQL02,30\n2026-12-01T09:10:00Z,GHOST,30\n",
    )
    c, report = read_snapshot(snap)
    assert c is not None and c.history is not None, report.problems
    warns = _problems(report, "warning")
    assert any("GHOST" in w and "row 7" in w for w in warns)
    assert any("SQL01" in w and "nearest earlier" in w for w in warns)
    v = c.vm_index["sql01"]
    assert c.history.vm_cpu_milli[:, v].tolist() == [4000, 4000, 6000]


def test_missing_column_and_host_history(snap: Path) -> None:
    _write(snap, "host_history.csv", "timestamp,host\n1796112000,HV01\n")
    c, report = read_snapshot(snap)
    assert c is None
    assert report.errors[0].column == "cpu_base_pct"
    # HV01 has 32 LP: 10 % = 3.2 LP = 3200 milli-LP.
    _write(
        snap,
        "host_history.csv",
        "timestamp,host,cpu_base_pct\n1796112000,HV01,10\n1796112300,HV01,5\n",
    )
    c, report = read_snapshot(snap)
    assert c is not None and c.history is not None
    assert c.history.host_cpu_base_milli[:, 0].tolist() == [3200, 1600]
    assert c.history.host_cpu_base_milli[:, 1].tolist() == [int(c.host_cpu_base_milli[1])] * 2


def test_parquet_typed_timestamps(snap: Path) -> None:
    ts = pa.array([1796112000, 1796112300], type=pa.int64()).cast(pa.timestamp("s", "UTC"))
    pq.write_table(
        pa.table(
            {
                "timestamp": ts,
                "vm": ["SQL01", "SQL01"],
                "cpu_usage_pct": pa.array([10.0, 20.0], pa.float32()),
            }
        ),
        snap / "vm_history.parquet",
    )
    c, report = read_snapshot(snap)
    assert c is not None and c.history is not None, report.problems
    assert c.history.timestamps.tolist() == [1796112000, 1796112300]
    assert c.history.window()["start"] == "2026-12-01T08:00:00Z"


def test_many_bad_rows_are_capped(snap: Path) -> None:
    rows = "".join(f"{1796112000 + 300 * i},SQL01,bad\n" for i in range(50))
    _write(snap, "vm_history.csv", "timestamp,vm,cpu_usage_pct\n" + rows)
    c, report = read_snapshot(snap)
    assert c is None
    assert len(report.errors) == 11
    assert "40 more row(s)" in report.errors[-1].message


def test_statistics_per_vm(snap: Path) -> None:
    c = load_snapshot(snap)
    h = synthetic_history(c, 100, seed=1)
    cpu, _ = h.vm_loads("p95")
    # Nearest rank 95 of 100: the 95th smallest.
    np.testing.assert_array_equal(cpu, np.sort(h.vm_cpu_milli, axis=0)[94])
    cpu, _ = h.vm_loads("max")
    np.testing.assert_array_equal(cpu, h.vm_cpu_milli.max(axis=0))
    cpu, _ = h.vm_loads("latest")
    np.testing.assert_array_equal(cpu, h.vm_cpu_milli[-1])


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_sample_loads_match_bincount(snap: Path, engine: str) -> None:
    c = load_snapshot(snap)
    h = synthetic_history(c, 40, seed=2)
    rng = np.random.default_rng(0)
    moves = [
        (int(rng.integers(0, 40)), int(rng.integers(0, c.n_vms)), int(rng.integers(0, c.n_hosts)))
        for _ in range(15)
    ]
    tls = [Timeline.constant(c.vm_host), Timeline.from_moves(c.vm_host, moves)]
    loads = sample_loads(c, h, tls, engine=engine)  # type: ignore[arg-type]
    for s, tl in enumerate(tls):
        for t in range(40):
            p = tl.at(t)
            cpu = np.bincount(p, weights=h.vm_cpu_milli[t], minlength=c.n_hosts)
            mem = np.bincount(p, weights=h.vm_mem_mb[t], minlength=c.n_hosts)
            np.testing.assert_array_equal(loads.cpu_milli[s, t], cpu + h.host_cpu_base_milli[t])
            np.testing.assert_array_equal(
                loads.memory_used_mb[s, t], mem + c.host_memory_reserve_mb
            )
    q_cpu, _ = node_quantiles(loads, 1.0)
    np.testing.assert_array_equal(q_cpu, loads.cpu_milli.max(axis=1))
    assert over_capacity(c, loads).shape == (2, 40, c.n_hosts)
