"""Tests of ``hvplan compare``: the library result and the command through CliRunner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.compare import HVPLAN, CompareOptions, compare, summary_lines
from planner.evaluate import evaluate
from planner.loadmodel import Level
from planner.native import NodeFairnessOptions, VmChoice, default_variants
from planner.snapshot import load_snapshot
from tests.strategies import HostSpec, VmSpec, make_cluster

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "examples"
SMALL4 = EXAMPLES / "small4"
SPEC_KEYS = {
    "name",
    "moves",
    "memory_moved_mb",
    "downtime_moves",
    "hosts_over_threshold_after",
    "max_cpu_pct_after",
    "max_memory_pct_after",
    "rule_violations_after",
}

runner = CliRunner()


def run_json(*args: str) -> dict:
    res = runner.invoke(app, ["compare", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_json_has_the_spec_keys_and_one_row_per_strategy() -> None:
    d = run_json(str(SMALL4))
    names = [s["name"] for s in d["strategies"]]
    expected = [HVPLAN] + [v.name() for v in default_variants()]
    assert names == expected
    for s in d["strategies"]:
        assert set(s) >= SPEC_KEYS
        assert s["downtime_moves"] >= 0 and s["passes"] >= 0
        assert "converge_seconds" in s and "estimated_migration_seconds" in s
    assert d["threshold_pct"] == {"cpu": 80.0, "memory": 80.0}  # small4: level 1, Low


def test_rows_agree_with_the_evaluator_and_the_moves() -> None:
    c = load_snapshot(SMALL4)
    res = compare(c, CompareOptions(time_limit_s=10))
    for row, placement in zip(res.rows, res.placements, strict=True):
        moved = placement != c.vm_host
        assert row.moves == int(moved.sum())
        assert row.memory_moved_mb == int(c.vm_memory_mb[moved].sum())
        e = evaluate(c, placement, thresholds=[res.threshold])
        assert row.metrics["hosts_over_threshold_after"] == int(e.hosts_over[0, 0])
        assert row.metrics["max_cpu_pct_after"] == pytest.approx(float(e.max_cpu_pct[0]), abs=0.01)
    sims = {s.name: s for s in res.simulations}
    for row in res.rows[1:]:
        assert row.passes == sims[row.name].passes_with_moves
        assert row.passes_run == len(sims[row.name].passes)


@pytest.mark.parametrize("example", ["small4", "mixed-intel", "mixed-vendor"])
def test_hvplan_reaches_the_threshold_with_no_more_memory_on_the_same_terms(example: str) -> None:
    c = load_snapshot(EXAMPLES / example)
    res = compare(c, CompareOptions(time_limit_s=20))
    hv = res.row(HVPLAN)
    assert hv is not None and hv.status == "OPTIMAL"
    assert hv.metrics["hosts_over_threshold_after"] == 0
    assert hv.metrics["hard_violations_after"] == 0
    adv = res.advantages()
    assert len(adv) == len(res.rows) - 1
    for a in adv:
        if a["same_terms"]:
            # hvplan minimises memory moved once the threshold and anti-affinity are met.
            assert a["memory_saved_mb"] >= 0, a
    lines = summary_lines(res)
    assert len(lines) == len(adv)
    assert all(line.startswith("vs ") for line in lines)


def test_mixed_vendor_natives_cannot_cross_vendors() -> None:
    # Both AMD nodes are hot and only the Intel side has room: no balancer can live-migrate
    # across vendors, so every native row leaves both nodes over; hvplan uses downtime moves.
    c = load_snapshot(EXAMPLES / "mixed-vendor")
    res = compare(c, CompareOptions(time_limit_s=20))
    for r in res.rows[1:]:
        assert r.metrics["hosts_over_threshold_after"] == 2
        assert r.downtime_moves == 0
    hv = res.row(HVPLAN)
    assert hv is not None and hv.downtime_moves > 0
    assert any("leaves 2 host(s) over the threshold" in line for line in summary_lines(res))


def test_text_output_says_how_hvplan_compares() -> None:
    res = runner.invoke(app, ["compare", str(SMALL4)])
    assert res.exit_code == 0, res.output
    assert "hvplan" in res.stdout and "node-fairness/lowest-cost" in res.stdout
    assert "vs node-fairness/largest-memory: hvplan moves the same memory" in res.stdout
    # lowest-cost moves less but leaves the SQL anti-affinity pair together.
    assert "leaves 1 anti-affinity pair(s) on one node" in res.stdout


def test_out_writes_csv_json_moves_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    res = runner.invoke(app, ["compare", str(SMALL4), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with (out / "compare.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows][0] == HVPLAN
    assert len(rows) == 1 + len(default_variants())
    d = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in d["strategies"]] == [r["name"] for r in rows]
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / "native_moves.csv").open(encoding="utf-8") as f:
        moves = list(csv.DictReader(f))
    by_name = {s["name"]: s["moves"] for s in d["strategies"]}
    for name, n in by_name.items():
        if name != HVPLAN:
            assert sum(1 for m in moves if m["strategy"] == name) == n
    assert all(m["migration_type"] == "Live" and m["pass"] == "1" for m in moves)


def test_same_input_same_output() -> None:
    a = run_json(str(SMALL4), "--seed", "3")
    b = run_json(str(SMALL4), "--seed", "3")
    for d in (a, b):
        for s in d["strategies"]:
            s.pop("run_seconds")
    assert a == b


def test_level_option_changes_the_threshold() -> None:
    d = run_json(str(SMALL4), "--level", "medium")
    assert d["threshold_pct"] == {"cpu": 70.0, "memory": 70.0}
    assert d["strategies"][0]["hosts_over_threshold_after"] == 0
    d = run_json(str(SMALL4), "--threshold", "90")
    # Nothing is above 90 %: Node Fairness moves nothing.  (Dynamic Optimization has its own
    # free-resource thresholds, and hvplan still separates the soft anti-affinity pair.)
    nf_rows = [s for s in d["strategies"] if s["name"].startswith("node-fairness/")]
    assert nf_rows and all(s["moves"] == 0 and s["passes"] == 0 for s in nf_rows)
    assert d["strategies"][0]["anti_affinity_pairs_after"] == 0


def test_bad_snapshot_exits_1_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "hosts.csv").write_text(
        "name,cpu_vendor,logical_processors,memory_mb\nHV01,GenuineIntel,lots,1024\n",
        encoding="utf-8",
    )
    (tmp_path / "vms.csv").write_text(
        "name,host,vcpus,memory_mb\nvm1,HV01,1,512\n", encoding="utf-8"
    )
    res = runner.invoke(app, ["compare", str(tmp_path)])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert "logical_processors" in res.output and "lots" in res.output
    missing = runner.invoke(app, ["compare", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_out_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "file.txt"
    f.write_text("x", encoding="utf-8")
    res = runner.invoke(app, ["compare", str(SMALL4), "--out", str(f)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_native_only_comparison_on_a_toy() -> None:
    # h0 at 90 % (a: 3 LP / 40 GB, c: 2 LP / 5 GB, b: 4 LP / 10 GB), h1 empty.
    hosts = [
        HostSpec(n, logical_processors=10, memory_mb=102400, memory_reserve_mb=0)
        for n in ("h0", "h1")
    ]
    vms = [
        VmSpec("a", "h0", vcpus=8, memory_mb=40960, cpu_milli=3000),
        VmSpec("b", "h0", vcpus=8, memory_mb=10240, cpu_milli=4000),
        VmSpec("c", "h0", vcpus=8, memory_mb=5120, cpu_milli=2000),
    ]
    c = make_cluster(hosts, vms)
    variants = [
        NodeFairnessOptions(vm_choice=ch, level=Level.LOW)
        for ch in (VmChoice.LARGEST_MEMORY, VmChoice.SMALLEST_MEMORY)
    ]
    res = compare(c, CompareOptions(level=Level.LOW, variants=variants, include_optimizer=False))
    assert [r.name for r in res.rows] == [v.name() for v in variants]
    assert [r.memory_moved_mb for r in res.rows] == [40960, 5120]
    assert all(r.metrics["reaches_threshold"] for r in res.rows)
    assert res.advantages() == [] and summary_lines(res) == []
    np.testing.assert_array_equal(res.evaluation.cpu_pct[0], [90.0, 0.0])


def test_bad_snapshot_json_mode_prints_the_report(tmp_path: Path) -> None:
    (tmp_path / "hosts.csv").write_text(
        "name,cpu_vendor,logical_processors,memory_mb\nHV01,GenuineIntel,8,-5\n", encoding="utf-8"
    )
    (tmp_path / "vms.csv").write_text(
        "name,host,vcpus,memory_mb\nvm1,HV01,1,512\n", encoding="utf-8"
    )
    res = runner.invoke(app, ["compare", str(tmp_path), "--json"])
    assert res.exit_code == 1
    d = json.loads(res.stdout)
    assert d["valid"] is False
    assert any(e["column"] == "memory_mb" and e["row"] == 2 for e in d["errors"])


# ----------------------------------------------------------------------------- names are data
def test_hostile_names_through_compare_out(tmp_path: Path) -> None:
    # matplotlib reads "$...$" as mathematics: a host named HV$\x$01 used to crash the chart
    # and leave partial files.  Every label goes through planner.charts.chart_text now.
    from planner.snapshot import write_snapshot
    from planner.textsafe import csv_uncell

    c = load_snapshot(SMALL4)
    hosts = ("HV$\\x$01", "$^_{}$", '=HYPERLINK("x")', "{\\bf}\x1b[2J")
    vms = tuple(
        ("$\\frac{a}{b}$", "@SUM(1)", "a_b^c", "-2")[i] if i < 4 else n
        for i, n in enumerate(c.vm_names)
    )
    snap = tmp_path / "snap"
    write_snapshot(c.replace(host_names=hosts, vm_names=vms, name="C$\\x$"), snap)
    out = tmp_path / "out"
    res = runner.invoke(app, ["compare", str(snap), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with (out / "native_moves.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        assert not r["source"].startswith(("=", "@", "+", "-"))  # the formula defence
        assert csv_uncell(r["source"]) in hosts and csv_uncell(r["target"]) in hosts


def test_chart_text_shows_names_exactly() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from planner.charts import chart_text

    for name in ("HV$\\x$01", "A\\$B$", "$^_{}$", "x\\", "$$", "$\\$$", "a_b^c{d}"):
        fig = Figure()
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        title = ax.set_title(chart_text(name))
        fig.canvas.draw()  # raised ValueError (mathtext) for the first one before
        shown, is_math = title._preprocess_math(title.get_text())
        assert (shown, is_math) == (name, False)
    assert chart_text("a\x1bb\nc") == "a\\x1bb\\nc"


def test_a_given_plan_is_the_hvplan_row() -> None:
    from planner.compare import GivenPlan

    c = load_snapshot(SMALL4)
    placement = c.vm_host.copy()
    for vm, host in (("app01", "hv03"), ("sql02", "hv02")):
        placement[c.vm_index[vm]] = c.host_index[host]
    res = compare(
        c, CompareOptions(plan=GivenPlan(placement, status="OPTIMAL", estimated_seconds=77.0))
    )
    hv = res.row(HVPLAN)
    assert hv is not None and hv.moves == 2 and hv.estimated_migration_seconds == 77.0
    assert hv.memory_moved_mb == int(
        c.vm_memory_mb[c.vm_index["app01"]] + c.vm_memory_mb[c.vm_index["sql02"]]
    )
    assert np.array_equal(res.placements[0], placement)
