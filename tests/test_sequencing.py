"""Tests of the wave sequencer (planner.sequencing) and of its independent verifier
(planner.verify_sequence).  Every sequence a test builds is also checked by the verifier."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.checks import placement_violations
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
from planner.sequencing import PLAN_COLUMNS, Move, SequenceOptions, build_sequence
from planner.snapshot import load_snapshot
from planner.verify_sequence import (
    PlannedMove,
    expected_kind,
    read_plan_csv,
    verify_sequence,
)
from tests.strategies import HostSpec, RuleSpec, VmSpec, clusters, make_cluster

SMALL4 = Path(__file__).resolve().parent.parent / "data" / "examples" / "small4"

GB = 1024


def host(name: str, mem_gb: int = 16, **kw: object) -> HostSpec:
    """A 16-LP host whose memory available to VMs is exactly ``mem_gb`` GB (no reserve)."""
    return HostSpec(name, logical_processors=16, memory_mb=mem_gb * GB, memory_reserve_mb=0, **kw)  # type: ignore[arg-type]


def vm(name: str, on: str, mem_gb: int = 4, cpu: int = 500, **kw: object) -> VmSpec:
    return VmSpec(name, on, memory_mb=mem_gb * GB, cpu_milli=cpu, **kw)  # type: ignore[arg-type]


def target_of(c: Cluster, **where: str) -> np.ndarray:
    """The current placement with some VMs moved: ``target_of(c, A="H2")``."""
    t = c.vm_host.astype(np.int64).copy()
    for v, h in where.items():
        t[c.vm_index[v.casefold()]] = c.host_index[h.casefold()]
    return t


def checked(
    c: Cluster, t: np.ndarray, drained: tuple[int, ...] = (), **kw: object
) -> tuple[list[Move], int]:
    """Build a sequence, require it to be ok and to pass the verifier; return moves, waves."""
    res = build_sequence(c, t, drained, **kw)  # type: ignore[arg-type]
    assert res.ok, res.message
    assert verify_sequence(c, res.moves, t, drained) == []
    assert [m.step for m in res.moves] == list(range(1, len(res.moves) + 1))
    assert res.waves == max((m.wave for m in res.moves), default=0)
    return list(res.moves), res.waves


def wave_of(c: Cluster, moves: list[Move], name: str, temporary: bool = False) -> int:
    v = c.vm_index[name.casefold()]
    return next(m.wave for m in moves if m.vm == v and m.temporary == temporary)


# ----------------------------------------------------------------------------- basics
def test_nothing_to_move() -> None:
    c = make_cluster([host("H1"), host("H2")], [vm("A", "H1")])
    res = build_sequence(c, c.vm_host)
    assert res.ok and res.moves == () and res.waves == 0 and res.estimated_seconds == 0


def test_example_snapshot_moves_verify_and_carry_reasons() -> None:
    c = load_snapshot(SMALL4)
    t = target_of(c, APP01="HV03", SQL02="HV02", BUILD01="HV04")
    moves, _ = checked(c, t, reasons={c.vm_index["sql02"]: "HV01 is over the threshold"})
    assert {c.vm_names[m.vm] for m in moves} == {"APP01", "SQL02", "BUILD01"}
    sql = next(m for m in moves if c.vm_names[m.vm] == "SQL02")
    assert sql.reason == "HV01 is over the threshold"
    assert sql.kind == MoveKind.LIVE and sql.memory_mb == 65536
    build = next(m for m in moves if c.vm_names[m.vm] == "BUILD01")
    assert build.kind == MoveKind.QUICK  # an Off VM moves Quick
    row = sql.to_row(c)
    assert tuple(row) == PLAN_COLUMNS and row["migration_type"] == "Live"


def test_malformed_target_raises() -> None:
    c = make_cluster([host("H1")], [vm("A", "H1")])
    with pytest.raises(ValueError):
        build_sequence(c, np.array([0, 0]))
    with pytest.raises(ValueError):
        build_sequence(c, np.array([5]))


def test_same_input_same_sequence() -> None:
    c = load_snapshot(SMALL4)
    t = target_of(c, APP01="HV03", SQL02="HV02", APP02="HV04", WEB01="HV04")
    a, b = build_sequence(c, t), build_sequence(c, t)
    assert a.moves == b.moves and a.estimated_seconds == b.estimated_seconds


# ----------------------------------------------------------------------------- capacity
def test_node_must_shed_before_it_receives() -> None:
    # H2 is full (16 of 16 GB): B must leave it (wave 1) before A can arrive (wave 2).
    c = make_cluster([host("H1"), host("H2"), host("H3")], [vm("A", "H1", 8), vm("B", "H2", 16)])
    moves, waves = checked(c, target_of(c, A="H2", B="H3"))
    assert waves == 2
    assert wave_of(c, moves, "B") == 1 and wave_of(c, moves, "A") == 2


def test_moving_vm_counts_on_both_ends() -> None:
    # A (10 GB) H1->H2 and B (10 GB) H2->H1 cannot run in one wave: during it each node would
    # hold 20 GB of 16.  With H3 free (16 GB) one of them hops: 3 moves, 3 waves.
    c = make_cluster([host("H1"), host("H2"), host("H3")], [vm("A", "H1", 10), vm("B", "H2", 10)])
    res = build_sequence(c, target_of(c, A="H2", B="H1"))
    assert res.ok and verify_sequence(c, res.moves, target_of(c, A="H2", B="H1")) == []
    assert res.extra_hops == 1 and res.waves == 3 and len(res.moves) == 3
    hop = [m for m in res.moves if m.temporary]
    assert len(hop) == 1 and c.host_names[hop[0].target] == "H3"
    assert "temporary" in hop[0].reason


def test_full_nodes_swap_without_room_is_refused_with_names() -> None:
    c = make_cluster([host("H1"), host("H2")], [vm("A", "H1", 10), vm("B", "H2", 10)])
    res = build_sequence(c, target_of(c, A="H2", B="H1"))
    assert not res.ok and res.moves == ()
    for name in ("A", "B", "H1", "H2"):
        assert name in res.message
    assert "temporary hop" in res.message


def test_swap_without_hops_is_refused() -> None:
    c = make_cluster([host("H1"), host("H2"), host("H3")], [vm("A", "H1", 10), vm("B", "H2", 10)])
    res = build_sequence(
        c, target_of(c, A="H2", B="H1"), options=SequenceOptions(temporary_hops=False)
    )
    assert not res.ok and "disabled" in res.message


def test_three_cycle_between_full_nodes() -> None:
    # A: H1->H2, B: H2->H3, C: H3->H1, every node full; H4 has room for one VM.
    c = make_cluster(
        [host(f"H{i}") for i in range(1, 5)],
        [vm("A", "H1", 12), vm("B", "H2", 12), vm("C", "H3", 12)],
    )
    t = target_of(c, A="H2", B="H3", C="H1")
    moves, _ = checked(c, t)
    assert sum(m.temporary for m in moves) == 1  # one hop breaks the whole cycle


def test_target_over_capacity_is_refused() -> None:
    c = make_cluster([host("H1"), host("H2")], [vm("A", "H1", 10), vm("B", "H2", 10)])
    res = build_sequence(c, target_of(c, A="H2"))
    assert not res.ok and "H2" in res.message


def test_vm_that_does_not_consume_fits_anywhere() -> None:
    # An Off VM needs no room, even on a full node.
    c = make_cluster(
        [host("H1"), host("H2")], [vm("A", "H1", 10, state=VmState.OFF), vm("B", "H2", 16)]
    )
    moves, _ = checked(c, target_of(c, A="H2"))
    assert moves[0].kind == MoveKind.QUICK


# ----------------------------------------------------------------------------- rules
def test_different_node_chain_moves_back_to_front() -> None:
    # Members A, B, C of one DifferentNode rule shift one node to the right.  C must go
    # first (H4 is free), then B (H3 freed), then A: three waves, no hop.
    c = make_cluster(
        [host(f"H{i}") for i in range(1, 5)],
        [vm("A", "H1"), vm("B", "H2"), vm("C", "H3")],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B", "C"))],
    )
    moves, waves = checked(c, target_of(c, A="H2", B="H3", C="H4"))
    assert waves == 3 and not any(m.temporary for m in moves)
    assert [c.vm_names[m.vm] for m in moves] == ["C", "B", "A"]


def test_different_node_swap_needs_a_hop() -> None:
    c = make_cluster(
        [host("H1"), host("H2"), host("H3")],
        [vm("A", "H1"), vm("B", "H2")],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"))],
    )
    moves, _ = checked(c, target_of(c, A="H2", B="H1"))
    assert sum(m.temporary for m in moves) == 1


def test_disabled_rule_is_not_enforced_during_moves() -> None:
    c = make_cluster(
        [host("H1"), host("H2")],
        [vm("A", "H1"), vm("B", "H2")],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"), enabled=False)],
    )
    moves, waves = checked(c, target_of(c, A="H2", B="H1"))
    assert waves == 1 and len(moves) == 2


def test_different_fault_domain_chain() -> None:
    # Racks R1 (H1), R2 (H2, H3), R3 (H4).  A in R1 and B in R2 must stay in different
    # racks; target A->R2 (H3), B->R3 (H4): B must have left R2 before A arrives.
    c = make_cluster(
        [
            host("H1", fault_domain="R1"),
            host("H2", fault_domain="R2"),
            host("H3", fault_domain="R2"),
            host("H4", fault_domain="R3"),
        ],
        [vm("A", "H1"), vm("B", "H2")],
        [RuleSpec("racks", RuleType.DIFFERENT_FAULT_DOMAIN, ("A", "B"))],
    )
    moves, waves = checked(c, target_of(c, A="H3", B="H4"))
    assert waves == 2 and wave_of(c, moves, "B") < wave_of(c, moves, "A")


def test_same_node_group_above_the_limit_moves_in_chunks_of_the_limit() -> None:
    # Limit 2 per node, a group of 3: the limit is never exceeded, so the group needs
    # ceil(3 / 2) = 2 waves, 2 members in the first and 1 in the second.
    c = make_cluster(
        [host("H1"), host("H2")],
        [vm("A", "H1"), vm("B", "H1"), vm("C", "H1")],
        [RuleSpec("together", RuleType.SAME_NODE, ("A", "B", "C"))],
        settings=ClusterSettings(maximum_parallel_migrations=2),
    )
    moves, waves = checked(c, target_of(c, A="H2", B="H2", C="H2"))
    assert waves == 2 and len(moves) == 3
    assert sorted(sum(1 for m in moves if m.wave == w) for w in (1, 2)) == [1, 2]


def test_verifier_rejects_a_wave_above_the_limit_even_for_a_same_node_group() -> None:
    c = make_cluster(
        [host("H1"), host("H2")],
        [vm("A", "H1"), vm("B", "H1"), vm("C", "H1")],
        [RuleSpec("together", RuleType.SAME_NODE, ("A", "B", "C"))],
        settings=ClusterSettings(maximum_parallel_migrations=1),
    )
    t = target_of(c, A="H2", B="H2", C="H2")
    one_wave = [PlannedMove(i + 1, 1, i, 0, 1, MoveKind.LIVE) for i in range(3)]
    assert "migration_limit" in {v.kind for v in verify_sequence(c, one_wave, t)}


def test_verifier_catches_a_split_same_node_group() -> None:
    c = make_cluster(
        [host("H1"), host("H2")],
        [vm("A", "H1"), vm("B", "H1")],
        [RuleSpec("together", RuleType.SAME_NODE, ("A", "B"))],
    )
    t = target_of(c, A="H2", B="H2")
    split = [PlannedMove(1, 1, 0, 0, 1, MoveKind.LIVE), PlannedMove(2, 2, 1, 0, 1, MoveKind.LIVE)]
    assert "same_node" in {v.kind for v in verify_sequence(c, split, t)}


# ----------------------------------------------------------------------------- limits
def test_cluster_limit_of_one() -> None:
    # Three VMs leave H1: with one migration per node at a time that is three waves, and no
    # node ever takes part in two moves of a wave.
    hosts = [host(f"H{i}") for i in range(1, 5)]
    vms = [vm("A", "H1"), vm("B", "H1"), vm("C", "H1"), vm("D", "H2")]
    c1 = make_cluster(hosts, vms, settings=ClusterSettings(maximum_parallel_migrations=1))
    t = target_of(c1, A="H2", B="H3", C="H4", D="H3")
    moves, waves = checked(c1, t)
    # H1 takes part in 3 moves and H3 in 2: lower bound max(3/1, 2/1) = 3 waves.
    assert waves == 3
    for w in range(1, waves + 1):
        touched = [h for m in moves if m.wave == w for h in (m.source, m.target)]
        assert len(touched) == len(set(touched))
    # Per-host limit 2 (the default): ceil(3 / 2) = 2 waves.
    c2 = make_cluster(hosts, vms)
    assert checked(c2, t)[1] == 2


def test_cluster_setting_overrides_host_limit() -> None:
    hosts = [host("H1", max_vm_migrations=8), host("H2", max_vm_migrations=8)]
    vms = [vm(n, "H1", 1) for n in "ABCD"]
    many = make_cluster(hosts, vms)
    one = make_cluster(hosts, vms, settings=ClusterSettings(maximum_parallel_migrations=1))
    t = target_of(many, A="H2", B="H2", C="H2", D="H2")
    assert checked(many, t)[1] == 1
    assert checked(one, t)[1] == 4


def test_lower_bound_is_reported() -> None:
    c = make_cluster(
        [host("H1", max_vm_migrations=1), host("H2"), host("H3")],
        [vm("A", "H1"), vm("B", "H1"), vm("C", "H2")],
    )
    res = build_sequence(c, target_of(c, A="H2", B="H3", C="H3"))
    assert res.ok and res.lower_bound_waves == 2 and res.waves >= res.lower_bound_waves


# ----------------------------------------------------------------------------- move kinds
def cross_vendor() -> Cluster:
    return make_cluster(
        [host("I1"), host("I2"), host("A1", vendor=Vendor.AMD)],
        [
            vm("DT", "I1", allow_downtime=True),
            vm("NODT", "I1"),
            vm("OFF", "I1", state=VmState.OFF),
            vm("SAVED", "I1", state=VmState.SAVED),
            vm("COMPAT", "I1", compat=CompatMode.MINIMUM),
        ],
    )


def test_cross_vendor_moves_are_shutdown_or_quick() -> None:
    c = cross_vendor()
    moves, _ = checked(c, target_of(c, DT="A1", OFF="A1", COMPAT="I2"))
    kinds = {c.vm_names[m.vm]: m.kind for m in moves}
    assert kinds == {"DT": MoveKind.SHUTDOWN, "OFF": MoveKind.QUICK, "COMPAT": MoveKind.LIVE}


@pytest.mark.parametrize("who", ["NODT", "SAVED"])
def test_cross_vendor_move_without_downtime_is_refused(who: str) -> None:
    c = cross_vendor()
    res = build_sequence(c, target_of(c, **{who: "A1"}))
    assert not res.ok and who in res.message and "A1" in res.message


def test_hops_never_add_downtime() -> None:
    # A swap between full Intel nodes; the only node with room is AMD.  DT could reach it
    # only by a Shutdown move and B not at all: hops never add downtime, so it is refused.
    c = make_cluster(
        [host("H1"), host("H2"), host("X", vendor=Vendor.AMD)],
        [vm("DT", "H1", 10, allow_downtime=True), vm("B", "H2", 10)],
    )
    res = build_sequence(c, target_of(c, DT="H2", B="H1"))
    assert not res.ok and "temporary hop" in res.message


def test_verifier_uses_the_boot_host_after_a_shutdown_move() -> None:
    # After a Shutdown move to AMD the VM boots there: moving it on to another AMD node is
    # Live, and moving it back to Intel is Shutdown again.
    c = make_cluster(
        [host("I1"), host("A1", vendor=Vendor.AMD), host("A2", vendor=Vendor.AMD)],
        [vm("DT", "I1", allow_downtime=True)],
    )
    ok = [PlannedMove(1, 1, 0, 0, 1, MoveKind.SHUTDOWN), PlannedMove(2, 2, 0, 1, 2, MoveKind.LIVE)]
    assert verify_sequence(c, ok, np.array([2])) == []
    bad = [PlannedMove(1, 1, 0, 0, 1, MoveKind.LIVE)]
    assert [v.kind for v in verify_sequence(c, bad, np.array([1]))] == ["move_kind"]


# ----------------------------------------------------------------------------- evacuation
def test_vms_leave_paused_and_drained_nodes_first() -> None:
    c = make_cluster(
        [host("P", state=HostState.PAUSED), host("D1"), host("H1"), host("H2"), host("H3")],
        [vm("E", "P"), vm("F", "D1"), vm("X", "H1"), vm("Y", "H1")],
        settings=ClusterSettings(maximum_parallel_migrations=1),
    )
    drained = (c.host_index["d1"],)
    t = target_of(c, E="H2", F="H2", X="H3", Y="H2")
    moves, _ = checked(c, t, drained)
    # H2 receives three VMs one per wave: the two evacuations come before Y.
    assert max(wave_of(c, moves, "E"), wave_of(c, moves, "F")) < wave_of(c, moves, "Y")
    assert "drained" in next(m.reason for m in moves if c.vm_names[m.vm] == "F")


def test_drained_node_is_not_used_for_a_hop() -> None:
    c = make_cluster([host("H1"), host("H2"), host("D")], [vm("A", "H1", 10), vm("B", "H2", 10)])
    res = build_sequence(c, target_of(c, A="H2", B="H1"), drained=(c.host_index["d"],))
    assert not res.ok


# ----------------------------------------------------------------------------- verifier
def base_plan() -> tuple[Cluster, np.ndarray, list[Move]]:
    c = make_cluster([host("H1"), host("H2"), host("H3")], [vm("A", "H1", 8), vm("B", "H2", 16)])
    t = target_of(c, A="H2", B="H3")
    return c, t, checked(c, t)[0]


def test_verifier_rejects_a_wave_that_overloads_a_node() -> None:
    c, t, moves = base_plan()
    squeezed = [dataclasses.replace(m, wave=1) for m in moves]
    kinds = {v.kind for v in verify_sequence(c, squeezed, t)}
    assert "capacity_memory" in kinds


def test_verifier_rejects_wrong_source_kind_target_and_final_state() -> None:
    c, t, moves = base_plan()
    a = moves[1]
    assert {
        v.kind for v in verify_sequence(c, [moves[0], dataclasses.replace(a, source=2)], t)
    } >= {"wrong_source", "placement"}
    assert "move_kind" in {
        v.kind
        for v in verify_sequence(c, [moves[0], dataclasses.replace(a, kind=MoveKind.QUICK)], t)
    }
    assert [v.kind for v in verify_sequence(c, moves[:1], t)] == ["placement"]
    assert "order" in {v.kind for v in verify_sequence(c, moves[::-1], t)}


def test_verifier_rejects_limit_and_rule_breaks() -> None:
    c = make_cluster(
        [host("H1", max_vm_migrations=1), host("H2"), host("H3")],
        [vm("A", "H1"), vm("B", "H1"), vm("C", "H3")],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "C"))],
    )
    t = target_of(c, A="H2", B="H2")
    both = [PlannedMove(1, 1, 0, 0, 1, MoveKind.LIVE), PlannedMove(2, 1, 1, 0, 1, MoveKind.LIVE)]
    assert "migration_limit" in {v.kind for v in verify_sequence(c, both, t)}
    t2 = target_of(c, C="H2", A="H3")
    swap = [PlannedMove(1, 1, 2, 2, 1, MoveKind.LIVE), PlannedMove(2, 2, 0, 0, 2, MoveKind.LIVE)]
    assert verify_sequence(c, swap, t2) == []
    # C arrives on H2 while A arrives there too in the same wave.
    clash = [PlannedMove(1, 1, 2, 2, 1, MoveKind.LIVE), PlannedMove(2, 1, 0, 0, 1, MoveKind.LIVE)]
    assert "different_node" in {
        v.kind for v in verify_sequence(c, clash, target_of(c, C="H2", A="H2"))
    }


def test_plan_csv_round_trip(tmp_path: Path) -> None:
    import csv

    c, t, moves = base_plan()
    p = tmp_path / "plan.csv"
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, PLAN_COLUMNS)
        w.writeheader()
        for m in moves:
            w.writerow(m.to_row(c))
    back, problems = read_plan_csv(c, p)
    assert problems == [] and len(back) == len(moves)
    assert verify_sequence(c, back, t) == []
    p.write_text(
        "step,wave,vm,source,target,migration_type\n1,1,NOPE,H1,H2,Teleport\n", encoding="utf-8"
    )
    back, problems = read_plan_csv(c, p)
    assert back == [] and "NOPE" in problems[0].message and "Teleport" in problems[0].message


# ----------------------------------------------------------------------------- properties
@st.composite
def cluster_and_target(draw: st.DrawFn) -> tuple[Cluster, np.ndarray]:
    """A random valid cluster and a random target that breaks no hard rule.

    Single moves and swaps are tried in random order and kept when the target still
    respects every hard rule; swaps between full nodes are what makes deadlocks.
    """
    c = draw(
        clusters(
            min_hosts=2,
            max_hosts=6,
            min_vms=2,
            max_vms=14,
            vendors=draw(st.sampled_from([(Vendor.INTEL,), (Vendor.INTEL, Vendor.AMD)])),
        )
    )
    t = c.vm_host.astype(np.int64).copy()

    def keep_if_valid(changes: list[tuple[int, int]]) -> None:
        old = [(v, int(t[v])) for v, _ in changes]
        for v, h in changes:
            t[v] = h
        if any(x.hard for x in placement_violations(c, t)):
            for v, h in old:
                t[v] = h

    for v in draw(st.permutations(range(c.n_vms))):
        action = draw(st.sampled_from(["stay", "move", "swap"]))
        if action == "stay" or c.vm_pinned[v]:
            continue
        if action == "move":
            options = [h for h in range(c.n_hosts) if c.vm_allowed[v, h] and h != t[v]]
            if options:
                keep_if_valid([(v, draw(st.sampled_from(options)))])
        else:
            partners = [
                w
                for w in range(c.n_vms)
                if t[w] != t[v]
                and not c.vm_pinned[w]
                and c.vm_allowed[v, t[w]]
                and c.vm_allowed[w, t[v]]
            ]
            if partners:
                w = draw(st.sampled_from(partners))
                keep_if_valid([(v, int(t[w])), (w, int(t[v]))])
    return c, t


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster_and_target())
def test_random_sequences_verify(case: tuple[Cluster, np.ndarray]) -> None:
    c, t = case
    res = build_sequence(c, t)
    if res.ok:
        assert verify_sequence(c, res.moves, t) == []
        assert res.waves >= res.lower_bound_waves
        assert res.extra_hops == sum(m.temporary for m in res.moves)
    else:
        # Refusals only come from deadlocks that no hop can break, and name a VM.
        assert "no executable order" in res.message
        assert any(name in res.message for name in c.vm_names)


@settings(max_examples=60, deadline=None)
@given(clusters(max_hosts=5, max_vms=8))
def test_verifier_move_kinds_agree_with_the_cluster_model(c: Cluster) -> None:
    for v in range(c.n_vms):
        for h in range(c.n_hosts):
            assert expected_kind(c, v, int(c.vm_host[v]), h) == c.vm_move_kind[v, h]


@st.composite
def full_rings(draw: st.DrawFn) -> tuple[Cluster, np.ndarray, int]:
    """Full nodes whose VMs trade places along a random permutation, one empty spare node.

    Every node holds one VM bigger than half a node, so no node can ever hold two: each
    cycle of the permutation is a deadlock that needs exactly one hop through the spare.
    Returns the cluster, the target and the number of cycles longer than one.
    """
    n = draw(st.integers(2, 7))
    perm = draw(st.permutations(range(n)))
    sizes = draw(st.lists(st.integers(9, 16), min_size=n, max_size=n))
    limit = draw(st.none() | st.integers(1, 3))
    hosts = [host(f"N{i}") for i in range(n)] + [host("SPARE")]
    vms = [vm(f"V{i}", f"N{i}", sizes[i]) for i in range(n)]
    c = make_cluster(hosts, vms, settings=ClusterSettings(maximum_parallel_migrations=limit))
    t = np.array(perm, dtype=np.int64)
    seen: set[int] = set()
    cycles = 0
    for i in range(n):
        if i in seen:
            continue
        j, length = i, 0
        while j not in seen:
            seen.add(j)
            j = perm[j]
            length += 1
        cycles += length > 1
    return c, t, cycles


@settings(max_examples=80, deadline=None)
@given(full_rings())
def test_each_deadlocked_cycle_costs_one_hop(case: tuple[Cluster, np.ndarray, int]) -> None:
    c, t, cycles = case
    res = build_sequence(c, t)
    assert res.ok, res.message
    assert verify_sequence(c, res.moves, t) == []
    assert res.extra_hops == cycles
    assert all(c.host_names[m.target] == "SPARE" for m in res.moves if m.temporary)


def arrival_mb(c: Cluster, v: int, d: int) -> int:
    """Memory VM ``v`` occupies on ``d``: its boot memory after a Shutdown or Start move."""
    if d != int(c.vm_host[v]) and c.vm_move_kind[v, d] in (MoveKind.SHUTDOWN, MoveKind.START):
        return int(c.vm_boot_memory_mb[v])
    return int(c.vm_mem_load_mb[v])


def memory_at(c: Cluster, pos: np.ndarray) -> np.ndarray:
    """Memory of every VM where ``pos`` puts it."""
    return np.array([arrival_mb(c, v, int(pos[v])) for v in range(c.n_vms)], dtype=np.int64)


def hop_free_order_exists(c: Cluster, t: np.ndarray) -> bool:
    """Brute force: can the moves be done one group at a time, without any hop?

    A breadth-first search over which VMs have reached their target; SameNode members that
    go to the same node move together, as they must.  Only for a handful of moves.
    """
    moving = [int(v) for v in np.flatnonzero(t != c.vm_host)]
    group = {v: v for v in moving}
    for r in c.enabled_rules:
        if r.rule_type == RuleType.SAME_NODE:
            ms = [m for m in r.members if m in group]
            for a, b in zip(ms, ms[1:], strict=False):
                if t[a] == t[b]:
                    ga, gb = group[a], group[b]
                    for v in moving:
                        if group[v] == gb:
                            group[v] = ga
    units = sorted({tuple(v for v in moving if group[v] == g) for g in set(group.values())})
    # Rules count their running members only (SPEC §3).
    apart = [
        ({m for m in r.members if c.vm_consumes[m]}, r.rule_type == RuleType.DIFFERENT_NODE)
        for r in c.enabled_rules
        if r.rule_type in (RuleType.DIFFERENT_NODE, RuleType.DIFFERENT_FAULT_DOMAIN)
    ]
    start: frozenset[int] = frozenset()
    seen = {start}
    frontier = [start]
    while frontier:
        nxt = []
        for done in frontier:
            if len(done) == len(units):
                return True
            pos = c.vm_host.astype(np.int64).copy()
            for i in done:
                pos[list(units[i])] = t[list(units[i])]
            cpu = np.bincount(pos, weights=c.vm_cpu_load_milli, minlength=c.n_hosts)
            mem = np.bincount(pos, weights=memory_at(c, pos), minlength=c.n_hosts)
            for i, u in enumerate(units):
                if i in done:
                    continue
                d = int(t[u[0]])
                ucpu = int(c.vm_cpu_load_milli[list(u)].sum())
                umem = int(sum(arrival_mb(c, v, d) for v in u))
                if ucpu and cpu[d] + ucpu > c.host_cpu_free_milli[d]:
                    continue
                if umem and mem[d] + umem > c.host_memory_free_mb[d]:
                    continue
                clash = False
                for members, by_node in apart:
                    for v in u:
                        if v not in members:
                            continue
                        for o in members - set(u):
                            here = (
                                pos[o] == d
                                if by_node
                                else (c.host_fault_domain[pos[o]] == c.host_fault_domain[d])
                            )
                            clash |= bool(here)
                if clash:
                    continue
                state = done | {i}
                if state not in seen:
                    seen.add(state)
                    nxt.append(state)
        frontier = nxt
    return False


def order_with_hops_exists(c: Cluster, t: np.ndarray) -> bool:
    """Brute force for at most four moving VMs (no SameNode group among them): is there any
    sequence of single moves, through any node reachable without downtime, from the start
    to ``t`` that keeps capacity and the DifferentNode/DifferentFaultDomain rules?"""
    moving = [int(v) for v in np.flatnonzero(t != c.vm_host)]
    # Rules count their running members only (SPEC §3).
    apart = [
        ({m for m in r.members if c.vm_consumes[m]}, r.rule_type == RuleType.DIFFERENT_NODE)
        for r in c.enabled_rules
        if r.rule_type in (RuleType.DIFFERENT_NODE, RuleType.DIFFERENT_FAULT_DOMAIN)
    ]
    easy = (MoveKind.LIVE, MoveKind.QUICK)
    options = [
        sorted(
            {
                h
                for h in range(c.n_hosts)
                if c.host_up[h] and c.vm_possible[v, h] and c.vm_move_kind[v, h] in easy
            }
            | {int(t[v])}
        )
        for v in moving
    ]
    start = tuple(int(c.vm_host[v]) for v in moving)
    goal = tuple(int(t[v]) for v in moving)
    seen, frontier = {start}, [start]
    while frontier:
        nxt = []
        for state in frontier:
            if state == goal:
                return True
            pos = c.vm_host.astype(np.int64).copy()
            pos[moving] = state
            cpu = np.bincount(pos, weights=c.vm_cpu_load_milli, minlength=c.n_hosts)
            mem = np.bincount(pos, weights=memory_at(c, pos), minlength=c.n_hosts)
            for i, v in enumerate(moving):
                for d in options[i]:
                    if d == state[i]:
                        continue
                    if c.vm_cpu_load_milli[v] and (
                        cpu[d] + c.vm_cpu_load_milli[v] > c.host_cpu_free_milli[d]
                    ):
                        continue
                    if c.vm_mem_load_mb[v] and (
                        mem[d] + arrival_mb(c, v, d) > c.host_memory_free_mb[d]
                    ):
                        continue
                    fd = c.host_fault_domain
                    if any(
                        v in members
                        and any(
                            (pos[o] == d) if by_node else (fd[pos[o]] == fd[d])
                            for o in members - {v}
                        )
                        for members, by_node in apart
                    ):
                        continue
                    new = state[:i] + (d,) + state[i + 1 :]
                    if new not in seen:
                        seen.add(new)
                        nxt.append(new)
        frontier = nxt
    return False


@st.composite
def tight_cluster_and_target(draw: st.DrawFn) -> tuple[Cluster, np.ndarray]:
    """A random cluster and target, then capacity cut to what the start and the end need
    plus a random slack per node: most nodes are (nearly) full before or after, which makes
    chains, swaps and deadlocks common, and a few have room for temporary hops."""
    c, t = draw(cluster_and_target())
    # Per node: no slack, a little, or plenty (room for temporary hops).
    slack_mem = np.array(
        draw(
            st.lists(
                st.sampled_from([0, 0, 512, 2048, 1 << 20]), min_size=c.n_hosts, max_size=c.n_hosts
            )
        )
    )
    slack_cpu = np.array(
        draw(st.lists(st.sampled_from([0, 100, 1 << 20]), min_size=c.n_hosts, max_size=c.n_hosts))
    )
    mem_need = np.maximum(c.host_mem_used_mb(), c.host_mem_used_mb(t))
    cpu_need = np.maximum(c.host_load_milli(), c.host_load_milli(t))
    reserve = np.maximum(c.host_memory_mb - mem_need - slack_mem, 0) + c.host_memory_reserve_mb
    base = np.maximum(c.host_cpu_capacity_milli - cpu_need - slack_cpu, 0) + c.host_cpu_base_milli
    reserve = np.minimum(reserve, c.host_memory_mb - (mem_need - c.host_memory_reserve_mb))
    base = np.minimum(base, c.host_cpu_capacity_milli - (cpu_need - c.host_cpu_base_milli))
    return c.replace(
        host_memory_reserve_mb=reserve.astype(np.int64), host_cpu_base_milli=base.astype(np.int64)
    ), t


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tight_cluster_and_target())
def test_tight_random_sequences_verify_and_never_miss_a_hop_free_order(
    case: tuple[Cluster, np.ndarray],
) -> None:
    c, t = case
    assert not any(x.hard for x in placement_violations(c, t))
    res = build_sequence(c, t)
    if res.ok:
        assert verify_sequence(c, res.moves, t) == []
    else:
        # Refusals are honest: no order exists (checked by brute force on small cases).
        assert "no executable order" in res.message
        moving = np.flatnonzero(t != c.vm_host)
        in_group = {
            m for r in c.enabled_rules if r.rule_type == RuleType.SAME_NODE for m in r.members
        }
        if len(moving) <= 4 and not in_group & set(moving.tolist()):
            assert not order_with_hops_exists(c, t), res.message
        elif len(moving) <= 8:
            assert not hop_free_order_exists(c, t)


@st.composite
def same_node_groups(draw: st.DrawFn) -> tuple[Cluster, np.ndarray, list[list[int]]]:
    """Hosts holding SameNode groups (and single VMs) that move to random other hosts with
    room, under random migration limits."""
    n_hosts = draw(st.integers(2, 5))
    limit = draw(st.none() | st.integers(1, 3))
    hosts = [
        HostSpec(
            f"H{i}",
            logical_processors=64,
            memory_mb=64 * GB,
            memory_reserve_mb=0,
            max_vm_migrations=draw(st.integers(1, 3)),
        )
        for i in range(n_hosts)
    ]
    vms: list[VmSpec] = []
    rules: list[RuleSpec] = []
    groups: list[list[int]] = []
    for g in range(draw(st.integers(1, 4))):
        size = draw(st.integers(1, 3))
        h = draw(st.integers(0, n_hosts - 1))
        members = []
        for k in range(size):
            members.append(len(vms))
            vms.append(
                VmSpec(f"G{g}M{k}", h, memory_mb=draw(st.integers(1, 6)) * GB, cpu_milli=500)
            )
        groups.append(members)
        if size > 1:
            rules.append(RuleSpec(f"group{g}", RuleType.SAME_NODE, tuple(members)))
    c = make_cluster(hosts, vms, rules, settings=ClusterSettings(maximum_parallel_migrations=limit))
    t = c.vm_host.astype(np.int64).copy()
    for members in groups:
        if draw(st.booleans()):
            t[members] = draw(st.integers(0, n_hosts - 1))
    mem = np.bincount(t, weights=c.vm_mem_load_mb, minlength=n_hosts)
    if (mem > c.host_memory_free_mb).any():
        t = c.vm_host.astype(np.int64).copy()  # the draw overfilled a node: keep it simple
    return c, t, groups


@settings(max_examples=100, deadline=None)
@given(same_node_groups())
def test_same_node_groups_move_together_within_the_limits(
    case: tuple[Cluster, np.ndarray, list[list[int]]],
) -> None:
    c, t, groups = case
    res = build_sequence(c, t)
    assert res.ok, res.message
    assert verify_sequence(c, res.moves, t) == []
    lim = c.host_migration_limit
    for members in groups:
        waves = {m.wave for m in res.moves if m.vm in members and not m.temporary}
        nodes = {int(c.vm_host[x]) for x in members} | {int(t[x]) for x in members}
        # A group moves in one wave unless it is larger than a node's limit; then in as
        # many waves as chunks of the smallest limit it needs (plus hops, if any).
        chunk = int(min(lim[h] for h in nodes))
        assert len(waves) <= max(1, -(-len(members) // chunk)) or any(
            m.temporary for m in res.moves if m.vm in members
        )


# ----------------------------------------------------------------------------- SPEC §3 (new)
def test_vms_of_a_down_node_are_started_without_migration_slots() -> None:
    # H1 is Down with three running VMs (4 GB each); H2 has 16 GB and a migration limit of 1.
    # Start moves use no live-migration slot, so all three start in one wave (4 * 3 = 12 GB
    # of boot memory fit 16 GB).
    c = make_cluster(
        [host("H1", state=HostState.DOWN, max_vm_migrations=1), host("H2", max_vm_migrations=1)],
        [vm(f"A{i}", "H1") for i in range(3)],
    )
    t = target_of(c, A0="H2", A1="H2", A2="H2")
    moves, waves = checked(c, t)
    assert waves == 1 and {m.kind for m in moves} == {MoveKind.START}
    assert all("Down" in m.reason for m in moves)


def test_start_moves_need_boot_memory() -> None:
    # Each VM has 4 GB assigned but boots with 6 GB: three of them need 18 GB > 16 GB on H2,
    # so the target itself is refused (boot memory counts in the final placement).
    c = make_cluster(
        [host("H1", state=HostState.DOWN), host("H2")], [vm(f"A{i}", "H1") for i in range(3)]
    )
    c = c.replace(vm_memory_startup_mb=np.full(3, 6 * GB))
    res = build_sequence(c, target_of(c, A0="H2", A1="H2", A2="H2"))
    assert not res.ok and "needs 18432 MB" in res.message


def test_migration_limit_counts_only_live_moves() -> None:
    # Limit 1 per node: 1 live VM and 3 Off VMs leave H1 for H2.  The Quick moves take no
    # slot, so everything fits one wave; the lower bound is 1 (one live move per node).
    c = make_cluster(
        [host("H1", max_vm_migrations=1), host("H2", max_vm_migrations=1)],
        [vm("L", "H1")] + [vm(f"Q{i}", "H1", state=VmState.OFF) for i in range(3)],
    )
    t = target_of(c, L="H2", Q0="H2", Q1="H2", Q2="H2")
    moves, waves = checked(c, t)
    assert waves == 1 and len(moves) == 4
    assert build_sequence(c, t).lower_bound_waves == 1


def test_running_vm_limit_holds_at_every_step() -> None:
    # H2 may run 2 VMs and runs B; A and C come from H1.  C can only arrive after B has left
    # for H3 (limit 2 counted with arrivals), so the order is B and A first, then C.
    c = make_cluster(
        [host("H1"), host("H2"), host("H3")], [vm("A", "H1"), vm("C", "H1"), vm("B", "H2")]
    )
    c = c.replace(host_max_running_vms=np.array([1024, 2, 1024]))
    t = target_of(c, A="H2", C="H2", B="H3")
    moves, waves = checked(c, t)
    assert wave_of(c, moves, "C") > wave_of(c, moves, "B")


def test_no_live_move_without_a_live_migration_network() -> None:
    # No network has a live-migration order: a running VM that allows downtime moves by
    # Shutdown, one that does not cannot move at all.
    from planner.cluster import Network, NetworkRole

    net = (Network("Mgmt", NetworkRole.CLUSTER_AND_CLIENT, None),)
    c = make_cluster(
        [host("H1"), host("H2")], [vm("A", "H1", allow_downtime=True), vm("B", "H1")], networks=net
    )
    moves, _ = checked(c, target_of(c, A="H2"))
    assert [m.kind for m in moves] == [MoveKind.SHUTDOWN]
    assert not build_sequence(c, target_of(c, B="H2")).ok
