"""The independent verifier catches tampered plans and accepts the optimizer's plans.

Every tampering below is one mistake and must give exactly one violation.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from planner.cluster import Cluster, HostState, MoveKind, Network, NetworkRole, RuleType, VmState
from planner.pipeline import plan_to_directory
from planner.planrows import PlanMove
from planner.problem import PlanOptions
from planner.snapshot import load_snapshot
from planner.verify import verify_plan, verify_plan_data
from tests.strategies import HostSpec, RuleSpec, VmSpec, clusters, make_cluster

SMALL4 = Path(__file__).resolve().parent.parent / "data" / "examples" / "small4"


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    return load_snapshot(SMALL4)


@pytest.fixture()
def plan_dir(cluster, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    res, wo = plan_to_directory(
        cluster, PlanOptions(level="medium", time_limit_s=10), tmp_path / "plan"
    )
    assert wo is not None and wo.ok, wo and wo.violations
    return tmp_path / "plan"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def kinds(cluster: Cluster, plan_dir: Path) -> list[str]:
    return [v["kind"] for v in verify_plan(cluster, plan_dir).violations]


def test_written_plan_verifies(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rep = verify_plan(cluster, plan_dir)
    assert rep.ok, rep.violations


def test_wrong_migration_type_is_one_violation(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(plan_dir / "plan.csv")
    rows[0]["migration_type"] = "Quick"
    _write(plan_dir / "plan.csv", rows)
    assert kinds(cluster, plan_dir) == ["move_kind"]


def test_placement_not_matching_plan_is_one_violation(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(plan_dir / "placement.csv")
    moved = _rows(plan_dir / "plan.csv")[0]
    for r in rows:
        if r["vm"] == moved["vm"]:
            r["host"] = moved["source"]
    _write(plan_dir / "placement.csv", rows)
    assert kinds(cluster, plan_dir) == ["placement"]


def test_objective_mismatch_is_one_violation(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    s = json.loads((plan_dir / "summary.json").read_text())
    s["objectives"]["migration"] += 1
    (plan_dir / "summary.json").write_text(json.dumps(s))
    assert kinds(cluster, plan_dir) == ["objective"]


def test_broken_rule_in_final_placement_is_caught(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # Move WEB01 next to WEB02 (DifferentNode rule Web-spread) in both plan and placement.
    rows = _rows(plan_dir / "plan.csv")
    rows.append(
        {
            **rows[0],
            "step": str(len(rows) + 1),
            "wave": str(int(rows[-1]["wave"]) + 1),
            "vm": "WEB01",
            "source": "HV01",
            "target": "HV02",
            "migration_type": "Live",
            "memory_mb": "8192",
        }
    )
    _write(plan_dir / "plan.csv", rows)
    pl = _rows(plan_dir / "placement.csv")
    for r in pl:
        if r["vm"] == "WEB01":
            r["host"] = "HV02"
    _write(plan_dir / "placement.csv", pl)
    found = verify_plan(cluster, plan_dir).violations
    assert [v["kind"] for v in found if v["rule"] == "Web-spread"] == ["different_node"]


def test_missing_file_is_one_violation(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    (plan_dir / "placement.csv").unlink()
    rep = verify_plan(cluster, plan_dir)
    assert [v["kind"] for v in rep.violations] == ["plan_file"]
    assert "placement.csv" in rep.violations[0]["message"]


def test_edited_plan_ps1_is_one_violation(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # The runbook is changed to move the first VM somewhere else than plan.csv says.
    first = _rows(plan_dir / "plan.csv")[0]
    text = (plan_dir / "plan.ps1").read_text(encoding="ascii")
    line = next(x for x in text.splitlines() if f"Vm = '{first['vm']}'" in x)
    other = next(
        h for h in ("HV01", "HV02", "HV03", "HV04") if h not in (first["source"], first["target"])
    )
    edited = line.replace(f"Target = '{first['target']}'", f"Target = '{other}'")
    assert edited != line
    (plan_dir / "plan.ps1").write_text(text.replace(line, edited), encoding="ascii")
    rep = verify_plan(cluster, plan_dir)
    assert [v["kind"] for v in rep.violations] == ["runbook"]
    assert "plan.ps1" in rep.violations[0]["message"]


def test_edited_rollback_ps1_is_one_violation(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    text = (plan_dir / "rollback.ps1").read_text(encoding="ascii")
    rows = [x for x in text.splitlines() if x.startswith("    [pscustomobject]@{ Step = ")]
    assert rows, "the rollback moves something back"
    (plan_dir / "rollback.ps1").write_text(
        text.replace(rows[-1] + "\n", "").replace(rows[-1] + "\r\n", ""), encoding="ascii"
    )
    rep = verify_plan(cluster, plan_dir)
    assert [v["kind"] for v in rep.violations] == ["runbook"]
    assert "rollback.ps1" in rep.violations[0]["message"]


def test_wrong_snapshot_is_one_line(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    s = json.loads((plan_dir / "summary.json").read_text())
    s["snapshot_sha256"] = "0" * 64
    (plan_dir / "summary.json").write_text(json.dumps(s))
    # Another snapshot: everything else would disagree too, but one line says it all.
    rows = _rows(plan_dir / "plan.csv")
    rows[0]["migration_type"] = "Quick"
    _write(plan_dir / "plan.csv", rows)
    hashed = cluster.replace(snapshot_sha256="f" * 64)
    rep = verify_plan(hashed, plan_dir)
    assert [v["kind"] for v in rep.violations] == ["snapshot"]
    assert "another snapshot" in rep.violations[0]["message"]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_summary_is_a_clean_violation(cluster, plan_dir: Path, bad: str) -> None:  # type: ignore[no-untyped-def]
    text = (plan_dir / "summary.json").read_text()
    s = json.loads(text)
    text = text.replace(f'"solve_seconds": {s["solve_seconds"]}', f'"solve_seconds": {bad}')
    (plan_dir / "summary.json").write_text(text)
    rep = verify_plan(cluster, plan_dir)
    assert [v["kind"] for v in rep.violations] == ["summary"]
    assert "solve_seconds" in rep.violations[0]["message"]


@pytest.mark.parametrize(
    "content",
    ["[1, 2]", "{", '{"moves": "many"}', '{"drained": 3}', '{"rules_left_broken": 7}', "\ufeff{}"],
)
def test_malformed_summary_never_crashes(cluster, plan_dir: Path, content: str) -> None:  # type: ignore[no-untyped-def]
    (plan_dir / "summary.json").write_text(content, encoding="utf-8")
    rep = verify_plan(cluster, plan_dir)
    assert isinstance(rep.ok, bool)


def test_scalar_objective_matches_its_tier(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # summary.json reports objective/bound as numbers of the deciding tier, and the gap
    # relation holds for them.
    s = json.loads((plan_dir / "summary.json").read_text())
    tier = s["objective_tier"]
    assert s["objective"] == s["objectives"][tier]
    assert s["bound"] == s["bounds"][tier]
    assert s["bound"] <= s["objective"]
    expected_gap = (s["objective"] - s["bound"]) / s["objective"] if s["objective"] else 0.0
    assert abs(s["gap"] - expected_gap) < 1e-6
    s["objective"] += 1
    (plan_dir / "summary.json").write_text(json.dumps(s))
    assert kinds(cluster, plan_dir) == ["objective"]


def test_summary_identity_and_tiers(cluster, plan_dir: Path) -> None:  # type: ignore[no-untyped-def]
    s = json.loads((plan_dir / "summary.json").read_text())
    for key in (
        "cluster",
        "collected_utc",
        "snapshot_sha256",
        "hvplan_version",
        "created_utc",
        "rules_left_broken",
        "parameters",
        "tiers",
        "rollback",
    ):
        assert key in s, key
    assert s["cluster"] == cluster.name
    assert all(set(t) >= {"name", "value", "bound", "gap", "status"} for t in s["tiers"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(max_hosts=4, max_vms=8))
def test_random_plans_pass_independent_verification(cluster) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as d:
        res, wo = plan_to_directory(
            cluster,
            PlanOptions(level="high", high_mode="absolute", time_limit_s=5),
            Path(d) / "plan",
        )
        if wo is None:
            return
        if wo.ok:
            assert verify_plan(cluster, Path(d) / "plan").ok
        else:
            # Only an order that cannot be executed may stop a solved plan; never the
            # verifier, and nothing is left behind.
            assert wo.message.startswith("no executable order"), (wo.message, wo.violations)
            assert not (Path(d) / "plan").exists()


# ----------------------------------------------------------------------------- SPEC §3 rules
GB = 1024


def two_nodes(h1: HostState = HostState.UP, **kw: object) -> Cluster:
    """H1 and H2, 16 LP and 16 GB for VMs each (no reserve), migration limit 2."""
    hosts = [
        HostSpec("H1", memory_mb=16 * GB, memory_reserve_mb=0, state=h1),
        HostSpec("H2", memory_mb=16 * GB, memory_reserve_mb=0),
    ]
    return make_cluster(hosts, **kw)  # type: ignore[arg-type]


def check(c: Cluster, moves: list[PlanMove]) -> list[str]:
    """Kinds of the violations of ``moves`` applied to ``c`` (placement = where they lead)."""
    p = c.vm_host.astype(np.int64).copy()
    for m in moves:
        p[m.vm] = m.target
    return [v["kind"] for v in verify_plan_data(c, moves, p, {}).violations]


def mv(c: Cluster, step: int, wave: int, vm: str, kind: MoveKind) -> PlanMove:
    v = c.vm_index[vm.casefold()]
    src = int(c.vm_host[v])
    return PlanMove(step, wave, v, src, 1 - src, kind, int(c.vm_memory_mb[v]))


def test_down_node_vm_is_started_never_migrated() -> None:
    # A runs on H1, which is Down: it is not running there, so the only way to H2 is Start
    # (cold boot, 4 GB of boot memory fit H2's 16 GB).  A Live or Quick move from H1 is one
    # move_kind violation.
    c = two_nodes(HostState.DOWN, vms=[VmSpec("A", "H1", memory_mb=4 * GB)])
    assert check(c, [mv(c, 1, 1, "A", MoveKind.START)]) == []
    assert check(c, [mv(c, 1, 1, "A", MoveKind.LIVE)]) == ["move_kind"]
    assert check(c, [mv(c, 1, 1, "A", MoveKind.QUICK)]) == ["move_kind"]


def test_start_needs_boot_memory_on_the_target() -> None:
    # A (4 GB assigned, 14 GB to boot) is started on H2, where B already takes 4 GB:
    # 4 + 14 = 18 GB > 16 GB, so the Start move breaks H2's memory.
    c = two_nodes(
        HostState.DOWN,
        vms=[VmSpec("A", "H1", memory_mb=4 * GB), VmSpec("B", "H2", memory_mb=4 * GB)],
    )
    c = c.replace(vm_memory_startup_mb=np.array([14 * GB, 4 * GB]))
    assert check(c, [mv(c, 1, 1, "A", MoveKind.START)]) == ["capacity_memory"]


def test_migration_limit_counts_live_moves_only() -> None:
    # Limit 2 per node: 2 live + 3 quick (Off VMs) in one wave keep H1 and H2 at 2 live
    # migrations each, which is allowed; a third live move in the wave is not.
    vms = [VmSpec(f"L{i}", "H1", memory_mb=GB) for i in range(3)] + [
        VmSpec(f"Q{i}", "H1", memory_mb=GB, state=VmState.OFF) for i in range(3)
    ]
    c = two_nodes(vms=vms)
    ok = [mv(c, i + 1, 1, f"L{i}", MoveKind.LIVE) for i in range(2)] + [
        mv(c, i + 3, 1, f"Q{i}", MoveKind.QUICK) for i in range(3)
    ]
    assert check(c, ok) == []
    three = [mv(c, i + 1, 1, f"L{i}", MoveKind.LIVE) for i in range(3)]
    assert check(c, three) == ["migration_limit"]


def test_no_live_move_without_a_live_migration_network() -> None:
    # The only network has no live-migration order: A can only move with downtime.
    net = (Network("Mgmt", NetworkRole.CLUSTER_AND_CLIENT, None),)
    c = two_nodes(vms=[VmSpec("A", "H1", allow_downtime=True)], networks=net)
    assert check(c, [mv(c, 1, 1, "A", MoveKind.LIVE)]) == ["move_kind"]
    assert check(c, [mv(c, 1, 1, "A", MoveKind.SHUTDOWN)]) == []


def test_config_version_of_the_target() -> None:
    # A has configuration version 10.0; H2's OS runs versions up to 9.0.
    c = two_nodes(vms=[VmSpec("A", "H1", config_version_x10=100)])
    c = c.replace(host_max_config_version_x10=np.array([-1, 90]))
    assert check(c, [mv(c, 1, 1, "A", MoveKind.LIVE)]) == ["config_version"]


def test_running_vm_limit_of_a_node() -> None:
    # H2 runs 1,024 VMs (Hyper-V's limit); moving one more there makes 1,025: rejected.
    vms = [VmSpec(f"V{i}", "H2", memory_mb=1, cpu_milli=1) for i in range(1024)]
    c = two_nodes(vms=[VmSpec("X", "H1", memory_mb=1, cpu_milli=1), *vms])
    assert check(c, [mv(c, 1, 1, "X", MoveKind.LIVE)]) == ["running_vms"]


def test_rule_broken_now_may_stay_broken_only_when_named() -> None:
    # A and B (DifferentNode) share H1 now; a plan that moves C only leaves the rule broken.
    c = two_nodes(
        vms=[VmSpec("A", "H1"), VmSpec("B", "H1"), VmSpec("C", "H1")],
        rules=[RuleSpec("apart", RuleType.DIFFERENT_NODE, ("A", "B"))],
    )
    moves = [mv(c, 1, 1, "C", MoveKind.LIVE)]
    p = c.vm_host.astype(np.int64).copy()
    p[2] = 1
    unnamed = verify_plan_data(c, moves, p, {}).violations
    assert [v["kind"] for v in unnamed] == ["different_node"]
    named = {"rules_left_broken": [{"rule": "apart", "vms": ["A", "B"], "reason": "x"}]}
    assert verify_plan_data(c, moves, p, named).ok
