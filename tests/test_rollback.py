"""The rollback is a safe sequence of its own (planner.rollback), checked by the verifier."""

from __future__ import annotations

import numpy as np

from planner.cluster import Cluster, HostState, MoveKind, RuleType, VmState
from planner.rollback import rollback_sequence
from planner.sequencing import build_sequence
from planner.verify_sequence import verify_sequence
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster

GB = 1024


def host(name: str, mem_gb: int = 16, **kw: object) -> HostSpec:
    return HostSpec(name, logical_processors=16, memory_mb=mem_gb * GB, memory_reserve_mb=0, **kw)  # type: ignore[arg-type]


def vm(name: str, on: str, mem_gb: int = 4, **kw: object) -> VmSpec:
    return VmSpec(name, on, memory_mb=mem_gb * GB, cpu_milli=500, **kw)  # type: ignore[arg-type]


def plan_and_back(c: Cluster, **where: str) -> tuple[np.ndarray, object]:
    t = c.vm_host.astype(np.int64).copy()
    for v, h in where.items():
        t[c.vm_index[v.casefold()]] = c.host_index[h.casefold()]
    seq = build_sequence(c, t)
    assert seq.ok, seq.message
    back = rollback_sequence(c, t, seq.moves)
    assert back.sequence.ok
    boot = c.vm_host.astype(np.int64).copy()
    for m in seq.moves:
        if m.kind in (MoveKind.SHUTDOWN, MoveKind.START):
            boot[m.vm] = m.target
    assert verify_sequence(c, back.sequence.moves, back.target, start=t, boot=boot) == []
    return t, back


def test_rollback_returns_every_vm_safely() -> None:
    # A and B swap between two full nodes (12 GB each on 16 GB): the plan needs a hop, and so
    # does the way back; the rollback ends exactly on the snapshot's placement.
    c = make_cluster([host("H1"), host("H2"), host("H3")], [vm("A", "H1", 12), vm("B", "H2", 12)])
    _, back = plan_and_back(c, A="H2", B="H1")
    assert back.kept == () and np.array_equal(back.target, c.vm_host)  # type: ignore[attr-defined]


def test_rollback_keeps_vms_started_from_a_down_node() -> None:
    # A ran on the Down H1 and was started on H2: nothing can move back onto a Down node.
    c = make_cluster([host("H1", state=HostState.DOWN), host("H2")], [vm("A", "H1")])
    _, back = plan_and_back(c, A="H2")
    assert back.sequence.moves == ()  # type: ignore[attr-defined]
    assert [("A" if v == 0 else v, "Down" in why) for v, why in back.kept] == [("A", True)]  # type: ignore[attr-defined]


def test_rollback_does_not_break_again_a_rule_the_plan_repaired() -> None:
    # DifferentNode 'apart': A and B share H1 in the snapshot (broken); the plan moves A to
    # H2 and repairs it.  Moving A back would break the rule again (Windows refuses such a
    # move), so the rollback keeps A on H2 and names the rule; C goes back normally.
    c = make_cluster(
        [host("H1"), host("H2")],
        [vm("A", "H1"), vm("B", "H1"), vm("C", "H1")],
        [RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"))],
    )
    _, back = plan_and_back(c, A="H2", C="H2")
    kept = dict(back.kept)  # type: ignore[attr-defined]
    assert list(kept) == [0] and "'apart'" in kept[0]
    assert [c.vm_names[m.vm] for m in back.sequence.moves] == ["C"]  # type: ignore[attr-defined]


def test_rollback_of_a_shutdown_move_is_a_shutdown_move() -> None:
    # A (Intel, allows downtime) was shut down and booted on the AMD node H2: it presents
    # H2's features now, so the way back crosses vendors again, by Shutdown.
    from planner.cluster import Vendor

    c = make_cluster(
        [host("H1"), host("H2", vendor=Vendor.AMD)],
        [vm("A", "H1", allow_downtime=True), vm("O", "H1", state=VmState.OFF)],
    )
    _, back = plan_and_back(c, A="H2", O="H2")
    kinds = {c.vm_names[m.vm]: m.kind for m in back.sequence.moves}  # type: ignore[attr-defined]
    assert kinds == {"A": MoveKind.SHUTDOWN, "O": MoveKind.QUICK}


def test_a_vm_shut_down_onto_an_older_node_goes_back_live(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Found by the random-plan property test: vm0 (compat None, downtime allowed) on a
    # Westmere node must leave it (memory (3874 + 1 + 2048) / 8192 = 72 % > High absolute
    # 60 %); Nehalem lacks Westmere features, so it moves by Shutdown and boots on Nehalem.
    # It then presents Nehalem's features, which Westmere offers: the way back is Live, and
    # rollback.ps1 must say so (verify re-runs the rollback with the same rule).
    from planner.optimizer import PlanOptions
    from planner.pipeline import plan_to_directory
    from planner.powershell import runbook_moves
    from planner.verify import verify_plan

    c = make_cluster(
        [
            HostSpec("HV0", logical_processors=2, memory_mb=8192, cpu_model="Westmere"),
            HostSpec("HV1", logical_processors=2, memory_mb=8192, cpu_model="Nehalem"),
        ],
        [
            VmSpec("vm0", 0, memory_mb=3874, cpu_milli=0, allow_downtime=True),
            VmSpec("vm1", 0, memory_mb=1, cpu_milli=0, pinned=True),
        ],
        name="cl0",
    )
    out = tmp_path / "plan"
    _, wo = plan_to_directory(
        c, PlanOptions(level="high", high_mode="absolute", time_limit_s=5), out
    )
    assert wo is not None and wo.ok, wo.message if wo else None
    assert verify_plan(c, out).ok
    assert runbook_moves((out / "plan.ps1").read_text()) == [("vm0", "HV0", "HV1", "Shutdown")]
    assert runbook_moves((out / "rollback.ps1").read_text()) == [("vm0", "HV1", "HV0", "Live")]
