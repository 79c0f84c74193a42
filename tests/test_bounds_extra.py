"""Tests of :mod:`planner.bounds_extra`: hand-derived bounds on toys, and brute force over
every placement of tiny random clusters (a bound must never exceed the true minimum over the
placements its assumption admits)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import bounds_extra as bx
from planner.cluster import Cluster, RuleType, VmState
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster

GB = 1024


def _hosts(n: int, mem_gb: int = 64, lp: int = 16) -> list[HostSpec]:
    return [
        HostSpec(f"H{i}", logical_processors=lp, memory_mb=mem_gb * GB, memory_reserve_mb=0)
        for i in range(n)
    ]


def _lims(c: Cluster, pct: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    cpu = (c.host_cpu_capacity_milli * pct / 100).astype(np.int64) - c.host_cpu_base_milli
    mem = (c.host_memory_mb * pct / 100).astype(np.int64) - c.host_memory_reserve_mb
    return cpu, mem


def _cost(c: Cluster) -> np.ndarray:
    cost = np.broadcast_to(c.vm_memory_mb[:, None], (c.n_vms, c.n_hosts)).astype(np.int64).copy()
    cost[np.arange(c.n_vms), c.vm_host] = 0
    return cost


# ----------------------------------------------------------------------------- pairs
def test_min_pairs_assignment_matches_brute_force_on_small_sets() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        n, h = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        sets = [rng.random(h) < 0.6 for _ in range(n)]
        for s in sets:
            if not s.any():
                s[rng.integers(h)] = True
        best = min(
            sum(k * (k - 1) // 2 for k in np.bincount(p, minlength=h))
            for p in itertools.product(*[np.flatnonzero(s) for s in sets])
        )
        assert bx.min_pairs_assignment(sets) == best


def test_pigeonhole_three_members_two_hosts_share_one_pair() -> None:
    # Three members may use only H0 and H1: two of them share a node, so >= 1 pair.
    c = make_cluster(
        _hosts(3),
        [
            VmSpec(f"v{i}", i % 2, anti_affinity_classes=("A",), possible_owners=("H0", "H1"))
            for i in range(3)
        ],
    )
    cpu, mem = _lims(c)
    assert bx.aa_pairs_lower_bound(c, c.vm_allowed, cpu, mem) == 1


def test_pinned_members_on_one_host_are_forced_pairs() -> None:
    vms = [
        VmSpec("a", 0, pinned=True, anti_affinity_classes=("A",)),
        VmSpec("b", 0, pinned=True, anti_affinity_classes=("A",)),
        VmSpec("c", 1, anti_affinity_classes=("A",)),
    ]
    c = make_cluster(_hosts(3), vms)
    allowed = c.vm_allowed.copy()
    allowed[:2] = False
    allowed[0, 0] = allowed[1, 0] = True
    cpu, mem = _lims(c)
    assert bx.aa_pairs_lower_bound(c, allowed, cpu, mem) == 1


def test_same_node_group_holding_now_forces_its_members_together() -> None:
    vms = [
        VmSpec("a", 0, anti_affinity_classes=("A",)),
        VmSpec("b", 0, anti_affinity_classes=("A",)),
        VmSpec("c", 1),
    ]
    c = make_cluster(_hosts(3), vms, [RuleSpec("together", RuleType.SAME_NODE, ("a", "b"))])
    cpu, mem = _lims(c)
    assert bx.aa_pairs_lower_bound(c, c.vm_allowed, cpu, mem) == 1
    # A SameNode rule broken now is not hard (it may stay broken): no forced pair.
    vms[1] = VmSpec("b", 2, anti_affinity_classes=("A",))
    c2 = make_cluster(_hosts(3), vms, [RuleSpec("together", RuleType.SAME_NODE, ("a", "b"))])
    assert bx.aa_pairs_lower_bound(c2, c2.vm_allowed, *_lims(c2)) == 0


def test_matching_bound_sees_overlapping_owner_lists() -> None:
    # a: {H0}, b: {H0, H1}, c: {H1}: three members, two usable hosts.
    vms = [
        VmSpec("a", 0, possible_owners=("H0",), anti_affinity_classes=("A",)),
        VmSpec("b", 1, possible_owners=("H0", "H1"), anti_affinity_classes=("A",)),
        VmSpec("c", 1, possible_owners=("H1",), anti_affinity_classes=("A",)),
    ]
    c = make_cluster(_hosts(4), vms)
    assert bx.aa_pairs_lower_bound(c, c.vm_allowed, *_lims(c)) == 1


def test_capacity_keeps_a_big_member_off_full_hosts() -> None:
    # H1 is full of a pinned 60 GB VM: the 8 GB member b cannot go there (64 GB hosts), so
    # a and b, both limited to {H0, H1}, must share H0.
    vms = [
        VmSpec("big", 1, memory_mb=60 * GB, pinned=True),
        VmSpec(
            "a", 0, memory_mb=8 * GB, anti_affinity_classes=("A",), possible_owners=("H0", "H1")
        ),
        VmSpec(
            "b", 0, memory_mb=8 * GB, anti_affinity_classes=("A",), possible_owners=("H0", "H1")
        ),
    ]
    c = make_cluster(_hosts(3), vms)
    allowed = c.vm_allowed.copy()
    allowed[0] = False
    allowed[0, 1] = True
    assert bx.aa_pairs_lower_bound(c, allowed, *_lims(c)) == 1
    # Only running members count: with b Off the class has a single running member.
    vms[2] = VmSpec(
        "b",
        0,
        memory_mb=8 * GB,
        anti_affinity_classes=("A",),
        possible_owners=("H0", "H1"),
        state=VmState.OFF,
    )
    c2 = make_cluster(_hosts(3), vms)
    assert bx.aa_pairs_lower_bound(c2, allowed, *_lims(c2)) == 0


# ----------------------------------------------------------------------------- covers
def test_min_cover_cost_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        n = int(rng.integers(1, 8))
        w = rng.integers(1, 50, size=n)
        cost = rng.integers(0, 40, size=n)
        d = int(rng.integers(0, int(w.sum()) + 5))
        sols = [
            int(cost[list(s)].sum())
            for k in range(n + 1)
            for s in itertools.combinations(range(n), k)
            if int(w[list(s)].sum()) >= d
        ]
        assert bx.min_cover_cost(w, cost, d) == (min(sols) if sols else None)


def test_min_cover_cost_is_a_lower_bound_when_scaled() -> None:
    # Demand far above COVER_DP_UNITS: scaling keeps it a relaxation.
    w = np.array([30_001, 30_001, 50_000, 70_000])
    cost = np.array([3, 3, 5, 7])
    assert bx.min_cover_cost(w, cost, 100_000) <= 10  # exact: 30,001+70,000 -> cost 10


def test_migration_bound_hand_derived() -> None:
    # H0 (64 GB, threshold 70 % = 45,875 MB) carries 4 x 16 GB = 64 GB: at least
    # 65,536 - 45,875 = 19,661 MB must leave, so two 16 GB VMs: 32,768 MB.
    vms = [VmSpec(f"v{i}", 0, memory_mb=16 * GB, cpu_milli=100) for i in range(4)]
    c = make_cluster(_hosts(3), vms)
    cpu, mem = _lims(c, 70.0)
    assert bx.migration_lower_bound(c, c.vm_allowed, cpu, mem, _cost(c)) == 32 * GB
    # Without the excess-0 assumption nothing is mandatory.
    assert bx.migration_lower_bound(c, c.vm_allowed, cpu, mem, _cost(c), excess_zero=False) == 0
    # A larger per-node bound from elsewhere (say an exact CP-SAT cover) is kept.
    assert (
        bx.migration_lower_bound(c, c.vm_allowed, cpu, mem, _cost(c), node_bounds={0: 40 * GB})
        == 40 * GB
    )


def test_migration_bound_counts_mandatory_moves_at_their_cheapest_fitting_target() -> None:
    vms = [VmSpec("a", 0, memory_mb=8 * GB)]
    c = make_cluster(_hosts(2), vms)
    allowed = c.vm_allowed.copy()
    allowed[0, 0] = False  # must leave H0
    assert bx.migration_lower_bound(c, allowed, *_lims(c), _cost(c), excess_zero=False) == 8 * GB


# ----------------------------------------------------------------------------- balance
def test_balance_bound_averages_over_the_hosts_a_group_may_use() -> None:
    # Three 32 GB VMs limited to H0/H1 (64 GB each): 96 of 128 GB -> at least 75 %.
    vms = [
        VmSpec(f"v{i}", i % 2, memory_mb=32 * GB, cpu_milli=10, possible_owners=("H0", "H1"))
        for i in range(3)
    ]
    c = make_cluster(_hosts(3), vms)
    bal = np.ones(3, dtype=bool)
    assert bx.balance_lower_bound(c, c.vm_allowed, *_lims(c, 70), bal) >= 7500


# ----------------------------------------------------------------------------- brute force
def _placements(c: Cluster, allowed: np.ndarray) -> list[np.ndarray]:
    return [np.array(p) for p in itertools.product(*[np.flatnonzero(r) for r in allowed])]


def _loads(c: Cluster, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cpu = np.bincount(p, weights=c.vm_cpu_load_milli, minlength=c.n_hosts)
    mem = np.bincount(p, weights=c.vm_mem_load_mb, minlength=c.n_hosts)
    return cpu, mem


def _pairs(c: Cluster, p: np.ndarray) -> int:
    n = 0
    for m in c.aa_class_members:
        run = [v for v in m if c.vm_consumes[v]]
        _, k = np.unique(p[run], return_counts=True)
        n += int((k * (k - 1) // 2).sum())
    return n


def _balance(c: Cluster, p: np.ndarray, bal: np.ndarray) -> int:
    cpu, mem = _loads(c, p)
    uc = -((-bx.BP * (cpu.astype(np.int64) + c.host_cpu_base_milli)) // c.host_cpu_capacity_milli)
    um = -((-bx.BP * (mem.astype(np.int64) + c.host_memory_reserve_mb)) // c.host_memory_mb)
    return int(np.maximum(uc, um)[bal].max())


@st.composite
def tiny(draw: st.DrawFn) -> tuple[Cluster, np.ndarray, float]:
    """A tiny cluster (2-3 hosts, 3-6 VMs), a random allowed matrix and a threshold."""
    nh = draw(st.integers(2, 3))
    nv = draw(st.integers(3, 6))
    hosts = [
        HostSpec(
            f"H{i}",
            logical_processors=4,
            memory_mb=draw(st.sampled_from([16, 24])) * GB,
            memory_reserve_mb=draw(st.sampled_from([0, 2 * GB])),
            cpu_base_milli=draw(st.sampled_from([0, 400])),
        )
        for i in range(nh)
    ]
    classes = draw(st.lists(st.sampled_from(["A", "B"]), min_size=nv, max_size=nv))
    vms = [
        VmSpec(
            f"v{i}",
            draw(st.integers(0, nh - 1)),
            memory_mb=draw(st.sampled_from([2, 4, 6, 8])) * GB,
            cpu_milli=draw(st.sampled_from([200, 800, 1500])),
            state=draw(st.sampled_from([VmState.RUNNING] * 4 + [VmState.OFF])),
            anti_affinity_classes=(classes[i],) if draw(st.booleans()) else (),
        )
        for i in range(nv)
    ]
    rules = []
    if draw(st.booleans()):
        rules.append(RuleSpec("sn", RuleType.SAME_NODE, ("v0", "v1")))
    c = make_cluster(hosts, vms, rules)
    allowed = np.array([[draw(st.booleans()) for _ in range(nh)] for _ in range(nv)])
    for v in range(nv):
        if not allowed[v].any():
            allowed[v, draw(st.integers(0, nh - 1))] = True
    return c, allowed, draw(st.sampled_from([60.0, 75.0, 90.0]))


def _feasible(
    c: Cluster, allowed: np.ndarray, cpu_lim: np.ndarray, mem_lim: np.ndarray
) -> list[np.ndarray]:
    groups = bx.hard_same_node_groups(c)
    out = []
    for p in _placements(c, allowed):
        cpu, mem = _loads(c, p)
        if (cpu > cpu_lim).any() or (mem > mem_lim).any():
            continue
        if any(len(set(p[g].tolist())) > 1 for g in groups):
            continue
        out.append(p)
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny())
def test_every_bound_is_at_most_the_brute_force_minimum(
    case: tuple[Cluster, np.ndarray, float],
) -> None:
    c, allowed, pct = case
    cap_c, cap_m = c.host_cpu_free_milli, c.host_memory_free_mb
    thr_c, thr_m = _lims(c, pct)
    cost = _cost(c)
    bal = np.ones(c.n_hosts, dtype=bool)
    any_plan = _feasible(c, allowed, cap_c, cap_m)
    under = _feasible(c, allowed, thr_c, thr_m)
    if any_plan:
        assert bx.aa_pairs_lower_bound(c, allowed, thr_c, thr_m) <= min(
            _pairs(c, p) for p in any_plan
        )
        assert bx.balance_lower_bound(c, allowed, thr_c, thr_m, bal) <= min(
            _balance(c, p, bal) for p in any_plan
        )
        move = [int(cost[np.arange(c.n_vms), p].sum()) for p in any_plan]
        assert bx.migration_lower_bound(c, allowed, thr_c, thr_m, cost, excess_zero=False) <= min(
            move
        )
    if under:
        assert bx.aa_pairs_lower_bound(c, allowed, thr_c, thr_m, excess_zero=True) <= min(
            _pairs(c, p) for p in under
        )
        move = [int(cost[np.arange(c.n_vms), p].sum()) for p in under]
        assert bx.migration_lower_bound(c, allowed, thr_c, thr_m, cost) <= min(move)
        m = min(move) + int(c.vm_memory_mb.max())  # a budget a little above the optimum
        within = [p for p, x in zip(under, move, strict=True) if x <= m]
        assert bx.balance_lower_bound(c, allowed, thr_c, thr_m, bal, cost, m) <= min(
            _balance(c, p, bal) for p in within
        )


@pytest.mark.parametrize("n_hosts", [2, 3])
def test_bounds_are_zero_on_an_empty_cluster(n_hosts: int) -> None:
    c = make_cluster(_hosts(n_hosts), [])
    allowed = np.zeros((0, n_hosts), dtype=bool)
    cpu, mem = _lims(c, 70)
    assert bx.aa_pairs_lower_bound(c, allowed, cpu, mem) == 0
    assert bx.migration_lower_bound(c, allowed, cpu, mem, np.zeros((0, n_hosts), np.int64)) == 0
    assert bx.balance_lower_bound(c, allowed, cpu, mem, np.ones(n_hosts, bool)) == 0


def test_tier_bounds_gathers_every_bound_with_its_assumption() -> None:
    vms = [
        VmSpec(
            f"v{i}",
            0,
            memory_mb=16 * GB,
            cpu_milli=100,
            anti_affinity_classes=("A",),
            possible_owners=("H0", "H1"),
        )
        for i in range(3)
    ] + [VmSpec("w", 1, memory_mb=4 * GB)]
    c = make_cluster(_hosts(3), vms)
    cpu, mem = _lims(c, 70.0)
    tb = bx.tier_bounds(c, c.vm_allowed, cpu[None, :], mem, _cost(c), np.ones(3, bool))
    assert tb.anti_affinity == 1  # three members, two usable hosts
    assert tb.migration_always == 0
    # H0 holds 48 GB of a 45,875 MB limit: one 16 GB VM must leave.
    assert tb.migration_if_excess_zero == 16 * GB and tb.node_covers == {0: 16 * GB}
    assert tb.balance_always == 3750  # 48 GB confined to H0/H1 (128 GB): 37.5 % at least
    assert (
        bx.tier_bounds(
            c, c.vm_allowed, cpu, mem, _cost(c), np.ones(3, bool), enforce_anti_affinity=True
        ).anti_affinity
        == 0
    )
    with pytest.raises(ValueError, match="one load sample"):
        bx.tier_bounds(c, c.vm_allowed, np.vstack([cpu, cpu]), mem, _cost(c), np.ones(3, bool))
