"""What ``hvplan compare`` produces: the options, one :class:`StrategyRow` per strategy and
the :class:`CompareResult` with its JSON form (SPEC §6) and hvplan's advantages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.cluster import Cluster
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel
from planner.evaluate import Evaluation
from planner.loadmodel import HighMode, Level, Threshold
from planner.native import DynamicOptimizationOptions, NodeFairnessOptions, SimulationResult

#: Name of the optimizer's row (SPEC §6).
HVPLAN = "hvplan"
#: Row of the cluster's own balancer in AutoBalancerMode 0 (it moves nothing).
NATIVE_OFF = "native balancer off"
#: Row of the cluster's own balancer in AutoBalancerMode 1 (it acts only on node join).
NATIVE_JOIN_ONLY = "native balancer acts only on node join"
#: Suffix of the Node Fairness rows simulated in mode 2 for a cluster where it is not on.
IF_ON = "(if turned on)"

#: Columns of ``compare.csv`` (and keys of each JSON strategy), in order.
COLUMNS = (
    "name",
    "kind",
    "status",
    "moves",
    "memory_moved_mb",
    "downtime_moves",
    "passes",
    "passes_run",
    "converge_seconds",
    "estimated_migration_seconds",
    "reaches_threshold",
    "hosts_over_threshold_after",
    "max_cpu_pct_after",
    "max_memory_pct_after",
    "excess_cpu_milli_after",
    "excess_memory_mb_after",
    "rule_violations_after",
    "hard_violations_after",
    "anti_affinity_pairs_after",
    "std_cpu_pct_after",
    "std_memory_pct_after",
    "run_seconds",
)


@dataclass(frozen=True)
class GivenPlan:
    """A plan made earlier (``hvplan plan --out DIR``), shown as the ``hvplan`` row instead of
    a new solve: the report about a plan compares that plan, not another one.

    ``placement`` is the final host index of every VM; ``downtime_moves`` and
    ``estimated_seconds`` come from its ``plan.csv`` / ``summary.json``; ``status`` is the
    solver status it was written with; ``description`` says where it comes from.
    """

    placement: np.ndarray
    status: str = "given"
    description: str = "the plan given"
    downtime_moves: int = 0
    estimated_seconds: float = 0.0
    waves: int = 0


@dataclass(frozen=True)
class CompareOptions:
    """What to compare.

    ``variants`` defaults to :func:`planner.native.default_variants` at the same level;
    ``time_limit_s`` bounds the optimizer (``None``: its profile's).  ``plan``: an earlier
    plan to show as the ``hvplan`` row (no solve runs then).  ``drain`` (node indices) and
    ``load`` (with a load history: the statistic the threshold is judged at, as
    ``hvplan plan --load``; ``None``: p95, as ``hvplan plan``) shape the ``hvplan`` row
    only: the native balancers neither drain nodes nor read the history.
    """

    level: Level | str | None = None
    threshold_pct: float | None = None
    high_mode: HighMode | str = HighMode.AVERAGE
    time_limit_s: float | None = 20.0
    seed: int = 0
    variants: Sequence[NodeFairnessOptions | DynamicOptimizationOptions] | None = None
    include_optimizer: bool = True
    durations: DurationModel = DEFAULT_DURATION_MODEL
    plan: GivenPlan | None = None
    drain: tuple[int, ...] = ()
    load: str | None = None


@dataclass
class StrategyRow:
    """One strategy's outcome (see :data:`COLUMNS`)."""

    name: str
    kind: str  # "optimizer" or "native"
    status: str
    description: str
    moves: int
    memory_moved_mb: int
    downtime_moves: int
    passes: int
    passes_run: int
    converge_seconds: float
    estimated_migration_seconds: float
    run_seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    pass_log: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the SPEC §6 keys plus the other columns, the description and passes."""
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "moves": self.moves,
            "memory_moved_mb": self.memory_moved_mb,
            "downtime_moves": self.downtime_moves,
            "passes": self.passes,
            "passes_run": self.passes_run,
            "converge_seconds": round(self.converge_seconds, 1),
            "estimated_migration_seconds": round(self.estimated_migration_seconds, 1),
            "run_seconds": round(self.run_seconds, 3),
        }
        d.update(self.metrics)
        d["description"] = self.description
        d["pass_log"] = self.pass_log
        return d


@dataclass
class CompareResult:
    """Everything ``hvplan compare`` shows.  ``evaluation`` row 0 is the current placement,
    row ``i + 1`` is ``rows[i]``."""

    cluster: Cluster
    threshold: Threshold
    rows: list[StrategyRow]
    placements: list[np.ndarray]
    evaluation: Evaluation
    simulations: list[SimulationResult]
    notes: list[str] = field(default_factory=list)
    #: The ``hvplan`` row's plan (:class:`planner.pipeline.Plan`), when a solve ran.
    plan: Any = None

    def row(self, name: str) -> StrategyRow | None:
        """The row called ``name``, if any."""
        return next((r for r in self.rows if r.name == name), None)

    def before(self) -> dict[str, Any]:
        """Metrics of the current placement."""
        return metrics_of(self.evaluation, 0, self.cluster)

    def advantages(self) -> list[dict[str, Any]]:
        """How hvplan compares with each native variant (empty without an hvplan plan).

        ``memory_saved_mb`` / ``moves_saved`` are positive when hvplan moves less.
        ``same_terms`` is True when the variant reaches the threshold and leaves no more
        legacy anti-affinity pairs and hard violations than hvplan: hvplan's objective puts
        those before the cost of moves, so only then is memory moved a like-for-like
        comparison (and an OPTIMAL hvplan plan never moves more).
        """
        hv = self.row(HVPLAN)
        if hv is None or hv.status not in ("OPTIMAL", "FEASIBLE"):
            return []
        out = []
        hm = hv.metrics
        for r in self.rows:
            if r.kind != "native":
                continue
            m = r.metrics
            saved = r.memory_moved_mb - hv.memory_moved_mb
            out.append(
                {
                    "strategy": r.name,
                    "memory_saved_mb": saved,
                    "memory_saved_pct": (
                        round(100.0 * saved / r.memory_moved_mb, 1) if r.memory_moved_mb else None
                    ),
                    "moves_saved": r.moves - hv.moves,
                    "hosts_over_after": m["hosts_over_threshold_after"],
                    "hvplan_hosts_over_after": hm["hosts_over_threshold_after"],
                    "anti_affinity_pairs_after": m["anti_affinity_pairs_after"],
                    "hvplan_anti_affinity_pairs_after": hm["anti_affinity_pairs_after"],
                    "hard_violations_after": m["hard_violations_after"],
                    "hvplan_hard_violations_after": hm["hard_violations_after"],
                    "same_terms": bool(
                        m["reaches_threshold"]
                        and m["anti_affinity_pairs_after"] <= hm["anti_affinity_pairs_after"]
                        and m["hard_violations_after"] <= hm["hard_violations_after"]
                    ),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form (SPEC §6 ``compare --json``)."""
        return {
            "cluster": self.cluster.name,
            "threshold_pct": self.threshold.to_dict(),
            "threshold_rule": self.threshold.rule,
            "before": self.before(),
            "strategies": [r.to_dict() for r in self.rows],
            "advantages": self.advantages(),
            "notes": self.notes,
        }


def metrics_of(e: Evaluation, k: int, cluster: Cluster) -> dict[str, Any]:
    """The "after" columns of row ``k`` of the evaluation (0: the current placement)."""
    aa = int(e.violations["anti_affinity"][k])
    return {
        "reaches_threshold": bool(e.hosts_over[0, k] == 0),
        "hosts_over_threshold_after": int(e.hosts_over[0, k]),
        "max_cpu_pct_after": round(float(e.max_cpu_pct[k]), 2),
        "max_memory_pct_after": round(float(e.max_memory_pct[k]), 2),
        "excess_cpu_milli_after": int(e.excess_cpu_milli[0, k]),
        "excess_memory_mb_after": int(e.excess_memory_mb[0, k]),
        "rule_violations_after": int(e.rule_violations()[k]),
        "hard_violations_after": int(e.hard_violations[k]),
        "anti_affinity_pairs_after": aa,
        "std_cpu_pct_after": round(float(e.std_cpu_pct[k]), 2),
        "std_memory_pct_after": round(float(e.std_memory_pct[k]), 2),
    }


__all__ = [
    "COLUMNS",
    "HVPLAN",
    "IF_ON",
    "NATIVE_JOIN_ONLY",
    "NATIVE_OFF",
    "CompareOptions",
    "CompareResult",
    "GivenPlan",
    "StrategyRow",
    "metrics_of",
]
