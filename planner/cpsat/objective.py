"""Soft objective terms of the placement model, one function per term.

Each function returns an integer linear expression (or ``None`` when the term cannot be
positive in this model, so that its tier is skipped).  Units, shared with the independent
recomputation in :func:`planner.verify.objective_values`:

1. ``excess``: load above the balancer threshold in *basis points of the host's capacity*
   (1 = 0.01 percentage point), CPU and memory each rounded up per host, summed over hosts and
   resources.  Normalising each resource by the host's own capacity makes one point of CPU
   and one point of memory weigh the same, whatever the host size.
2. ``anti_affinity``: number of pairs of VMs of one legacy anti-affinity class that share a
   node (only when the classes are not enforced).
3. ``migration``: memory (MB) of every moved VM, plus a fixed penalty per Shutdown move
   (``ModelInput.move_cost``); every move costs more than zero.
4. ``balance``: the highest host load in basis points, taken over both resources and over the
   Up, non-drained hosts: ``max_h max(cpu_bp(h), mem_bp(h))``, each rounded up.  One number
   for both resources keeps the tier a single min-max; the worst resource of the worst host is
   what an operator looks at.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ortools.sat.python import cp_model

from planner.cpsat.variables import ModelInput, Vars

#: Basis points per 100 %.
BP = 10_000


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def excess_term(model: cp_model.CpModel, inp: ModelInput, xv: Vars) -> cp_model.LinearExprT | None:
    """Sum over hosts of CPU and memory load above the threshold, in basis points."""
    c = inp.cluster
    terms: list[cp_model.IntVar] = []
    for load, mx, lim, cap, tag in (
        (xv.cpu_load, xv.cpu_max, inp.cpu_limit, c.host_cpu_capacity_milli, "ec"),
        (xv.mem_load, xv.mem_max, inp.mem_limit, c.host_memory_mb, "em"),
    ):
        for h in np.flatnonzero(mx > lim).tolist():
            cap_h = int(cap[h])
            ub = _ceil_div(BP * (int(mx[h]) - int(lim[h])), cap_h)
            e = model.new_int_var(0, ub, f"{tag}{h}")
            # cap * e >= BP * (load - limit): with e minimised, e = ceil(BP * excess / cap).
            model.add(cap_h * e >= BP * (load[h] - int(lim[h])))
            terms.append(e)
            per_vm = c.vm_cpu_load_milli if tag == "ec" else c.vm_mem_load_mb
            xv.aux.append((e, _excess_fn(per_vm, h, int(lim[h]), cap_h)))
    return sum(terms) if terms else None


def anti_affinity_term(model: cp_model.CpModel, inp: ModelInput,
                       xv: Vars) -> cp_model.LinearExprT | None:
    """Pairs of legacy anti-affinity class members sharing a node (soft classes only)."""
    if inp.enforce_anti_affinity:
        return None
    pairs: list[cp_model.LinearExprT] = []
    for k, members in enumerate(inp.cluster.aa_class_members):
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


def migration_term(model: cp_model.CpModel, inp: ModelInput,
                   xv: Vars) -> cp_model.LinearExprT | None:
    """Migration cost: moved memory (MB) plus the Shutdown penalty of each downtime move."""
    cost = inp.move_cost
    bools: list[cp_model.IntVar] = []
    coefs: list[int] = []
    const = 0
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


def balance_term(model: cp_model.CpModel, inp: ModelInput,
                 xv: Vars) -> cp_model.LinearExprT | None:
    """Highest host load (basis points, worst of CPU and memory) over the balance hosts."""
    c = inp.cluster
    hosts = np.flatnonzero(inp.balance_hosts).tolist()
    if not hosts:
        return None
    cap_c = c.host_cpu_capacity_milli
    cap_m = c.host_memory_mb
    base_c = c.host_cpu_base_milli
    base_m = c.host_memory_reserve_mb
    lo = 0
    m = model.new_int_var(0, BP, "balance")
    xv.aux.append((m, _balance_fn(inp)))
    for h in hosts:
        for load, mx, fixed, base, cap in (
            (xv.cpu_load[h], xv.cpu_max[h], xv.cpu_fixed[h], base_c[h], cap_c[h]),
            (xv.mem_load[h], xv.mem_max[h], xv.mem_fixed[h], base_m[h], cap_m[h]),
        ):
            lo = max(lo, _ceil_div(BP * int(fixed + base), int(cap)))
            if mx == fixed:
                continue
            model.add(int(cap) * m >= BP * (load + int(base)))
    model.add(m >= min(lo, BP))
    return m


def _excess_fn(per_vm: np.ndarray, h: int, lim: int, cap: int) -> Callable[[np.ndarray], int]:
    return lambda p: max(0, _ceil_div(BP * (int(per_vm[np.asarray(p) == h].sum()) - lim), cap))


def _pairs_fn(members: tuple[int, ...], h: int) -> Callable[[np.ndarray], int]:
    def f(p: np.ndarray) -> int:
        n = int((np.asarray(p)[list(members)] == h).sum())
        return n * (n - 1) // 2
    return f


def _balance_fn(inp: ModelInput) -> Callable[[np.ndarray], int]:
    c = inp.cluster

    def f(p: np.ndarray) -> int:
        cpu = np.bincount(p, weights=c.vm_cpu_load_milli, minlength=c.n_hosts).astype(np.int64)
        mem = np.bincount(p, weights=c.vm_mem_load_mb, minlength=c.n_hosts).astype(np.int64)
        uc = -((-BP * (cpu + c.host_cpu_base_milli)) // c.host_cpu_capacity_milli)
        um = -((-BP * (mem + c.host_memory_reserve_mb)) // c.host_memory_mb)
        vals = np.maximum(uc, um)[inp.balance_hosts]
        return int(min(BP, vals.max())) if len(vals) else 0
    return f


#: Objective terms by tier name, in lexicographic order.
TIER_TERMS = {
    "excess": excess_term,
    "anti_affinity": anti_affinity_term,
    "migration": migration_term,
    "balance": balance_term,
}
