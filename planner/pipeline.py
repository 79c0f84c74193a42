"""A whole plan in memory: optimise, sequence, hold blocked VMs and re-optimise, verify.

:func:`plan` is what the CLI, ``compare``, ``report``, the capacity what-ifs and notebooks
call; writing the files is a separate :func:`planner.planio.write_plan`.

When the optimal target cannot be reached in a safe order (moves that wait for each other
and that no temporary hop can untangle, e.g. DifferentFaultDomain members trading places
when every domain is occupied), that target is excluded: the VMs of the blocked moves are
*held* (their allowed targets shrink to their current node, through
:meth:`~planner.problem.PlanningProblem.holding`) and the problem is optimised again, up to
``MAX_SEQUENCING_RETRIES`` times.  The result then keeps only bounds valid for the full
problem (the smaller of the first solve's and the new one's), so its status is OPTIMAL only
if it still meets them.

**The time limit holds for the whole plan** (the files are written after it): inside the
limit, :func:`pre_solve_seconds` (reading the snapshot, building the problem),
:func:`post_solve_seconds` (an estimate from the snapshot's size of sequencing and
verifying) and :func:`retry_reserve` (for re-optimisations around blocked moves: an
executable plan that holds the blocked VMs beats no plan) are kept back; the first solve
gets the rest in deterministic time (:class:`~planner.cpsat.budget.Budget`, see
:func:`first_budget`), capped on the wall clock at the limit less the later reserves.
Re-optimisations share what that solve left plus the retry reserve, never more, so their
budgets are deterministic too.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.cluster import Cluster
from planner.cpsat.budget import Budget, Meter
from planner.problem import PlanningProblem, PlanOptions, SolveStatus, build_problem
from planner.sequencing import SequenceResult, build_sequence
from planner.solve.pipeline import solve
from planner.solve.result import OptimizeResult, TierResult

#: Re-optimisations after a target that cannot be ordered safely.
MAX_SEQUENCING_RETRIES = 3
#: Kept back inside the limit for re-optimisations around blocked moves: this share of the
#: limit, at least :data:`RETRY_MIN_S` seconds, but never more than :data:`RETRY_MAX_SHARE`
#: of the limit.
RETRY_SHARE = 0.05
RETRY_MIN_S = 1.0
RETRY_MAX_SHARE = 0.1
#: Sequencing and verification after the solve, kept back inside the limit: a fixed part
#: and a part per VM (s).  Measured on an idle 2-core machine: 0.11 s for 1,000 VMs
#: (b16-skew), 0.21-0.31 s for 8,000 (b64-mild, b64-heavy), 1.0 s for 16,000 (b128-big,
#: 1,076 moves); the estimate has some headroom for a loaded machine.
POST_SOLVE_S = 0.1
POST_SOLVE_S_PER_VM = 70e-6
#: The post-solve reserve never takes more than this share of the limit.
POST_SOLVE_MAX_SHARE = 0.25
#: What a run does before the solve starts (importing the solver, reading and checking the
#: snapshot, building the problem), taken from the solve's deterministic time so that the
#: solve ends inside a limit counted from the command's start: a fixed part and a part per
#: VM (s; b64-mild: 1.9 s at load 3 from the start of ``hvplan plan``, about 1.2 s idle).
PRE_SOLVE_S = 0.8
PRE_SOLVE_S_PER_VM = 50e-6


@dataclass
class Plan:
    """A plan in memory (nothing is written).

    Attributes
    ----------
    problem:
        The planning problem that was solved (with the held VMs of the last round).
    result:
        The optimisation result: status, placement, per-tier values and bounds, the stage
        that decided, the rules left broken.
    sequence:
        The ordered moves (``None`` without a placement); ``sequence.ok`` is False when no
        safe order was found.
    verification:
        The independent verifier's report of the plan (``None`` when not verified).
    summary:
        The content of ``summary.json`` (empty without an executable plan).
    message:
        Why there is no executable plan, when there is none.
    rounds:
        Re-optimisations around blocked moves.
    """

    problem: PlanningProblem
    result: OptimizeResult
    sequence: SequenceResult | None = None
    verification: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    rounds: int = 0

    @property
    def cluster(self) -> Cluster:
        """The snapshot the plan was made for."""
        return self.problem.cluster

    @property
    def status(self) -> SolveStatus:
        """The optimisation status."""
        return self.result.status

    @property
    def ok(self) -> bool:
        """An executable plan: a placement, a safe order, and (when verified) no violation."""
        verified = self.verification is None or bool(getattr(self.verification, "ok", True))
        return self.result.ok and self.sequence is not None and self.sequence.ok and verified

    @property
    def placement(self) -> np.ndarray | None:
        """Host per VM after the plan."""
        return self.result.placement


def _may_stay(pb: PlanningProblem, v: int) -> bool:
    """A VM can be held where it is: it may end on its current node."""
    return bool(pb.allowed[v, int(pb.cluster.vm_host[v])])


def _against_full_bounds(
    first: OptimizeResult, again: OptimizeResult, held: set[int], rounds: int, cluster: Cluster
) -> OptimizeResult:
    """``again`` (solved with some VMs held) judged against bounds valid for the full problem.

    A bound of either solve is a valid lower bound of its own problem, and the held problem
    only adds constraints, so the smaller of the two is valid for the full problem.
    """
    bounds = {
        t: min(int(first.bound.get(t, 0)), int(again.bound.get(t, 0))) for t in again.objective
    }
    gap, gap_tier = 0.0, None
    tiers: list[TierResult] = []
    proven = True
    for t in again.tiers:
        val = again.objective.get(t.name)
        lb = bounds.get(t.name)
        ok = proven and val is not None and lb is not None and val <= lb
        if proven and not ok and val is not None and lb is not None:
            gap = (val - lb) / val if val else 0.0
            gap_tier = t.name
        proven = proven and ok
        tiers.append(
            dataclasses.replace(
                t, bound=lb, status=SolveStatus.OPTIMAL if ok else SolveStatus.FEASIBLE
            )
        )
    names_held = sorted(cluster.vm_names[v] for v in held)
    note = (
        f"the first target could not be ordered safely; {len(held)} VM(s) held on their "
        f"node and re-optimised ({rounds} round(s))"
    )
    return dataclasses.replace(
        again,
        status=SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE,
        bound=bounds,
        gap=gap,
        gap_tier=gap_tier,
        tiers=tiers,
        solve_seconds=first.solve_seconds + again.solve_seconds,
        method=f"{again.method}; {note}",
        parameters={**again.parameters, "held_for_sequencing": names_held},
    )


def post_solve_seconds(cluster: Cluster, limit_s: float) -> float:
    """Seconds kept back inside ``limit_s`` to sequence and verify the plan of ``cluster``
    (see :data:`POST_SOLVE_S`)."""
    est = POST_SOLVE_S + POST_SOLVE_S_PER_VM * cluster.n_vms
    return min(est, POST_SOLVE_MAX_SHARE * limit_s)


def pre_solve_seconds(cluster: Cluster, limit_s: float) -> float:
    """Seconds of ``limit_s`` estimated for the work before the solve (see
    :data:`PRE_SOLVE_S`); at most :data:`POST_SOLVE_MAX_SHARE` of the limit."""
    est = PRE_SOLVE_S + PRE_SOLVE_S_PER_VM * cluster.n_vms
    return min(est, POST_SOLVE_MAX_SHARE * limit_s)


def first_budget(cluster: Cluster, pb: PlanningProblem, started: float) -> Budget:
    """The first solve's budget: the time limit less the reserves (before the solve, after
    it, for retries) in deterministic time, and a wall-clock cap ``started + limit`` less
    the post-solve and retry reserves.  The deterministic part depends only on the input,
    so :func:`plan` gives the same plan whoever calls it and whenever the clock started."""
    limit = pb.time_limit_s
    later = post_solve_seconds(cluster, limit) + retry_reserve(limit)
    per_second = pb.profile.budget.deterministic_time_per_second
    det = per_second * max(0.0, limit - later - pre_solve_seconds(cluster, limit))
    return Budget(started + limit - later, limit, det, per_second, Meter(), 0.0, det)


def retry_reserve(limit_s: float) -> float:
    """Seconds kept back inside ``limit_s`` for re-optimisations around blocked moves."""
    return min(max(RETRY_MIN_S, RETRY_SHARE * limit_s), RETRY_MAX_SHARE * limit_s)


def _retry_budget(first: Budget, reserve_s: float) -> Budget:
    """What the re-optimisations may spend: what the first solve left, plus the retry
    reserve, in deterministic time and as wall clock (the same meter)."""
    return Budget(
        first.deadline + reserve_s,
        first.limit_s,
        first.det_left() + first.seconds(reserve_s),
        first.per_second,
        first.meter,
        first.meter.used,
        first.total + first.seconds(reserve_s),
    )


def _sequence(res: OptimizeResult, pb: PlanningProblem) -> SequenceResult:
    assert res.placement is not None
    return build_sequence(pb.cluster, res.placement, res.drained, res.reasons)


def plan(
    cluster: Cluster,
    options: PlanOptions | None = None,
    progress: Any = None,
    retries: int = MAX_SEQUENCING_RETRIES,
    started: float | None = None,
) -> Plan:
    """Make a plan for ``cluster``: optimise, order the moves, verify (in memory).

    Parameters
    ----------
    cluster:
        The snapshot (:func:`planner.load_snapshot`).
    options:
        :class:`~planner.problem.PlanOptions` (defaults when ``None``).
    progress:
        Optional progress reporter with ``stage(name, time_left=None, best=None)``.
    retries:
        Re-optimisations allowed around moves that cannot be ordered safely.
    started:
        :func:`time.monotonic` when the run began (the time limit counts from it; default:
        now).  The command line passes its own start, so that reading the snapshot counts.

    Returns
    -------
    Plan
        ``plan.ok`` when there is an executable, verified plan; else ``plan.result.status``
        and ``plan.result.explanation`` or ``plan.message`` say why not.
    """
    started = time.monotonic() if started is None else started
    pb0 = pb = build_problem(cluster, options)
    reserve = retry_reserve(pb.time_limit_s)
    budget = first_budget(cluster, pb, started)
    _stage(progress, "solving", budget)
    res = solve(pb, budget)
    if not res.ok:
        return Plan(pb, res, message="; ".join(res.explanation))
    first = res
    _stage(progress, "ordering the moves", budget)
    seq = _sequence(res, pb)
    held: set[int] = set()
    rounds = 0
    while not seq.ok and seq.stuck_vms and rounds < retries:
        keep = [v for v in seq.stuck_vms if _may_stay(pb, v) and v not in held]
        if not keep:
            break
        rounds += 1
        if rounds == 1:
            budget = _retry_budget(budget, reserve)
        held.update(keep)
        _stage(progress, f"re-optimising around {len(held)} blocked VM(s)", budget)
        pb_held = pb0.holding(held)
        again = solve(pb_held, budget)
        if not again.ok:
            break
        pb = pb_held
        res = _against_full_bounds(first, again, held, rounds, cluster)
        seq = _sequence(res, pb)
    if not seq.ok:
        return Plan(
            pb, res, seq, message=f"no executable order for this plan: {seq.message}", rounds=rounds
        )
    _stage(progress, "verifying", None)
    summary, verification = _summary_and_verification(cluster, res, seq)
    return Plan(pb, res, seq, verification, summary, rounds=rounds)


def _stage(progress: Any, name: str, budget: Budget | None) -> None:
    if progress is not None:
        progress.stage(name, time_left=None if budget is None else max(0.0, budget.left()))


def _summary_and_verification(
    cluster: Cluster, res: OptimizeResult, seq: SequenceResult
) -> tuple[dict[str, Any], Any]:
    """``summary.json`` content and the in-memory verification, from the verify helper's
    modules (``None`` for the verification while no in-memory verifier exists)."""
    from planner import planio

    # The independent check of everything that will be written, runbooks included.
    assert res.placement is not None
    summary = planio.build_summary(cluster, res, seq)
    return summary, planio.check_plan(cluster, res.placement, seq, summary)


def plan_to_directory(
    cluster: Cluster,
    options: PlanOptions,
    out_dir: Any,
    retries: int = MAX_SEQUENCING_RETRIES,
    started: float | None = None,
) -> tuple[OptimizeResult, Any]:
    """:func:`plan` (``started`` as there), then write it into ``out_dir`` with
    :func:`planner.planio.write_plan`.

    Returns the result and the write outcome (``None`` when the optimizer found no plan).
    """
    from planner import planio

    p = plan(cluster, options, retries=retries, started=started)
    if not p.result.ok:
        return p.result, None
    if p.sequence is None or not p.sequence.ok:
        return p.result, planio.WriteOutcome(False, {}, p.message, sequence=p.sequence)
    return p.result, planio.write_plan_dir(cluster, p.result, p.sequence, out_dir)


__all__ = [
    "MAX_SEQUENCING_RETRIES",
    "Plan",
    "plan",
    "first_budget",
    "plan_to_directory",
    "post_solve_seconds",
    "pre_solve_seconds",
    "retry_reserve",
]
