"""Soft objective terms of the placement model, one function per term.

Each function returns an integer linear expression (or ``None`` when the term cannot be
positive in this model, so that its tier is constant).  Units, shared with the reference
:func:`planner.problem.objective_values` (every solution is checked against it):

0. ``rules``: affinity rules and enforced anti-affinity classes broken now and left broken.
1. ``excess``: load above the balancer threshold in *basis points of the host's capacity*
   (1 = 0.01 percentage point), CPU and memory each rounded up per host, summed over hosts,
   resources and load samples.  Normalising each resource by the host's own capacity makes
   one point of CPU and one point of memory weigh the same, whatever the host size.
2. ``anti_affinity``: number of pairs of running VMs of one legacy anti-affinity class that
   share a node (only when the classes are not enforced).
3. ``migration``: the price of every move (``PlanningProblem.move_cost``: memory, moves or
   seconds, plus a fixed penalty per Shutdown move); every move costs more than zero.
4. ``balance``: the highest host load in basis points, taken over both resources, the load
   samples and the Up, non-drained hosts, each rounded up.  One number for both resources
   keeps the tier a single min-max; the worst resource of the worst host is what an
   operator looks at.

Every auxiliary variable (excess, pairs, maximum) is only bounded from below by its
constraints, so it equals its true value when minimised: at a proven optimum a term equals
the reference, and in any solution it is at least the reference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ortools.sat.python import cp_model

from planner.cpsat.variables import AuxFn, HintContext, ModelInput, Vars
from planner.problem import BP
from planner.units import ceil_div

#: One objective term builder.
TermFn = Callable[[cp_model.CpModel, ModelInput, Vars], cp_model.LinearExprT | None]


def rules_term(model: cp_model.CpModel, inp: ModelInput, xv: Vars) -> cp_model.LinearExprT | None:
    """Soft rules and anti-affinity classes (broken now) left broken."""
    lits = list(xv.broken_rule.values()) + list(xv.broken_aa.values())
    return sum(lits) if lits else None


def excess_term(model: cp_model.CpModel, inp: ModelInput, xv: Vars) -> cp_model.LinearExprT | None:
    """Sum over samples and hosts of CPU and memory load above the threshold, in basis
    points of the host's capacity."""
    pb = inp.problem
    c = inp.cluster
    terms: list[cp_model.IntVar] = []
    mem_lim = np.broadcast_to(pb.mem_limit[None, :], xv.mem_max.shape)
    for res, load, mx, lim, cap in (
        ("c", xv.cpu_load, xv.cpu_max, pb.cpu_limit, c.host_cpu_capacity_milli),
        ("m", xv.mem_load, xv.mem_max, mem_lim, c.host_memory_mb),
    ):
        for k, h in zip(*np.nonzero(mx > lim), strict=True):
            cap_h, lim_kh = int(cap[h]), int(lim[k, h])
            ub = ceil_div(BP * (int(mx[k, h]) - lim_kh), cap_h)
            e = model.new_int_var(0, ub, f"e{res}{k}_{h}")
            # cap * e >= BP * (load - limit): with e minimised, e = ceil(BP * excess / cap).
            model.add(cap_h * e >= BP * (load[k][h] - lim_kh))
            terms.append(e)
            xv.aux.append((e, _excess_fn(res, int(k), int(h), lim_kh, cap_h)))
    return sum(terms) if terms else None


def anti_affinity_term(
    model: cp_model.CpModel, inp: ModelInput, xv: Vars
) -> cp_model.LinearExprT | None:
    """Pairs of running legacy anti-affinity class members sharing a node (soft classes)."""
    if inp.problem.enforce_aa:
        return None
    pairs: list[cp_model.LinearExprT] = []
    for k, members in enumerate(inp.problem.aa_members):
        if len(members) < 2:
            continue
        hosts: set[int] = set()
        for v in members:
            hosts.update(xv.hosts_of(inp, v))
        for h in sorted(hosts):
            on = [xv.on(inp, v, h) for v in members]
            const = sum(t for t in on if isinstance(t, int))
            var = [t for t in on if not isinstance(t, int)]
            if not var:
                if const > 1:
                    pairs.append(const * (const - 1) // 2)
                continue
            n_max = const + len(var)
            if n_max < 2:
                continue
            n = sum(var) + const
            p = model.new_int_var(0, n_max * (n_max - 1) // 2, f"aa{k}_{h}")
            xv.aux.append((p, _pairs_fn(members, h)))
            # n(n-1)/2 is convex in n; at integer n it equals the largest of its chords
            # k*n - k(k+1)/2, so these cuts make p exact when p is minimised.
            for kk in range(1, n_max):
                model.add(p >= kk * n - kk * (kk + 1) // 2)
            pairs.append(p)
    if not pairs or all(isinstance(p, int) and p == 0 for p in pairs):
        return None
    return sum(pairs)


def migration_term(
    model: cp_model.CpModel, inp: ModelInput, xv: Vars
) -> cp_model.LinearExprT | None:
    """Migration cost of the whole placement: the candidates' moves plus the constant cost
    of the fixed VMs' moves (their base placement against the snapshot)."""
    cost = inp.problem.move_cost
    base = inp.base_placement
    fixed = np.ones(inp.cluster.n_vms, dtype=bool)
    fixed[inp.candidates] = False
    const = int(cost[np.flatnonzero(fixed), base[fixed]].sum())
    bools: list[cp_model.IntVar] = []
    coefs: list[int] = []
    for i, v in enumerate(inp.candidates.tolist()):
        s = xv.single[i]
        if s is not None:
            const += int(cost[v, s])
            continue
        for h, b in xv.x[i].items():
            w = int(cost[v, h])
            if w:
                bools.append(b)
                coefs.append(w)
    if not bools:
        return None if const == 0 else const
    return cp_model.LinearExpr.weighted_sum(bools, coefs) + const


def balance_term(model: cp_model.CpModel, inp: ModelInput, xv: Vars) -> cp_model.LinearExprT | None:
    """Highest host load (basis points, worst of CPU and memory, worst sample) over the
    balance hosts."""
    pb = inp.problem
    c = inp.cluster
    hosts = np.flatnonzero(pb.balance_hosts).tolist()
    if not hosts:
        return None
    cap_c = c.host_cpu_capacity_milli
    cap_m = c.host_memory_mb
    base_m = c.host_memory_reserve_mb
    lo = 0
    m = model.new_int_var(0, BP, "balance")
    xv.aux.append((m, _balance_fn(inp)))
    for k in range(pb.n_samples):
        for h in hosts:
            for load, mx, fixed, base, cap in (
                (
                    xv.cpu_load[k][h],
                    xv.cpu_max[k, h],
                    xv.cpu_fixed[k, h],
                    pb.host_cpu_base[k, h],
                    cap_c[h],
                ),
                (xv.mem_load[k][h], xv.mem_max[k, h], xv.mem_fixed[k, h], base_m[h], cap_m[h]),
            ):
                lo = max(lo, ceil_div(BP * int(fixed + base), int(cap)))
                if mx == fixed:
                    continue
                model.add(int(cap) * m >= BP * (load + int(base)))
    model.add(m >= min(lo, BP))
    return m


def _excess_fn(res: str, k: int, h: int, lim: int, cap: int) -> AuxFn:
    def f(ctx: HintContext) -> int:
        load = int((ctx.cpu if res == "c" else ctx.mem)[k, h])
        return max(0, ceil_div(BP * (load - lim), cap))

    return f


def _pairs_fn(members: tuple[int, ...], h: int) -> AuxFn:
    def f(ctx: HintContext) -> int:
        n = int((ctx.placement[list(members)] == h).sum())
        return n * (n - 1) // 2

    return f


def _balance_fn(inp: ModelInput) -> AuxFn:
    pb = inp.problem
    c = inp.cluster

    def f(ctx: HintContext) -> int:
        uc = ceil_div(BP * (ctx.cpu + pb.host_cpu_base), c.host_cpu_capacity_milli)
        um = ceil_div(BP * (ctx.mem + c.host_memory_reserve_mb), c.host_memory_mb)
        vals = np.maximum(uc, um)[:, pb.balance_hosts]
        return int(min(BP, vals.max())) if vals.size else 0

    return f


#: Objective terms by tier name, in lexicographic order.
TIER_TERMS: dict[str, TermFn] = {
    "rules": rules_term,
    "excess": excess_term,
    "anti_affinity": anti_affinity_term,
    "migration": migration_term,
    "balance": balance_term,
}
