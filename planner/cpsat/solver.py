"""CP-SAT solver settings, the interruptible solve and the status mapping.

Every CP-SAT solve of hvplan goes through :func:`run_solve`: OR-Tools normally catches
SIGINT itself (and Ctrl-C then only ends the current search, silently); here
``catch_sigint_signal`` is off and the search runs in a worker thread while the main thread
waits, so Python receives Ctrl-C, stops the search (``StopSearch``) and re-raises
:class:`KeyboardInterrupt` within a fraction of a second.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ortools.sat.python import cp_model

from planner.problem import SolverBug, SolveStatus

#: How often the waiting main thread looks up from the worker (s).
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class SolverParams:
    """CP-SAT parameters used for every solve of one plan.

    Same input, same ``seed`` and ``workers`` and a solve that ends by proof (or by a
    deterministic-time limit) give the same plan.  One worker is deterministic by itself;
    with more, ``deterministic`` interleaves them in one thread in a fixed order
    (``interleave_search``) so the search does not depend on thread timing.  A wall-clock
    time limit that cuts a search short can still make two runs differ.
    """

    time_limit_s: float = 60.0
    workers: int = 1
    seed: int = 0
    deterministic: bool = True
    log: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Parameters as reported in ``summary.json``."""
        return {
            "time_limit_s": self.time_limit_s,
            "workers": self.workers,
            "seed": self.seed,
            "deterministic": self.deterministic,
            **dict(self.extra),
        }


def make_solver(
    params: SolverParams, time_limit_s: float, workers: int | None = None
) -> cp_model.CpSolver:
    """A CP-SAT solver configured from ``params`` with a given wall-clock budget."""
    s = cp_model.CpSolver()
    p = s.parameters
    p.max_time_in_seconds = max(0.01, float(time_limit_s))
    p.random_seed = int(params.seed)
    p.num_workers = int(workers if workers is not None else params.workers)
    if params.deterministic and p.num_workers > 1:
        p.interleave_search = True
    p.log_search_progress = bool(params.log)
    p.catch_sigint_signal = False
    for k, v in params.extra.items():
        setattr(p, k, v)
    return s


def run_solve(
    solver: cp_model.CpSolver,
    model: cp_model.CpModel,
    callback: cp_model.CpSolverSolutionCallback | None = None,
) -> SolveStatus:
    """Solve ``model`` so that Ctrl-C interrupts it (see the module docstring).

    Returns the status; ``MODEL_INVALID`` raises :class:`~planner.problem.SolverBug` with
    CP-SAT's validation message.
    """
    return run_solves([(solver, model, callback)])[0]


#: One solve of :func:`run_solves`: the solver, the model and an optional callback.
SolveJob = tuple[cp_model.CpSolver, cp_model.CpModel, cp_model.CpSolverSolutionCallback | None]


def run_solves(jobs: Sequence[SolveJob]) -> list[SolveStatus]:
    """Solve several independent models at once, one thread each (CP-SAT releases the GIL),
    interruptibly like :func:`run_solve`; the statuses in the order of ``jobs``.

    Each solve is as deterministic as it would be alone (its own solver, parameters and
    seed), so running them side by side changes their wall time only.
    """
    outs: list[dict[str, Any]] = [{} for _ in jobs]
    # Events, not Thread.join/is_alive: a join interrupted by Ctrl-C can leave the thread
    # marked as stopped while it still runs (CPython bpo-45274).
    dones = [threading.Event() for _ in jobs]
    workers: list[threading.Thread] = []

    def work(i: int) -> None:
        solver, model, callback = jobs[i]
        solver.parameters.catch_sigint_signal = False
        try:
            outs[i]["status"] = solver.solve(model, callback)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            outs[i]["error"] = e
        finally:
            dones[i].set()

    try:
        for i in range(len(jobs)):
            workers.append(threading.Thread(target=work, args=(i,), name="cp-sat", daemon=True))
            workers[-1].start()
        for done in dones:
            while not done.wait(_POLL_SECONDS):
                pass
    except BaseException:
        # Ctrl-C (or any other exception) in the main thread: stop every search and wait for
        # the workers, so that no C++ thread outlives the interpreter (std::terminate).
        for (solver, _m, _cb), worker, done in zip(jobs, workers, dones, strict=False):
            _stop(solver, worker, done)
        raise
    for out in outs:
        if "error" in out:
            raise out["error"]
    return [map_status(int(o["status"]), j[1]) for o, j in zip(outs, jobs, strict=True)]


def _stop(solver: cp_model.CpSolver, worker: threading.Thread, done: threading.Event) -> None:
    """Stop the search and wait for the worker; a further Ctrl-C only repeats the stop."""
    if worker.ident is None:
        return
    while not done.is_set():
        try:
            # Repeated: a stop sent before the worker entered the solve has no effect.
            solver.stop_search()
            done.wait(_POLL_SECONDS)
        except KeyboardInterrupt:
            continue


def map_status(status: int, model: cp_model.CpModel | None = None) -> SolveStatus:
    """CP-SAT's status as a :class:`~planner.problem.SolveStatus` (MODEL_INVALID raises)."""
    if status == cp_model.OPTIMAL:
        return SolveStatus.OPTIMAL
    if status == cp_model.FEASIBLE:
        return SolveStatus.FEASIBLE
    if status == cp_model.INFEASIBLE:
        return SolveStatus.INFEASIBLE
    if status == cp_model.MODEL_INVALID:
        why = model.validate() if model is not None else ""
        raise SolverBug(f"CP-SAT rejected the model as invalid: {why}")
    return SolveStatus.UNKNOWN


class StopAtBound(cp_model.CpSolverSolutionCallback):
    """Stops the search at the first solution whose objective reaches ``bound``.

    The bound is valid for the full problem (computed outside CP-SAT), so such a solution is
    optimal; CP-SAT cannot see that by itself: a constraint ``objective >= bound`` does not
    raise its own objective bound without the LP relaxation, and it would search on until
    the time limit.
    """

    def __init__(self, bound: int) -> None:
        super().__init__()
        self._bound = bound
        self.reached = False

    def on_solution_callback(self) -> None:
        """Stop once the objective meets the bound."""
        if self.objective_value <= self._bound + 1e-9:
            self.reached = True
            self.stop_search()


def solve_to_bound(solver: cp_model.CpSolver, model: cp_model.CpModel, bound: int) -> SolveStatus:
    """Solve ``model``; when a solution reaches the valid lower ``bound`` stop and call it
    OPTIMAL."""
    cb = StopAtBound(bound)
    st = run_solve(solver, model, cb)
    if cb.reached and st in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        return SolveStatus.OPTIMAL
    return st


def objective_bound(solver: cp_model.CpSolver) -> int:
    """CP-SAT's lower bound of the objective, rounded up (objectives are integers)."""
    return int(math.ceil(solver.best_objective_bound - 1e-6))


__all__ = [
    "SolverParams",
    "StopAtBound",
    "make_solver",
    "map_status",
    "objective_bound",
    "run_solve",
    "run_solves",
    "solve_to_bound",
]
