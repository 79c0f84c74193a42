"""The reference objective and hard-rule check of a planning problem.

:func:`objective_values` computes every objective tier of a placement and
:func:`hard_violations` lists every hard rule it breaks.  They are the reference for
everyone: every CP-SAT solution is checked against them (a mismatch is a bug, never
filtered) and the verifier recomputes a written plan with them.  Nothing here imports
OR-Tools; it sits below both the optimizer and the verifier.  Units: see
:mod:`planner.cpsat.objective`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from planner.cluster import Cluster, HostState, RuleType
from planner.units import ceil_div
from planner.violation import RULE_TYPE_KINDS, RuleRef, Violation

if TYPE_CHECKING:
    from planner.loadmodel import Threshold
    from planner.problem import LoadSamples, PlanningProblem

#: Basis points per 100 % (unit of the excess and balance tiers).
BP = 10_000

#: Every objective tier, in lexicographic order (SPEC §3).
TIER_NAMES = ("rules", "excess", "anti_affinity", "migration", "balance")


def members_broken(cluster: Cluster, rt: RuleType, members: tuple[int, ...], p: np.ndarray) -> bool:
    """Whether a rule of type ``rt`` over ``members`` is broken by placement ``p``."""
    if len(members) < 2:
        return False
    hs = p[list(members)]
    key = (
        hs if rt in (RuleType.SAME_NODE, RuleType.DIFFERENT_NODE) else cluster.host_fault_domain[hs]
    )
    n = len(set(key.tolist()))
    if rt in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN):
        return n > 1
    return n < len(members)


def rule_broken(problem: PlanningProblem, r: int, placement: np.ndarray) -> bool:
    """Whether enabled rule ``r`` is broken by ``placement`` (over its running members)."""
    rule = problem.cluster.rules[r]
    return members_broken(
        problem.cluster, rule.rule_type, problem.rule_members[r], np.asarray(placement)
    )


def aa_broken(problem: PlanningProblem, k: int, placement: np.ndarray) -> bool:
    """Whether two running members of anti-affinity class ``k`` share a node."""
    m = problem.aa_members[k]
    return len(set(np.asarray(placement)[list(m)].tolist())) < len(m)


def vm_mem_on(problem: PlanningProblem, placement: np.ndarray) -> np.ndarray:
    """int64 (K, V): memory each VM occupies where ``placement`` puts it."""
    p = np.asarray(placement, dtype=np.int64)
    boot = problem.boot_move[np.arange(problem.cluster.n_vms), p]
    return np.where(boot[None, :], problem.vm_mem_boot, problem.vm_mem)


def host_vm_loads(problem: PlanningProblem, placement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VM CPU (milli-LP) and VM memory (MB) per sample and host: two int64 (K, H) arrays
    (the hosts' own CPU use and memory reserve excluded)."""
    p = np.asarray(placement, dtype=np.int64)
    nh = problem.cluster.n_hosts
    mem_v = vm_mem_on(problem, p)
    k = problem.n_samples
    cpu = np.stack(
        [np.bincount(p, weights=problem.vm_cpu[i], minlength=nh) for i in range(k)]
    ).astype(np.int64)
    mem = np.stack([np.bincount(p, weights=mem_v[i], minlength=nh) for i in range(k)]).astype(
        np.int64
    )
    return cpu, mem


def objective_values(problem: PlanningProblem, placement: np.ndarray) -> dict[str, int]:
    """Every objective tier of ``placement`` (all of :data:`TIER_NAMES`, whichever tiers
    the problem optimises).  The reference: CP-SAT's values are checked against it."""
    c = problem.cluster
    p = np.asarray(placement, dtype=np.int64)
    cpu, mem = host_vm_loads(problem, p)
    cap_c, cap_m = c.host_cpu_capacity_milli, c.host_memory_mb
    ex = (
        ceil_div(BP * np.maximum(cpu - problem.cpu_limit, 0), cap_c).sum()
        + ceil_div(BP * np.maximum(mem - problem.mem_limit, 0), cap_m).sum()
    )
    rules = sum(rule_broken(problem, r, p) for r in problem.soft_rules)
    rules += sum(aa_broken(problem, k, p) for k in problem.soft_aa)
    pairs = 0
    if not problem.enforce_aa:
        for m in problem.aa_members:
            if len(m) > 1:
                _, counts = np.unique(p[list(m)], return_counts=True)
                pairs += int((counts * (counts - 1) // 2).sum())
    bal = problem.balance_hosts
    balance = 0
    if bal.any():
        used_c = ceil_div(BP * (cpu + problem.host_cpu_base), cap_c)
        used_m = ceil_div(BP * (mem + c.host_memory_reserve_mb), cap_m)
        balance = int(np.maximum(used_c, used_m)[:, bal].max())
    migration = int(problem.move_cost[np.arange(c.n_vms), p].sum())
    return {
        "rules": int(rules),
        "excess": int(ex),
        "anti_affinity": int(pairs),
        "migration": migration,
        "balance": balance,
    }


def _where_violations(problem: PlanningProblem, p: np.ndarray) -> list[Violation]:
    c = problem.cluster
    hn, vn = c.host_names, c.vm_names
    out: list[Violation] = []
    v_idx = np.arange(c.n_vms)
    drained = set(problem.drained)
    held = set(problem.held)
    for v in np.flatnonzero(~problem.allowed[v_idx, p]).tolist():
        h, home = int(p[v]), int(c.vm_host[v])
        if h != home and c.vm_pinned[v]:
            kind, why = "pinned", f"is pinned to {hn[home]}"
        elif h != home and v in held:
            kind, why = "held", f"is held on {hn[home]}"
        elif h in drained:
            kind, why = "drained", f"ends on drained node {hn[h]}"
        elif not c.vm_possible[v, h]:
            kind, why = "possible_owners", f"ends on {hn[h]}, not one of its possible owners"
        elif c.host_state[h] != HostState.UP:
            state = HostState(c.host_state[h]).name.title()
            kind, why = "host_not_up", f"ends on {hn[h]}, which is {state}"
        else:
            kind, why = "move_kind", f"cannot end on {hn[h]} (no allowed kind of move)"
        out.append(Violation(kind, f"VM {vn[v]} {why}", vms=(v,), hosts=(h,)))
    return out


def hard_violations(problem: PlanningProblem, placement: np.ndarray) -> list[Violation]:
    """Every hard rule ``placement`` breaks (empty: the placement is acceptable).

    Where VMs end (allowed targets: possible owners, pinned, held, drained, host state,
    reachability), capacity at 100 % at every load sample, the running-VM limit per node,
    the hard affinity rules and anti-affinity classes, and the move budget.

    Parameters
    ----------
    problem:
        The planning problem (its cluster, allowed targets, hard rules and budget).
    placement:
        Host index per VM.

    Returns
    -------
    list[Violation]
        One per broken rule, node or misplaced VM, in the verifiers' kind vocabulary
        (:data:`planner.violation.KINDS`; an unreachable target is ``move_kind``, the move
        budget ``move_budget``), with VM, node and rule indices.
    """
    c = problem.cluster
    p = np.asarray(placement, dtype=np.int64)
    hn = c.host_names
    out = _where_violations(problem, p)
    cpu, mem = host_vm_loads(problem, p)
    free_c = c.host_cpu_capacity_milli[None, :] - problem.host_cpu_base
    free_m = c.host_memory_free_mb[None, :]
    for k, h in zip(*np.nonzero(cpu > free_c), strict=True):
        out.append(
            Violation(
                "capacity_cpu",
                f"node {hn[h]} needs {cpu[k, h] / 1000:.3f} "
                f"logical processors for VMs but has {free_c[k, h] / 1000:.3f}"
                + (f" (sample {k})" if problem.n_samples > 1 else ""),
                hosts=(h,),
            )
        )
    for k, h in zip(*np.nonzero(mem > free_m), strict=True):
        out.append(
            Violation(
                "capacity_memory",
                f"node {hn[h]} needs {int(mem[k, h])} MB for "
                f"VMs but has {int(free_m[0, h])} MB after its reserve"
                + (f" (sample {k})" if problem.n_samples > 1 else ""),
                hosts=(h,),
            )
        )
    running = np.bincount(p[problem.vm_running], minlength=c.n_hosts)
    for h in np.flatnonzero(running > problem.running_limit).tolist():
        out.append(
            Violation(
                "running_vms",
                f"node {hn[h]} would run {int(running[h])} VMs, "
                f"more than its limit of {int(problem.running_limit[h])}",
                hosts=(h,),
            )
        )
    for r in problem.hard_rules:
        if rule_broken(problem, r, p):
            rule = c.rules[r]
            m = problem.rule_members[r]
            out.append(
                Violation(
                    RULE_TYPE_KINDS[rule.rule_type],
                    f"{rule.type_name} rule '{rule.name}' is broken",
                    vms=m,
                    hosts=tuple(sorted({int(p[v]) for v in m})),
                    rule=RuleRef.affinity(r),
                )
            )
    for k in problem.hard_aa:
        if aa_broken(problem, k, p):
            m = problem.aa_members[k]
            out.append(
                Violation(
                    "anti_affinity",
                    f"enforced anti-affinity class "
                    f"'{c.aa_class_names[k]}' has members sharing a node",
                    vms=m,
                    rule=RuleRef.anti_affinity(k),
                )
            )
    moved = int((p != c.vm_host).sum())
    if problem.max_moves is not None and moved > problem.max_moves:
        out.append(
            Violation("move_budget", f"{moved} VMs move, more than --max-moves {problem.max_moves}")
        )
    return out


def problem_from_parameters(
    cluster: Cluster, parameters: dict[str, Any], threshold: Threshold
) -> PlanningProblem:
    """The problem a plan was made for, rebuilt from its ``summary.json`` ``parameters``
    (:meth:`PlanningProblem.parameters`) and threshold, for re-checking a written plan.

    Raises ``KeyError``/``ValueError``/``TypeError`` on parameters that do not describe a
    problem (the verifier reports them).
    """
    from planner.problem import Minimise, PlanOptions, build_problem
    from planner.profiles import Profile

    tiers = tuple(t for t in parameters.get("tiers", TIER_NAMES) if t != "rules")
    enforce = parameters.get("enforce_anti_affinity")
    prof = Profile(
        name=str(parameters.get("profile", "rebalance")),
        tiers=tiers,
        shutdown_penalty_mb=int(parameters.get("shutdown_penalty_mb", 0)),
        allow_shutdown=bool(parameters.get("allow_shutdown", True)),
        anti_affinity="cluster" if enforce is None else ("hard" if enforce else "soft"),
    )
    drain = tuple(cluster.host_index[str(n).casefold()] for n in parameters.get("drain", ()))
    held = tuple(cluster.vm_index[str(n).casefold()] for n in parameters.get("held", ()))
    mm = parameters.get("max_moves")
    opts = PlanOptions(
        drain=drain,
        max_moves=None if mm is None else int(mm),
        strict_rules=bool(parameters.get("strict_rules", False)),
        headroom_pct=float(parameters.get("headroom_pct") or 0.0),
        minimise=str(parameters.get("minimise", Minimise.MEMORY.value)),
        profile=prof,
        load_samples=_load_samples(cluster, parameters),
    )
    return build_problem(cluster, opts, held, profile=prof, threshold=threshold)


def _load_samples(cluster: Cluster, parameters: dict[str, Any]) -> LoadSamples | None:
    """The history samples a plan made on a load history was judged at, rebuilt from the
    snapshot's history (``None`` for a plan on the snapshot's single moment)."""
    from planner.history.model import parse_statistic
    from planner.history.robust import sample_vectors
    from planner.samples import LoadSamples

    stat, idx = parameters.get("load_statistic"), parameters.get("load_sample_indices")
    if stat is None or idx is None:
        return None
    h = cluster.history
    if h is None:
        raise ValueError(
            f"the plan was made on the load history ({stat}) but the snapshot has none"
        )
    indices = tuple(int(i) for i in idx)
    if not indices or any(i >= h.vm_cpu_milli.shape[0] or i < -1 for i in indices):
        raise ValueError(
            f"load_sample_indices {list(indices)} do not fit the snapshot's "
            f"history of {h.vm_cpu_milli.shape[0]} samples"
        )
    statistic = parse_statistic(str(stat))
    return LoadSamples(
        *sample_vectors(cluster, h, statistic, indices),
        statistic=statistic.value,
        indices=indices,
        threshold_hosts=_threshold_hosts(cluster, parameters, len(indices)),
    )


def _threshold_hosts(
    cluster: Cluster, parameters: dict[str, Any], k: int
) -> tuple[tuple[int, ...] | None, ...]:
    """``load_sample_threshold_hosts`` (host names per sample, or null) as host indices."""
    raw = parameters.get("load_sample_threshold_hosts")
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) != k:
        raise ValueError(f"load_sample_threshold_hosts must list one entry per sample ({k})")
    index = {n.casefold(): i for i, n in enumerate(cluster.host_names)}
    out: list[tuple[int, ...] | None] = []
    for entry in raw:
        if entry is None:
            out.append(None)
            continue
        unknown = [n for n in entry if str(n).casefold() not in index]
        if unknown:
            raise ValueError(f"load_sample_threshold_hosts names unknown nodes {unknown}")
        out.append(tuple(sorted(index[str(n).casefold()] for n in entry)))
    return tuple(out)


__all__ = [
    "BP",
    "TIER_NAMES",
    "aa_broken",
    "hard_violations",
    "host_vm_loads",
    "members_broken",
    "objective_values",
    "problem_from_parameters",
    "rule_broken",
    "vm_mem_on",
]
