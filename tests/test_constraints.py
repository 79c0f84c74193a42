"""End to end, per hard rule of SPEC §3: a feasible and an infeasible case on 2-3 host toys,
through :func:`planner.optimizer.optimize` (the staged solve; many of these are decided by
the pre-check or the greedy stage: the model-level tests of every CP-SAT constraint family
are in ``tests/cpsat/test_constraints_families.py``).

Toy hosts: 16 logical processors (16,000 milli-LP), 65,536 MB with a 4,096 MB reserve, so
61,440 MB and 16,000 milli-LP are free for VMs.  Every plan produced is checked against the
reference (hard violations, recomputed objective) and the independent checks of
:mod:`planner.checks`.
"""

from __future__ import annotations

import numpy as np
import pytest

from planner.checks import placement_violations
from planner.cluster import ClusterSettings, HostState, RuleType, Vendor, VmState
from planner.optimizer import OptimizeResult, PlanOptions, SolveStatus, optimize
from planner.problem import build_problem, hard_violations, objective_values
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster

H = HostSpec


def _solve(cluster, **kw) -> OptimizeResult:  # type: ignore[no-untyped-def]
    kw.setdefault("time_limit_s", 10.0)
    kw.setdefault("threshold_pct", 90.0)
    opts = PlanOptions(**kw)
    res = optimize(cluster, opts)
    if res.placement is not None:
        pb = build_problem(cluster, opts)
        assert hard_violations(pb, res.placement) == []
        independent = {"capacity_cpu", "capacity_memory", "possible_owners", "pinned", "drained"}
        assert [
            v
            for v in placement_violations(cluster, res.placement, res.drained)
            if v.hard and v.kind in independent
        ] == []
        assert objective_values(pb, res.placement) == res.objective
    return res


def _host(res: OptimizeResult, cluster, vm: str) -> str:  # type: ignore[no-untyped-def]
    assert res.placement is not None
    return cluster.host_names[int(res.placement[cluster.vm_index[vm.casefold()]])]


def _infeasible(res: OptimizeResult, *words: str) -> None:
    assert res.status == SolveStatus.INFEASIBLE
    assert res.placement is None
    text = " ".join(res.explanation)
    for w in words:
        assert w in text, text


# ------------------------------------------------------------------------- capacity
def test_capacity_feasible_drain_fits_on_the_roomier_host() -> None:
    # H2 has 50,000 MB used, H3 only 10,000: the 20,000 MB VM from drained H1 fits only on H3.
    c = make_cluster(
        [H("H1"), H("H2"), H("H3")],
        [
            VmSpec("A", "H1", memory_mb=20000),
            VmSpec("B", "H2", memory_mb=50000),
            VmSpec("C", "H3", memory_mb=10000),
        ],
    )
    res = _solve(c, drain=(0,), threshold_pct=100.0)
    assert res.status == SolveStatus.OPTIMAL
    assert _host(res, c, "A") == "H3"


def test_capacity_infeasible_when_no_host_has_room() -> None:
    c = make_cluster(
        [H("H1"), H("H2"), H("H3")],
        [
            VmSpec("A", "H1", memory_mb=20000),
            VmSpec("B", "H2", memory_mb=50000),
            VmSpec("C", "H3", memory_mb=50000),
        ],
    )
    _infeasible(_solve(c, drain=(0,)), "A")


# ------------------------------------------------------------------------- SameNode
def test_same_node_feasible_members_move_together() -> None:
    c = make_cluster(
        [H("H1"), H("H2"), H("H3")],
        [VmSpec("A", "H1"), VmSpec("B", "H1"), VmSpec("C", "H2")],
        [RuleSpec("ab", RuleType.SAME_NODE, ("A", "B"))],
    )
    res = _solve(c, drain=(0,))
    assert res.ok
    assert _host(res, c, "A") == _host(res, c, "B") != "H1"


def test_same_node_infeasible_without_a_common_owner() -> None:
    c = make_cluster(
        [H("H1"), H("H2"), H("H3")],
        [
            VmSpec("A", "H1", possible_owners=("H1", "H2")),
            VmSpec("B", "H1", possible_owners=("H1", "H3")),
        ],
        [RuleSpec("ab", RuleType.SAME_NODE, ("A", "B"))],
    )
    _infeasible(_solve(c, drain=(0,)), "SameNode", "ab")


# ------------------------------------------------------------------------- DifferentNode
def test_different_node_feasible_avoids_the_partner() -> None:
    # A leaves drained H1; H2 holds its partner B, so A must go to H3 although H2 is emptier.
    c = make_cluster(
        [H("H1"), H("H2"), H("H3")],
        [VmSpec("A", "H1"), VmSpec("B", "H2"), VmSpec("C", "H3", memory_mb=30000)],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"))],
    )
    res = _solve(c, drain=(0,))
    assert res.status == SolveStatus.OPTIMAL
    assert _host(res, c, "A") == "H3"


def test_different_node_infeasible_with_one_host_left() -> None:
    c = make_cluster(
        [H("H1"), H("H2")],
        [VmSpec("A", "H1"), VmSpec("B", "H2")],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"))],
    )
    _infeasible(_solve(c, drain=(0,)), "DifferentNode", "apart")


# ------------------------------------------------------------------------- fault domains
def _racks() -> list[HostSpec]:
    return [
        H("H1", fault_domain="RackA"),
        H("H2", fault_domain="RackA"),
        H("H3", fault_domain="RackB"),
    ]


def test_same_fault_domain_feasible_stays_in_the_rack() -> None:
    # H3 (RackB) is emptier, but A must stay in B's rack: H2.
    c = make_cluster(
        _racks(),
        [VmSpec("A", "H1"), VmSpec("B", "H2"), VmSpec("X", "H2", memory_mb=30000)],
        [RuleSpec("rack", RuleType.SAME_FAULT_DOMAIN, ("A", "B"))],
    )
    res = _solve(c, drain=(0,))
    assert res.status == SolveStatus.OPTIMAL
    assert _host(res, c, "A") == "H2"


def test_same_fault_domain_infeasible_when_partner_is_pinned_elsewhere() -> None:
    c = make_cluster(
        _racks(),
        [VmSpec("A", "H1", possible_owners=("H1", "H3")), VmSpec("B", "H2", pinned=True)],
        [RuleSpec("rack", RuleType.SAME_FAULT_DOMAIN, ("A", "B"))],
    )
    _infeasible(_solve(c, drain=(0,)), "rack")


def test_different_fault_domain_feasible_keeps_racks_apart() -> None:
    # A leaves H1; B sits in RackB (H3), so A must go to H2 (RackA) even though H2 is busier.
    c = make_cluster(
        _racks(),
        [VmSpec("A", "H1"), VmSpec("B", "H3"), VmSpec("X", "H2", memory_mb=30000)],
        [RuleSpec("split", RuleType.DIFFERENT_FAULT_DOMAIN, ("A", "B"))],
    )
    res = _solve(c, drain=(0,))
    assert res.status == SolveStatus.OPTIMAL
    assert _host(res, c, "A") == "H2"


def test_different_fault_domain_infeasible_with_one_rack_left() -> None:
    c = make_cluster(
        _racks(),
        [VmSpec("A", "H1"), VmSpec("B", "H3")],
        [RuleSpec("split", RuleType.DIFFERENT_FAULT_DOMAIN, ("A", "B"))],
    )
    _infeasible(_solve(c, drain=(2,)), "split")


def test_disabled_rule_is_not_enforced() -> None:
    c = make_cluster(
        [H("H1"), H("H2")],
        [VmSpec("A", "H1"), VmSpec("B", "H2")],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"), enabled=False)],
    )
    res = _solve(c, drain=(0,))
    assert res.ok and _host(res, c, "A") == "H2"


# ------------------------------------------------------------------------- owners, pinned
def test_possible_owners_feasible_and_infeasible() -> None:
    hosts = [H("H1"), H("H2"), H("H3", memory_mb=131072)]
    c = make_cluster(hosts, [VmSpec("A", "H1", possible_owners=("H1", "H2"))])
    res = _solve(c, drain=(0,))
    assert res.ok and _host(res, c, "A") == "H2"  # H3 is emptier but not an owner
    c2 = make_cluster(hosts, [VmSpec("A", "H1", possible_owners=("H1",))])
    _infeasible(_solve(c2, drain=(0,)), "A", "possible owner")


def test_pinned_vm_stays_and_pinned_on_drained_host_is_infeasible() -> None:
    # H1 is over 70 % CPU (12,000 of 16,000 milli-LP); the pinned 8,000 milli-LP VM stays,
    # the unpinned 4,000 one leaves.
    c = make_cluster(
        [H("H1"), H("H2")],
        [VmSpec("P", "H1", cpu_milli=8000, pinned=True), VmSpec("U", "H1", cpu_milli=4000)],
    )
    res = _solve(c, threshold_pct=70.0)
    assert res.status == SolveStatus.OPTIMAL
    assert _host(res, c, "P") == "H1" and _host(res, c, "U") == "H2"
    _infeasible(_solve(c, drain=(0,)), "pinned", "P")


def test_paused_host_keeps_its_vms_and_drain_evacuates_it() -> None:
    # SPEC §3: a Paused node receives nothing but keeps its VMs (Suspend-ClusterNode without
    # -Drain); --drain is the only evacuation.  Draining it with nowhere to go (40,000 MB
    # more on H2, which has 61,440 MB free and holds 40,000 MB) is infeasible.
    c = make_cluster([H("H1", state=HostState.PAUSED), H("H2")], [VmSpec("A", "H1")])
    res = _solve(c)
    assert res.ok and _host(res, c, "A") == "H1" and len(res.moves) == 0
    res = _solve(c, drain=(0,))
    assert res.ok and _host(res, c, "A") == "H2"
    c2 = make_cluster(
        [H("H1", state=HostState.PAUSED), H("H2")],
        [VmSpec("A", "H1", memory_mb=40000), VmSpec("B", "H2", memory_mb=40000)],
    )
    _infeasible(_solve(c2, drain=(0,)), "memory", "61440 MB")


# ------------------------------------------------------------------------- anti-affinity
def test_enforced_anti_affinity_feasible_and_infeasible() -> None:
    s = ClusterSettings(enforced_anti_affinity=True)
    vms = [
        VmSpec("A", "H1", anti_affinity_classes=("dc",)),
        VmSpec("B", "H2", anti_affinity_classes=("dc",)),
    ]
    c = make_cluster([H("H1"), H("H2"), H("H3", memory_mb=32768)], vms, settings=s)
    res = _solve(c, drain=(0,))
    assert res.ok and _host(res, c, "A") == "H3"
    c2 = make_cluster([H("H1"), H("H2")], vms, settings=s)
    _infeasible(_solve(c2, drain=(0,)), "anti-affinity", "dc")


def test_soft_anti_affinity_pair_is_split_when_possible() -> None:
    # Not enforced: the pair on H1 costs 1 in tier 2; moving the smaller member (2,048 MB)
    # to H2 removes it at the least migration cost.
    vms = [
        VmSpec("A", "H1", memory_mb=8192, anti_affinity_classes=("dc",)),
        VmSpec("B", "H1", memory_mb=2048, anti_affinity_classes=("dc",)),
    ]
    c = make_cluster([H("H1"), H("H2")], vms)
    res = _solve(c)
    assert res.status == SolveStatus.OPTIMAL
    assert res.objective["anti_affinity"] == 0 and res.objective["migration"] == 2048
    assert _host(res, c, "B") == "H2"


# ------------------------------------------------------------------------- compatibility
def test_cross_vendor_needs_downtime() -> None:
    hosts = [H("H1"), H("H2", vendor=Vendor.AMD)]
    c = make_cluster(hosts, [VmSpec("A", "H1")])
    _infeasible(_solve(c, drain=(0,)), "A", "downtime")
    c2 = make_cluster(hosts, [VmSpec("A", "H1", allow_downtime=True)])
    res = _solve(c2, drain=(0,))
    assert res.ok and res.downtime_moves == 1
    # Migration cost = memory (4,096 MB) + the Shutdown penalty.
    assert res.objective["migration"] == 4096 + res.parameters["shutdown_penalty_mb"]
    c3 = make_cluster(hosts, [VmSpec("A", "H1", state=VmState.OFF)])
    res3 = _solve(c3, drain=(0,))
    assert res3.ok and res3.downtime_moves == 0


def test_strict_profile_forbids_shutdown_moves() -> None:
    c = make_cluster(
        [H("H1"), H("H2", vendor=Vendor.AMD)], [VmSpec("A", "H1", allow_downtime=True)]
    )
    _infeasible(_solve(c, drain=(0,), profile="strict"), "A")


# ------------------------------------------------------------------------- move budget
@pytest.mark.parametrize("budget", [0, 1, 2])
def test_move_budget(budget: int) -> None:
    # H1 VM CPU 14,000 milli-LP vs a 70 % limit of 11,200: excess 2,800 milli-LP =
    # ceil(10,000 * 2,800 / 16,000) = 1,750 basis points.  One move of a 2,000 milli-LP VM
    # leaves 800 excess (500 bp); two moves clear it.
    vms = [VmSpec(f"V{i}", "H1", cpu_milli=2000, memory_mb=1024) for i in range(7)]
    c = make_cluster([H("H1"), H("H2")], vms)
    res = _solve(c, threshold_pct=70.0, max_moves=budget)
    assert res.status == SolveStatus.OPTIMAL
    assert res.objective["excess"] == {0: 1750, 1: 500, 2: 0}[budget]
    assert len(res.moves) == budget
    assert np.all(res.placement[res.moves] == 1)  # type: ignore[index]


def test_infeasibility_core_names_the_rule_and_the_capacities() -> None:
    # Drained H1 holds A and B (20,000 MB each) that must share a node; H2 and H3 have
    # 31,440 MB free each (X and Y are pinned): either takes one of them, neither takes both.
    # No pre-check sees
    # it (each VM fits somewhere, total demand fits), so CP-SAT's assumptions must name the
    # SameNode rule and both capacities.
    c = make_cluster(
        [H("H1"), H("H2"), H("H3")],
        [
            VmSpec("A", "H1", memory_mb=20000),
            VmSpec("B", "H1", memory_mb=20000),
            VmSpec("X", "H2", memory_mb=30000, pinned=True),
            VmSpec("Y", "H3", memory_mb=30000, pinned=True),
        ],
        [RuleSpec("ab", RuleType.SAME_NODE, ("A", "B"))],
    )
    res = _solve(c, drain=(0,))
    _infeasible(res, "SameNode rule 'ab'", "node H2", "node H3")
