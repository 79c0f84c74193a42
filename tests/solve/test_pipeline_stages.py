"""Per-stage tests of the staged solve: pre-check messages, bounds against brute force,
greedy placements that respect every hard rule, which stage decided, and the regression of
issue 10 (a profile without the balance tier, a drain and --max-moves 0)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
from hypothesis import given
from typer.testing import CliRunner

from planner.cli import app
from planner.cpsat.model import PlacementModel
from planner.cpsat.solver import SolverParams
from planner.generate import GeneratorOptions, generate_cluster
from planner.optimizer import optimize
from planner.problem import (
    TIER_NAMES,
    PlanOptions,
    SolveStatus,
    build_problem,
    hard_violations,
    objective_values,
)
from planner.profiles import Profile
from planner.solve.bounds import TierBounds, compute_bounds
from planner.solve.candidates import hot_hosts
from planner.solve.full import full_input
from planner.solve.greedy import greedy_assign
from planner.solve.precheck import precheck
from tests.strategies import HostSpec, VmSpec, clusters, make_cluster

runner = CliRunner()
H = HostSpec


# ------------------------------------------------------------------------- regression
TOY2_HOSTS = """name,cpu_vendor,logical_processors,memory_mb
H1,GenuineIntel,16,65536
H2,GenuineIntel,16,65536
"""
TOY2_VMS = "name,host,vcpus,memory_mb\nA,H1,2,4096\n"


def test_issue10_profile_without_balance_drain_and_no_moves_is_infeasible(tmp_path: Path) -> None:
    # Issue 10: with tiers = ["excess", "migration"], a 2-node snapshot with one VM on H1,
    # --drain H1 --max-moves 0 answered "No plan was found within the time limit" after
    # 0.01 s (every tier constant -> OPTIMAL without a solve -> the placement dropped).  A
    # must leave H1 and may not move: INFEASIBLE, with the reason.
    snap = tmp_path / "toy2"
    snap.mkdir()
    (snap / "hosts.csv").write_text(TOY2_HOSTS)
    (snap / "vms.csv").write_text(TOY2_VMS)
    prof = tmp_path / "two_tiers.toml"
    prof.write_text('name = "two_tiers"\n[objective]\ntiers = ["excess", "migration"]\n')
    r = runner.invoke(
        app,
        [
            "plan",
            str(snap),
            "--out",
            str(tmp_path / "p"),
            "--drain",
            "H1",
            "--max-moves",
            "0",
            "--model",
            str(prof),
            "--json",
        ],
    )
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout[r.stdout.index("{") :])
    assert doc["status"] == "INFEASIBLE"
    assert any("--max-moves allows 0" in line for line in doc["explanation"])


def test_all_constant_tiers_still_decide_feasibility_in_the_model() -> None:
    # The model-level half of the same bug: every tier is constant in this model (A's only
    # target is H2, so nothing is left to choose), yet the budget forbids the move.  The
    # model must answer INFEASIBLE, not OPTIMAL without a solve.
    c = make_cluster([H("H1"), H("H2")], [VmSpec("A", "H1")])
    pb = build_problem(
        c, PlanOptions(drain=(0,), max_moves=0, profile=Profile(tiers=("excess", "migration")))
    )
    pm = PlacementModel(full_input(pb), pb.tiers)
    assert all(t is None or isinstance(t, int) for t in pm.terms.values())
    out = pm.solve_tiers(SolverParams(), None, lambda n, f: 0, time.monotonic() + 5)
    assert out.status == SolveStatus.INFEASIBLE and out.placement is None


# ------------------------------------------------------------------------- pre-check
def test_precheck_messages_name_the_vm_and_the_cause() -> None:
    c = make_cluster(
        [H("H1"), H("H2")],
        [
            VmSpec("P", "H1", pinned=True),
            VmSpec("O", "H1", possible_owners=("H1",)),
            VmSpec("BIG", "H2", memory_mb=70000 - 4096 - 1),
        ],
    )
    msgs = precheck(build_problem(c, PlanOptions(drain=(0,))))
    text = "\n".join(msgs)
    assert "VM P is pinned to H1, which is drained" in text
    assert "VM O has no possible owner that is Up and not drained" in text
    msgs = precheck(build_problem(c, PlanOptions(drain=(0,), max_moves=1)))
    assert any("must leave their node" in m and "--max-moves allows 1" in m for m in msgs)


# ------------------------------------------------------------------------- bounds
def _brute(pb) -> dict[str, int] | None:  # type: ignore[no-untyped-def]
    c = pb.cluster
    best = None
    for combo in itertools.product(
        *[np.flatnonzero(pb.allowed[v]).tolist() for v in range(c.n_vms)]
    ):
        p = np.array(combo, dtype=np.int64)
        if hard_violations(pb, p):
            continue
        vals = objective_values(pb, p)
        if best is None or [vals[t] for t in TIER_NAMES] < [best[t] for t in TIER_NAMES]:
            best = vals
    return best


@given(clusters(max_hosts=3, max_vms=5))
def test_bounds_never_exceed_the_brute_force_optimum(cluster) -> None:  # type: ignore[no-untyped-def]
    for opts in (
        PlanOptions(level="high", high_mode="absolute"),
        PlanOptions(level="medium", drain=(0,)),
    ):
        pb = build_problem(cluster, opts)
        opt = _brute(pb)
        if opt is None:
            continue
        tb = TierBounds(compute_bounds(pb, SolverParams(), time.monotonic() + 5), pb.tiers)
        for t in pb.tiers:
            # The bound of a tier, given the optimal values of the tiers before it.
            assert tb.of(t, opt) <= opt[t], (t, tb.of(t, opt), opt)


# ------------------------------------------------------------------------- greedy
@given(clusters(max_hosts=4, max_vms=8))
def test_greedy_respects_every_hard_rule(cluster) -> None:  # type: ignore[no-untyped-def]
    # Whatever it returns is acceptable: allowed targets, capacity, running limits, rules.
    pb = build_problem(cluster, PlanOptions(level="medium", drain=(0,)))
    movers = np.flatnonzero(pb.mandatory | hot_hosts(pb, cluster.vm_host)[cluster.vm_host])
    targets = {int(v): np.flatnonzero(pb.allowed[v]) for v in movers.tolist()}
    if not all(len(t) for t in targets.values()):
        return
    p = greedy_assign(pb, cluster.vm_host, movers, targets)
    if p is not None:
        assert hard_violations(pb, p) == []


# ------------------------------------------------------------------------- who decided
def test_stage_that_decides() -> None:
    # Pre-check: a pinned VM on a drained node.
    c = make_cluster([H("H1"), H("H2")], [VmSpec("P", "H1", pinned=True)])
    assert optimize(c, PlanOptions(drain=(0,))).method == "pre-check"
    # Nothing to do: the current placement meets every bound.
    assert optimize(c, PlanOptions(threshold_pct=90.0)).method == "current placement"
    # A generated cluster with a fifth of the nodes hot: the decomposition proves it.
    g = generate_cluster(GeneratorOptions(hosts=16, vms=1000, seed=1, hot_fraction=0.2))
    res = optimize(g, PlanOptions(level="medium", time_limit_s=30))
    assert res.status == SolveStatus.OPTIMAL
    assert res.method.startswith(("decomposition", "restricted model"))
    # Forced past the restricted model (as on large clusters): LNS or the decomposition.
    res = optimize(g, PlanOptions(level="medium", time_limit_s=20, large_model_booleans=0))
    assert res.ok and "restricted" not in res.method and "full" not in res.method
