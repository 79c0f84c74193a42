"""Model input and decision variables of the placement model.

The input (:class:`ModelInput`) is plain, immutable, integer numpy data prepared by
:mod:`planner.optimizer`; it names which VMs get decision variables (the *candidates*) and,
for each of them, the hosts it may end on.  Every other VM is fixed at ``base_placement`` and
contributes constant load.  Restrictions that are pure domain reductions -- possible owners,
pinned VMs, hosts that are Paused/Down/drained, live-migration compatibility and
``allow_downtime`` -- are encoded by leaving a host out of a candidate's ``targets``: a VM
simply has no variable for a host it may not end on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from planner.cluster import Cluster


@dataclass(frozen=True, eq=False)
class ModelInput:
    """Everything the CP-SAT model needs, solver-free and integer-valued.

    Attributes
    ----------
    cluster:
        The snapshot.
    candidates:
        Sorted VM indices that get decision variables.
    targets:
        Per candidate (same order), the sorted host indices it may end on.
    base_placement:
        Host per VM; non-candidates stay there (constant load).
    move_cost:
        int64 (V, H): migration cost of a VM ending on a host; 0 on its current host.
    cpu_limit, mem_limit:
        Per host, the VM CPU load (milli-LP) and VM memory (MB) allowed at the balancer
        threshold (see :func:`planner.loadmodel.threshold_limits`).
    balance_hosts:
        bool per host: hosts counted by the balance term (Up and not drained).
    enforce_anti_affinity:
        Legacy anti-affinity classes are hard (else they are objective tier 2).
    max_moves:
        Optional hard budget on the number of moved VMs.
    symmetric_groups:
        Groups of interchangeable candidates (same source, load, memory, costs, targets, and
        in no rule or anti-affinity class), each sorted by VM index: any solution stays a
        solution of equal value when their hosts are permuted, so the model orders them.
    """

    cluster: Cluster
    candidates: np.ndarray
    targets: tuple[np.ndarray, ...]
    base_placement: np.ndarray
    move_cost: np.ndarray
    cpu_limit: np.ndarray
    mem_limit: np.ndarray
    balance_hosts: np.ndarray
    enforce_anti_affinity: bool = False
    max_moves: int | None = None
    symmetric_groups: tuple[tuple[int, ...], ...] = ()

    @property
    def n_candidates(self) -> int:
        """Number of VMs with decision variables."""
        return len(self.candidates)


@dataclass
class Vars:
    """Decision variables and the linear expressions derived from them.

    ``x[i][h]`` is the Boolean "candidate ``i`` ends on host ``h``"; a candidate with a single
    target has no variable (``single[i]`` holds that host).  ``cpu_load[h]`` / ``mem_load[h]``
    are the VM CPU (milli-LP) and memory (MB) on host ``h`` after the plan, constants of the
    fixed VMs included.  ``cpu_max[h]`` / ``mem_max[h]`` are upper bounds of those loads, used
    to skip constraints that can never bind.
    """

    x: list[dict[int, cp_model.IntVar]]
    single: list[int | None]
    cand_pos: dict[int, int]
    cpu_load: list[cp_model.LinearExprT]
    mem_load: list[cp_model.LinearExprT]
    cpu_fixed: np.ndarray
    mem_fixed: np.ndarray
    cpu_max: np.ndarray
    mem_max: np.ndarray
    all_bools: list[cp_model.IntVar] = field(default_factory=list)
    #: Auxiliary variables with the function that computes their value from a placement
    #: (per-host loads, excess, pair counts, ...), so that a hint can be complete.
    aux: list[tuple[cp_model.IntVar, Callable[[np.ndarray], int]]] = field(
        default_factory=list)

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


def create_variables(model: cp_model.CpModel, inp: ModelInput) -> Vars:
    """Create the placement Booleans and the per-host load expressions."""
    c = inp.cluster
    nh = c.n_hosts
    cand = inp.candidates
    fixed = np.ones(c.n_vms, dtype=bool)
    fixed[cand] = False
    p = inp.base_placement
    cpu_fixed = np.bincount(p[fixed], weights=c.vm_cpu_load_milli[fixed],
                            minlength=nh).astype(np.int64)
    mem_fixed = np.bincount(p[fixed], weights=c.vm_mem_load_mb[fixed],
                            minlength=nh).astype(np.int64)
    cpu_max, mem_max = cpu_fixed.copy(), mem_fixed.copy()
    x: list[dict[int, cp_model.IntVar]] = []
    single: list[int | None] = []
    all_bools: list[cp_model.IntVar] = []
    cpu_terms: list[tuple[list[cp_model.IntVar], list[int]]] = [([], []) for _ in range(nh)]
    mem_terms: list[tuple[list[cp_model.IntVar], list[int]]] = [([], []) for _ in range(nh)]
    cpu_v = c.vm_cpu_load_milli
    mem_v = c.vm_mem_load_mb
    for i, v in enumerate(cand.tolist()):
        ts = inp.targets[i]
        cl, ml = int(cpu_v[v]), int(mem_v[v])
        if len(ts) == 1:
            h = int(ts[0])
            single.append(h)
            x.append({})
            cpu_fixed[h] += cl
            mem_fixed[h] += ml
            cpu_max[h] += cl
            mem_max[h] += ml
            continue
        single.append(None)
        d: dict[int, cp_model.IntVar] = {}
        for h in ts.tolist():
            b = model.new_bool_var(f"x{v}_{h}")
            d[h] = b
            all_bools.append(b)
            if cl:
                cpu_terms[h][0].append(b)
                cpu_terms[h][1].append(cl)
            if ml:
                mem_terms[h][0].append(b)
                mem_terms[h][1].append(ml)
        x.append(d)
        cpu_max[ts] += cl
        mem_max[ts] += ml
    # One integer variable per host and resource holds the load: the capacity, excess and
    # balance constraints then read one variable instead of repeating thousands of terms
    # (presolve time on large models is dominated by the total number of terms).
    cpu_load: list[cp_model.LinearExprT] = []
    mem_load: list[cp_model.LinearExprT] = []
    aux: list[tuple[cp_model.IntVar, Callable[[np.ndarray], int]]] = []
    for h in range(nh):
        for terms, fixed, mx, out, tag in ((cpu_terms[h], cpu_fixed, cpu_max, cpu_load, "lc"),
                                           (mem_terms[h], mem_fixed, mem_max, mem_load, "lm")):
            if not terms[0]:
                out.append(int(fixed[h]))
                continue
            load = model.new_int_var(int(fixed[h]), int(mx[h]), f"{tag}{h}")
            model.add(load == cp_model.LinearExpr.weighted_sum(terms[0], terms[1])
                      + int(fixed[h]))
            out.append(load)
            aux.append((load, _load_fn(c.vm_cpu_load_milli if tag == "lc" else c.vm_mem_load_mb,
                                       h)))
    return Vars(x, single, {int(v): i for i, v in enumerate(cand.tolist())}, cpu_load,
                mem_load, cpu_fixed, mem_fixed, cpu_max, mem_max, all_bools, aux)


def _load_fn(per_vm: np.ndarray, h: int) -> Callable[[np.ndarray], int]:
    """Load of host ``h`` in a placement (for hints)."""
    return lambda p: int(per_vm[np.asarray(p) == h].sum())
