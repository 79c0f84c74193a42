"""The outcome of a solve: per-tier values and bounds, status, gap, the rules left broken.

:func:`finish` judges the incumbent against the bounds: tiers are proven in lexicographic
order; after the first unproven tier only bounds that hold for every placement are valid.
The reported ``gap`` is the relative gap of that first unproven tier (the *deciding* tier):
``(value - bound) / value``; 0 when every tier is proven.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.cluster import MoveKind, RuleType
from planner.loadmodel import Threshold
from planner.problem import PlanningProblem, SolveStatus, aa_broken, rule_broken
from planner.solve.bounds import Bounds, TierBounds
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
    relaxation: str = ""

    @property
    def gap(self) -> int | None:
        """Absolute gap in the tier's own unit."""
        if self.objective is None or self.bound is None:
            return None
        return int(self.objective - self.bound)

    @property
    def rel_gap(self) -> float | None:
        """Relative gap ``(value - bound) / value`` (0 when the value is 0)."""
        if self.objective is None or self.bound is None:
            return None
        return (self.objective - self.bound) / self.objective if self.objective else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``value`` is ``objective`` under its summary.json name)."""
        return {
            "name": self.name,
            "objective": self.objective,
            "value": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "rel_gap": None if self.rel_gap is None else round(self.rel_gap, 6),
            "relaxation": self.relaxation,
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
    """Judge the incumbent (there must be one) against the bounds (module docstring)."""
    assert inc.placement is not None and inc.values is not None
    c = pb.cluster
    res = empty_result(pb, SolveStatus.FEASIBLE, [], inc.stage)
    res.tiers = judge_tiers(pb.tiers, inc.values, inc.bounds, full_bounds)
    open_tier = next((t for t in res.tiers if t.status != SolveStatus.OPTIMAL), None)
    res.gap_tier = None if open_tier is None else open_tier.name
    res.gap = 0.0 if open_tier is None else float(open_tier.rel_gap or 0.0)
    res.objective = dict(inc.values)
    res.bound = {t.name: int(t.bound) for t in res.tiers if t.bound is not None}
    res.status = SolveStatus.OPTIMAL if open_tier is None else SolveStatus.FEASIBLE
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


def judge_tiers(
    tiers: tuple[str, ...],
    values: Mapping[str, int],
    tier_bounds: TierBounds,
    full_bounds: Mapping[str, int],
) -> list[TierResult]:
    """Per tier: the plan's value, a lower bound on the lexicographic optimum's value of
    that tier, and whether it is proven (every tier before proven and the value at the bound).

    ``known`` holds the values the optimum is known to have (the proven tiers) and, after the
    first unproven tier ``u``, ``u`` at the plan's value as an upper limit: the conditions of
    :meth:`TierBounds.explain` are monotone in it (``excess == 0`` and ``migration <= m``), so
    they hold for the optimum.  CP-SAT's full-model bound of a tier assumes the tiers before
    it at most the plan's values: valid up to the tier right after ``u``.
    """
    known: dict[str, int] = {}
    out: list[TierResult] = []
    open_at: int | None = None
    for i, name in enumerate(tiers):
        val = int(values[name])
        lb, why = tier_bounds.explain(name, known)
        full = full_bounds.get(name)
        if full is not None and (open_at is None or i <= open_at + 1) and full > lb:
            lb, why = full, "CP-SAT bound of the full model"
        lb = min(lb, val)
        proven = open_at is None and val == lb
        out.append(
            TierResult(
                name,
                val,
                lb,
                SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE,
                relaxation=why,
            )
        )
        if open_at is None:
            known[name] = val
            if not proven:
                open_at = i
    return out


#: What an open tier may still gain, in its own units (``{d}``: absolute gap, ``{pct}``).
TIER_WORDS = {
    "rules": ("{d} broken rule may be avoidable", "{d} broken rules may be avoidable"),
    "excess": ("the load above the threshold may be reducible by {pct}",) * 2,
    "anti_affinity": (
        "{d} anti-affinity pair may be avoidable",
        "{d} anti-affinity pairs may be avoidable",
    ),
    "migration": ("{what} within {pct} of its bound",) * 2,
    "balance": ("the highest load within {pct} of its bound",) * 2,
}
#: What an open tier without any lower bound (bound 0) is: a percentage of it would only
#: ever read 100 %, so the headline says there is no bound instead.
TIER_UNBOUNDED = {
    "excess": "the load above the threshold has no lower bound yet",
    "migration": "{what} has no lower bound yet",
    "balance": "the highest load has no lower bound yet",
}
#: The migration tier's quantity per ``--minimise`` choice.
MIGRATION_WHAT = {"memory": "memory moved", "moves": "moves", "duration": "migration time"}


def tier_phrase(tier: Mapping[str, Any], minimise: str = "memory") -> str | None:
    """What an unproven tier (a ``summary.json`` tier dict) may still gain, or None."""
    val, bound = tier.get("value", tier.get("objective")), tier.get("bound")
    if val is None or bound is None or val <= bound:
        return None
    d = int(val - bound)
    what = MIGRATION_WHAT.get(minimise, "the migration cost")
    name = str(tier.get("name"))
    if bound <= 0 and name in TIER_UNBOUNDED:
        return TIER_UNBOUNDED[name].format(what=what)
    pct = f"{100 * d / max(abs(val), 1):.1f} %"
    one, many = TIER_WORDS.get(str(tier.get("name")), ("{name} within {pct} of its bound",) * 2)
    return (one if d == 1 else many).format(d=d, pct=pct, name=tier.get("name"), what=what)


def headline_of(
    status: str, tiers: Sequence[Mapping[str, Any]], seconds: float, minimise: str = "memory"
) -> str:
    """The plan's one-line verdict: proven, or which tiers are open and by how much in
    their own units (never a bare percentage of the deciding tier)."""
    if status == SolveStatus.OPTIMAL.value:
        return f"No better plan exists under these rules (proven in {seconds:.1f} s)."
    parts = [p for p in (tier_phrase(t, minimise) for t in tiers) if p]
    head = f"Best plan found in {seconds:.1f} s, not proven best"
    return head + (": " + "; ".join(parts) if parts else "") + "."


def headline(result: OptimizeResult | Mapping[str, Any]) -> str:
    """:func:`headline_of` for an :class:`OptimizeResult` or a ``summary.json`` dict."""
    if isinstance(result, OptimizeResult):
        tiers = [t.to_dict() for t in result.tiers]
        minimise = str(result.parameters.get("minimise", "memory"))
        return headline_of(result.status.value, tiers, result.solve_seconds, minimise)
    params = result.get("parameters") or {}
    return headline_of(
        str(result.get("status")),
        list(result.get("tiers") or []),
        float(result.get("solve_seconds") or 0.0),
        str(params.get("minimise", "memory")),
    )


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


__all__ = [
    "OptimizeResult",
    "TierResult",
    "empty_result",
    "finish",
    "headline",
    "headline_of",
    "judge_tiers",
    "rules_left_broken",
    "tier_phrase",
]
