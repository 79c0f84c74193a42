"""A feasible and an infeasible case per CP-SAT constraint family, at the model level.

Each case builds the planning problem of a 2-3 host toy and solves the *full* placement model
directly (:class:`planner.cpsat.model.PlacementModel`), not through ``optimize``: the
pre-check, the bounds and the greedy stage never see it.  Every infeasible case first
asserts that the pre-check finds nothing, so the conflict is one only the model can see.
Every solution is checked by the model against the reference (hard violations, objective).

Toy hosts: 16 LP (16,000 milli-LP) and 65,536 MB with a 4,096 MB reserve: 61,440 MB free.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from planner.cluster import ClusterSettings, RuleType
from planner.cpsat.model import PlacementModel, SolveOutcome
from planner.cpsat.solver import SolverParams
from planner.problem import PlanningProblem, PlanOptions, SolveStatus, build_problem
from planner.solve.candidates import make_input
from planner.solve.full import full_input
from planner.solve.precheck import precheck
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster

H = HostSpec


def _solve(pb: PlanningProblem) -> SolveOutcome:
    pm = PlacementModel(full_input(pb), pb.tiers)
    return pm.solve_tiers(
        SolverParams(workers=1), None, lambda name, fixed: 0, time.monotonic() + 10
    )


def _infeasible(pb: PlanningProblem) -> None:
    assert precheck(pb) == []  # only the model can see this conflict
    assert _solve(pb).status == SolveStatus.INFEASIBLE


def _host(pb: PlanningProblem, out: SolveOutcome, vm: str) -> str:
    assert out.placement is not None
    c = pb.cluster
    return c.host_names[int(out.placement[c.vm_index[vm.casefold()]])]


def _problem(
    hosts: list[HostSpec],
    vms: list[VmSpec],
    rules: list[RuleSpec] | None = None,
    settings: ClusterSettings | None = None,
    **opts: object,
) -> PlanningProblem:
    c = make_cluster(hosts, vms, rules or [], settings=settings)
    opts.setdefault("threshold_pct", 100.0)
    return build_problem(c, PlanOptions(**opts))  # type: ignore[arg-type]


# ------------------------------------------------------------------------- assignment
def test_assignment_every_candidate_on_exactly_one_target() -> None:
    pb = _problem([H("H1"), H("H2")], [VmSpec("A", "H1")])
    out = _solve(pb)
    assert out.status == SolveStatus.OPTIMAL and out.placement is not None
    # A candidate with no target at all: the model is infeasible.
    inp = make_input(pb, np.array([0]), [np.zeros(0, dtype=np.int64)])
    pm = PlacementModel(inp, pb.tiers)
    assert (
        pm.solve_tiers(SolverParams(), None, lambda n, f: 0, time.monotonic() + 5).status
        == SolveStatus.INFEASIBLE
    )


# ------------------------------------------------------------------------- capacity
def _packing(resource: str, big: int) -> PlanningProblem:
    # Drained H1 holds A (big) and B, C (5 units each); H2 and H3 each have 9 units free
    # (a pinned VM takes the rest).  Total 18 <= 18 and each VM fits somewhere, but A
    # leaves too little room next to it for B or C when big = 8: a bin-packing conflict.
    unit = 1000 if resource == "cpu" else 5000

    def vm(name: str, host: str, n: int, **kw: object) -> VmSpec:
        if resource == "cpu":
            return VmSpec(name, host, cpu_milli=n * unit, memory_mb=1024, **kw)  # type: ignore[arg-type]
        return VmSpec(name, host, memory_mb=n * unit, **kw)  # type: ignore[arg-type]

    free = 16 if resource == "cpu" else 61440 // unit
    pinned = free - 9
    hosts = [H("H1"), H("H2"), H("H3")]
    if resource == "memory":
        hosts = [
            H("H1"),
            H("H2", memory_mb=9 * unit + pinned * unit + 4096),
            H("H3", memory_mb=9 * unit + pinned * unit + 4096),
        ]
    vms = [
        vm("A", "H1", big),
        vm("B", "H1", 5),
        vm("C", "H1", 5),
        vm("X", "H2", pinned, pinned=True),
        vm("Y", "H3", pinned, pinned=True),
    ]
    return _problem(hosts, vms, drain=(0,))


@pytest.mark.parametrize("resource", ["cpu", "memory"])
def test_capacity_bin_packing(resource: str) -> None:
    pb = _packing(resource, 4)  # A (4) + B (5) on one node, C (5) on the other
    out = _solve(pb)
    assert out.status == SolveStatus.OPTIMAL
    assert _host(pb, out, "B") != _host(pb, out, "C")
    _infeasible(_packing(resource, 8))


# ------------------------------------------------------------------------- running VMs
def test_running_vm_limit() -> None:
    # A and B (owners H1, H2) leave drained H1 for H2, which already runs X: 3 VMs.
    vms = [
        VmSpec("A", "H1", possible_owners=("H1", "H2")),
        VmSpec("B", "H1", possible_owners=("H1", "H2")),
        VmSpec("X", "H2", pinned=True),
        VmSpec("Y", "H3", pinned=True),
    ]
    pb = _problem([H("H1"), H("H2"), H("H3")], vms, drain=(0,))
    assert _solve(pb).status == SolveStatus.OPTIMAL
    # With a limit of 2 running VMs per node: H2 would run 3.  (The pre-check's total, 4
    # VMs against 2 + 2 on H2 and H3, passes.)
    _infeasible(pb.replace(running_limit=np.array([2, 2, 2])))


# ------------------------------------------------------------------------- rules
def test_same_node() -> None:
    # A and B leave drained H1 together; H2 and H3 have 21,440 MB free each.
    def pb(size: int) -> PlanningProblem:
        return _problem(
            [H("H1"), H("H2"), H("H3")],
            [
                VmSpec("A", "H1", memory_mb=size),
                VmSpec("B", "H1", memory_mb=size),
                VmSpec("X", "H2", memory_mb=40000, pinned=True),
                VmSpec("Y", "H3", memory_mb=40000, pinned=True),
            ],
            [RuleSpec("ab", RuleType.SAME_NODE, ("A", "B"))],
            drain=(0,),
        )

    ok = pb(10000)
    out = _solve(ok)
    assert out.status == SolveStatus.OPTIMAL
    assert _host(ok, out, "A") == _host(ok, out, "B")
    _infeasible(pb(15000))  # 30,000 MB together fit nowhere


def test_different_node() -> None:
    # The rule holds now (A on H1, B pinned on H2); A leaves drained H1; H3 has room or not.
    def pb(y: int) -> PlanningProblem:
        return _problem(
            [H("H1"), H("H2"), H("H3")],
            [
                VmSpec("A", "H1", memory_mb=20000),
                VmSpec("B", "H2", pinned=True),
                VmSpec("Y", "H3", memory_mb=y, pinned=True),
            ],
            [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"))],
            drain=(0,),
        )

    ok = pb(30000)
    out = _solve(ok)
    assert out.status == SolveStatus.OPTIMAL and _host(ok, out, "A") == "H3"
    _infeasible(pb(50000))  # A fits only on H2, next to B


def _racks() -> list[HostSpec]:
    return [
        H("H1", fault_domain="RackA"),
        H("H2", fault_domain="RackA"),
        H("H3", fault_domain="RackB"),
    ]


def test_same_fault_domain() -> None:
    # A (H1) and B (H2) share RackA now; H1 is drained.  H2 has room for A or not; H3
    # (RackB) takes only one of them.
    def pb(x: int) -> PlanningProblem:
        return _problem(
            _racks(),
            [
                VmSpec("A", "H1", memory_mb=20000),
                VmSpec("B", "H2", memory_mb=20000),
                VmSpec("X", "H2", memory_mb=x, pinned=True),
                VmSpec("Y", "H3", memory_mb=30000, pinned=True),
            ],
            [RuleSpec("rack", RuleType.SAME_FAULT_DOMAIN, ("A", "B"))],
            drain=(0,),
        )

    ok = pb(10000)
    out = _solve(ok)
    assert out.status == SolveStatus.OPTIMAL and _host(ok, out, "A") == "H2"
    _infeasible(pb(30000))


def test_different_fault_domain() -> None:
    # A (RackA) and B (pinned, RackB) are apart now; H1 is drained: A needs room on H2.
    def pb(x: int) -> PlanningProblem:
        return _problem(
            _racks(),
            [
                VmSpec("A", "H1", memory_mb=10000),
                VmSpec("B", "H3", pinned=True),
                VmSpec("X", "H2", memory_mb=x, pinned=True),
            ],
            [RuleSpec("split", RuleType.DIFFERENT_FAULT_DOMAIN, ("A", "B"))],
            drain=(0,),
        )

    ok = pb(30000)
    out = _solve(ok)
    assert out.status == SolveStatus.OPTIMAL and _host(ok, out, "A") == "H2"
    _infeasible(pb(55000))


def test_enforced_anti_affinity() -> None:
    s = ClusterSettings(enforced_anti_affinity=True)

    def pb(y: int) -> PlanningProblem:
        return _problem(
            [H("H1"), H("H2"), H("H3")],
            [
                VmSpec("A", "H1", memory_mb=20000, anti_affinity_classes=("dc",)),
                VmSpec("B", "H2", pinned=True, anti_affinity_classes=("dc",)),
                VmSpec("Y", "H3", memory_mb=y, pinned=True),
            ],
            settings=s,
            drain=(0,),
        )

    ok = pb(30000)
    out = _solve(ok)
    assert out.status == SolveStatus.OPTIMAL and _host(ok, out, "A") == "H3"
    _infeasible(pb(50000))


def test_rules_broken_now_are_soft_and_strict_makes_them_hard() -> None:
    # A and B share H1 now (the DifferentNode rule is broken); only A may leave (B is
    # pinned) and H2 has no room for it: the rule stays broken, tier rules = 1.  Give H2
    # room and the model repairs it (tier rules = 0).
    def pb(x: int, **kw: object) -> PlanningProblem:
        return _problem(
            [H("H1"), H("H2")],
            [
                VmSpec("A", "H1", memory_mb=20000),
                VmSpec("B", "H1", pinned=True),
                VmSpec("X", "H2", memory_mb=x, pinned=True),
            ],
            [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"))],
            **kw,
        )

    stuck = pb(50000)
    assert stuck.soft_rules == (0,)
    out = _solve(stuck)
    assert out.status == SolveStatus.OPTIMAL and out.tiers[0].objective == 1
    free = pb(10000)
    out = _solve(free)
    assert out.tiers[0].objective == 0 and _host(free, out, "A") == "H2"
    strict = pb(50000, strict_rules=True)
    assert strict.hard_rules == (0,) and strict.soft_rules == ()
    _infeasible(strict)


# ------------------------------------------------------------------------- budget
def test_move_budget() -> None:
    # A must leave drained H1 and may only go to H2 (owners H1, H2); H2 has room only when
    # C (35,000 MB) leaves for H3: two moves.
    def pb(budget: int) -> PlanningProblem:
        return _problem(
            [H("H1"), H("H2"), H("H3")],
            [
                VmSpec("A", "H1", memory_mb=30000, possible_owners=("H1", "H2")),
                VmSpec("C", "H2", memory_mb=35000),
            ],
            drain=(0,),
            max_moves=budget,
        )

    out = _solve(pb(2))
    assert out.status == SolveStatus.OPTIMAL and out.placement is not None
    assert out.placement.tolist() == [1, 2]
    _infeasible(pb(1))


def test_symmetry_breaking_keeps_the_optimum() -> None:
    # Four identical VMs on hot H1 (70 %: 11,200 milli-LP of 16,000; 4 x 3,500 = 14,000):
    # one must leave (3,500 >= 2,800).  Ordering interchangeable VMs removes no optimum.
    vms = [VmSpec(f"S{i}", "H1", cpu_milli=3500, memory_mb=2048) for i in range(4)]
    pb = _problem([H("H1"), H("H2"), H("H3")], vms, threshold_pct=70.0)
    inp = full_input(pb)
    assert inp.symmetric_groups == ((0, 1, 2, 3),)
    out = _solve(pb)
    assert out.status == SolveStatus.OPTIMAL
    assert [t.objective for t in out.tiers][:4] == [0, 0, 0, 2048]
