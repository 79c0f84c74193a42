"""Exact capacity checks on CP-SAT: "is there any placement where all of them restart?".

Takes a :class:`planner.failover.RestartInstance` (plain data built by the restart engine:
items to place, allowed hosts, room left per host, hard rule groups) and decides whether
every item can be placed at once.  Surviving VMs stay where they are, as in the greedy
simulation, so the answer is about the same question the greedy tried, only without its
order and host-choice heuristics.  A failed or timed-out solve is a result, not an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from ortools.sat.python import cp_model

from planner.failover import DOM_EXCL, DOM_INCL, NODE_EXCL, NODE_INCL, RestartInstance


class ExactStatus(StrEnum):
    """Outcome of an exact check."""

    FEASIBLE = "feasible"  # a placement exists (and is returned)
    INFEASIBLE = "infeasible"  # proved: no placement takes every item
    UNKNOWN = "unknown"  # the time limit ran out first


@dataclass(frozen=True)
class ExactResult:
    """Result of :func:`exact_restart`: status, one host per item when feasible, timing."""

    status: ExactStatus
    item_host: np.ndarray | None
    wall_seconds: float
    solver_status: str


def _add_capacity(
    model: cp_model.CpModel, x: dict[tuple[int, int], cp_model.IntVar], inst: RestartInstance
) -> None:
    """Each host keeps its room: restarted CPU and memory within what is left."""
    by_host: dict[int, list[int]] = {}
    for i, h in x:
        by_host.setdefault(h, []).append(i)
    for h, items in by_host.items():
        model.add(
            sum(int(inst.item_cpu[i]) * x[i, h] for i in items) <= max(int(inst.cpu_room[h]), 0)
        )
        model.add(
            sum(int(inst.item_mem[i]) * x[i, h] for i in items) <= max(int(inst.mem_room[h]), 0)
        )


def _add_rule_groups(
    model: cp_model.CpModel, x: dict[tuple[int, int], cp_model.IntVar], inst: RestartInstance
) -> None:
    """Enabled affinity rules (and enforced anti-affinity), with survivors fixed."""
    dom = inst.host_domain
    for gi, (kind, members, occ) in enumerate(inst.groups):
        mset = set(int(m) for m in members)
        pairs = [(i, h) for (i, h) in x if i in mset]
        if kind in (NODE_EXCL, DOM_EXCL):
            # DifferentNode / DifferentFaultDomain: never where a member runs, at most one
            # restarted member per node / domain.
            key = (lambda h: h) if kind == NODE_EXCL else (lambda h: int(dom[h]))
            slots: dict[int, list[cp_model.IntVar]] = {}
            for i, h in pairs:
                k = key(h)
                if occ[k]:
                    model.add(x[i, h] == 0)
                else:
                    slots.setdefault(k, []).append(x[i, h])
            for vs in slots.values():
                if len(vs) > 1:
                    model.add_at_most_one(vs)
        elif kind in (NODE_INCL, DOM_INCL):
            key = (lambda h: h) if kind == NODE_INCL else (lambda h: int(dom[h]))
            if occ.any():
                # SameNode / SameFaultDomain with surviving members: join them.
                for i, h in pairs:
                    if not occ[key(h)]:
                        model.add(x[i, h] == 0)
            else:
                # Nobody survives: all restarted members pick one node / domain together.
                y: dict[int, cp_model.IntVar] = {}
                for i, h in pairs:
                    k = key(h)
                    if k not in y:
                        y[k] = model.new_bool_var(f"g{gi}_{k}")
                    model.add_implication(x[i, h], y[k])
                if y:
                    model.add_at_most_one(y.values())


def _variables(
    model: cp_model.CpModel, inst: RestartInstance
) -> dict[tuple[int, int], cp_model.IntVar]:
    """x[i, h]: item i is placed on host h (only for allowed hosts)."""
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for i in range(len(inst.items)):
        for h in np.flatnonzero(inst.allowed[i]).tolist():
            x[i, h] = model.new_bool_var(f"x{i}_{h}")
    return x


def _by_item(x: dict[tuple[int, int], cp_model.IntVar], n: int) -> list[list[cp_model.IntVar]]:
    out: list[list[cp_model.IntVar]] = [[] for _ in range(n)]
    for (i, _), v in x.items():
        out[i].append(v)
    return out


def _solver(time_limit_s: float, workers: int, seed: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    return solver


def _placement(
    solver: cp_model.CpSolver, x: dict[tuple[int, int], cp_model.IntVar], n: int
) -> np.ndarray:
    out = np.full(n, -1, dtype=np.int64)
    for (i, h), var in x.items():
        if solver.boolean_value(var):
            out[i] = h
    return out


def exact_restart(
    inst: RestartInstance, time_limit_s: float = 10.0, workers: int = 1, seed: int = 0
) -> ExactResult:
    """Decide whether every item of ``inst`` can be placed; return a placement if so.

    Variables: ``x[i, h]`` is 1 when item ``i`` restarts on host ``h`` (only for allowed
    hosts).  The greedy's partial placement is passed as a hint.  ``workers=1`` with a fixed
    ``seed`` keeps the answer reproducible (a time limit can still turn a proof into
    UNKNOWN on a slower machine).
    """
    t0 = time.perf_counter()
    n = len(inst.items)
    if n == 0:
        return ExactResult(ExactStatus.FEASIBLE, np.zeros(0, dtype=np.int64), 0.0, "TRIVIAL")
    if not inst.allowed.any(axis=1).all():
        return ExactResult(
            ExactStatus.INFEASIBLE, None, time.perf_counter() - t0, "NO_ALLOWED_HOST"
        )
    model = cp_model.CpModel()
    x = _variables(model, inst)
    for vs in _by_item(x, n):
        model.add_exactly_one(vs)
    _add_capacity(model, x, inst)
    _add_rule_groups(model, x, inst)
    for (i, h), var in x.items():
        model.add_hint(var, int(inst.hint[i]) == h)
    solver = _solver(time_limit_s, workers, seed)
    st = solver.solve(model)
    wall = time.perf_counter() - t0
    name = solver.status_name(st)
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ExactResult(ExactStatus.FEASIBLE, _placement(solver, x, n), wall, name)
    if st == cp_model.INFEASIBLE:
        return ExactResult(ExactStatus.INFEASIBLE, None, wall, name)
    return ExactResult(ExactStatus.UNKNOWN, None, wall, name)


@dataclass(frozen=True)
class LossResult:
    """Fewest VMs left out, by priority (High, Medium, Low), and whether that is proved."""

    not_restarted: tuple[int, int, int] | None
    proven: bool
    item_host: np.ndarray | None
    wall_seconds: float
    solver_status: str


def min_not_restarted(
    inst: RestartInstance, time_limit_s: float = 10.0, workers: int = 1, seed: int = 0
) -> LossResult:
    """The best any placement can do when not everything fits: restart as many High VMs as
    possible, then Medium, then Low (one weighted objective whose weights make the order
    strict).  ``proven`` when the solver proves optimality."""
    t0 = time.perf_counter()
    n = len(inst.items)
    counts = inst.item_priority_counts
    totals = counts.sum(axis=0)
    if n == 0:
        return LossResult((0, 0, 0), True, np.zeros(0, dtype=np.int64), 0.0, "TRIVIAL")
    # Weights: one Medium VM outweighs every Low VM, one High VM every Medium and Low VM.
    w_low = 1
    w_med = int(totals[2]) * w_low + 1
    w_high = int(totals[1]) * w_med + int(totals[2]) * w_low + 1
    weight = counts @ np.array([w_high, w_med, w_low], dtype=np.int64)
    model = cp_model.CpModel()
    x = _variables(model, inst)
    placed = []
    for i, vs in enumerate(_by_item(x, n)):
        if vs:
            model.add_at_most_one(vs)
            placed.append((i, vs))
    _add_capacity(model, x, inst)
    _add_rule_groups(model, x, inst)
    model.maximize(sum(int(weight[i]) * sum(vs) for i, vs in placed))
    for (i, h), var in x.items():
        model.add_hint(var, int(inst.hint[i]) == h)
    solver = _solver(time_limit_s, workers, seed)
    st = solver.solve(model)
    wall = time.perf_counter() - t0
    name = solver.status_name(st)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return LossResult(None, False, None, wall, name)
    ih = _placement(solver, x, n)
    left = counts[ih < 0].sum(axis=0)
    return LossResult(
        (int(left[0]), int(left[1]), int(left[2])), st == cp_model.OPTIMAL, ih, wall, name
    )


__all__ = ["ExactResult", "ExactStatus", "LossResult", "exact_restart", "min_not_restarted"]
