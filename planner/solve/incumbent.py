"""The best placement found so far (the run's budget is :class:`planner.cpsat.budget.Budget`).

:class:`Incumbent` replaces the closures that used to share the best solution between the
stages: every stage offers placements to it; it keeps the lexicographically best one and
names the stage that found it.  Placements from heuristics that break a hard rule (a greedy
that overshot the move budget, say) are turned down and counted; a placement from CP-SAT
that breaks one is a bug and raises :class:`~planner.problem.SolverBug`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from planner.cpsat.budget import Budget
from planner.problem import PlanningProblem, SolverBug, hard_violations, objective_values
from planner.solve.bounds import TierBounds


@dataclass
class Incumbent:
    """Best placement so far, its tier values and the stage that found it."""

    problem: PlanningProblem
    bounds: TierBounds
    placement: np.ndarray | None = None
    values: dict[str, int] | None = None
    stage: str = ""
    rejected: dict[str, int] = field(default_factory=dict)
    #: :func:`time.perf_counter` at the start of the run (the times below count from it).
    started: float = field(default_factory=time.perf_counter)
    #: Seconds to the first kept placement, and to the first with no load above the threshold.
    first_plan_s: float | None = None
    first_under_threshold_s: float | None = None

    def key(self, values: dict[str, int]) -> tuple[int, ...]:
        """Lexicographic key of tier values."""
        return tuple(values[t] for t in self.problem.tiers)

    def offer(self, placement: np.ndarray | None, stage: str, from_solver: bool = False) -> bool:
        """Consider ``placement``; keep it when it is acceptable and lexicographically
        better.  Returns whether it was kept.  ``from_solver``: a CP-SAT answer, which must
        be acceptable (else :class:`~planner.problem.SolverBug`)."""
        if placement is None:
            return False
        p = np.asarray(placement, dtype=np.int64)
        bad = hard_violations(self.problem, p)
        if bad:
            if from_solver:
                raise SolverBug(
                    f"{stage}: CP-SAT placement breaks a hard rule: "
                    + "; ".join(v.message for v in bad[:5])
                )
            self.rejected[stage] = self.rejected.get(stage, 0) + 1
            return False
        vals = objective_values(self.problem, p)
        if self.values is not None and self.key(vals) >= self.key(self.values):
            return False
        if np.array_equal(p, self.problem.cluster.vm_host):
            stage = "current placement"
        self.placement, self.values, self.stage = p, vals, stage
        now = time.perf_counter() - self.started
        if self.first_plan_s is None:
            self.first_plan_s = now
        if self.first_under_threshold_s is None and vals.get("excess", 0) == 0:
            self.first_under_threshold_s = now
        return True

    def proven(self) -> bool:
        """Every tier of the incumbent meets its lower bound."""
        return self.values is not None and self.bounds.all_met(self.values)

    def value(self, tier: str) -> int | None:
        """The incumbent's value of ``tier`` (None without an incumbent)."""
        return None if self.values is None else self.values[tier]


__all__ = ["Budget", "Incumbent"]
