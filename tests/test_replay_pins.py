"""The native balancers' behaviour over a replay, pinned: the migrations (and memory moved,
node-samples over the threshold) of every strategy on small generated clusters.

The numbers were recorded before the replay was made faster; a change to the simulations'
speed must leave them exactly as they are.  A change of behaviour (a new reading of Node
Fairness or Dynamic Optimization) updates them on purpose, with a reason.
"""

from __future__ import annotations

import pytest

from planner.cluster import Cluster
from planner.generate import GeneratorOptions, generate_cluster
from planner.history.synthetic import synthetic_history
from planner.native import DynamicOptimizationOptions, NodeFairnessOptions
from planner.replay import ReplayOptions, replay

#: (migrations, memory moved MB, node-samples over the threshold) per strategy.
PINNED = {
    0.25: {
        "current": (0, 0, 864),
        "hvplan": (0, 0, 864),
        "node-fairness/largest-memory": (15, 683826, 18),
        "node-fairness/smallest-memory": (123, 661084, 57),
        "node-fairness/highest-cpu": (10, 288445, 6),
        "node-fairness/lowest-cost": (24, 320474, 62),
        "node-fairness/largest-memory/1-per-pass": (14, 648690, 47),
        "dynamic-optimization/3": (15, 613573, 11),
        "dynamic-optimization/5": (15, 606808, 3),
    },
    0.5: {
        "current": (0, 0, 1728),
        "hvplan": (0, 0, 1728),
        "node-fairness/largest-memory": (26, 1043300, 46),
        "node-fairness/smallest-memory": (288, 1598615, 131),
        "node-fairness/highest-cpu": (21, 570605, 9),
        "node-fairness/lowest-cost": (45, 706754, 88),
        "node-fairness/largest-memory/1-per-pass": (25, 1013415, 121),
        "dynamic-optimization/3": (24, 887953, 318),
        "dynamic-optimization/5": (30, 1074745, 140),
    },
}


def _cluster(hot_fraction: float) -> Cluster:
    """12 nodes, 600 VMs (with affinity rules and anti-affinity classes), one day."""
    c = generate_cluster(GeneratorOptions(hosts=12, vms=600, seed=3, hot_fraction=hot_fraction))
    return c.replace(history=synthetic_history(c, 288))


@pytest.mark.parametrize("hot_fraction", sorted(PINNED))
def test_replay_migrations_are_pinned(hot_fraction: float) -> None:
    c = _cluster(hot_fraction)
    res = replay(c, plan_placement=c.vm_host.copy(), options=ReplayOptions(period_hours=0))
    got = {
        s.name: (
            s.metrics["migrations"],
            s.metrics["memory_moved_mb"],
            s.metrics["node_samples_over_threshold"],
        )
        for s in res.strategies
    }
    assert got == PINNED[hot_fraction]


def test_replay_migrations_at_high_and_with_limits_are_pinned() -> None:
    c = _cluster(0.5)
    res = replay(c, options=ReplayOptions(level="high", period_hours=0))
    assert {s.name: s.metrics["migrations"] for s in res.strategies} == {
        "current": 0,
        "node-fairness/largest-memory": 790,
        "node-fairness/smallest-memory": 846,
        "node-fairness/highest-cpu": 341,
        "node-fairness/lowest-cost": 398,
        "node-fairness/largest-memory/1-per-pass": 203,
        "dynamic-optimization/3": 24,
        "dynamic-optimization/5": 30,
    }
    variants = [
        NodeFairnessOptions(vm_choice="lowest-cost", level="medium", max_moves_per_node=2),
        DynamicOptimizationOptions(aggressiveness=4, max_moves_per_pass=1, interval_minutes=30),
    ]
    res = replay(c, options=ReplayOptions(period_hours=0), variants=variants)
    assert {s.name: s.metrics["migrations"] for s in res.strategies} == {
        "current": 0,
        "node-fairness/lowest-cost/2-per-pass": 75,
        "dynamic-optimization/4": 25,
    }
