"""One node's cover model for the bounds: its knapsack items (a hard SameNode group wholly
on the node is one item), the anti-affinity members that must leave when no legacy pair may
stay, and the cheapest cover within the profile's share of the time left."""

from __future__ import annotations

import numpy as np

from planner.cpsat.budget import Budget
from planner.cpsat.cover import CoverResult, min_cost_cover
from planner.cpsat.solver import SolverParams
from planner.problem import PlanningProblem


def aa_split_groups(
    pb: PlanningProblem, h: int, groups: list[tuple[int, ...]]
) -> tuple[list[list[int]], list[int]] | None:
    """What a plan without anti-affinity pairs makes leave node ``h``, in the cover items
    ``groups`` (:func:`cover_items`): per legacy class with two or more running members on
    ``h`` that may stay (not mandatory), the items holding them (at most one may stay; an
    item twice when it holds two), or, when one member cannot leave, all the other members'
    items (forced).  ``None`` when two members of a class cannot leave."""
    cur = pb.cluster.vm_host
    item_of = {v: i for i, g in enumerate(groups) for v in g}
    stays: list[list[int]] = []
    forced: set[int] = set()
    for members in pb.aa_members:
        on = [v for v in members if int(cur[v]) == h and not pb.mandatory[v]]
        if len(on) < 2:
            continue
        stuck = [v for v in on if v not in item_of]
        items = [item_of[v] for v in on if v in item_of]
        if len(stuck) >= 2:
            return None
        if stuck:
            forced.update(items)
        else:
            stays.append(items)
    return stays, sorted(forced)


def host_cover(
    pb: PlanningProblem,
    params: SolverParams,
    deadline: Budget,
    h: int,
    k: int,
    loads: tuple[int, int, int, int],
    stays: list[list[int]] | None = None,
    forced: list[int] | None = None,
    banned: frozenset[int] = frozenset(),
) -> tuple[CoverResult, list[tuple[int, ...]]]:
    """The cheapest cover of host ``h`` at sample ``k`` (``loads``: CPU and memory to shed,
    CPU and memory used; ``stays``, ``forced``: :func:`aa_split_groups`; ``banned``: VMs
    that stay, with their items), within the profile's share of the deterministic time
    left; and its items."""
    items, i_cpu, i_mem, i_cost, groups = cover_items(pb, h, k)
    if banned:
        keep = [i for i, g in enumerate(groups) if not banned.intersection(g)]
        items = np.arange(len(keep))
        i_cpu, i_mem, i_cost = i_cpu[keep], i_mem[keep], i_cost[keep]
        groups = [groups[i] for i in keep]
    budget = pb.profile.budget
    left = max(
        deadline.seconds(0.05),
        min(deadline.seconds(budget.cover_max_seconds), deadline.det_left() * budget.cover_share),
    )
    cap_c, cap_m = int(pb.cluster.host_cpu_capacity_milli[h]), int(pb.cluster.host_memory_mb[h])
    cov = min_cost_cover(
        items,
        i_cpu,
        i_mem,
        i_cost,
        *loads,
        cap_c,
        cap_m,
        params,
        deadline.sub(left),
        stays or (),
        forced or (),
    )
    return cov, groups


def node_loads(pb: PlanningProblem, h: int) -> tuple[int, int, int, int]:
    """CPU and memory node ``h`` must shed to get under the threshold, and the CPU and
    memory it uses (base and reserve included), counting the VMs that may stay (the
    mandatory ones leave anyway), at the first load sample."""
    c = pb.cluster
    on = (c.vm_host == h) & ~pb.mandatory
    cpu, mem = int(pb.vm_cpu[0, on].sum()), int(pb.vm_mem[0, on].sum())
    return (
        cpu - int(pb.cpu_limit[0, h]),
        mem - int(pb.mem_limit[h]),
        cpu + int(pb.host_cpu_base[0, h]),
        mem + int(c.host_memory_reserve_mb[h]),
    )


def swap_covers(
    pb: PlanningProblem,
    params: SolverParams,
    deadline: Budget,
    covers: dict[int, tuple[int, ...]],
    costs: dict[int, int],
    misfits: list[list[int]],
    banned: set[int],
    split: bool,
) -> bool:
    """For each node that sends a ``misfit`` unit (one the greedy found no room for under
    the threshold), replace its cover in ``covers`` by another one of the same cost
    (``costs``) in which the misfits, and the VMs ``banned`` before, stay; ``split``: the
    cover also leaves at most one member of each legacy anti-affinity class.  Cheapest
    covers often tie (memory in 256 MB steps), and another of the tied sets may fit where the
    first did not.  Updates ``covers`` and ``banned``; returns whether a cover changed."""
    cur = pb.cluster.vm_host
    by_host: dict[int, set[int]] = {}
    for u in misfits:
        h = int(cur[u[0]])
        if h in covers and all(v in covers[h] for v in u):
            by_host.setdefault(h, set()).update(u)
    changed = False
    for h in sorted(by_host):
        ban = frozenset(banned | by_host[h])
        groups = [g for g in cover_items(pb, h)[4] if not ban.intersection(g)]
        stays: list[list[int]] = []
        forced: list[int] = []
        if split:
            got = aa_split_groups(pb, h, groups)
            if got is None:
                continue
            stays, forced = got
        cov, items = host_cover(pb, params, deadline, h, 0, node_loads(pb, h), stays, forced, ban)
        if cov.chosen is not None and cov.cost == costs.get(h):
            covers[h] = tuple(v for i in cov.chosen for v in items[i])
            banned.update(by_host[h])
            changed = True
    return changed


def cover_items(
    pb: PlanningProblem, h: int, k: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple[int, ...]]]:
    """Knapsack items of host ``h`` at load sample ``k``: its movable VMs; a SameNode group
    that sits wholly on ``h`` is one item (in a final placement the group either stays on
    ``h`` or leaves it together), so the cover bound stays valid and gets tighter.  SameNode
    rules left broken may be, so only groups of hard rules are merged."""
    c = pb.cluster
    cur = c.vm_host
    groups_of = pb.same_node_groups
    vms = np.flatnonzero((cur == h) & pb.movable & ~pb.mandatory).tolist()
    seen: set[int] = set()
    groups: list[tuple[int, ...]] = []
    for v in vms:
        if v in seen:
            continue
        g = groups_of.get(v, (v,))
        if all(int(cur[w]) == h for w in g):
            seen.update(g)
            if all(pb.movable[w] and not pb.mandatory[w] for w in g):
                groups.append(tuple(g))
        else:
            seen.add(v)
            groups.append((v,))
    idx = np.arange(len(groups))
    cpu = np.array([int(pb.vm_cpu[k, list(g)].sum()) for g in groups], dtype=np.int64)
    mem = np.array([int(pb.vm_mem[k, list(g)].sum()) for g in groups], dtype=np.int64)
    cost = np.array([int(pb.min_cost[list(g)].sum()) for g in groups], dtype=np.int64)
    return idx, cpu, mem, cost, groups


__all__ = [
    "aa_split_groups",
    "cover_items",
    "host_cover",
    "node_loads",
    "swap_covers",
]
