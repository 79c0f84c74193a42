"""The vectorized restart simulation (planner.failover) and the exact check
(planner.cpsat.capacity) on hand-made toys with hand-derived answers, plus property tests.

Toy sizes: a host of ``memory_mb=64000`` with ``memory_reserve_mb=4000`` has 60,000 MB for
VMs; CPU is kept small unless a test is about CPU, so memory decides.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.cluster import (
    Cluster,
    ClusterSettings,
    CompatMode,
    HostState,
    MoveKind,
    RuleType,
    Vendor,
    VmState,
)
from planner.cpsat.capacity import ExactStatus, exact_restart
from planner.failover import Mode, RestartEngine, RestartResult, failed_matrix
from tests.strategies import HostSpec, RuleSpec, VmSpec, clusters, make_cluster

MEM = 64000
RES = 4000  # => 60,000 MB for VMs per host


def host(name: str, **kw: object) -> HostSpec:
    """A 16-LP host with 60,000 MB for VMs."""
    return HostSpec(name, logical_processors=16, memory_mb=MEM, memory_reserve_mb=RES, **kw)  # type: ignore[arg-type]


def vm(name: str, on: str, mem: int, **kw: object) -> VmSpec:
    """A VM with little CPU so memory decides."""
    return VmSpec(name, on, memory_mb=mem, cpu_milli=100, **kw)  # type: ignore[arg-type]


def run_one(c: Cluster, failed: tuple[int, ...], mode: Mode = "failover") -> RestartResult:
    """Simulate one scenario."""
    eng = RestartEngine(c, mode)
    return eng.run(failed_matrix(c.n_hosts, [failed]))


# ----------------------------------------------------------------------------- survive / not
def three_nodes(load_per_host: int, n_vms: int = 2) -> Cluster:
    each = load_per_host // n_vms
    vms = [vm(f"V{h}{i}", f"H{h}", each) for h in range(3) for i in range(n_vms)]
    return make_cluster([host("H0"), host("H1"), host("H2")], vms)


def test_three_nodes_survive_any_single_failure() -> None:
    # 20,000 MB per host in two VMs of 10,000; a failure puts one VM on each survivor:
    # 30,000 <= 60,000.
    c = three_nodes(20000)
    res = RestartEngine(c).run(np.eye(3, dtype=bool))
    assert res.complete.all()
    for s in range(3):
        assert len(res.movers[s]) == 2
        # Survivors get one VM each (spread by headroom): 30,000 MB.
        alive = np.arange(3) != s
        assert (res.mem_used[s][alive] == 30000).all()
        assert res.mem_used[s][s] == 0


def test_three_nodes_do_not_survive_and_bound_proves_it() -> None:
    # 45,000 MB per host in three VMs of 15,000; room left after one failure is 2 x 15,000 =
    # 30,000 < 45,000: the total-demand bound proves it.
    c = three_nodes(45000, n_vms=3)
    res = RestartEngine(c).run(np.eye(3, dtype=bool))
    assert not res.complete.any()
    assert res.bound_infeasible.all()
    for s in range(3):
        # Each survivor takes exactly one 15,000 MB VM; one VM is left out.
        assert len(res.not_placed(s)) == 1
        ex = exact_restart(res.instance(s))
        assert ex.status == ExactStatus.INFEASIBLE


def test_priority_order_decides_who_is_left_out() -> None:
    # H1 has room for one 10,000 MB VM only (50,000 used).  The Low VM is listed first in the
    # snapshot, yet the High one restarts.
    c = make_cluster(
        [host("H0"), host("H1")],
        [
            vm("LOW", "H0", 10000, priority=1000),
            vm("HIGH", "H0", 10000, priority=3000),
            vm("MED", "H0", 10000, priority=2000),
            vm("FULL", "H1", 50000),
        ],
    )
    res = run_one(c, (0,))
    left = [c.vm_names[v] for v in res.not_placed(0)]
    assert sorted(left) == ["LOW", "MED"]
    assert res.not_placed_by_priority()[0].tolist() == [0, 1, 1]
    assert [c.vm_names[v] for v in res.movers[0]][0] == "HIGH"


def test_noautostart_stays_off_and_off_vms_need_nothing() -> None:
    c = make_cluster(
        [host("H0"), host("H1")],
        [
            vm("NAS", "H0", 50000, priority=0),
            vm("OFF", "H0", 50000, state=VmState.OFF),
            vm("RUN", "H0", 10000),
            vm("FULL", "H1", 45000),
        ],
    )
    res = run_one(c, (0,))
    assert [c.vm_names[v] for v in res.movers[0]] == ["RUN"]
    assert res.complete[0]
    assert res.noautostart_off[0] == 1


def test_down_host_counts_as_failed_in_every_scenario() -> None:
    c = make_cluster(
        [host("H0"), host("H1"), host("H2", state=HostState.DOWN)],
        [vm("A", "H0", 10000), vm("B", "H2", 10000)],
    )
    res = run_one(c, (0,))
    assert sorted(c.vm_names[v] for v in res.movers[0]) == ["A", "B"]
    assert (res.targets[0] == 1).all()


# ----------------------------------------------------------------------------- host choice
def test_preferred_owner_wins_over_headroom() -> None:
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [
            vm("A", "H0", 10000, preferred_owners=("H0", "H2")),
            vm("B", "H2", 30000),
        ],
    )
    res = run_one(c, (0,))
    assert res.targets[0].tolist() == [2]  # H1 is emptier, but H2 is preferred


def test_preferred_owners_are_followed_in_order_however_long_the_list() -> None:
    # Forty preferred owners; the first one that can take the VM wins even though every
    # later one is much emptier.  H1 (first preference) is full, H2 (second) just has room.
    hosts = [host(f"H{i}") for i in range(42)]
    vms = [
        vm("A", "H0", 10000, preferred_owners=tuple(f"H{i}" for i in range(1, 41))),
        vm("FULL", "H1", 55000),
        vm("SOME", "H2", 49000),
    ]
    assert run_one(make_cluster(hosts, vms), (0,)).targets[0].tolist() == [2]


def test_headroom_spreads_when_nothing_is_preferred() -> None:
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")], [vm("A", "H0", 10000), vm("B", "H2", 30000)]
    )
    assert run_one(c, (0,)).targets[0].tolist() == [1]


def test_possible_owners_are_hard() -> None:
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm("A", "H0", 10000, possible_owners=("H0", "H2")), vm("B", "H2", 30000)],
    )
    assert run_one(c, (0,)).targets[0].tolist() == [2]
    c2 = make_cluster([host("H0"), host("H1")], [vm("A", "H0", 10000, possible_owners=("H0",))])
    res = run_one(c2, (0,))
    assert res.not_placed(0).tolist() == [0]
    assert res.bound_infeasible[0]


def test_restart_is_a_cold_start_across_vendors_but_a_drain_is_not() -> None:
    # A VM on an Intel node restarts on the AMD node after a failure (it boots fresh), but
    # cannot be drained there live; with allow_downtime the drain uses a shutdown move.
    hosts = [host("I0"), host("A1", vendor=Vendor.AMD)]
    c = make_cluster(hosts, [vm("V", "I0", 10000)])
    assert run_one(c, (0,)).targets[0].tolist() == [1]
    assert run_one(c, (0,), "drain").targets[0].tolist() == [-1]
    c2 = make_cluster(hosts, [vm("V", "I0", 10000, allow_downtime=True)])
    assert run_one(c2, (0,), "drain").targets[0].tolist() == [1]


# ----------------------------------------------------------------------------- rules
def test_different_node_avoids_survivor_hosts() -> None:
    # A and B must not share a node.  H1 (B's node) has the most room, yet A goes to H2.
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm("A", "H0", 10000), vm("B", "H1", 5000), vm("C", "H2", 30000)],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"))],
    )
    assert run_one(c, (0,)).targets[0].tolist() == [2]


def test_different_node_between_restarting_members() -> None:
    # A and B share H0 (a rule broken in the snapshot, built on purpose); after H0 fails the
    # restart must separate them.  Without the rule both would go to the empty H1.
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm("A", "H0", 1000), vm("B", "H0", 1000), vm("C", "H0", 1000), vm("X", "H2", 40000)],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"))],
    )
    res = run_one(c, (0,))
    t = dict(zip([c.vm_names[v] for v in res.movers[0]], res.targets[0].tolist(), strict=True))
    assert t["C"] == 1 and {t["A"], t["B"]} == {1, 2}
    free = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm("A", "H0", 1000), vm("B", "H0", 1000), vm("X", "H2", 40000)],
    )
    assert run_one(free, (0,)).targets[0].tolist() == [1, 1]


def test_different_node_with_no_legal_host_is_infeasible_exactly() -> None:
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm("A", "H0", 1000), vm("B", "H1", 1000), vm("C", "H2", 1000)],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B", "C"))],
    )
    res = run_one(c, (0,))
    assert res.not_placed(0).tolist() == [0]
    assert exact_restart(res.instance(0)).status == ExactStatus.INFEASIBLE


def test_same_node_members_restart_together_and_join_survivors() -> None:
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm("A", "H0", 10000), vm("B", "H0", 10000), vm("C", "H1", 40000)],
        [RuleSpec("together", RuleType.SAME_NODE, ("A", "B"))],
    )
    res = run_one(c, (0,))
    assert res.targets[0].tolist() == [2, 2]
    # A member that survives on H1 pulls the restarting one there.
    c2 = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm("A", "H0", 10000), vm("B", "H1", 10000)],
        [RuleSpec("together", RuleType.SAME_NODE, ("A", "B"))],
    )
    assert run_one(c2, (0,)).targets[0].tolist() == [1]


def test_fault_domain_rules() -> None:
    hosts = [
        host("H0", fault_domain="R1"),
        host("H1", fault_domain="R1"),
        host("H2", fault_domain="R2"),
        host("H3", fault_domain="R2"),
    ]
    vms = [vm("A", "H0", 1000), vm("B", "H2", 1000), vm("F1", "H1", 1), vm("F3", "H3", 1)]
    apart = make_cluster(hosts, vms, [RuleSpec("r", RuleType.DIFFERENT_FAULT_DOMAIN, ("A", "B"))])
    assert run_one(apart, (0,)).targets[0].tolist() == [1]  # stays out of R2
    same = make_cluster(hosts, vms, [RuleSpec("r", RuleType.SAME_FAULT_DOMAIN, ("A", "B"))])
    assert run_one(same, (0,)).targets[0].tolist()[0] in (2, 3)  # joins B in R2


def test_enforced_anti_affinity_is_hard_and_legacy_is_a_preference() -> None:
    hosts = [host("H0"), host("H1"), host("H2")]
    vms = [
        vm("A", "H0", 1000, anti_affinity_classes=("sql",)),
        vm("B", "H1", 1000, anti_affinity_classes=("sql",)),
        vm("C", "H2", 1000, anti_affinity_classes=("sql",)),
    ]
    soft = make_cluster(hosts, vms)
    assert run_one(soft, (0,)).targets[0].tolist()[0] in (1, 2)
    hard = make_cluster(hosts, vms, settings=ClusterSettings(enforced_anti_affinity=True))
    assert run_one(hard, (0,)).targets[0].tolist() == [-1]
    # The soft class steers: with H1 holding a class member, H2 is chosen though fuller.
    vms2 = [
        vm("A", "H0", 1000, anti_affinity_classes=("sql",)),
        vm("B", "H1", 1000, anti_affinity_classes=("sql",)),
        vm("X", "H2", 30000),
    ]
    assert run_one(make_cluster(hosts, vms2), (0,)).targets[0].tolist() == [2]


# ----------------------------------------------------------------------------- exact check
def test_exact_check_proves_a_case_the_greedy_screen_misses() -> None:
    # H1 and H2 each have 10,000 MB left.  H0 fails with two High VMs of 3,000 and a Medium
    # VM of 8,000.  The greedy restarts High first and spreads them (7,000 left on each),
    # so the 8,000 MB VM fits nowhere.  Both Highs on one node (4,000 left) and the Medium
    # on the other is a valid placement: total 14,000 <= 20,000 and every VM fits alone, so
    # no bound applies and only the exact check can tell.
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [
            vm("HI1", "H0", 3000, priority=3000),
            vm("HI2", "H0", 3000, priority=3000),
            vm("MED", "H0", 8000, priority=2000),
            vm("F1", "H1", 50000),
            vm("F2", "H2", 50000),
        ],
    )
    res = run_one(c, (0,))
    assert [c.vm_names[v] for v in res.not_placed(0)] == ["MED"]
    assert not res.bound_infeasible[0]
    ex = exact_restart(res.instance(0))
    assert ex.status == ExactStatus.FEASIBLE and ex.item_host is not None
    fixed = res.with_exact(0, ex.item_host)
    assert (fixed.targets[0] >= 1).all()
    assert (fixed.mem_used[0] <= c.host_memory_free_mb).all()
    assert fixed.mem_used[0].tolist()[1:] in ([56000, 58000], [58000, 56000])


def test_exact_check_proves_infeasible_where_no_bound_applies() -> None:
    # Three 6,000 MB VMs into two nodes with 10,000 MB left: 18,000 <= 20,000 and each fits
    # alone, but no node can take two.
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [
            vm("A", "H0", 6000),
            vm("B", "H0", 6000),
            vm("C", "H0", 6000),
            vm("F1", "H1", 50000),
            vm("F2", "H2", 50000),
        ],
    )
    res = run_one(c, (0,))
    assert not res.bound_infeasible[0] and len(res.not_placed(0)) == 1
    assert exact_restart(res.instance(0)).status == ExactStatus.INFEASIBLE


# ----------------------------------------------------------------------------- properties
def _check_restart_placement(
    c: Cluster, failed: np.ndarray, movers: np.ndarray, targets: np.ndarray
) -> None:
    """Capacity, owners, Up and not failed, and every enabled rule among running VMs."""
    placed = targets >= 0
    alive = c.host_up & ~failed
    assert alive[targets[placed]].all()
    assert c.vm_possible[movers[placed], targets[placed]].all()
    where = np.where(failed[c.vm_host], -1, c.vm_host).astype(np.int64)
    where[~c.vm_consumes] = -1
    where[movers] = targets
    cpu = np.bincount(
        where[where >= 0], weights=c.vm_cpu_load_milli[where >= 0], minlength=c.n_hosts
    )
    mem = np.bincount(where[where >= 0], weights=c.vm_mem_load_mb[where >= 0], minlength=c.n_hosts)
    assert (cpu[alive] <= c.host_cpu_free_milli[alive]).all()
    assert (mem[alive] <= c.host_memory_free_mb[alive]).all()
    fd = c.host_fault_domain
    for r in c.enabled_rules:
        hs = [int(where[m]) for m in r.members if where[m] >= 0]
        if r.rule_type == RuleType.DIFFERENT_NODE:
            assert len(hs) == len(set(hs)), r
        elif r.rule_type == RuleType.DIFFERENT_FAULT_DOMAIN:
            assert len(hs) == len({int(fd[h]) for h in hs}), r
        elif r.rule_type == RuleType.SAME_NODE:
            assert len(set(hs)) <= 1, r
        else:
            assert len({int(fd[h]) for h in hs}) <= 1, r
    if c.settings.enforced_anti_affinity:
        for members in c.aa_class_members:
            hs = [int(where[m]) for m in members if where[m] >= 0]
            assert len(hs) == len(set(hs))


@given(clusters(max_hosts=5, max_vms=12), st.data())
def test_greedy_and_exact_placements_respect_every_hard_rule(
    c: Cluster, data: st.DataObject
) -> None:
    """For any valid cluster and single failures: the greedy's placement is valid, the
    vectorized run equals one-scenario runs, a bound is never contradicted by the exact
    check, and an exact placement is valid too."""
    eng = RestartEngine(c)
    fm = np.eye(c.n_hosts, dtype=bool)
    res = eng.run(fm)
    s = data.draw(st.integers(0, c.n_hosts - 1))
    alone = eng.run(fm[s : s + 1])
    assert alone.movers[0].tolist() == res.movers[s].tolist()
    assert alone.targets[0].tolist() == res.targets[s].tolist()
    f = res.failed[s]
    _check_restart_placement(c, f, res.movers[s], res.targets[s])
    if len(res.movers[s]) <= 8:
        ex = exact_restart(res.instance(s), time_limit_s=5)
        if res.complete[s]:
            assert ex.status == ExactStatus.FEASIBLE
        if res.bound_infeasible[s]:
            assert ex.status == ExactStatus.INFEASIBLE
        if ex.status == ExactStatus.FEASIBLE and ex.item_host is not None:
            fixed = res.with_exact(s, ex.item_host)
            assert (fixed.targets[s] >= 0).all()
            _check_restart_placement(c, f, fixed.movers[s], fixed.targets[s])


def test_failed_matrix_and_shape_checks() -> None:
    fm = failed_matrix(3, [(0,), (1, 2)])
    assert fm.tolist() == [[True, False, False], [False, True, True]]
    c = make_cluster([host("H0")], [])
    with pytest.raises(ValueError):
        RestartEngine(c).run(np.zeros((1, 2), dtype=bool))
    with pytest.raises(ValueError):
        RestartEngine(c, "sideways")  # type: ignore[arg-type]


def test_common_feature_set_vms_restart_anywhere() -> None:
    # Compatibility mode does not matter after a failure: every kind restarts cross-vendor.
    c = make_cluster(
        [host("I0"), host("A1", vendor=Vendor.AMD)],
        [
            vm("N", "I0", 1000),
            vm("M", "I0", 1000, compat=CompatMode.MINIMUM),
            vm("C", "I0", 1000, compat=CompatMode.COMMON),
        ],
    )
    assert run_one(c, (0,)).targets[0].tolist() == [1, 1, 1]


@given(clusters(max_hosts=4, max_vms=10))
def test_drain_placements_are_reachable_and_respect_rules(c: Cluster) -> None:
    """Drain mode: every placed VM reaches its target (live, quick or shutdown when
    allowed), is not pinned, lands on an Up possible owner that is not drained, within 100 %
    capacity, and every enabled rule holds among all VMs (running or not)."""
    up = [int(h) for h in np.flatnonzero(c.host_up)]
    eng = RestartEngine(c, "drain")
    res = eng.run(failed_matrix(c.n_hosts, [(h,) for h in up]))
    fd = c.host_fault_domain
    for s, h in enumerate(up):
        mv, tg = res.movers[s], res.targets[s]
        assert sorted(mv.tolist()) == np.flatnonzero(c.vm_host == h).tolist()
        ok = tg >= 0
        assert (tg[ok] != h).all() and c.host_up[tg[ok]].all()
        assert (c.vm_move_kind[mv[ok], tg[ok]] != MoveKind.FORBIDDEN).all()
        assert not c.vm_pinned[mv[ok]].any()
        assert c.vm_possible[mv[ok], tg[ok]].all()
        where = c.vm_host.astype(np.int64).copy()
        where[mv] = tg
        present = where >= 0
        cpu = np.bincount(where[present], weights=c.vm_cpu_load_milli[present], minlength=c.n_hosts)
        mem = np.bincount(where[present], weights=c.vm_mem_load_mb[present], minlength=c.n_hosts)
        receivers = np.zeros(c.n_hosts, dtype=bool)
        receivers[tg[ok]] = True
        assert (cpu[receivers] <= c.host_cpu_free_milli[receivers]).all()
        assert (mem[receivers] <= c.host_memory_free_mb[receivers]).all()
        for r in c.enabled_rules:
            hs = [int(where[m]) for m in r.members if where[m] >= 0]
            if r.rule_type == RuleType.DIFFERENT_NODE:
                assert len(hs) == len(set(hs)), r
            elif r.rule_type == RuleType.DIFFERENT_FAULT_DOMAIN:
                assert len(hs) == len({int(fd[x]) for x in hs}), r
            elif r.rule_type == RuleType.SAME_NODE:
                assert len(set(hs)) <= 1, r
            else:
                assert len({int(fd[x]) for x in hs}) <= 1, r
