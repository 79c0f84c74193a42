"""The budget of one run: CP-SAT deterministic time decides, the wall clock is a safety cap.

Every solve of a plan is bounded in CP-SAT's *deterministic time* (``max_deterministic_time``;
a count of the work done that does not depend on the machine's speed or load), and every
loop over solves counts what its solves report (``deterministic_time`` of the response).  The
user's ``--time-limit`` (seconds) becomes deterministic time through **one** factor of the
profile, ``deterministic_time_per_second`` (``[solver]``; measured on an idle 2-core
machine, see :data:`planner.profiles.DEFAULT_PER_SECOND`); every other budget of the
profile that is given in seconds is converted by the same factor.  Same input, seed and
limit therefore give the same plan on a quiet or a loaded machine.

The wall clock remains a hard cap (``deadline``, on :func:`time.monotonic`): no solve runs
past it, and a part of the budget (a stage, a round) has a looser cap of its own
(:data:`WALL_SLACK`).  When a cap stops a solve (or a loop) before its deterministic budget
is spent, the stage is recorded in :attr:`Meter.wall_cuts`: that run may stop at a different
point than a run on a quieter machine, and the plan says so (``wall_clock_cut`` in
``summary.json``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from planner.profiles import DEFAULT_PER_SECOND

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

#: Deterministic time below which a budget counts as spent (no solve is started with less).
MIN_DET = 1e-3
#: A part of a budget (a stage, a round, one cover model) is capped on the wall clock at
#: this many times the seconds its deterministic time stands for: on a quiet machine the
#: deterministic time decides; on a very busy one the stages keep their shares of the limit
#: (the cut is recorded) instead of the first ones taking all of it.
WALL_SLACK = 2.0


@dataclass
class Meter:
    """What one run spent, shared by a budget and every budget derived from it."""

    #: Deterministic time spent (CP-SAT solves and charged Python work).
    used: float = 0.0
    #: Stages that the wall clock stopped before their deterministic budget was spent.
    wall_cuts: list[str] = field(default_factory=list)

    def cut(self, stage: str) -> None:
        """Record that the wall clock cut ``stage``."""
        if stage not in self.wall_cuts:
            self.wall_cuts.append(stage)


@dataclass
class Budget:
    """A deterministic-time budget with a wall-clock cap (see the module docstring).

    Attributes
    ----------
    deadline:
        The wall-clock cap, on :func:`time.monotonic`.
    limit_s:
        The run's time limit in seconds (what shares "of the limit" refer to).
    det:
        Deterministic time this budget may spend.
    per_second:
        Deterministic time per second of the limit (the profile's factor).
    meter:
        The run's accounting, shared with every derived budget.
    start:
        ``meter.used`` when this budget was made.
    total:
        Deterministic time of the whole run (shares "of the limit" are shares of it).
    scale:
        CP-SAT deterministic time per unit of this budget: 1 except for a model whose
        search gains deterministic time much faster per CPU second than the others (the
        full model, see :meth:`scaled`); its solves get ``scale`` times the units left and
        are counted at ``1 / scale``.
    """

    deadline: float
    limit_s: float
    det: float = math.inf
    per_second: float = DEFAULT_PER_SECOND
    meter: Meter = field(default_factory=Meter)
    start: float = 0.0
    total: float = math.inf
    scale: float = 1.0

    @classmethod
    def starting_now(
        cls, limit_s: float, per_second: float = DEFAULT_PER_SECOND, reserve_s: float = 0.0
    ) -> Budget:
        """A budget of ``limit_s`` seconds from now, less ``reserve_s`` kept for later work:
        ``per_second * (limit_s - reserve_s)`` deterministic time, capped at that wall
        time."""
        own = max(0.0, limit_s - reserve_s)
        det = per_second * own
        return cls(time.monotonic() + own, limit_s, det, per_second, Meter(), 0.0, det)

    @classmethod
    def of(cls, deadline: float | Budget, per_second: float = DEFAULT_PER_SECOND) -> Budget:
        """``deadline`` itself when it is a budget, else a budget up to that wall-clock
        deadline (``per_second`` times the seconds left in deterministic time)."""
        if isinstance(deadline, Budget):
            return deadline
        left = max(0.0, deadline - time.monotonic())
        return cls(deadline, left, per_second * left, per_second, Meter(), 0.0, per_second * left)

    def left(self) -> float:
        """Wall-clock seconds left to the cap (may be negative)."""
        return self.deadline - time.monotonic()

    def spent(self) -> float:
        """Deterministic time spent since this budget was made."""
        return self.meter.used - self.start

    def det_left(self) -> float:
        """Deterministic time left (never negative)."""
        return max(0.0, self.det - self.spent())

    def seconds(self, s: float) -> float:
        """``s`` seconds of the profile in deterministic time."""
        return s * self.per_second

    def sub(self, det: float) -> Budget:
        """A budget of at most ``det`` of what is left, sharing this one's meter; its wall
        clock is capped at :data:`WALL_SLACK` times the seconds ``det`` stands for (never
        past this budget's cap)."""
        det = max(0.0, min(det, self.det_left()))
        cap = time.monotonic() + WALL_SLACK * det / self.per_second
        return Budget(
            min(self.deadline, cap),
            self.limit_s,
            det,
            self.per_second,
            self.meter,
            self.meter.used,
            self.total,
            self.scale,
        )

    def scaled(self, scale: float) -> Budget:
        """All that is left, for solves that gain ``scale`` CP-SAT deterministic time units
        per unit of this budget (see ``scale`` above)."""
        return dataclasses.replace(self.sub(self.det_left()), scale=scale)

    def share(self, share: float, of_left: bool = False, minimum_s: float = 0.0) -> Budget:
        """A sub-budget: ``share`` of the run's deterministic time (or of what is left of this
        budget), at least ``minimum_s`` seconds' worth, never more than is left."""
        base = self.det_left() if of_left else self.total
        return self.sub(max(self.seconds(minimum_s), share * base))

    def spent_out(self, stage: str, min_det: float = MIN_DET, min_wall: float = 0.05) -> bool:
        """Whether ``stage`` should stop: its deterministic time is spent, or the wall-clock
        cap is (nearly) reached, which is recorded as a cut."""
        if self.det_left() <= min_det:
            return True
        if self.left() <= min_wall:
            self.meter.cut(stage)
            return True
        return False

    def solver_limits(
        self, solver: cp_model.CpSolver, det: float | None = None, floor_s: float = 0.0
    ) -> None:
        """Set ``solver``'s limits: at most ``det`` (default: all that is left) of this
        budget's deterministic time but at least ``floor_s`` seconds' worth, and the
        wall-clock cap."""
        p = solver.parameters
        want = self.det_left() if det is None else min(det, self.det_left())
        want = max(MIN_DET, self.seconds(floor_s), float(want))
        p.max_deterministic_time = want * self.scale
        p.max_time_in_seconds = max(0.01, float(self.left()))

    def charge(self, solver: cp_model.CpSolver, stage: str, finished: bool) -> float:
        """Count the deterministic time of ``solver``'s last solve; ``finished``: it ended by
        itself (proof, infeasibility, or a target reached), not by a limit.  A solve that
        stopped before its deterministic limit was cut by the wall clock (recorded).
        Returns the time counted."""
        det = float(solver.deterministic_time)
        if _stopped_early(solver, finished):
            self.meter.cut(stage)
        used = det / self.scale
        self.meter.used += used
        return used

    def charge_round(self, solves: list[tuple[cp_model.CpSolver, bool]], stage: str) -> float:
        """Count solves that ran side by side (``(solver, ended by itself)`` each): the
        longest of them, as their wall time is; a cut of any is recorded."""
        used = 0.0
        for solver, finished in solves:
            det = float(solver.deterministic_time)
            used = max(used, det / self.scale)
            if _stopped_early(solver, finished):
                self.meter.cut(stage)
        self.meter.used += used
        return used

    def charge_work(self, det: float) -> None:
        """Count deterministic work done outside CP-SAT (a Python stage's own estimate)."""
        self.meter.used += max(0.0, det)

    @property
    def wall_cut(self) -> bool:
        """The wall clock cut some stage of the run."""
        return bool(self.meter.wall_cuts)


def _stopped_early(solver: cp_model.CpSolver, finished: bool) -> bool:
    """A solve that did not end by itself and stopped short of its deterministic limit: the
    wall clock stopped it."""
    det = float(solver.deterministic_time)
    return not finished and det < 0.99 * float(solver.parameters.max_deterministic_time) - MIN_DET


__all__ = ["MIN_DET", "WALL_SLACK", "Budget", "Meter"]
