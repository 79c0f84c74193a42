"""The native balancers' settings and what a simulation records: options of Node Fairness
and of SCVMM Dynamic Optimization, the variants ``hvplan compare`` and ``hvplan replay`` run,
moves, passes and results (see :mod:`planner.native`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from planner.cluster import Cluster, MoveKind
from planner.loadmodel import HighMode, Level

#: Node Fairness periodic interval (fixed by Windows).
NODE_FAIRNESS_INTERVAL_S = 1800
#: Minimum improvement (percentage points of the busier node's load) per aggressiveness.
DO_MIN_GAIN_PCT = {1: 20.0, 2: 10.0, 3: 5.0, 4: 2.0, 5: 0.5}


class VmChoice(StrEnum):
    """Which VM Node Fairness moves first from a node over the threshold (not published)."""

    LARGEST_MEMORY = "largest-memory"
    SMALLEST_MEMORY = "smallest-memory"
    HIGHEST_CPU = "highest-cpu"
    LOWEST_COST = "lowest-cost"


@dataclass(frozen=True)
class NodeFairnessOptions:
    """Settings of :func:`simulate_node_fairness` (see the module docstring).

    ``level``/``threshold_pct``/``high_mode`` as in :func:`planner.loadmodel.resolve_threshold`
    (default: the cluster's ``auto_balancer_level``); ``mode`` 0, 1 or 2 (default 2, whatever
    the cluster's setting, so that the simulation shows what the balancer would do);
    ``joined_host`` is the node that joins (required for mode 1; in mode 2 it makes the first
    pass a join pass).
    """

    vm_choice: VmChoice | str = VmChoice.LARGEST_MEMORY
    level: Level | str | None = None
    threshold_pct: float | None = None
    high_mode: HighMode | str = HighMode.AVERAGE
    mode: int = 2
    joined_host: int | None = None
    max_moves_per_node: int | None = None
    max_passes: int = 48
    respect_pinned: bool = True

    def name(self) -> str:
        """Row name for reports, e.g. ``node-fairness/largest-memory``."""
        suffix = "" if self.max_moves_per_node is None else f"/{self.max_moves_per_node}-per-pass"
        return f"node-fairness/{VmChoice(self.vm_choice).value}{suffix}"


@dataclass(frozen=True)
class DynamicOptimizationOptions:
    """Settings of :func:`simulate_dynamic_optimization` (see the module docstring)."""

    aggressiveness: int = 3
    interval_minutes: int = 10
    cpu_free_pct: float = 30.0
    memory_free_mb: int = 512
    cpu_reserve_pct: float = 10.0
    max_passes: int = 144
    max_moves_per_pass: int | None = None
    respect_pinned: bool = True

    def name(self) -> str:
        """Row name for reports, e.g. ``dynamic-optimization/3``."""
        return f"dynamic-optimization/{self.aggressiveness}"


@dataclass(frozen=True)
class NativeMove:
    """One simulated migration."""

    pass_number: int
    time_s: float
    vm: int
    source: int
    target: int
    kind: MoveKind
    memory_mb: int
    reason: str

    def to_dict(self, cluster: Cluster) -> dict[str, Any]:
        """JSON/CSV form with names."""
        return {
            "pass": self.pass_number,
            "time_s": self.time_s,
            "vm": cluster.vm_names[self.vm],
            "source": cluster.host_names[self.source],
            "target": cluster.host_names[self.target],
            "migration_type": self.kind.name.title(),
            "memory_mb": self.memory_mb,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PassRecord:
    """One balancer pass: when it ran, what it saw and what it did."""

    number: int
    time_s: float
    sources: int  # nodes over the threshold (or breaching DO thresholds) at the start
    moves: int
    migration_seconds: float
    threshold_cpu_pct: float | None = None
    threshold_memory_pct: float | None = None


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of a native balancer simulation."""

    name: str
    description: str
    placement: np.ndarray
    moves: tuple[NativeMove, ...]
    passes: tuple[PassRecord, ...]
    converged: bool  # the last pass moved nothing
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def memory_moved_mb(self) -> int:
        """Memory of every moved VM, summed (a VM moved twice counts twice)."""
        return int(sum(m.memory_mb for m in self.moves))

    @property
    def passes_with_moves(self) -> int:
        """Passes that moved at least one VM."""
        return sum(1 for p in self.passes if p.moves)

    @property
    def migration_seconds(self) -> float:
        """Estimated time spent migrating, over all passes."""
        return float(sum(p.migration_seconds for p in self.passes))

    @property
    def converge_seconds(self) -> float:
        """Clock time when the last pass that moved something finished its migrations."""
        moving = [p for p in self.passes if p.moves]
        if not moving:
            return 0.0
        return float(moving[-1].time_s + moving[-1].migration_seconds)


def default_variants(
    level: Level | str | None = None,
    threshold_pct: float | None = None,
    high_mode: HighMode | str = HighMode.AVERAGE,
) -> list[NodeFairnessOptions | DynamicOptimizationOptions]:
    """The native strategies ``hvplan compare`` runs: Node Fairness with each VM choice
    (all at the given level), one-move-per-pass largest memory, and Dynamic Optimization at
    aggressiveness 3 (default) and 5."""
    nf: list[NodeFairnessOptions | DynamicOptimizationOptions] = [
        NodeFairnessOptions(
            vm_choice=ch, level=level, threshold_pct=threshold_pct, high_mode=high_mode
        )
        for ch in VmChoice
    ]
    nf.append(
        NodeFairnessOptions(
            vm_choice=VmChoice.LARGEST_MEMORY,
            level=level,
            threshold_pct=threshold_pct,
            high_mode=high_mode,
            max_moves_per_node=1,
        )
    )
    nf.append(DynamicOptimizationOptions(aggressiveness=3))
    nf.append(DynamicOptimizationOptions(aggressiveness=5))
    return nf


#: What the cluster's own ``AutoBalancerMode`` means for a simulation (issue 11 item 5).
MODE_NOTES = {
    0: "Node Fairness is off on this cluster (AutoBalancerMode 0): the native balancer "
    "moves nothing",
    1: "Node Fairness acts only when a node joins on this cluster (AutoBalancerMode 1): "
    "with no node joining it moves nothing",
}


def mode_note(cluster: Cluster) -> str | None:
    """Why Node Fairness does nothing on this cluster, or ``None`` in mode 2."""
    return MODE_NOTES.get(cluster.settings.auto_balancer_mode)


def cluster_variants(
    cluster: Cluster,
    level: Level | str | None = None,
    threshold_pct: float | None = None,
    high_mode: HighMode | str = HighMode.AVERAGE,
) -> tuple[list[NodeFairnessOptions | DynamicOptimizationOptions], str | None]:
    """The native strategies as the cluster is configured, and a note when Node Fairness
    does nothing.

    In ``AutoBalancerMode`` 2, :func:`default_variants`.  In mode 0 (off) and mode 1 (on
    node join only; no node joins in a snapshot comparison or a replay) no Node Fairness
    variant is simulated and the note says why.  SCVMM Dynamic Optimization does not
    depend on the mode (when SCVMM manages a cluster it turns Node Fairness off), so its
    variants are always included.
    """
    variants = default_variants(level, threshold_pct, high_mode)
    note = mode_note(cluster)
    if note is not None:
        variants = [v for v in variants if isinstance(v, DynamicOptimizationOptions)]
    return variants, note
