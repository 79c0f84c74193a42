"""A native balancer acting while the loads change, and the simulations by variant (see
:mod:`planner.native`)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from planner.cluster import Cluster
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel
from planner.native.dynopt import do_pass, simulate_dynamic_optimization
from planner.native.fairness import nf_pass, simulate_node_fairness
from planner.native.model import (
    NODE_FAIRNESS_INTERVAL_S,
    DynamicOptimizationOptions,
    NativeMove,
    NodeFairnessOptions,
    SimulationResult,
)
from planner.native.state import PlacementState


class Balancer:
    """A native balancer acting pass by pass while the loads change (``hvplan replay``).

    Each :meth:`act` is one pass (Node Fairness: the periodic pass of mode 2; Dynamic
    Optimization: one run) on the loads given, from the placement the earlier passes left.
    """

    def __init__(
        self,
        cluster: Cluster,
        variant: NodeFairnessOptions | DynamicOptimizationOptions,
        placement: np.ndarray | None = None,
    ) -> None:
        self.cluster = cluster
        self.variant = variant
        self._st = PlacementState(cluster, variant.respect_pinned, placement)
        self._number = 0

    @property
    def interval_s(self) -> int:
        """Seconds between passes (30 min for Node Fairness, fixed by Windows)."""
        if isinstance(self.variant, NodeFairnessOptions):
            return NODE_FAIRNESS_INTERVAL_S
        return self.variant.interval_minutes * 60

    @property
    def placement(self) -> np.ndarray:
        """The placement now (a copy)."""
        return self._st.p.copy()

    def act(
        self, vm_cpu: np.ndarray, vm_mem: np.ndarray, host_base: np.ndarray, clock: float
    ) -> list[NativeMove]:
        """One pass on these loads (per-VM CPU milli-LP and memory MB, 0 for VMs that do not
        consume; per-host base CPU); returns its moves, already applied."""
        self._number += 1
        self._st.set_loads(vm_cpu, vm_mem, host_base)
        if isinstance(self.variant, NodeFairnessOptions):
            moves, _, _ = nf_pass(self.cluster, self._st, self.variant, self._number, clock, None)
        else:
            moves, _ = do_pass(self.cluster, self._st, self.variant, self._number, clock)
        return moves


def simulate(
    cluster: Cluster,
    variant: NodeFairnessOptions | DynamicOptimizationOptions,
    durations: DurationModel = DEFAULT_DURATION_MODEL,
) -> SimulationResult:
    """Run the simulation that ``variant`` describes."""
    if isinstance(variant, NodeFairnessOptions):
        return simulate_node_fairness(cluster, variant, durations)
    return simulate_dynamic_optimization(cluster, variant, durations)


def simulate_all(
    cluster: Cluster,
    variants: Iterable[NodeFairnessOptions | DynamicOptimizationOptions],
    durations: DurationModel = DEFAULT_DURATION_MODEL,
) -> list[SimulationResult]:
    """Run several variants (each from the snapshot's current placement)."""
    return [simulate(cluster, v, durations) for v in variants]
