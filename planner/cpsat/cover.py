"""The per-host covering knapsack behind the migration-cost and balance bounds: the cheapest
set of a host's movable VMs whose removal brings it under the threshold (and, optionally,
leaves at most one member of each given anti-affinity group on it).

:func:`min_cost_cover` solves it with CP-SAT, helped by the dynamic-programming bound of
:func:`dp_cover_bound`: CP-SAT alone often finds the cheapest set at once but cannot prove it
(its objective bound stays far below when the costs are multiples of a large unit, such as
memory in 256 MB steps), while the table proves it in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from math import gcd

import numpy as np
from ortools.sat.python import cp_model

from planner.cpsat.budget import Budget
from planner.cpsat.solver import (
    SolverParams,
    make_solver,
    objective_bound,
    run_solve,
    solve_to_bound,
)
from planner.problem import BP, SolveStatus
from planner.units import ceil_div


@dataclass(frozen=True)
class CoverResult:
    """Cheapest set of a host's movable VMs whose removal brings it under the threshold.

    ``cost_bound`` is a valid lower bound on that cheapest cost (equal to ``cost`` when
    proven); ``chosen`` the VMs of the best set found (``None`` if no set covers);
    ``remaining_bound`` a lower bound on the host's load (basis points, worst resource) after
    removing any cheapest set, ``remaining`` its value for ``chosen``.
    """

    feasible: bool
    cost: int | None
    cost_bound: int
    chosen: tuple[int, ...] | None
    remaining: int | None
    remaining_bound: int


#: Most cell updates of one :func:`dp_cover` table (cost steps x coverage steps x items).
DP_WORK = 60_000_000
#: Cell updates of the small table tried before any search.
DP_QUICK_WORK = 2_000_000
#: Most steps of a one-resource table (the covered resource is scaled to it).
DP_COVER_STEPS = 20_000
#: Deterministic time (CP-SAT units) of the first, short cover solve.
QUICK_DETERMINISTIC_TIME = 0.05
#: Most combinations of "which member stays" the table is run for (anti-affinity groups).
DP_STAYER_COMBOS = 32


def min_cost_cover(
    vms: np.ndarray,
    cpu: np.ndarray,
    mem: np.ndarray,
    cost: np.ndarray,
    need_cpu: int,
    need_mem: int,
    host_cpu_used: int,
    host_mem_used: int,
    cpu_cap: int,
    mem_cap: int,
    params: SolverParams,
    budget: Budget | float,
    at_most_one_stays: Sequence[Sequence[int]] = (),
    forced: Sequence[int] = (),
) -> CoverResult:
    """Solve the two-resource covering knapsack of one host, then, among the cheapest sets,
    the one leaving the lowest load.

    ``host_*_used`` is the host's total load (base/reserve included) before removal;
    ``need_*`` how much VM load must leave.  ``at_most_one_stays``: groups of item indices
    (an index twice when the item holds two members) of which at most one may stay (the
    members of one anti-affinity class on this host); ``forced``: items that must leave.
    ``budget``: the deterministic time of the solves (half for the cheapest cost; a float is
    a wall-clock deadline, see :meth:`~planner.cpsat.budget.Budget.of`).  The cost bound is
    the larger of CP-SAT's and :func:`dp_cover`'s; the lowest-load phase runs once the
    cheapest cost is proven.
    """
    n = len(vms)
    need = (need_cpu, need_mem)
    groups = [list(g) for g in at_most_one_stays if len(g) >= 2]
    if need_cpu <= 0 and need_mem <= 0 and not groups and not len(forced):
        rem = max(_ceil_bp(host_cpu_used, cpu_cap), _ceil_bp(host_mem_used, mem_cap))
        return CoverResult(True, 0, 0, (), rem, rem)
    if int(cpu.sum()) < need_cpu or int(mem.sum()) < need_mem:
        return CoverResult(False, None, 0, None, None, 0)
    m = cp_model.CpModel()
    z = [m.new_bool_var(f"z{i}") for i in range(n)]
    cpu_l, mem_l, cost_l = cpu.tolist(), mem.tolist(), cost.tolist()
    if need_cpu > 0:
        m.add(cp_model.LinearExpr.weighted_sum(z, cpu_l) >= need_cpu)
    if need_mem > 0:
        m.add(cp_model.LinearExpr.weighted_sum(z, mem_l) >= need_mem)
    for g in groups:
        m.add(sum(z[i] for i in g) >= len(g) - 1)
    for i in forced:
        m.add(z[i] == 1)
    total = cp_model.LinearExpr.weighted_sum(z, cost_l)
    m.minimize(total)
    budget = Budget.of(budget)
    half = budget.det_left() / 2
    first = _cheapest(m, z, total, params, budget, half, (cpu, mem, cost), need, groups, forced)
    if isinstance(first, CoverResult):
        return first
    c_val, c_bnd, chosen = first
    rem_val = _remaining(chosen, cpu_l, mem_l, host_cpu_used, host_mem_used, cpu_cap, mem_cap)
    if c_bnd < c_val:
        return CoverResult(True, c_val, c_bnd, tuple(int(vms[i]) for i in chosen), rem_val, 0)
    # Second phase: among the cheapest sets, leave the lowest worst-resource load.
    m.add(total == c_val)
    r = m.new_int_var(0, 2 * BP, "rem")
    m.add(cpu_cap * r >= BP * (host_cpu_used - cp_model.LinearExpr.weighted_sum(z, cpu_l)))
    m.add(mem_cap * r >= BP * (host_mem_used - cp_model.LinearExpr.weighted_sum(z, mem_l)))
    m.minimize(r)
    m.clear_hints()
    in_set = set(chosen)
    for i in range(n):
        m.add_hint(z[i], i in in_set)
    s2 = make_solver(params, 1.0, workers=1)
    budget.solver_limits(s2)
    st2 = run_solve(s2, m)
    budget.charge(s2, "cover model", st2 in _PROVEN)
    if st2 in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        chosen = [i for i in range(n) if s2.boolean_value(z[i])]
        rem_val = _remaining(chosen, cpu_l, mem_l, host_cpu_used, host_mem_used, cpu_cap, mem_cap)
        rem_bnd = rem_val if st2 == SolveStatus.OPTIMAL else objective_bound(s2)
    else:
        rem_bnd = 0
    return CoverResult(
        True, c_val, c_bnd, tuple(int(vms[i]) for i in chosen), rem_val, max(0, rem_bnd)
    )


def _cheapest(
    m: cp_model.CpModel,
    z: list[cp_model.IntVar],
    total: cp_model.LinearExpr,
    params: SolverParams,
    budget: Budget,
    det: float,
    items: tuple[np.ndarray, np.ndarray, np.ndarray],
    need: tuple[int, int],
    groups: list[list[int]],
    forced: Sequence[int],
) -> tuple[int, int, list[int]] | CoverResult:
    """The first phase of :func:`min_cost_cover`: the cheapest cost found, its lower bound
    and the items of the set (or the result when no set was found), within ``det`` of
    ``budget``.  A small table of :func:`dp_cover` first (:data:`DP_QUICK_WORK`), then a
    short CP-SAT try (it proves most covers at once), then the full table (bounded by
    :data:`DP_WORK`; tables are not counted in deterministic time), then CP-SAT again down
    to the table's bound."""
    cpu, mem, cost = items
    n = len(z)
    start = budget.spent()
    pick = _greedy_pick(cpu, mem, cost, need[0], need[1], groups, forced)
    if pick is not None:
        # A small table first: when it finds a cover at its own bound, no search is needed.
        cap = int(cost[pick].sum())
        lb, best = dp_cover(cpu, mem, cost, need[0], need[1], cap, groups, forced, DP_QUICK_WORK)
        if best is not None:
            return lb, lb, np.flatnonzero(best).tolist()
        for i in range(n):
            m.add_hint(z[i], bool(pick[i]))
    s = make_solver(params, 1.0, workers=1)
    budget.solver_limits(s, min(QUICK_DETERMINISTIC_TIME, det))
    st = run_solve(s, m)
    budget.charge(s, "cover model", st in _PROVEN)
    if st == SolveStatus.OPTIMAL:
        val = int(round(s.objective_value))
        return val, val, [i for i in range(n) if s.boolean_value(z[i])]
    if st == SolveStatus.INFEASIBLE:
        return CoverResult(False, None, 0, None, None, 0)
    found = st == SolveStatus.FEASIBLE
    if budget.left() <= 0:
        # The wall-clock cap is reached: no table (it is not bounded by the clock).
        bnd = max(0, objective_bound(s))
        if not found:
            return CoverResult(True, None, bnd, None, None, 0)
        return int(round(s.objective_value)), bnd, [i for i in range(n) if s.boolean_value(z[i])]
    caps = [int(round(s.objective_value))] if found else []
    if pick is not None:
        caps.append(int(cost[pick].sum()))
    lb, best = dp_cover(cpu, mem, cost, need[0], need[1], min(caps, default=None), groups, forced)
    if best is not None:
        # The table found a cover at its own lower bound: a cheapest one.
        return lb, lb, np.flatnonzero(best).tolist()
    if found:
        m.clear_hints()
        for i in range(n):
            m.add_hint(z[i], s.boolean_value(z[i]))
    if lb > 0:
        m.add(total >= lb)
    s = make_solver(params, 1.0, workers=1)
    budget.solver_limits(s, max(0.0, det - (budget.spent() - start)))
    st = solve_to_bound(s, m, lb) if lb > 0 else run_solve(s, m)
    budget.charge(s, "cover model", st in _PROVEN)
    if st not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        feasible = st != SolveStatus.INFEASIBLE
        return CoverResult(feasible, None, max(lb, objective_bound(s)), None, None, 0)
    val = int(round(s.objective_value))
    bnd = val if st == SolveStatus.OPTIMAL else max(lb, objective_bound(s))
    return val, bnd, [i for i in range(n) if s.boolean_value(z[i])]


def _greedy_pick(
    cpu: np.ndarray,
    mem: np.ndarray,
    cost: np.ndarray,
    need_cpu: int,
    need_mem: int,
    groups: list[list[int]],
    forced: Sequence[int],
) -> np.ndarray | None:
    """A feasible cover (bool per item) by cost per unit of the scarcer need, after the
    ``forced`` items and every member of each group but its dearest single-member item;
    ``None`` if even that covers too little."""
    n = len(cost)
    pick = np.zeros(n, dtype=bool)
    pick[list(forced)] = True
    for g in groups:
        single = [i for i in g if g.count(i) == 1]
        keep = max(single, key=lambda i: (int(cost[i]), -i)) if single else -1
        pick[[i for i in g if i != keep]] = True
    got_c, got_m = int(cpu[pick].sum()), int(mem[pick].sum())
    ratio = cost / (np.maximum(cpu / max(need_cpu, 1), mem / max(need_mem, 1)) + 1e-9)
    for i in np.argsort(ratio, kind="stable").tolist():
        if got_c >= need_cpu and got_m >= need_mem:
            break
        if not pick[i]:
            pick[i] = True
            got_c += int(cpu[i])
            got_m += int(mem[i])
    return pick if got_c >= need_cpu and got_m >= need_mem else None


def dp_cover_bound(
    cpu: np.ndarray,
    mem: np.ndarray,
    cost: np.ndarray,
    need_cpu: int,
    need_mem: int,
    cost_cap: int | None = None,
    at_most_one_stays: Sequence[Sequence[int]] = (),
    forced: Sequence[int] = (),
) -> int:
    """A lower bound on the cost of every cover (every item set carrying at least
    ``need_cpu`` and ``need_mem``, holding the ``forced`` items and leaving at most one item
    of each group); see :func:`dp_cover`."""
    return dp_cover(cpu, mem, cost, need_cpu, need_mem, cost_cap, at_most_one_stays, forced)[0]


def dp_cover(
    cpu: np.ndarray,
    mem: np.ndarray,
    cost: np.ndarray,
    need_cpu: int,
    need_mem: int,
    cost_cap: int | None = None,
    at_most_one_stays: Sequence[Sequence[int]] = (),
    forced: Sequence[int] = (),
    work: int = DP_WORK,
) -> tuple[int, np.ndarray | None]:
    """A lower bound on the cost of every cover by dynamic programming, and a cover of
    exactly that cost when the table finds one.

    With one resource to shed: a table over that resource covered of the least cost.  With
    both and a ``cost_cap`` (the cost of a known cover): a table over (cost, memory covered)
    of the most CPU covered, up to the cap (past it, the bound is the first cost past the
    cap); without a cap, a table over (memory, CPU covered) of the least cost.  A covered
    resource is counted in steps of its values' common divisor when that fits the table
    (``work`` cell updates at most), else in coarser steps with the weights rounded up
    and the demand down (every cover stays a cover); the cost axis in steps of its common
    divisor, else rounded down.  So the result is a lower bound, and the cheapest cost
    itself when the steps are exact.  Groups: every choice of the item that may stay is tried
    (up to :data:`DP_STAYER_COMBOS`, else groups are ignored, which relaxes).  The cover
    (bool per item) is returned only when it is a true cover at the bound's cost (then it is
    a cheapest one)."""
    cpu, mem, cost = (np.asarray(a, dtype=np.int64) for a in (cpu, mem, cost))
    groups = [list(g) for g in at_most_one_stays if len(g) >= 2]
    # Per group, the items that may be the one staying (an item holding two members may not).
    stayers = [[i for i in sorted(set(g)) if g.count(i) == 1] or [-1] for g in groups]
    if int(np.prod([len(s) for s in stayers])) > DP_STAYER_COMBOS:
        groups, stayers = [], []
    best: tuple[int, np.ndarray | None] | None = None
    for stay in product(*stayers):
        must = np.zeros(len(cost), dtype=bool)
        must[list(forced)] = True
        for g, keep in zip(groups, stay, strict=True):
            must[[i for i in g if i != keep]] = True
        got = _dp_forced(cpu, mem, cost, need_cpu, need_mem, cost_cap, must, work)
        if got is not None and (best is None or got[0] < best[0]):
            best = got
    if best is None:
        return 0, None
    lb, pick = best
    if pick is not None and not (
        int(cpu[pick].sum()) >= need_cpu
        and int(mem[pick].sum()) >= need_mem
        and int(cost[pick].sum()) == lb
        and all(sum(1 for i in g if not pick[i]) <= 1 for g in groups)
    ):
        pick = None
    return lb, pick


def _steps(w: np.ndarray, need: int, limit: int) -> tuple[int, np.ndarray]:
    """Demand and weights of one resource in steps: its common divisor when the demand
    fits ``limit`` steps, else ``need / limit`` with weights rounded up (a relaxation)."""
    if need <= 0:
        return 0, np.zeros(len(w), dtype=np.int64)
    g = _common_step(w)
    step = g if ceil_div(need, g) <= limit else ceil_div(need, limit)
    n = ceil_div(need, step)
    return n, np.minimum(ceil_div(w, step), n)


def _dp_forced(
    cpu: np.ndarray,
    mem: np.ndarray,
    cost: np.ndarray,
    need_cpu: int,
    need_mem: int,
    cost_cap: int | None,
    forced: np.ndarray,
    work: int = DP_WORK,
) -> tuple[int, np.ndarray | None] | None:
    """:func:`dp_cover` with the ``forced`` items in every set (``None``: no set)."""
    base = int(cost[forced].sum())
    need_c = need_cpu - int(cpu[forced].sum())
    need_m = need_mem - int(mem[forced].sum())
    free = np.flatnonzero(~forced)
    ic, im, ik = cpu[free], mem[free], cost[free]
    if (need_c > 0 and int(ic.sum()) < need_c) or (need_m > 0 and int(im.sum()) < need_m):
        return None
    if need_c <= 0 and need_m <= 0:
        return base, forced.copy()
    cells = max(4, work // max(1, len(ik)))
    if need_c > 0 and need_m > 0 and cost_cap is not None:
        got = _dp_most_cpu(ic, im, ik, need_c, need_m, cost_cap - base, cells)
        if got is None:
            return None
        units, chosen = got
        pick = forced.copy()
        if chosen is not None:
            pick[free[chosen]] = True
        return base + units, pick if chosen is not None else None
    if need_c > 0 and need_m > 0:
        # Share the cells between the two axes in proportion to their exact step counts.
        ratio = ceil_div(need_m, _common_step(im)) / max(1, ceil_div(need_c, _common_step(ic)))
        lim_m = max(2, int(np.sqrt(cells * ratio)))
        lim_c = max(2, cells // lim_m)
    else:
        lim_m = lim_c = min(cells, DP_COVER_STEPS)
    steps_m, wm = _steps(im, need_m, lim_m)
    steps_c, wc = _steps(ic, need_c, lim_c)
    big = np.iinfo(np.int64).max // 4
    # g[a, b]: least cost of a set covering at least a memory and b CPU steps.
    g = np.full((steps_m + 1, steps_c + 1), big, dtype=np.int64)
    g[0, 0] = 0
    cand = np.empty_like(g)
    taken: list[np.ndarray] = []
    for a, b, k in zip(wm.tolist(), wc.tolist(), ik.tolist(), strict=True):
        # cand[x, y] = g[max(x - a, 0), max(y - b, 0)] + k
        ra, rb = steps_m + 1 - a, steps_c + 1 - b
        cand[a:, b:] = g[:ra, :rb]
        cand[:a, b:] = g[:1, :rb]
        cand[a:, :b] = g[:ra, :1]
        cand[:a, :b] = g[0, 0]
        cand += k
        better = cand < g
        np.copyto(g, cand, where=better)
        taken.append(better)
    if g[steps_m, steps_c] >= big:
        return None
    pick = forced.copy()
    x, y = steps_m, steps_c
    for j in range(len(free) - 1, -1, -1):
        if taken[j][x, y]:
            pick[free[j]] = True
            x, y = max(x - int(wm[j]), 0), max(y - int(wc[j]), 0)
    return base + int(g[steps_m, steps_c]), pick


def _dp_most_cpu(
    ic: np.ndarray,
    im: np.ndarray,
    ik: np.ndarray,
    need_c: int,
    need_m: int,
    cap: int,
    cells: int,
) -> tuple[int, np.ndarray | None] | None:
    """The both-resources table of :func:`dp_cover`: per (cost steps, memory steps) the
    most CPU covered; the least cost that covers both and the items of such a set (``None``
    for the set when the cheapest cost lies past ``cap``)."""
    steps_m, wm = _steps(im, need_m, min(DP_COVER_STEPS, cells // 2))
    cap = max(0, cap)
    gk = _common_step(ik)
    max_c = max(1, cells // (steps_m + 1))
    sk = gk if cap // gk <= max_c else ceil_div(cap, max_c)
    steps_k = cap // sk
    wk = ik // sk
    neg = np.iinfo(np.int64).min // 4
    # f[c, m]: most CPU of a set with cost at most c steps covering at least m memory steps.
    f = np.full((steps_k + 1, steps_m + 1), neg, dtype=np.int64)
    f[:, 0] = 0
    cand = np.empty_like(f)
    taken: list[np.ndarray | None] = []
    for ci, mi, pi in zip(wk.tolist(), wm.tolist(), ic.tolist(), strict=True):
        if ci > steps_k:
            taken.append(None)
            continue
        rows = steps_k + 1 - ci
        # cand[c, m] = f[c - ci, max(m - mi, 0)] + pi, for the rows c >= ci.
        cand[:rows, mi:] = f[:rows, : steps_m + 1 - mi]
        cand[:rows, :mi] = f[:rows, :1]
        cand[:rows] += pi
        better = cand[:rows] > f[ci:]
        np.copyto(f[ci:], cand[:rows], where=better)
        taken.append(better)
    ok = np.flatnonzero(f[:, steps_m] >= need_c)
    if not len(ok):
        return (steps_k + 1) * sk, None
    c_at, m_at = int(ok[0]), steps_m
    chosen = np.zeros(len(ik), dtype=bool)
    for j in range(len(ik) - 1, -1, -1):
        bits = taken[j]
        if bits is None or c_at < int(wk[j]):
            continue
        if bits[c_at - int(wk[j]), m_at]:
            chosen[j] = True
            c_at -= int(wk[j])
            m_at = max(m_at - int(wm[j]), 0)
    return int(ok[0]) * sk, chosen


def _common_step(a: np.ndarray) -> int:
    """Greatest common divisor of the positive values of ``a`` (1 when there are none)."""
    g = 0
    for x in np.unique(a[a > 0]).tolist():
        g = gcd(g, int(x))
        if g == 1:
            break
    return max(g, 1)


#: Statuses of a solve that ended by itself (not by a limit).
_PROVEN = (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE)


def _ceil_bp(used: int, cap: int) -> int:
    return ceil_div(BP * int(used), int(cap))


def _remaining(
    chosen: list[int], cpu: list[int], mem: list[int], cu: int, mu: int, cc: int, mc: int
) -> int:
    rc = cu - sum(cpu[i] for i in chosen)
    rm = mu - sum(mem[i] for i in chosen)
    return max(_ceil_bp(rc, cc), _ceil_bp(rm, mc))


__all__ = ["CoverResult", "dp_cover", "dp_cover_bound", "min_cost_cover"]
