"""Model input and decision variables of the placement model.

The input (:class:`ModelInput`) is a :class:`~planner.problem.PlanningProblem` plus which VMs
get decision variables (the *candidates*) and, for each of them, the hosts it may end on.
Every other VM is fixed at ``base_placement`` and contributes constant load.  Restrictions
that are pure domain reductions -- possible owners, pinned and held VMs, hosts that are
Paused/Down/drained, live-migration compatibility, ``allow_downtime``, configuration
versions -- are encoded by leaving a host out of a candidate's ``targets`` (a subset of the
problem's allowed hosts): a VM simply has no variable for a host it may not end on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from planner.cluster import Cluster
from planner.problem import PlanningProblem, aa_broken, host_vm_loads, rule_broken


@dataclass(frozen=True, eq=False)
class ModelInput:
    """Everything the CP-SAT model needs, solver-free and integer-valued.

    Attributes
    ----------
    problem:
        The planning problem (loads, limits, costs, rules, policy).
    candidates:
        Sorted VM indices that get decision variables.
    targets:
        Per candidate (same order), the sorted host indices it may end on.
    base_placement:
        Host per VM; non-candidates stay there (constant load).
    max_moves:
        Optional hard budget on the number of moved VMs (the problem's, or what is left of
        it for the candidates of a sub-model).
    symmetric_groups:
        Groups of interchangeable candidates (same source, load, memory, costs, targets, and
        in no rule or anti-affinity class), each sorted by VM index: any solution stays a
        solution of equal value when their hosts are permuted, so the model orders them.
    """

    problem: PlanningProblem
    candidates: np.ndarray
    targets: tuple[np.ndarray, ...]
    base_placement: np.ndarray
    max_moves: int | None = None
    symmetric_groups: tuple[tuple[int, ...], ...] = ()

    @property
    def cluster(self) -> Cluster:
        """The snapshot."""
        return self.problem.cluster

    @property
    def n_candidates(self) -> int:
        """Number of VMs with decision variables."""
        return len(self.candidates)


@dataclass(frozen=True)
class HintContext:
    """A placement and its per-sample VM loads, computed once per hint."""

    placement: np.ndarray
    cpu: np.ndarray  # int64 (K, H)
    mem: np.ndarray  # int64 (K, H)


#: Computes an auxiliary variable's value from a placement (for complete hints).
AuxFn = Callable[[HintContext], int]


@dataclass
class Vars:
    """Decision variables and the linear expressions derived from them.

    ``x[i][h]`` is the Boolean "candidate ``i`` ends on host ``h``"; a candidate with a single
    target has no variable (``single[i]`` holds that host).  ``cpu_load[k][h]`` /
    ``mem_load[k][h]`` are the VM CPU (milli-LP) and memory (MB) on host ``h`` at load sample
    ``k`` after the plan, constants of the fixed VMs included.  ``cpu_max`` / ``mem_max``
    ((K, H)) bound those loads from above, to skip constraints that can never bind.
    ``broken_rule[r]`` / ``broken_aa[k]`` are 1 when a soft rule or anti-affinity class
    (broken now) is left broken.
    """

    x: list[dict[int, cp_model.IntVar]]
    single: list[int | None]
    cand_pos: dict[int, int]
    cpu_load: list[list[cp_model.LinearExprT]]
    mem_load: list[list[cp_model.LinearExprT]]
    cpu_fixed: np.ndarray
    mem_fixed: np.ndarray
    cpu_max: np.ndarray
    mem_max: np.ndarray
    all_bools: list[cp_model.IntVar] = field(default_factory=list)
    broken_rule: dict[int, cp_model.IntVar] = field(default_factory=dict)
    broken_aa: dict[int, cp_model.IntVar] = field(default_factory=dict)
    #: Auxiliary variables with the function that computes their value from a placement
    #: (per-host loads, excess, pair counts, ...), so that a hint can be complete.
    aux: list[tuple[cp_model.IntVar, AuxFn]] = field(default_factory=list)

    def on(self, inp: ModelInput, v: int, h: int) -> cp_model.LinearExprT:
        """0/1 expression: VM ``v`` ends on host ``h`` (a constant for fixed VMs)."""
        i = self.cand_pos.get(v)
        if i is None:
            return int(inp.base_placement[v] == h)
        s = self.single[i]
        if s is not None:
            return int(s == h)
        return self.x[i].get(h, 0)

    def hosts_of(self, inp: ModelInput, v: int) -> list[int]:
        """Hosts VM ``v`` may end on in this model."""
        i = self.cand_pos.get(v)
        if i is None:
            return [int(inp.base_placement[v])]
        s = self.single[i]
        return [s] if s is not None else list(self.x[i])


def _mem_coef(pb: PlanningProblem, v: int, h: int) -> np.ndarray:
    """int64 K: memory of VM ``v`` on host ``h`` per sample (boot memory after a boot move)."""
    return pb.vm_mem_boot[:, v] if pb.boot_move[v, h] else pb.vm_mem[:, v]


def create_variables(model: cp_model.CpModel, inp: ModelInput) -> Vars:
    """Create the placement Booleans, the per-sample host load variables and the
    broken-rule indicators of the soft rules."""
    pb = inp.problem
    c = pb.cluster
    nh, nk = c.n_hosts, pb.n_samples
    fixed = np.ones(c.n_vms, dtype=bool)
    fixed[inp.candidates] = False
    p = inp.base_placement
    cpu_fixed = np.zeros((nk, nh), dtype=np.int64)
    mem_fixed = np.zeros((nk, nh), dtype=np.int64)
    fv = np.flatnonzero(fixed)
    mem_of_fixed = np.where(
        pb.boot_move[fv, p[fv]][None, :], pb.vm_mem_boot[:, fv], pb.vm_mem[:, fv]
    )
    for k in range(nk):
        cpu_fixed[k] = np.bincount(p[fv], weights=pb.vm_cpu[k, fv], minlength=nh)
        mem_fixed[k] = np.bincount(p[fv], weights=mem_of_fixed[k], minlength=nh)
    cpu_max, mem_max = cpu_fixed.copy(), mem_fixed.copy()
    x: list[dict[int, cp_model.IntVar]] = []
    single: list[int | None] = []
    all_bools: list[cp_model.IntVar] = []
    terms: dict[tuple[str, int, int], tuple[list[cp_model.IntVar], list[int]]] = {
        (r, k, h): ([], []) for r in "cm" for k in range(nk) for h in range(nh)
    }
    for v in inp.candidates.tolist():
        ts = inp.targets[len(x)]
        if len(ts) == 1:
            h = int(ts[0])
            single.append(h)
            x.append({})
            mc = _mem_coef(pb, v, h)
            cpu_fixed[:, h] += pb.vm_cpu[:, v]
            mem_fixed[:, h] += mc
            cpu_max[:, h] += pb.vm_cpu[:, v]
            mem_max[:, h] += mc
            continue
        single.append(None)
        d: dict[int, cp_model.IntVar] = {}
        for h in ts.tolist():
            b = model.new_bool_var(f"x{v}_{h}")
            d[h] = b
            all_bools.append(b)
            mc = _mem_coef(pb, v, h)
            for k in range(nk):
                for res, w in (("c", int(pb.vm_cpu[k, v])), ("m", int(mc[k]))):
                    if w:
                        terms[res, k, h][0].append(b)
                        terms[res, k, h][1].append(w)
            cpu_max[:, h] += pb.vm_cpu[:, v]
            mem_max[:, h] += mc
        x.append(d)
    xv = Vars(
        x,
        single,
        {int(v): i for i, v in enumerate(inp.candidates.tolist())},
        [],
        [],
        cpu_fixed,
        mem_fixed,
        cpu_max,
        mem_max,
        all_bools,
    )
    _load_vars(model, xv, terms, nk, nh)
    _broken_vars(model, inp, xv)
    return xv


def _load_vars(
    model: cp_model.CpModel,
    xv: Vars,
    terms: dict[tuple[str, int, int], tuple[list[cp_model.IntVar], list[int]]],
    nk: int,
    nh: int,
) -> None:
    """One integer variable per sample, host and resource holds the load: the capacity,
    excess and balance constraints then read one variable instead of repeating thousands of
    terms (presolve time on large models is dominated by the total number of terms)."""
    for res, fixed, mx, out in (
        ("c", xv.cpu_fixed, xv.cpu_max, xv.cpu_load),
        ("m", xv.mem_fixed, xv.mem_max, xv.mem_load),
    ):
        for k in range(nk):
            row: list[cp_model.LinearExprT] = []
            for h in range(nh):
                bools, coefs = terms[res, k, h]
                if not bools:
                    row.append(int(fixed[k, h]))
                    continue
                load = model.new_int_var(int(fixed[k, h]), int(mx[k, h]), f"l{res}{k}_{h}")
                model.add(load == cp_model.LinearExpr.weighted_sum(bools, coefs) + int(fixed[k, h]))
                row.append(load)
                xv.aux.append((load, _load_fn(res, k, h)))
            out.append(row)


def _broken_vars(model: cp_model.CpModel, inp: ModelInput, xv: Vars) -> None:
    pb = inp.problem
    for r in pb.soft_rules:
        b = model.new_bool_var(f"broken_rule{r}")
        xv.broken_rule[r] = b
        xv.aux.append((b, _rule_fn(pb, r)))
    for k in pb.soft_aa:
        b = model.new_bool_var(f"broken_aa{k}")
        xv.broken_aa[k] = b
        xv.aux.append((b, _aa_fn(pb, k)))


def hint_context(pb: PlanningProblem, placement: np.ndarray) -> HintContext:
    """The loads of ``placement``, computed once for every auxiliary variable's hint."""
    cpu, mem = host_vm_loads(pb, placement)
    return HintContext(np.asarray(placement), cpu, mem)


def _load_fn(res: str, k: int, h: int) -> AuxFn:
    if res == "c":
        return lambda ctx: int(ctx.cpu[k, h])
    return lambda ctx: int(ctx.mem[k, h])


def _rule_fn(pb: PlanningProblem, r: int) -> AuxFn:
    return lambda ctx: int(rule_broken(pb, r, ctx.placement))


def _aa_fn(pb: PlanningProblem, k: int) -> AuxFn:
    return lambda ctx: int(aa_broken(pb, k, ctx.placement))
