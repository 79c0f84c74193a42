"""The outcome of a solve: per-tier values and bounds, status, gap, the rules left broken.

:func:`finish` judges the incumbent against the bounds: tiers are proven in lexicographic
order; after the first unproven tier only bounds that hold for every placement are valid.
The reported ``gap`` is the relative gap of that first unproven tier (the *deciding* tier):
``(value - bound) / value``; 0 when every tier is proven.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.cluster import MoveKind, RuleType
from planner.loadmodel import Threshold
from planner.problem import PlanningProblem, SolveStatus, aa_broken, rule_broken
from planner.solve.bounds import Bounds
from planner.solve.incumbent import Incumbent


@dataclass
class TierResult:
    """One lexicographic tier: value, bound valid for the full problem, how it was found."""

    name: str
    objective: int | None
    bound: int | None
    status: SolveStatus
    seconds: float = 0.0
    note: str = ""

    @property
    def gap(self) -> int | None:
        """Absolute gap in the tier's own unit."""
        if self.objective is None or self.bound is None:
            return None
        return int(self.objective - self.bound)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``value`` is ``objective`` under its summary.json name)."""
        return {
            "name": self.name,
            "objective": self.objective,
            "value": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "status": self.status.value,
            "seconds": round(self.seconds, 4),
            "note": self.note,
        }


@dataclass
class OptimizeResult:
    """Result of a solve; ``placement`` is ``None`` when there is no solution.

    ``objective``/``bound`` hold every tier's value and a lower bound valid for the full
    problem; ``gap`` is the relative gap ``(value - bound) / value`` of ``gap_tier``, the first
    tier in lexicographic order that is not proven (0 and ``None`` when all are).  ``method``
    names the stage that found the placement.
    """

    status: SolveStatus
    placement: np.ndarray | None
    threshold: Threshold
    tiers: list[TierResult] = field(default_factory=list)
    objective: dict[str, int] = field(default_factory=dict)
    bound: dict[str, int] = field(default_factory=dict)
    gap: float | None = None
    gap_tier: str | None = None
    solve_seconds: float = 0.0
    moves: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    memory_moved_mb: int = 0
    downtime_moves: int = 0
    explanation: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    reasons: dict[int, str] = field(default_factory=dict)
    method: str = ""
    model_size: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    drained: tuple[int, ...] = ()
    profile: str = "rebalance"
    rules_left_broken: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A placement is available (OPTIMAL or FEASIBLE)."""
        return self.placement is not None and self.status in (
            SolveStatus.OPTIMAL,
            SolveStatus.FEASIBLE,
        )

    @property
    def deciding_tier(self) -> str | None:
        """The first tier not proven optimal, else ``None``."""
        return self.gap_tier


def empty_result(
    pb: PlanningProblem, status: SolveStatus, explanation: list[str], method: str
) -> OptimizeResult:
    """A result without a placement."""
    return OptimizeResult(
        status,
        None,
        pb.threshold,
        explanation=explanation,
        parameters=pb.parameters(),
        seed=pb.seed,
        drained=pb.drained,
        profile=pb.profile.name,
        method=method,
    )


def finish(
    pb: PlanningProblem,
    inc: Incumbent,
    bounds: Bounds,
    full_bounds: dict[str, int],
    reasons: dict[int, str],
) -> OptimizeResult:
    """Judge the incumbent (there must be one) against the bounds."""
    assert inc.placement is not None and inc.values is not None
    c = pb.cluster
    res = empty_result(pb, SolveStatus.FEASIBLE, [], inc.stage)
    fixed: dict[str, int] = {}
    all_proven = True
    gap = 0.0
    for name in pb.tiers:
        val = inc.values[name]
        if all_proven:
            # The tiers before are proven optimal: bounds conditional on them hold.
            lb = max(inc.bounds(name, fixed), full_bounds.get(name, 0))
        else:
            lb = bounds.unconditional(name)
        lb = min(lb, val)
        st = SolveStatus.OPTIMAL if val == lb and all_proven else SolveStatus.FEASIBLE
        if st != SolveStatus.OPTIMAL and all_proven:
            all_proven = False
            gap = (val - lb) / val if val else 0.0
            res.gap_tier = name
        res.tiers.append(TierResult(name, val, lb, st))
        fixed[name] = val
    res.objective = dict(inc.values)
    res.bound = {t.name: int(t.bound) for t in res.tiers if t.bound is not None}
    res.gap = gap
    res.status = SolveStatus.OPTIMAL if all_proven else SolveStatus.FEASIBLE
    p = inc.placement
    res.placement = p
    moved = np.flatnonzero(p != c.vm_host)
    res.moves = moved
    res.memory_moved_mb = int(c.vm_memory_mb[moved].sum())
    res.downtime_moves = int((pb.move_kind[moved, p[moved]] == MoveKind.SHUTDOWN).sum())
    res.reasons = {
        int(v): reasons.get(int(v), "balance: frees room or evens the load") for v in moved.tolist()
    }
    proven_rules = bool(res.tiers) and res.tiers[0].status == SolveStatus.OPTIMAL
    res.rules_left_broken = rules_left_broken(pb, p, proven_rules)
    return res


def rules_left_broken(
    pb: PlanningProblem, placement: np.ndarray, proven: bool
) -> list[dict[str, Any]]:
    """Every soft rule and anti-affinity class still broken by ``placement``, with why."""
    c = pb.cluster
    out: list[dict[str, Any]] = []
    for r in pb.soft_rules:
        if rule_broken(pb, r, placement):
            m = pb.rule_members[r]
            out.append(
                {
                    "rule": c.rules[r].name,
                    "vms": [c.vm_names[v] for v in m],
                    "reason": _why(pb, m, c.rules[r].rule_type, proven),
                }
            )
    for k in pb.soft_aa:
        if aa_broken(pb, k, placement):
            m = pb.aa_members[k]
            out.append(
                {
                    "rule": c.aa_class_names[k],
                    "vms": [c.vm_names[v] for v in m],
                    "reason": _why(pb, m, None, proven),
                }
            )
    return out


def _why(pb: PlanningProblem, members: tuple[int, ...], rt: RuleType | None, proven: bool) -> str:
    """Why a rule broken now stays broken (the first cause found)."""
    c = pb.cluster
    m = list(members)
    stuck = [v for v in m if not pb.movable[v] and not pb.mandatory[v]]
    hosts = int(pb.allowed[m].any(axis=0).sum())
    if len(stuck) == len(m):
        return (
            "none of its running members can move (pinned, held, or no other node "
            "reachable without downtime)"
        )
    if rt in (None, RuleType.DIFFERENT_NODE) and len(m) > hosts:
        return f"{len(m)} running members but only {hosts} node(s) they may use"
    if rt == RuleType.DIFFERENT_FAULT_DOMAIN:
        doms = {int(c.host_fault_domain[h]) for h in np.flatnonzero(pb.allowed[m].any(axis=0))}
        if len(m) > len(doms):
            return f"{len(m)} running members but only {len(doms)} fault domain(s) they may use"
    if rt == RuleType.SAME_NODE and not pb.allowed[m].all(axis=0).any():
        return "no node is allowed for all of its running members"
    if stuck:
        names = ", ".join(c.vm_names[v] for v in stuck[:4])
        why = f"{names} cannot move (pinned, held, or no node reachable without downtime)"
    else:
        why = "no placement repairs it within capacity and the rules that hold now"
    return why if proven else "not repaired within the time limit (it may be repairable)"


__all__ = ["OptimizeResult", "TierResult", "empty_result", "finish", "rules_left_broken"]
