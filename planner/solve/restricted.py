"""Restricted model: the VMs that may need to move get variables, everyone else is fixed.

Candidates are the VMs on hot, drained, Paused or Down nodes, off their possible owners, in
broken rules or colliding anti-affinity classes, those the incumbent moves, plus their
SameNode/SameFaultDomain partners; their targets are the allowed hosts that are not
themselves hot (and the incumbent's host).  Interchangeable VMs are ordered (symmetry
breaking).  First one solve at the bounds, then the tiers in sequence.  A tier is proven
when its value meets the full-problem bound; this model's own CP-SAT bounds are *not*
reported (they hold only for the restricted model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.cpsat.model import PlacementModel
from planner.cpsat.solver import SolverParams
from planner.cpsat.variables import ModelInput
from planner.problem import PlanningProblem
from planner.solve.candidates import make_input, restricted_targets
from planner.solve.greedy import greedy_assign, same_partners
from planner.solve.incumbent import Budget, Incumbent


@dataclass
class Restricted:
    """The restricted candidate set: also what ``--export-model`` writes."""

    candidates: np.ndarray
    targets: list[np.ndarray]

    @property
    def booleans(self) -> int:
        """Placement Booleans of the model."""
        return int(sum(len(t) for t in self.targets))

    def model_input(self, pb: PlanningProblem) -> ModelInput:
        """The model input of this candidate set."""
        return make_input(pb, self.candidates, self.targets)


def restricted_set(
    pb: PlanningProblem, cand: np.ndarray, hot: np.ndarray, best: np.ndarray | None
) -> Restricted:
    """Candidates and targets of the restricted model around the incumbent ``best``."""
    rmask = np.zeros(pb.cluster.n_vms, dtype=bool)
    rmask[cand] = True
    if best is not None:
        rmask |= best != pb.cluster.vm_host
    rmask |= same_partners(pb, rmask)
    rc = np.flatnonzero(rmask)
    return Restricted(rc, restricted_targets(pb, rc, hot, best))


def greedy_repair(pb: PlanningProblem, rs: Restricted, inc: Incumbent) -> None:
    """No start under the threshold yet: a greedy over all candidates (VMs stay home while
    their node fits under the threshold, the rest go where it is lowest)."""
    if inc.values is not None and inc.values["excess"] <= inc.bounds.bounds.excess:
        return
    g = greedy_assign(
        pb,
        pb.cluster.vm_host,
        rs.candidates,
        dict(zip(rs.candidates.tolist(), rs.targets, strict=True)),
    )
    inc.offer(g, "greedy repair")


def solve_restricted(
    pb: PlanningProblem,
    rs: Restricted,
    params: SolverParams,
    inc: Incumbent,
    budget: Budget,
    sizes: dict[str, int],
) -> PlacementModel:
    """Run the restricted model (at the bounds, then tier by tier); returns the model."""
    b = pb.profile.budget
    r_budget = budget.share(b.restricted_share, of_left=True)
    rin = rs.model_input(pb)
    hint = inc.placement
    if hint is None:
        hint = greedy_assign(
            pb,
            pb.cluster.vm_host,
            rs.candidates,
            dict(zip(rs.candidates.tolist(), rs.targets, strict=True)),
        )
    targets = inc.bounds.targets()
    if targets is not None:
        tm = PlacementModel(rin, pb.tiers)
        t_budget = r_budget.share(b.targeted_share, minimum_s=b.min_targeted_seconds)
        # Aim at the bounds up to the migration tier: the balance bound is often met by the
        # first migration-optimal solution, and when it is not, one search for every bound
        # at once can spend its whole budget; the tier sequence below then takes balance on
        # its own, stopping as soon as its bound is reached.
        last = "migration" if "migration" in pb.tiers else None
        _, pl = tm.solve_targeted(
            params, hint, targets, t_budget, last=last, stage="restricted model"
        )
        inc.offer(pl, "restricted model (at the bounds)", from_solver=True)
        if inc.placement is not None:
            hint = inc.placement
    rm = PlacementModel(rin, pb.tiers)
    nv, nc = rm.size()
    sizes.update({"variables": nv, "constraints": nc, "candidates": len(rs.candidates)})
    if not inc.proven():
        out = rm.solve_tiers(params, hint, inc.bounds, r_budget, stage="restricted model")
        inc.offer(out.placement, "restricted model", from_solver=True)
    return rm


__all__ = ["Restricted", "greedy_repair", "restricted_set", "solve_restricted"]
