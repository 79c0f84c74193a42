"""Lower bounds for the soft tiers that stay valid when an earlier tier is not proven.

Pure numpy (no OR-Tools): every function takes the cluster, the ``allowed`` (V, H) Boolean
matrix of hosts each VM may end on (possible owners, reachable, Up, not drained, pinned VMs
only on their host -- :func:`planner.optimizer.build_domain` computes it), and the per-host
VM-load limits of the threshold (:func:`planner.loadmodel.threshold_limits`), and returns one
integer in the tier's own units (SPEC §3; ``planner.verify.objective_values``).

Each bound states the assumption under which it holds:

* :func:`aa_pairs_lower_bound` -- legacy anti-affinity pairs sharing a node.  **Valid for every
  placement that respects the hard constraints** (capacity, allowed hosts, SameNode rules
  that hold now), whatever the other tiers' values; with ``excess_zero=True`` it uses the
  threshold instead of 100 % capacity and is valid for every placement with no node above
  the threshold (so for the lexicographic optimum whenever the excess optimum is 0).
* :func:`migration_lower_bound` -- memory moved plus the shutdown penalty.  **Valid for every
  placement with no node above the threshold**, whatever its anti-affinity or rule tiers
  (those are relaxed): so for the lexicographic optimum as soon as the excess optimum is 0,
  which any plan with excess 0 proves.  With ``excess_zero=False`` only the mandatory moves
  are counted, valid for every feasible placement.
* :func:`balance_lower_bound` -- the highest host load in basis points.  **Valid for every
  feasible placement**, whatever the earlier tiers; given ``migration_at_most`` (and the
  per-node cover bounds) it is valid for every placement whose migration cost is at most
  that value and whose excess is 0 (so for the lexicographic optimum when the excess and
  anti-affinity tiers are proven and ``migration_at_most`` is the best plan's migration).

Why they are valid is written next to each function; ``tests/test_bounds_extra.py`` checks
them against brute force on tiny clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.cluster import Cluster, RuleType
from planner.groups import components
from planner.units import ceil_div

#: Basis points per 100 % (the unit of the excess and balance tiers).
BP = 10_000
#: Largest dynamic-programming table of a cover bound (coverage units after scaling).
COVER_DP_UNITS = 20_000
#: Weights of the surrogate relaxations tried per node (CPU share; memory gets the rest).
SURROGATE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def limits_1d(cpu_lim: np.ndarray, mem_lim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The threshold limits as one row per host.  A ``(1, H)`` CPU limit (one load sample)
    is flattened; several samples (a load history) are not supported: these bounds use the
    snapshot's loads, so calling them then is an API misuse and raises ``ValueError``."""
    c = np.asarray(cpu_lim, dtype=np.int64)
    if c.ndim == 2:
        if c.shape[0] != 1:
            raise ValueError("bounds_extra uses the snapshot loads: one load sample only")
        c = c[0]
    return c, np.asarray(mem_lim, dtype=np.int64).reshape(-1)


# ---------------------------------------------------------------------------- shared pieces
def hard_same_node_groups(cluster: Cluster) -> list[list[int]]:
    """Running VMs that must end on one node: enabled SameNode rules whose running members
    share a node now (a rule that holds now keeps holding, SPEC §3), joined transitively.
    Only groups of two or more VMs are returned, each sorted."""
    run = cluster.vm_consumes
    tied: list[list[int]] = []
    for r in cluster.rules:
        if not r.enabled or r.rule_type != RuleType.SAME_NODE:
            continue
        m = [v for v in r.members if run[v]]
        if len(m) >= 2 and len({int(cluster.vm_host[v]) for v in m}) == 1:
            tied.append(m)
    groups = {g[0]: list(g) for g in components(cluster.n_vms, tied).values()}
    return [groups[k] for k in sorted(groups) if len(groups[k]) > 1]


def must_leave(cluster: Cluster, allowed: np.ndarray) -> np.ndarray:
    """bool V: VMs whose current host is not allowed, and their partners in a hard SameNode
    group (the group ends on one node, and it cannot be this one)."""
    out = ~allowed[np.arange(cluster.n_vms), cluster.vm_host]
    for g in hard_same_node_groups(cluster):
        if out[g].any():
            out[g] = True
    return np.asarray(out, dtype=bool)


def fixed_vms(allowed: np.ndarray) -> np.ndarray:
    """bool V: VMs with exactly one allowed host (they end there in every placement)."""
    return np.asarray(allowed.sum(axis=1) == 1, dtype=bool)


def fixed_loads(cluster: Cluster, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CPU (milli-LP) and memory (MB) per host of the VMs fixed to it."""
    fx = fixed_vms(allowed)
    host = np.argmax(allowed, axis=1)
    nh = cluster.n_hosts
    c = np.bincount(host[fx], weights=cluster.vm_cpu_load_milli[fx], minlength=nh)
    m = np.bincount(host[fx], weights=cluster.vm_mem_load_mb[fx], minlength=nh)
    return c.astype(np.int64), m.astype(np.int64)


def fit_mask(
    cluster: Cluster,
    allowed: np.ndarray,
    vms: list[int],
    cpu_lim: np.ndarray,
    mem_lim: np.ndarray,
    fixed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """bool H: hosts allowed for every VM of ``vms`` where all of them fit together on top of
    the load fixed there by *other* VMs, within ``cpu_lim``/``mem_lim`` (VM load).
    ``fixed``: :func:`fixed_loads` and :func:`fixed_vms` of ``allowed``, when the caller
    has them (they cost a pass over every VM)."""
    ok = allowed[vms].all(axis=0)
    fc, fm, fx = (
        fixed if fixed is not None else (*fixed_loads(cluster, allowed), fixed_vms(allowed))
    )
    c = np.zeros(cluster.n_hosts, dtype=np.int64)
    m = np.zeros(cluster.n_hosts, dtype=np.int64)
    for v in vms:
        if fx[v]:  # do not count a member twice
            h = int(np.argmax(allowed[v]))
            c[h] -= int(cluster.vm_cpu_load_milli[v])
            m[h] -= int(cluster.vm_mem_load_mb[v])
    need_c = int(cluster.vm_cpu_load_milli[vms].sum())
    need_m = int(cluster.vm_mem_load_mb[vms].sum())
    return np.asarray(ok & (fc + c + need_c <= cpu_lim) & (fm + m + need_m <= mem_lim), dtype=bool)


# ---------------------------------------------------------------------------- anti-affinity
def min_pairs_assignment(host_sets: list[np.ndarray]) -> int:
    """Least number of pairs of units sharing a host when unit ``i`` must go to a host of
    ``host_sets[i]`` (bool H): ``sum_h C(n_h, 2)`` minimised exactly.

    Successive shortest paths of a min-cost flow whose only costs are on the host arcs (the
    k-th unit on a host costs k - 1, a convex cost): the shortest augmenting path for a new
    unit ends at the least loaded host reachable through alternating reassignments, so each
    augmentation is a breadth-first search.  A unit with an empty set is ignored.
    """
    n_h = len(host_sets[0]) if host_sets else 0
    load = np.zeros(n_h, dtype=np.int64)
    on: list[list[int]] = [[] for _ in range(n_h)]  # placed units per host
    sets = [np.flatnonzero(s).tolist() for s in host_sets]
    total = 0
    for i, hs in enumerate(sets):
        if not hs:
            continue
        prev_host: dict[int, tuple[int, int]] = {h: (i, -1) for h in hs}  # host -> (unit, from)
        frontier = list(hs)
        while frontier:
            nxt: list[int] = []
            for h in frontier:
                for u in on[h]:
                    for h2 in sets[u]:
                        if h2 not in prev_host:
                            prev_host[h2] = (u, h)
                            nxt.append(h2)
            frontier = nxt
        best = min(prev_host, key=lambda h: (int(load[h]), h))
        total += int(load[best])
        load[best] += 1
        h = best
        while True:  # walk back: each unit on the path moves one host along
            u, frm = prev_host[h]
            if frm >= 0:
                on[frm].remove(u)
            on[h].append(u)
            if frm < 0:
                break
            h = frm
    return total


def aa_pairs_lower_bound(
    cluster: Cluster,
    allowed: np.ndarray,
    cpu_lim: np.ndarray,
    mem_lim: np.ndarray,
    excess_zero: bool = False,
) -> int:
    """Lower bound on the legacy anti-affinity pairs sharing a node (tier ``anti_affinity``).

    Per class, over its running members: members tied by a SameNode rule that holds now form
    one unit of weight ``w`` (its ``C(w, 2)`` pairs are forced); each unit may go only to the
    hosts allowed for its whole group where the group fits on top of the load fixed there by
    VMs with a single allowed host (pinned, no other owner, ...).  Two units on one host share
    at least one pair, so ``sum C(w, 2) + min_pairs_assignment(units)`` is a lower bound: it is
    the pigeonhole bound over the union of allowed hosts, the matching bound (0 exactly when
    the units can take distinct hosts) and the fixed-members count in one.  Classes are
    summed (the tier sums them too).

    Valid for every placement respecting the hard constraints (100 % capacity); with
    ``excess_zero`` the fit test uses the threshold limits, valid for every placement with no
    node above the threshold.
    """
    lim_c = cpu_lim if excess_zero else cluster.host_cpu_free_milli
    lim_m = mem_lim if excess_zero else cluster.host_memory_free_mb
    group_of: dict[int, list[int]] = {}
    for g in hard_same_node_groups(cluster):
        for v in g:
            group_of[v] = g
    run = cluster.vm_consumes
    fixed = (*fixed_loads(cluster, allowed), fixed_vms(allowed))
    total = 0
    for members in cluster.aa_class_members:
        mem = [v for v in members if run[v]]
        if len(mem) < 2:
            continue
        units: dict[tuple[int, ...], int] = {}
        for v in mem:
            key = tuple(group_of.get(v, [v]))
            units[key] = units.get(key, 0) + 1
        sets: list[np.ndarray] = []
        for unit, w in units.items():
            total += w * (w - 1) // 2
            s = fit_mask(cluster, allowed, list(unit), lim_c, lim_m, fixed)
            sets.append(s if s.any() else np.asarray(allowed[list(unit)].all(axis=0)))
        if len(sets) > 1:
            total += min_pairs_assignment(sets)
    return total


# ---------------------------------------------------------------------------- migration
def min_cover_cost(weights: np.ndarray, costs: np.ndarray, demand: int) -> int | None:
    """Exact least cost of a subset of items whose weights sum to at least ``demand``, on
    weights scaled up and demand scaled down to at most ``COVER_DP_UNITS`` units (a
    relaxation: every true cover stays a cover), so the result is a lower bound; ``None``
    when even all items do not reach the demand."""
    if demand <= 0:
        return 0
    w = np.asarray(weights, dtype=np.int64)
    if int(w.sum()) < demand:
        return None
    scale = max(1, ceil_div(demand, COVER_DP_UNITS))
    d = ceil_div(demand, scale)
    ws = np.minimum(ceil_div(w, scale), d)
    big = np.iinfo(np.int64).max // 4
    dp = np.full(d + 1, big, dtype=np.int64)  # dp[c]: least cost to cover c units
    dp[0] = 0
    for wi, ci in zip(ws.tolist(), np.asarray(costs, dtype=np.int64).tolist(), strict=True):
        if wi <= 0:
            continue
        # new dp[c] = min(dp[c], dp[max(c - wi, 0)] + ci); dp stays non-decreasing in c.
        shifted = np.empty_like(dp)
        shifted[:wi] = ci
        shifted[wi:] = dp[:-wi] + ci
        np.minimum(dp, shifted, out=dp)
    return int(dp[d]) if dp[d] < big else None


def _leave_costs(
    cluster: Cluster,
    allowed: np.ndarray,
    move_cost: np.ndarray,
    lim_c: np.ndarray,
    lim_m: np.ndarray,
) -> np.ndarray:
    """Least cost per VM of ending on another host where it fits on top of the fixed load
    (``-1`` when no such host exists: the VM cannot leave)."""
    V = cluster.n_vms
    fc, fm = fixed_loads(cluster, allowed)
    cur = cluster.vm_host
    fits = (fc[None, :] + cluster.vm_cpu_load_milli[:, None] <= lim_c[None, :]) & (
        fm[None, :] + cluster.vm_mem_load_mb[:, None] <= lim_m[None, :]
    )
    other = allowed & fits
    other[np.arange(V), cur] = False
    big = np.iinfo(np.int64).max // 4
    c = np.where(other, move_cost, big).min(axis=1) if cluster.n_hosts else np.zeros(V)
    return np.where(other.any(axis=1), c, -1).astype(np.int64)


def node_cover_bounds(
    cluster: Cluster,
    allowed: np.ndarray,
    cpu_lim: np.ndarray,
    mem_lim: np.ndarray,
    move_cost: np.ndarray,
) -> dict[int, int]:
    """Per node over the threshold: a lower bound on the cost of the VMs that must leave it
    (valid for every placement with no node above the threshold).

    Items are the node's running VMs that may stay and may leave (a hard SameNode group
    wholly on the node is one item); an item costs the cheapest move to a host where it fits
    under the threshold on top of the fixed load.  The leaving items must carry at least the
    node's excess in CPU and in memory; each surrogate constraint ``a * cpu + (1 - a) * mem``
    (normalised by the demands) is a relaxation, solved exactly by :func:`min_cover_cost`;
    the best of them is the node's bound.  A node that cannot get under the threshold gets
    ``-1`` (the excess optimum is then above 0).
    """
    cur = cluster.vm_host
    dest = ~must_leave(cluster, allowed)  # may stay
    leave = _leave_costs(cluster, allowed, move_cost, cpu_lim, mem_lim)
    group_of: dict[int, list[int]] = {}
    for g in hard_same_node_groups(cluster):
        for v in g:
            group_of[v] = g
    nh = cluster.n_hosts
    stay_c = np.bincount(cur[dest], weights=cluster.vm_cpu_load_milli[dest], minlength=nh)
    stay_m = np.bincount(cur[dest], weights=cluster.vm_mem_load_mb[dest], minlength=nh)
    out: dict[int, int] = {}
    for h in np.flatnonzero((stay_c > cpu_lim) | (stay_m > mem_lim)).tolist():
        need_c = int(stay_c[h] - cpu_lim[h])
        need_m = int(stay_m[h] - mem_lim[h])
        items_c: list[int] = []
        items_m: list[int] = []
        costs: list[int] = []
        seen: set[int] = set()
        for v in np.flatnonzero((cur == h) & dest & cluster.vm_consumes).tolist():
            if v in seen:
                continue
            g = group_of.get(v, [v])
            seen.update(g)
            if any(int(cur[w]) != h or not dest[w] or leave[w] < 0 for w in g):
                continue  # cannot leave as a whole: stays
            items_c.append(int(cluster.vm_cpu_load_milli[g].sum()))
            items_m.append(int(cluster.vm_mem_load_mb[g].sum()))
            costs.append(int(leave[g].sum()))
        out[h] = _surrogate_cover(
            np.array(items_c, dtype=np.int64),
            np.array(items_m, dtype=np.int64),
            np.array(costs, dtype=np.int64),
            need_c,
            need_m,
        )
    return out


def _surrogate_cover(
    ic: np.ndarray, im: np.ndarray, cost: np.ndarray, need_c: int, need_m: int
) -> int:
    """Best surrogate-relaxation bound of a two-resource covering knapsack (-1: infeasible)."""
    if (need_c > 0 and int(ic.sum()) < need_c) or (need_m > 0 and int(im.sum()) < need_m):
        return -1
    best = 0
    weights = SURROGATE_WEIGHTS if need_c > 0 and need_m > 0 else (1.0,) if need_c > 0 else (0.0,)
    for a in weights:
        # Integer surrogate weights: scale each resource so its demand maps to 10**6 units.
        wc = a * 1e6 / need_c if need_c > 0 else 0.0
        wm = (1 - a) * 1e6 / need_m if need_m > 0 else 0.0
        if wc == 0 and wm == 0:
            continue
        w = np.floor(ic * wc + im * wm + 1.0).astype(np.int64)  # rounded up: a relaxation
        dem = int(np.floor(max(need_c, 0) * wc + max(need_m, 0) * wm))
        got = min_cover_cost(w, cost, dem)
        if got is None:
            continue
        best = max(best, got)
    return best


def migration_lower_bound(
    cluster: Cluster,
    allowed: np.ndarray,
    cpu_lim: np.ndarray,
    mem_lim: np.ndarray,
    move_cost: np.ndarray,
    excess_zero: bool = True,
    node_bounds: dict[int, int] | None = None,
) -> int:
    """Lower bound on the migration tier (memory moved plus the shutdown penalty).

    ``move_cost`` (V, H) is the cost of ending each VM on each host (0 on its current host).
    Mandatory VMs (the current host is not allowed) cost their cheapest move to a host where
    they fit on top of the fixed load.  With ``excess_zero`` (valid for every placement with no
    node above the threshold, any anti-affinity or rules value) each node over the threshold
    adds :func:`node_cover_bounds` -- the sets of VMs leaving different nodes are disjoint and
    disjoint from the mandatory ones, so the sum holds; ``node_bounds`` (per node, e.g. the
    optimizer's exact CP-SAT covers under the same assumption) are combined by taking the
    larger value per node.  Without it only the mandatory moves count (valid always).
    """
    mandatory = must_leave(cluster, allowed)
    lim_c = cpu_lim if excess_zero else cluster.host_cpu_free_milli
    lim_m = mem_lim if excess_zero else cluster.host_memory_free_mb
    leave = _leave_costs(cluster, allowed, move_cost, lim_c, lim_m)
    if (leave[mandatory] < 0).any():
        # No host where it fits within the limits: use the plain cheapest move.
        leave = _leave_costs(
            cluster, allowed, move_cost, cluster.host_cpu_free_milli, cluster.host_memory_free_mb
        )
    total = int(np.maximum(leave[mandatory], 0).sum())
    if not excess_zero:
        return total
    covers = node_cover_bounds(cluster, allowed, cpu_lim, mem_lim, move_cost)
    for h, c in covers.items():
        total += max(c, (node_bounds or {}).get(h, 0))
    for h, c in (node_bounds or {}).items():
        if h not in covers:
            total += c
    return total


# ---------------------------------------------------------------------------- balance
def _ratio_bp(num: int, den: int) -> int:
    return ceil_div(BP * num, den) if den > 0 else 0


def balance_lower_bound(
    cluster: Cluster,
    allowed: np.ndarray,
    cpu_lim: np.ndarray,
    mem_lim: np.ndarray,
    balance_hosts: np.ndarray,
    move_cost: np.ndarray | None = None,
    migration_at_most: int | None = None,
) -> int:
    """Lower bound on the balance tier (highest load of a ``balance_hosts`` node, in basis
    points, worst of CPU and memory).

    Valid for every feasible placement, whatever the earlier tiers:

    * a node carries at least the VMs fixed to it (one allowed host) plus its base load;
    * for a set ``S`` of balance nodes, the running VMs whose allowed hosts all lie in ``S``
      end in ``S``, and the highest load ratio in ``S`` is at least their total over ``S``'s
      capacity (tried for ``S`` = every distinct allowed-host set of a VM, and all balance
      nodes).

    With ``migration_at_most`` = ``m`` and ``move_cost`` (only used when every move costs at
    least the VM's memory, as the memory and duration objectives do), also: a node keeps at
    least its memory now minus what may leave it, and what leaves it costs at most ``m`` minus
    the migration bound of every other node (:func:`migration_lower_bound`).  That part is
    valid for every placement with no node above the threshold and migration cost at most
    ``m`` -- for the lexicographic optimum when the excess and anti-affinity tiers are proven
    and ``m`` is the best plan's migration value.
    """
    bal = np.asarray(balance_hosts, dtype=bool)
    if not bal.any():
        return 0
    cap_c = cluster.host_cpu_capacity_milli
    cap_m = cluster.host_memory_mb
    base_c = cluster.host_cpu_base_milli
    base_m = cluster.host_memory_reserve_mb
    fc, fm = fixed_loads(cluster, allowed)
    best = 0
    for h in np.flatnonzero(bal).tolist():
        best = max(
            best,
            _ratio_bp(int(fc[h] + base_c[h]), int(cap_c[h])),
            _ratio_bp(int(fm[h] + base_m[h]), int(cap_m[h])),
        )
    best = max(best, _hall_bound(cluster, allowed, bal))
    if migration_at_most is not None and move_cost is not None:
        best = max(
            best,
            _budget_bound(cluster, allowed, cpu_lim, mem_lim, bal, move_cost, migration_at_most),
        )
    return best


def _hall_bound(cluster: Cluster, allowed: np.ndarray, bal: np.ndarray) -> int:
    """Averaging bound over the distinct allowed-host sets of the running VMs."""
    run = cluster.vm_consumes
    inside = run & ~(allowed & ~bal[None, :]).any(axis=1)  # may end only on balance nodes
    if not inside.any():
        return 0
    rows = np.packbits(allowed[inside], axis=1)
    pats, counts = np.unique(rows, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:2000]
    pats = np.vstack([pats[order], np.packbits(bal)[None, :]])
    c_in = cluster.vm_cpu_load_milli[inside]
    m_in = cluster.vm_mem_load_mb[inside]
    H = cluster.n_hosts
    best = 0
    for p in pats:
        sub = ~(rows & ~p[None, :]).any(axis=1)
        hs = np.unpackbits(p)[:H].astype(bool)
        best = max(
            best,
            _ratio_bp(
                int(c_in[sub].sum() + cluster.host_cpu_base_milli[hs].sum()),
                int(cluster.host_cpu_capacity_milli[hs].sum()),
            ),
            _ratio_bp(
                int(m_in[sub].sum() + cluster.host_memory_reserve_mb[hs].sum()),
                int(cluster.host_memory_mb[hs].sum()),
            ),
        )
    return best


def _budget_bound(
    cluster: Cluster,
    allowed: np.ndarray,
    cpu_lim: np.ndarray,
    mem_lim: np.ndarray,
    bal: np.ndarray,
    move_cost: np.ndarray,
    m: int,
) -> int:
    """Memory a node keeps when at most ``m`` of migration cost is spent (see
    :func:`balance_lower_bound`); 0 when a move may cost less than the VM's memory."""
    V = cluster.n_vms
    cur = cluster.vm_host
    moves = allowed.copy()
    moves[np.arange(V), cur] = False
    if (
        move_cost[moves] < np.broadcast_to(cluster.vm_mem_load_mb[:, None], moves.shape)[moves]
    ).any():
        return 0
    covers = node_cover_bounds(cluster, allowed, cpu_lim, mem_lim, move_cost)
    if any(c < 0 for c in covers.values()):
        return 0  # some node cannot get under the threshold: the assumption fails
    total = migration_lower_bound(cluster, allowed, cpu_lim, mem_lim, move_cost)
    # A VM that must leave with its SameNode partner is counted in ``total``, not kept.
    stay = allowed[np.arange(V), cur] & cluster.vm_consumes & ~must_leave(cluster, allowed)
    nh = cluster.n_hosts
    stay_m = np.bincount(cur[stay], weights=cluster.vm_mem_load_mb[stay], minlength=nh).astype(
        np.int64
    )
    best = 0
    for h in np.flatnonzero(bal).tolist():
        budget = m - (total - covers.get(h, 0))
        keep = int(stay_m[h]) - max(budget, 0)
        best = max(
            best,
            _ratio_bp(
                keep + int(cluster.host_memory_reserve_mb[h]), int(cluster.host_memory_mb[h])
            ),
        )
    return best


# ---------------------------------------------------------------------------- all tiers
@dataclass(frozen=True)
class TierBounds:
    """Every bound of this module for one problem, each labelled by its assumption.

    Attributes:
        anti_affinity: valid for every feasible placement.
        anti_affinity_if_excess_zero: valid for every placement with excess 0.
        migration_always: mandatory moves only; valid for every feasible placement.
        migration_if_excess_zero: valid for every placement with excess 0, anti-affinity and
            rules relaxed (any value of those tiers).
        balance_always: valid for every feasible placement.
        node_covers: per node over the threshold, the cover bound (``-1``: that node cannot
            get under the threshold, so the excess optimum is above 0).
    """

    anti_affinity: int
    anti_affinity_if_excess_zero: int
    migration_always: int
    migration_if_excess_zero: int
    balance_always: int
    node_covers: dict[int, int]


def tier_bounds(
    cluster: Cluster,
    allowed: np.ndarray,
    cpu_lim: np.ndarray,
    mem_lim: np.ndarray,
    move_cost: np.ndarray,
    balance_hosts: np.ndarray,
    node_bounds: dict[int, int] | None = None,
    enforce_anti_affinity: bool = False,
) -> TierBounds:
    """All bounds at once (see :class:`TierBounds`); the balance bound given a migration
    value is :func:`balance_lower_bound` with ``migration_at_most``.  With enforced
    anti-affinity the tier is not soft: its bounds are 0."""
    c_lim, m_lim = limits_1d(cpu_lim, mem_lim)
    aa = 0 if enforce_anti_affinity else aa_pairs_lower_bound(cluster, allowed, c_lim, m_lim)
    aa0 = (
        0
        if enforce_anti_affinity
        else aa_pairs_lower_bound(cluster, allowed, c_lim, m_lim, excess_zero=True)
    )
    return TierBounds(
        anti_affinity=aa,
        anti_affinity_if_excess_zero=max(aa, aa0),
        migration_always=migration_lower_bound(
            cluster, allowed, c_lim, m_lim, move_cost, excess_zero=False
        ),
        migration_if_excess_zero=migration_lower_bound(
            cluster, allowed, c_lim, m_lim, move_cost, node_bounds=node_bounds
        ),
        balance_always=balance_lower_bound(cluster, allowed, c_lim, m_lim, balance_hosts),
        node_covers=node_cover_bounds(cluster, allowed, c_lim, m_lim, move_cost),
    )
