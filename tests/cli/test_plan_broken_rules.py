"""A cluster that is already broken still gets a plan (issue 11 item 1, SPEC §3): rules
broken now are repaired where any placement allows it, the rest are named with a reason in
``rules_left_broken``, the nodes are brought under the threshold; ``--strict-rules`` makes
the same snapshot infeasible with the reason.

The cluster, derived by hand (Low threshold, 80 %):

* SiteA: A1, a Cascade Lake node; SiteB: B1 and B2, Ice Lake nodes; 16 LP, 64 GiB each.
* ``split-sites`` (DifferentFaultDomain) over X1 on B1 and X2 on B2: both in SiteB, broken
  now.  They run with compatibility mode None on Ice Lake, so they present Ice Lake
  features that Cascade Lake lacks, and may not go down: neither can ever reach SiteA, so
  no placement repairs the rule.
* ``apart`` (DifferentNode) over Y1 and Y2, both on B1: broken now, repaired by one live
  move of either to B2 (or to A1 for a VM in MinimumFeatureSet mode; Y1/Y2 are not).
* B1 carries X1, Y1, Y2 (0.5 LP each) and L0..L5 (2 LP each, MinimumFeatureSet, so they
  may go anywhere): 13.5 of 16 LP = 84.4 % > 80 %.  Moving Y2 to B2 leaves 81.25 %, still
  over, so at least one L-VM leaves B1 too.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from planner.cluster import CompatMode, RuleType
from planner.snapshot import write_snapshot
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster


def _snapshot(tmp: Path) -> Path:
    hosts = [
        HostSpec("A1", fault_domain="SiteA", cpu_model="Cascadelake-Server"),
        HostSpec("B1", fault_domain="SiteB", cpu_model="Icelake-Server"),
        HostSpec("B2", fault_domain="SiteB", cpu_model="Icelake-Server"),
    ]
    small = {"vcpus": 2, "cpu_milli": 500, "memory_mb": 2048}
    vms = [
        VmSpec("X1", "B1", **small),
        VmSpec("X2", "B2", **small),
        VmSpec("Y1", "B1", **small),
        VmSpec("Y2", "B1", **small),
        *[
            VmSpec(
                f"L{i}", "B1", vcpus=4, cpu_milli=2000, memory_mb=2048, compat=CompatMode.MINIMUM
            )
            for i in range(6)
        ],
    ]
    rules = [
        RuleSpec("split-sites", RuleType.DIFFERENT_FAULT_DOMAIN, ("X1", "X2")),
        RuleSpec("apart", RuleType.DIFFERENT_NODE, ("Y1", "Y2")),
    ]
    return write_snapshot(make_cluster(hosts, vms, rules, name="broken"), tmp / "snap")


def test_broken_cluster_gets_a_plan_that_names_the_rule_left_broken(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path)
    out = tmp_path / "plan"
    r = CliRunner().invoke(app_(), ["plan", str(snap), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["status"] in ("OPTIMAL", "FEASIBLE")
    assert s["hosts_over_threshold_before"] == 1 and s["hosts_over_threshold_after"] == 0
    left = s["rules_left_broken"]
    assert [x["rule"] for x in left] == ["split-sites"]
    assert sorted(left[0]["vms"]) == ["X1", "X2"] and left[0]["reason"]
    placement = dict(line.split(",") for line in (out / "placement.csv").read_text().split()[1:])
    assert placement["Y1"] != placement["Y2"]  # 'apart' repaired
    assert placement["X1"] != "A1" and placement["X2"] != "A1"
    v = CliRunner().invoke(app_(), ["verify", str(snap), str(out)])
    assert v.exit_code == 0, v.output


def test_strict_rules_make_it_infeasible_with_the_reason(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path)
    out = tmp_path / "plan"
    r = CliRunner().invoke(app_(), ["plan", str(snap), "--out", str(out), "--strict-rules"])
    assert r.exit_code == 1, r.output
    assert "split-sites" in r.output
    assert not out.exists()


def app_():  # noqa: ANN202 - the typer app, imported late like the CLI tests do
    from planner.cli import app

    return app
