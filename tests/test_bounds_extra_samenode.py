"""A VM that must leave takes its hard SameNode partners along: bounds and the problem's
mandatory moves know it (a case Hypothesis found, where a bound exceeded the optimum)."""

from __future__ import annotations

import numpy as np

import planner.bounds_extra as bx
from planner.cluster import RuleType
from planner.pipeline import plan
from planner.problem import PlanOptions, build_problem
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster


def cluster():  # type: ignore[no-untyped-def]
    # Three 4-LP, 16 GB nodes (H0 keeps 2 GB for itself); every VM on H0 with 200 milli.
    # Threshold 75 %: H0 may carry 16,384 * 0.75 - 2,048 = 10,240 MB of VMs; it carries
    # 5 * 2,048 + 8,192 = 18,432.  v0 may only run on H1 and v3, v4 only on H2: they must
    # leave (6,144 MB).  SameNode(v0, v1) holds now, so v1 leaves with v0 (2,048 MB).  Then
    # H0 carries v2 + v5 = 10,240: exactly at its limit.  The cheapest plan moves 8,192 MB.
    hosts = [
        HostSpec("H0", logical_processors=4, memory_mb=16384, memory_reserve_mb=2048),
        HostSpec("H1", logical_processors=4, memory_mb=16384, memory_reserve_mb=0),
        HostSpec("H2", logical_processors=4, memory_mb=16384, memory_reserve_mb=0),
    ]
    owners = [("H1",), ("H0", "H1"), ("H0",), ("H2",), ("H2",), ("H0", "H1")]
    mem = [2048, 2048, 2048, 2048, 2048, 8192]
    vms = [
        VmSpec(f"v{i}", "H0", cpu_milli=200, memory_mb=mem[i], possible_owners=owners[i])
        for i in range(6)
    ]
    return make_cluster(hosts, vms, [RuleSpec("sn", RuleType.SAME_NODE, ("v0", "v1"))])


def test_partners_of_a_leaving_vm_must_leave_too() -> None:
    c = cluster()
    pb = build_problem(c, PlanOptions(threshold_pct=75.0))
    assert pb.mandatory.tolist() == [True, True, False, True, True, False]
    assert bx.must_leave(c, np.asarray(pb.allowed)).tolist() == pb.mandatory.tolist()


def test_bounds_stay_below_the_optimum_and_the_plan_is_proven() -> None:
    c = cluster()
    pb = build_problem(c, PlanOptions(threshold_pct=75.0))
    allowed = np.asarray(pb.allowed)
    cpu_lim = np.asarray(pb.cpu_limit[0])
    mem_lim = np.asarray(pb.mem_limit)
    assert bx.migration_lower_bound(c, allowed, cpu_lim, mem_lim, np.asarray(pb.move_cost)) <= 8192
    p = plan(c, PlanOptions(threshold_pct=75.0, time_limit_s=10))
    assert p.ok, p.message
    assert p.result.objective["migration"] == 8192
    assert p.result.bound["migration"] <= 8192
    assert p.result.placement.tolist()[:2] == [1, 1]


def test_rollback_keeps_a_vm_whose_old_node_it_may_not_use_and_its_partner() -> None:
    p = plan(cluster(), PlanOptions(threshold_pct=75.0, time_limit_s=10))
    assert p.ok, p.message
    kept = {k["vm"]: k["reason"] for k in p.summary["rollback"]["kept"]}
    # v0 may not run on H0; v1 stays with it; v3 and v4 may not run on H0 either.
    assert set(kept) == {"v0", "v1", "v3", "v4"}
    assert "not a possible owner" in kept["v0"] and "SameNode" in kept["v1"]
