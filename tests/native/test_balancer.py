"""Tests of the native balancer simulations on hand-made toys and random clusters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.cluster import Cluster, MoveKind, RuleType, Vendor
from planner.evaluate import evaluate
from planner.loadmodel import HighMode, Level, host_loads, resolve_threshold
from planner.native import (
    NODE_FAIRNESS_INTERVAL_S,
    DynamicOptimizationOptions,
    NodeFairnessOptions,
    SimulationResult,
    VmChoice,
    default_variants,
    simulate,
    simulate_dynamic_optimization,
    simulate_node_fairness,
)
from tests.strategies import HostSpec, RuleSpec, VmSpec, clusters, make_cluster

GB = 1024


def toy(
    vm_overrides: dict[str, dict[str, object]] | None = None,
    host_overrides: dict[str, dict[str, object]] | None = None,
    rules: tuple[RuleSpec, ...] = (),
) -> Cluster:
    """Three 10-LP, 100 GB hosts (no reserve).  h0 is at 90 % CPU: a (3 LP, 40 GB),
    b (4 LP, 10 GB), c (2 LP, 5 GB); h1 is empty; h2 runs d (5 LP, 10 GB) = 50 %.
    At Low (80 %) h0 is 1,000 milli-LP over; every VM of h0 fixes it alone."""
    ho = host_overrides or {}
    vo = vm_overrides or {}
    hosts = [
        HostSpec(n, logical_processors=10, memory_mb=100 * GB, memory_reserve_mb=0, **ho.get(n, {}))  # type: ignore[arg-type]
        for n in ("h0", "h1", "h2")
    ]
    base = {
        "a": ("h0", 40 * GB, 3000),
        "b": ("h0", 10 * GB, 4000),
        "c": ("h0", 5 * GB, 2000),
        "d": ("h2", 10 * GB, 5000),
    }
    vms = [
        VmSpec(
            **{"name": n, "host": h, "vcpus": 8, "memory_mb": m, "cpu_milli": cpu, **vo.get(n, {})}
        )  # type: ignore[arg-type]
        for n, (h, m, cpu) in base.items()
    ]
    return make_cluster(hosts, vms, rules)


def moved(c: Cluster, r: SimulationResult) -> list[tuple[str, str, str]]:
    return [(c.vm_names[m.vm], c.host_names[m.source], c.host_names[m.target]) for m in r.moves]


def nf(c: Cluster, choice: VmChoice = VmChoice.LARGEST_MEMORY, **kw: object) -> SimulationResult:
    opts = {"vm_choice": choice, "level": Level.LOW, **kw}
    return simulate_node_fairness(c, NodeFairnessOptions(**opts))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Node Fairness
@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (VmChoice.LARGEST_MEMORY, "a"),  # 40 GB is the largest
        (VmChoice.SMALLEST_MEMORY, "c"),  # 5 GB is the smallest
        (VmChoice.HIGHEST_CPU, "b"),  # 4 LP is the highest demand
        (VmChoice.LOWEST_COST, "c"),  # every VM fixes h0 alone: the least memory wins
    ],
)
def test_hot_host_is_relieved_by_each_variant(choice: VmChoice, expected: str) -> None:
    c = toy()
    r = nf(c, choice)
    # h1 (empty) has the lowest pressure after the move, so it is the target.
    assert moved(c, r) == [(expected, "h0", "h1")]
    assert host_loads(c, r.placement).cpu_pct[0] <= 80.0
    assert [p.moves for p in r.passes] == [1, 0]  # a second pass finds nothing: stable
    assert r.converged
    assert r.moves[0].pass_number == 1 and r.moves[0].time_s == 0.0
    assert r.moves[0].kind == MoveKind.LIVE
    assert r.memory_moved_mb == int(c.vm_memory_mb[c.vm_index[expected]])


def test_incompatible_node_is_never_a_target() -> None:
    # h1 is AMD: a running Intel VM cannot live-migrate there, even though h1 is empty.
    c = toy(host_overrides={"h1": {"vendor": Vendor.AMD}})
    r = nf(c)
    assert moved(c, r) == [("a", "h0", "h2")]
    assert all(c.vm_move_kind[m.vm, m.target] == MoveKind.LIVE for m in r.moves)


def test_no_compatible_room_means_no_move() -> None:
    # h1 AMD and h2 too full for any VM of h0 under 80 %: nothing can move.
    c = toy(host_overrides={"h1": {"vendor": Vendor.AMD}}, vm_overrides={"d": {"cpu_milli": 7000}})
    r = nf(c)
    assert r.moves == ()
    assert r.converged
    assert evaluate(c, r.placement).hosts_over[0, 0] == 1


def test_possible_owners_are_honoured() -> None:
    c = toy(vm_overrides={"a": {"possible_owners": ("h0", "h2")}})
    assert moved(c, nf(c)) == [("a", "h0", "h2")]


def test_different_node_rule_is_honoured() -> None:
    # a and e must stay on different nodes; e runs on h1, so a goes to h2.
    hosts = [
        HostSpec(n, logical_processors=10, memory_mb=100 * GB, memory_reserve_mb=0)
        for n in ("h0", "h1", "h2")
    ]
    vms = [
        VmSpec("a", "h0", vcpus=8, memory_mb=40 * GB, cpu_milli=3000),
        VmSpec("b", "h0", vcpus=8, memory_mb=10 * GB, cpu_milli=4000),
        VmSpec("c", "h0", vcpus=8, memory_mb=5 * GB, cpu_milli=2000),
        VmSpec("e", "h1", vcpus=1, memory_mb=1 * GB, cpu_milli=100),
        VmSpec("d", "h2", vcpus=8, memory_mb=10 * GB, cpu_milli=2000),
    ]
    rule = RuleSpec("apart", RuleType.DIFFERENT_NODE, ("a", "e"))
    c = make_cluster(hosts, vms, [rule])
    r = nf(c)
    assert moved(c, r) == [("a", "h0", "h2")]
    # The same rule disabled does not constrain the balancer.
    c2 = make_cluster(
        hosts, vms, [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("a", "e"), enabled=False)]
    )
    assert moved(c2, nf(c2)) == [("a", "h0", "h1")]


def test_legacy_anti_affinity_is_honoured() -> None:
    # a and s share the class "sql"; s runs on h1, so a goes to h2.
    hosts = [
        HostSpec(n, logical_processors=10, memory_mb=100 * GB, memory_reserve_mb=0)
        for n in ("h0", "h1", "h2")
    ]
    vms = [
        VmSpec(
            "a", "h0", vcpus=8, memory_mb=40 * GB, cpu_milli=3000, anti_affinity_classes=("sql",)
        ),
        VmSpec("b", "h0", vcpus=8, memory_mb=10 * GB, cpu_milli=4000),
        VmSpec("c", "h0", vcpus=8, memory_mb=5 * GB, cpu_milli=2000),
        VmSpec("s", "h1", vcpus=1, memory_mb=1 * GB, cpu_milli=100, anti_affinity_classes=("sql",)),
        VmSpec("d", "h2", vcpus=8, memory_mb=10 * GB, cpu_milli=2000),
    ]
    c = make_cluster(hosts, vms)
    assert moved(c, nf(c)) == [("a", "h0", "h2")]


def test_same_fault_domain_rule_keeps_the_move_inside_the_domain() -> None:
    # a and d must share a fault domain: h0 and h2 are rack A, h1 rack B.
    c = toy(
        host_overrides={
            "h0": {"fault_domain": "A"},
            "h1": {"fault_domain": "B"},
            "h2": {"fault_domain": "A"},
        },
        rules=(RuleSpec("together", RuleType.SAME_FAULT_DOMAIN, ("a", "d")),),
    )
    assert moved(c, nf(c)) == [("a", "h0", "h2")]


def test_same_node_members_move_together() -> None:
    # a and c form a SameNode unit (45 GB, 5 LP): they move together to h1.
    c = toy(rules=(RuleSpec("pair", RuleType.SAME_NODE, ("a", "c")),))
    r = nf(c)
    assert sorted(moved(c, r)) == [("a", "h0", "h1"), ("c", "h0", "h1")]
    assert evaluate(c, r.placement).rule_violations()[0] == 0


def test_pinned_vm_stays() -> None:
    c = toy(vm_overrides={"a": {"pinned": True}})
    assert moved(c, nf(c)) == [("b", "h0", "h1")]  # the next largest memory (10 GB)
    r = simulate_node_fairness(c, NodeFairnessOptions(level=Level.LOW, respect_pinned=False))
    assert moved(c, r) == [("a", "h0", "h1")]


def test_passes_run_every_30_minutes_and_stop() -> None:
    # h0 at 100 %: a, b and c (3 + 4 + 2 LP) plus f (1 LP).  One move per node per pass:
    # pass 1 moves a (-> 70 %), and h0 is under 80 %; then pass 2 finds nothing.  With
    # smallest first: f (-> 90 %), then c (-> 70 %): two passes with moves, a third without.
    hosts = [
        HostSpec(n, logical_processors=10, memory_mb=100 * GB, memory_reserve_mb=0)
        for n in ("h0", "h1", "h2")
    ]
    vms = [
        VmSpec("a", "h0", vcpus=8, memory_mb=40 * GB, cpu_milli=3000),
        VmSpec("b", "h0", vcpus=8, memory_mb=10 * GB, cpu_milli=4000),
        VmSpec("c", "h0", vcpus=8, memory_mb=5 * GB, cpu_milli=2000),
        VmSpec("f", "h0", vcpus=8, memory_mb=2 * GB, cpu_milli=1000),
    ]
    c = make_cluster(hosts, vms)
    r = nf(c, VmChoice.SMALLEST_MEMORY, max_moves_per_node=1)
    assert [p.moves for p in r.passes] == [1, 1, 0]
    assert [p.time_s for p in r.passes] == [
        0.0,
        NODE_FAIRNESS_INTERVAL_S,
        2 * NODE_FAIRNESS_INTERVAL_S,
    ]
    assert [c.vm_names[m.vm] for m in r.moves] == ["f", "c"]
    assert [m.pass_number for m in r.moves] == [1, 2]
    assert r.converged and r.passes_with_moves == 2
    assert r.converge_seconds == pytest.approx(
        NODE_FAIRNESS_INTERVAL_S + r.passes[1].migration_seconds
    )
    limited = nf(c, VmChoice.SMALLEST_MEMORY, max_moves_per_node=1, max_passes=1)
    assert len(limited.passes) == 1 and not limited.converged


def test_mode_one_moves_only_to_the_joined_node() -> None:
    c = toy()
    r = nf(c, mode=1, joined_host=2)
    assert len(r.passes) == 1
    # h2 at 50 % takes a VM only if it stays at or under 80 %: a (3 LP) fits, to 80 %.
    assert moved(c, r) == [("a", "h0", "h2")]
    with pytest.raises(ValueError, match="joined_host"):
        nf(c, mode=1)
    assert nf(c, mode=0).moves == ()


def test_high_level_both_readings() -> None:
    c = toy()
    avg = resolve_threshold(c, Level.HIGH, high_mode=HighMode.AVERAGE)
    # Up hosts' CPU average: (90 + 0 + 50) / 3 = 46.67, + 5 = 51.67 %.
    assert avg.cpu_pct == pytest.approx(140 / 3 + 5)
    r_avg = nf(c, level=Level.HIGH, high_mode=HighMode.AVERAGE)
    r_abs = nf(c, level=Level.HIGH, high_mode=HighMode.ABSOLUTE)
    assert r_avg.options["high_mode"] == "average" and r_abs.options["high_mode"] == "absolute"
    for r, limit in ((r_abs, 60.0), (r_avg, None)):
        final = resolve_threshold(
            c, Level.HIGH, high_mode=HighMode(r.options["high_mode"]), placement=r.placement
        )
        assert r.moves
        cpu = host_loads(c, r.placement).cpu_pct
        assert cpu.max() <= (limit if limit is not None else final.cpu_pct) + 1e-9


def test_deterministic() -> None:
    c = toy()
    for v in default_variants(Level.LOW):
        a, b = simulate(c, v), simulate(c, v)
        assert a.moves == b.moves
        np.testing.assert_array_equal(a.placement, b.placement)


# ----------------------------------------------------------------------------- SCVMM DO
def test_dynamic_optimization_aggressiveness_sets_the_minimum_gain() -> None:
    # h0 at 90 % CPU.  Moving c (2 LP) to h1 lowers the busier node from 90 % to 70 %:
    # a gain of 20 points.  Moving b (4 LP) gives 90 -> 50 (h0), h1 at 40: gain 40.
    c = toy()
    r3 = simulate_dynamic_optimization(c, DynamicOptimizationOptions(aggressiveness=3))
    assert moved(c, r3)[0][0] == "b"  # the largest gain first
    assert host_loads(c, r3.placement).cpu_pct.max() <= 70.0  # 30 % CPU free everywhere
    assert r3.converged and r3.passes[0].time_s == 0.0
    # Small VMs only: each move gains 5 points at most; aggressiveness 1 (20 points) does
    # nothing, 5 (0.5 point) relieves the node.
    hosts = [
        HostSpec(n, logical_processors=10, memory_mb=100 * GB, memory_reserve_mb=0)
        for n in ("h0", "h1")
    ]
    vms = [VmSpec(f"v{i}", "h0", vcpus=2, memory_mb=2 * GB, cpu_milli=500) for i in range(18)]
    small = make_cluster(hosts, vms)
    r1 = simulate_dynamic_optimization(small, DynamicOptimizationOptions(aggressiveness=1))
    r5 = simulate_dynamic_optimization(small, DynamicOptimizationOptions(aggressiveness=5))
    assert r1.moves == ()
    assert r5.moves and host_loads(small, r5.placement).cpu_pct[0] <= 70.0
    assert simulate_dynamic_optimization(
        small, DynamicOptimizationOptions(aggressiveness=5, interval_minutes=60)
    ).passes[-1].time_s in (0.0, 3600.0)


def test_dynamic_optimization_honours_compatibility_and_owners() -> None:
    c = toy(
        host_overrides={"h1": {"vendor": Vendor.AMD}},
        vm_overrides={"b": {"possible_owners": ("h0",)}},
    )
    r = simulate_dynamic_optimization(c)
    assert r.moves
    for m in r.moves:
        assert c.vm_move_kind[m.vm, m.target] == MoveKind.LIVE
        assert c.vm_possible[m.vm, m.target]
        assert c.host_names[m.target] == "h2"


def test_bad_options_raise() -> None:
    c = toy()
    with pytest.raises(ValueError, match="aggressiveness"):
        simulate_dynamic_optimization(c, DynamicOptimizationOptions(aggressiveness=6))
    with pytest.raises(ValueError, match="interval"):
        simulate_dynamic_optimization(c, DynamicOptimizationOptions(interval_minutes=5))
    with pytest.raises(ValueError, match="mode"):
        nf(c, mode=3)


# ----------------------------------------------------------------------------- properties
@given(
    clusters(max_hosts=5, max_vms=14, max_rules=4), st.sampled_from(default_variants(Level.MEDIUM))
)
def test_simulations_keep_every_hard_rule(
    c: Cluster, variant: NodeFairnessOptions | DynamicOptimizationOptions
) -> None:
    """From a valid placement, every simulated placement stays valid, every move is a live
    migration of a running, unpinned VM, and replaying the moves gives the placement."""
    r = simulate(c, variant)
    assert evaluate(c, r.placement).hard_violations[0] == 0
    p = c.vm_host.astype(np.int64).copy()
    for m in r.moves:
        assert p[m.vm] == m.source
        assert c.vm_move_kind[m.vm, m.target] == MoveKind.LIVE
        assert c.vm_consumes[m.vm] and not c.vm_pinned[m.vm]
        p[m.vm] = m.target
    np.testing.assert_array_equal(p, r.placement)
    assert len(r.passes) <= variant.max_passes
    if isinstance(variant, NodeFairnessOptions):
        # A target stays under the (fixed) Medium threshold and sources only lose load, so
        # the number of hosts above it never grows.
        before = evaluate(c, c.vm_host).hosts_over[1, 0]
        assert evaluate(c, r.placement).hosts_over[1, 0] <= before
