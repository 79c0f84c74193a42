"""The downtime post-pass (planner.solve.downtime): a Shutdown move that a live move with
room can replace is replaced, never one whose replacement breaks a rule or pushes a node
over the threshold; and the whole solve of such a cluster ends with no downtime move."""

from __future__ import annotations

import time

import numpy as np

from planner.cluster import MoveKind, Vendor
from planner.optimizer import optimize
from planner.problem import PlanOptions, build_problem, hard_violations, objective_values
from planner.solve.bounds import TierBounds, compute_bounds
from planner.solve.downtime import downtime_vms, live_instead
from planner.solve.greedy import greedy_assign
from planner.solve.incumbent import Incumbent
from planner.solve.pipeline import solver_params
from tests.strategies import HostSpec, VmSpec, make_cluster


def _cluster(room_on_h2: bool = True):  # type: ignore[no-untyped-def]
    # H1 (Intel, 16 LP, 64 GB less a 4 GB reserve) holds X (8 LP busy) and Y (4 LP): 12 of 16
    # LP = 75 % CPU, above Medium's threshold.  X may leave by Live to H2 (Intel) or by
    # Shutdown to H3 (AMD: another vendor).  H2 carries a base load: with room_on_h2 it
    # takes X under the threshold, otherwise only H3 can (by Shutdown).
    base = 0 if room_on_h2 else 9000
    hosts = [
        HostSpec("H1"),
        HostSpec("H2", cpu_base_milli=base),
        HostSpec("H3", vendor=Vendor.AMD),
    ]
    vms = [
        VmSpec("X", "H1", vcpus=8, cpu_milli=8000, memory_mb=8192, allow_downtime=True),
        VmSpec("Y", "H1", vcpus=4, cpu_milli=4000, memory_mb=8192),
    ]
    return make_cluster(hosts, vms)


def _incumbent(pb, placement):  # type: ignore[no-untyped-def]
    bounds = compute_bounds(pb, solver_params(pb), time.monotonic() + 5.0)
    inc = Incumbent(pb, TierBounds(bounds, pb.tiers))
    assert inc.offer(placement, "test start")
    return inc


def test_shutdown_move_replaced_by_live_move_with_room() -> None:
    c = _cluster()
    pb = build_problem(c, PlanOptions(level="medium"))
    assert pb.move_kind[0, 2] == MoveKind.SHUTDOWN and pb.move_kind[0, 1] == MoveKind.LIVE
    start = np.array([2, 0])  # X shut down onto the AMD node H3
    inc = _incumbent(pb, start)
    before = objective_values(pb, start)
    assert list(downtime_vms(pb, start)) == [0]
    assert live_instead(pb, inc) == 1
    assert inc.placement is not None and inc.values is not None
    assert inc.placement.tolist() == [1, 0]  # Live to H2
    assert not hard_violations(pb, inc.placement)
    assert inc.values["excess"] == before["excess"] == 0
    # The migration cost drops by the downtime price (memory moved is the same 8,192 MB).
    assert before["migration"] - inc.values["migration"] == pb.profile.shutdown_penalty_mb
    assert len(downtime_vms(pb, inc.placement)) == 0


def test_shutdown_move_kept_when_no_live_target_has_room() -> None:
    c = _cluster(room_on_h2=False)
    pb = build_problem(c, PlanOptions(level="medium"))
    start = np.array([2, 0])
    inc = _incumbent(pb, start)
    # Live to H2 would put H2 above the threshold; home keeps H1 above it: both worse.
    assert live_instead(pb, inc) == 0
    assert inc.placement is not None and inc.placement.tolist() == [2, 0]


def test_solve_of_the_cluster_has_no_downtime_move() -> None:
    res = optimize(_cluster(), PlanOptions(level="medium", time_limit_s=10))
    assert res.ok and res.placement is not None
    assert res.downtime_moves == 0
    assert res.placement.tolist() == [1, 0]
    # The time to the first plan with no load above the threshold is recorded (H1 is over
    # it now, so that is not the current placement's time 0).
    first = res.timings["first_under_threshold"]
    assert 0 < first <= res.solve_seconds and res.timings["first_plan"] <= first


def test_greedy_prefers_a_live_target_that_fits_under_the_threshold() -> None:
    # H2 carries 2 LP of base load, H3 (AMD) none: H3 is the emptier node, but X reaches it
    # only by Shutdown.  X on H2 is 10 of 16 LP = 62.5 %, under Medium's threshold: the
    # greedy takes H2 (before, it took the emptiest node, H3, and left the downtime move to
    # the later stages).
    c = make_cluster(
        [HostSpec("H1"), HostSpec("H2", cpu_base_milli=2000), HostSpec("H3", vendor=Vendor.AMD)],
        [
            VmSpec("X", "H1", vcpus=8, cpu_milli=8000, memory_mb=8192, allow_downtime=True),
            VmSpec("Y", "H1", vcpus=4, cpu_milli=4000, memory_mb=8192),
        ],
    )
    pb = build_problem(c, PlanOptions(level="medium"))
    p = greedy_assign(pb, c.vm_host, np.array([0]), {0: np.flatnonzero(pb.allowed[0])})
    assert p is not None and p.tolist() == [1, 0]
