"""Downtime moves that a live move (or staying home) can replace: a cheap post-pass.

A Shutdown move costs its memory plus the downtime price; a Live (or Quick) move of the same
VM costs its memory only, and staying home costs nothing.  When the search ends early (a
short limit, a starved CPU) the incumbent can keep Shutdown moves although a live target
with room exists.  :func:`live_instead` tries, for each Shutdown move of the incumbent, the
VM's own node and then every node it reaches without downtime, cheapest first, where it fits
under the threshold at every load sample (so the load above the threshold does not grow).
Each candidate goes through :meth:`~planner.solve.incumbent.Incumbent.offer`, which keeps it
only when it breaks no hard rule and is lexicographically better (no earlier tier worse, and
the migration tier strictly lower).  Deterministic: VMs in index order, targets by cost, then
by the load they leave on the node, then by index.
"""

from __future__ import annotations

import numpy as np

from planner.cluster import MoveKind
from planner.problem import PlanningProblem, host_vm_loads
from planner.solve.incumbent import Incumbent

#: Move kinds that keep the VM running (no downtime).
LIVE_KINDS = (int(MoveKind.LIVE), int(MoveKind.QUICK))


def downtime_vms(pb: PlanningProblem, placement: np.ndarray) -> np.ndarray:
    """Indices of the VMs that ``placement`` moves by Shutdown."""
    cur = pb.cluster.vm_host
    moved = np.flatnonzero(placement != cur)
    kinds = pb.move_kind[moved, placement[moved]]
    return moved[kinds == int(MoveKind.SHUTDOWN)]


def live_targets(pb: PlanningProblem, v: int, cpu: np.ndarray, mem: np.ndarray) -> list[int]:
    """Nodes where ``v`` may go instead of its Shutdown target: home first (when allowed),
    then the nodes it reaches without downtime and fits on under the threshold at every
    sample (loads ``cpu``/``mem`` without ``v``), by move cost, load left, index."""
    home = int(pb.cluster.vm_host[v])
    ok = pb.allowed[v] & np.isin(pb.move_kind[v], LIVE_KINDS)
    ok[home] = False
    fits = ok & (
        (cpu + pb.vm_cpu[:, v : v + 1] <= pb.cpu_limit).all(axis=0)
        & (mem + pb.vm_mem[:, v : v + 1] <= pb.mem_limit[None, :]).all(axis=0)
    )
    hs = np.flatnonzero(fits)
    lim = np.maximum(pb.cpu_limit[:, hs], 1)
    share = ((cpu[:, hs] + pb.vm_cpu[:, v : v + 1]) / lim).max(axis=0)
    order = sorted(
        range(len(hs)), key=lambda i: (int(pb.move_cost[v, hs[i]]), float(share[i]), int(hs[i]))
    )
    out = [int(hs[i]) for i in order]
    return ([home] if pb.allowed[v, home] else []) + out


def live_instead(pb: PlanningProblem, inc: Incumbent) -> int:
    """Replace the incumbent's Shutdown moves by live moves or by staying home where that
    is lexicographically better (module docstring).  Returns how many were replaced."""
    if inc.placement is None or not pb.allow_shutdown:
        return 0
    replaced = 0
    for v in downtime_vms(pb, inc.placement).tolist():
        p = inc.placement.copy()
        t_old = int(p[v])
        # Loads without v (it leaves its Shutdown target; it is counted nowhere else).
        p[v] = int(pb.cluster.vm_host[v])
        cpu, mem = host_vm_loads(pb, p)
        home = int(pb.cluster.vm_host[v])
        cpu[:, home] -= pb.vm_cpu[:, v]
        mem[:, home] -= pb.vm_mem[:, v]
        for t in live_targets(pb, v, cpu, mem):
            if t == t_old:
                continue
            q = inc.placement.copy()
            q[v] = t
            if inc.offer(q, "downtime repair"):
                replaced += 1
                break
    return replaced


__all__ = ["LIVE_KINDS", "downtime_vms", "live_instead", "live_targets"]
