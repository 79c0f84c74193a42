"""`hvplan plan` warns when the cluster's own balancer will move VMs again (issue 11
item 5): a plan made for a higher threshold than the cluster's AutoBalancerLevel leaves
nodes the native balancer (AutoBalancerMode 1 or 2) will act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.cluster import ClusterSettings
from planner.snapshot import write_snapshot
from tests.strategies import HostSpec, VmSpec, make_cluster


def _snapshot(tmp: Path, mode: int) -> Path:
    # H1 has 16 LP and 8 VMs of 1,700 milli-LP each:
    # 8 x 1.7 = 13.6 LP of 16 = 85 % CPU; H2 is empty.  Low (80 %) sees H1 over;
    # a plan for --threshold 90 has nothing to do and leaves H1 at 85 %.
    hosts = [HostSpec("H1"), HostSpec("H2")]
    vms = [VmSpec(f"V{i}", "H1", vcpus=2, cpu_milli=1700, memory_mb=2048) for i in range(8)]
    c = make_cluster(
        hosts,
        vms,
        settings=ClusterSettings(auto_balancer_mode=mode, auto_balancer_level=1),
        name="n",
    )
    return write_snapshot(c, tmp / f"snap{mode}")


@pytest.mark.parametrize("mode, words", [(2, "every 30 minutes"), (1, "when a node joins")])
def test_plan_above_the_native_threshold_is_flagged(tmp_path: Path, mode: int, words: str) -> None:
    snap = _snapshot(tmp_path, mode)
    r = CliRunner().invoke(
        app, ["plan", str(snap), "--out", str(tmp_path / "p"), "--threshold", "90"]
    )
    assert r.exit_code == 0, r.output
    assert "Plan: 0 move(s)" in r.output
    assert "native balancer (Low: 80 %" in r.output and words in r.output
    assert "1 node(s) stay above its threshold" in r.output and "(H1)" in r.output


def test_no_note_when_the_balancer_is_off_or_the_plan_meets_its_level(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path, 0)
    r = CliRunner().invoke(
        app, ["plan", str(snap), "--out", str(tmp_path / "p0"), "--threshold", "90"]
    )
    assert r.exit_code == 0, r.output
    assert "native balancer" not in r.output
    snap2 = _snapshot(tmp_path, 2)
    r = CliRunner().invoke(app, ["plan", str(snap2), "--out", str(tmp_path / "p2")])
    assert r.exit_code == 0, r.output  # planned at Low itself: H1 brought under 80 %
    assert "native balancer" not in r.output
