"""CPU loads are rounded up at the input edge (issue 14, "Rounding"): a node whose whole
milli-processor sum meets the threshold also meets it by SPEC §2's formula on the file's
unrounded values, so a plan packed to the limit is never above it by rounding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli import app
from planner.snapshot import load_snapshot
from planner.snapshot.build import cpu_milli

HOSTS = (
    "name,state,cpu_vendor,cpu_model,logical_processors,memory_mb,memory_reserve_mb,cpu_base_pct\n"
    "H1,Up,GenuineIntel,Icelake-Server,10,65536,4096,0\n"
    "H2,Up,GenuineIntel,Icelake-Server,10,65536,4096,0\n"
)


def _snapshot(tmp_path: Path, pct: str, n: int) -> Path:
    """``n`` one-vCPU VMs at ``pct`` % on H1 (10 logical processors), H2 empty."""
    d = tmp_path / "snap"
    d.mkdir()
    (d / "cluster.csv").write_text("name\nround\n", encoding="utf-8")
    (d / "hosts.csv").write_text(HOSTS, encoding="utf-8")
    rows = "".join(f"V{i},H1,Running,1,1024,{pct}\n" for i in range(n))
    (d / "vms.csv").write_text(
        "name,host,state,vcpus,memory_mb,cpu_usage_pct\n" + rows, encoding="utf-8"
    )
    return d


def _formula_pct(vcpus: int, pct: float, n: int, lp: int) -> float:
    """Host CPU % by SPEC §2 on the unrounded values."""
    return 100 * n * vcpus * pct / 100 / lp


def test_a_node_just_over_by_the_formula_is_over(tmp_path: Path) -> None:
    # 24 VMs of 1 vCPU at 33.34 %: 8.0016 of 10 processors = 80.016 % by the formula.
    # Rounded to the nearest milli-processor (333 each) they would sum to 79.92 %.
    assert _formula_pct(1, 33.34, 24, 10) > 80
    snap = _snapshot(tmp_path, "33.34", 24)
    c = load_snapshot(snap)
    assert int(c.host_load_milli()[0]) == 24 * 334
    res = CliRunner().invoke(app, ["status", str(snap), "--json"])
    assert res.exit_code == 0, res.output
    hosts = {h["name"]: h for h in json.loads(res.output)["hosts"]}
    assert hosts["H1"]["over_threshold"] is True
    assert hosts["H1"]["cpu_pct"] >= 80.016


def test_the_plan_moves_a_vm_off_a_node_over_by_the_formula(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path, "33.34", 24)
    out = tmp_path / "plan"
    res = CliRunner().invoke(app, ["plan", str(snap), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["moves"] >= 1
    left = 24 - summary["moves"]
    assert _formula_pct(1, 33.34, left, 10) <= 80


def test_exact_values_are_not_rounded_up() -> None:
    # 4 vCPUs at 12.5 % is exactly 500 milli-processors; float noise must not make it 501.
    got = cpu_milli(np.array([4, 3, 8]), np.array([12.5, 10.0, 0.1]))
    assert got.tolist() == [500, 300, 8]


@given(
    st.lists(
        st.tuples(st.integers(1, 64), st.floats(0, 100, allow_nan=False)), min_size=1, max_size=40
    )
)
def test_rounded_sums_never_fall_below_the_formula(vms: list[tuple[int, float]]) -> None:
    counts = np.array([v for v, _ in vms])
    pcts = np.array([p for _, p in vms])
    milli = cpu_milli(counts, pcts)
    exact = counts * pcts * 10
    assert (milli >= exact - 1e-6 - 2.4e-7 * exact).all()
    assert (milli < exact + 1).all()
