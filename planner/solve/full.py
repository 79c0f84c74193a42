"""Full model (small instances): every VM gets variables for every allowed host, hinted with
the incumbent; its CP-SAT bounds are valid for the whole problem and are combined with the
hand-made ones.  It is also what proves infeasibility and yields the explanation core."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planner.cpsat.explain import explain_infeasible
from planner.cpsat.model import PlacementModel
from planner.cpsat.solver import SolverParams
from planner.cpsat.variables import ModelInput
from planner.problem import PlanningProblem, SolveStatus
from planner.solve.candidates import make_input
from planner.solve.incumbent import Budget, Incumbent


@dataclass
class FullOutcome:
    """What the full model decided: its status and the tier bounds it proved."""

    status: SolveStatus
    bounds: dict[str, int] = field(default_factory=dict)
    model: PlacementModel | None = None


def full_input(pb: PlanningProblem) -> ModelInput:
    """Every VM a candidate on every allowed host."""
    allc = np.arange(pb.cluster.n_vms)
    return make_input(pb, allc, [np.flatnonzero(pb.allowed[v]) for v in allc.tolist()])


def solve_full(
    pb: PlanningProblem, params: SolverParams, inc: Incumbent, budget: Budget, sizes: dict[str, int]
) -> FullOutcome:
    """Solve the full model tier by tier from the incumbent, with all the deterministic time
    left (counted at the profile's ``full_model_det_scale``)."""
    fm = PlacementModel(full_input(pb), pb.tiers)
    scaled = budget.scaled(pb.profile.budget.full_model_det_scale)
    out = fm.solve_tiers(params, inc.placement, inc.bounds, scaled, stage="full model")
    sizes.update({"full_variables": out.n_variables, "full_constraints": out.n_constraints})
    inc.offer(out.placement, "full model", from_solver=True)
    res = FullOutcome(out.status, model=fm)
    if inc.values is not None:
        # CP-SAT bounds of the full model are valid; keep them per tier while the values
        # before it agree with the full model's fixed values.
        for t in out.tiers:
            if t.bound is None or t.objective is None or inc.values[t.name] != t.objective:
                break
            res.bounds[t.name] = t.bound
    return res


def explain(pb: PlanningProblem, params: SolverParams, budget: Budget) -> list[str]:
    """Plain-English explanation of an infeasible problem (from an infeasibility core)."""
    c = pb.cluster
    b = pb.profile.budget
    limit = max(b.explain_min_seconds, min(b.explain_max_seconds, budget.limit_s * b.explain_share))
    core = explain_infeasible(full_input(pb), params, limit)
    lines = describe_core(pb, core or [])
    if lines and pb.drained:
        lines.append("Drained nodes: " + ", ".join(c.host_names[h] for h in pb.drained) + ".")
    must = np.flatnonzero(pb.mandatory).tolist()
    if lines and must:
        shown = ", ".join(
            f"{c.vm_names[v]} ({int(pb.vm_mem_boot[:, v].max())} MB, "
            f"{pb.vm_cpu[:, v].max() / 1000:.2f} LP)"
            for v in must[:10]
        )
        lines.append(
            f"VMs that must leave their node: {shown}"
            + (f" and {len(must) - 10} more." if len(must) > 10 else ".")
        )
    if not lines:
        lines = [
            "The rules, capacities and allowed hosts cannot all hold together (no "
            "smaller conflicting set was isolated)."
        ]
    return lines


def describe_core(pb: PlanningProblem, core: list[tuple[object, ...]]) -> list[str]:
    """Plain-English names of the constraint groups of an infeasibility core."""
    c = pb.cluster
    out: list[str] = []
    for key in core:
        kind, arg = key[0], key[1] if len(key) > 1 else None
        i = int(arg) if isinstance(arg, int | np.integer) else -1
        if kind == "capacity":
            out.append(f"the CPU and memory capacity of node {c.host_names[i]}")
        elif kind == "running":
            out.append(
                f"the running-VM limit ({int(pb.running_limit[i])}) of node {c.host_names[i]}"
            )
        elif kind == "rule":
            r = c.rules[i]
            why = " (broken now; --strict-rules)" if pb.strict_rules and _broken_now(pb, i) else ""
            out.append(
                f"{r.type_name} rule '{r.name}'{why} "
                f"({', '.join(c.vm_names[v] for v in pb.rule_members[i][:8])})"
            )
        elif kind == "anti_affinity":
            out.append(f"enforced anti-affinity class '{c.aa_class_names[i]}'")
        elif kind == "budget":
            out.append(f"the migration budget --max-moves {pb.max_moves}")
        elif kind == "vm":
            out.append(f"VM {c.vm_names[i]} has no allowed node")
    if out:
        return ["These cannot all hold together: " + "; ".join(out) + "."]
    return out


def _broken_now(pb: PlanningProblem, r: int) -> bool:
    from planner.problem import rule_broken

    return rule_broken(pb, r, pb.cluster.vm_host)


__all__ = ["FullOutcome", "describe_core", "explain", "full_input", "solve_full"]
