"""Greedy placement of the VMs that leave their nodes: a complete, acceptable start for the
CP-SAT models, and often already optimal.

Units (movers tied by hard SameNode rules) are placed most constrained first, then largest,
on the allowed target that leaves the lowest worst-resource load (among the targets reached
without downtime when one of them fits as well as a Shutdown target), keeping every node at or
under the threshold when possible (else under 100 %), within its running-VM limit, and every
hard rule and anti-affinity class intact (soft rules, broken now, are left to the models).
Loads are each VM's highest over the load samples, so capacity holds at every sample.
"""

from __future__ import annotations

import numpy as np

from planner.cluster import RuleType
from planner.problem import BOOT_KINDS, PlanningProblem


class _Placer:
    """Running per-host loads and the rule checks of one greedy placement."""

    def __init__(
        self,
        pb: PlanningProblem,
        start: np.ndarray,
        movers: np.ndarray,
        targets: dict[int, np.ndarray],
    ) -> None:
        c = pb.cluster
        self.pb, self.c, self.targets = pb, c, targets
        nh = c.n_hosts
        self.start = start
        p = start.astype(np.int64).copy()
        moving = np.zeros(c.n_vms, dtype=bool)
        moving[movers] = True
        p[moving] = -1
        self.p = p
        stay = ~moving
        self.cpu_v = pb.vm_cpu_max
        self.mem_v = np.asarray(pb.vm_mem.max(axis=0))
        self.boot_v = np.asarray(pb.vm_mem_boot.max(axis=0))
        mem_stay = np.where(pb.boot_move[np.arange(c.n_vms), start], self.boot_v, self.mem_v)
        self.cpu = np.bincount(p[stay], weights=self.cpu_v[stay], minlength=nh).astype(np.int64)
        self.mem = np.bincount(p[stay], weights=mem_stay[stay], minlength=nh).astype(np.int64)
        self.run = np.bincount(p[stay & pb.vm_running], minlength=nh).astype(np.int64)
        free_c = (c.host_cpu_capacity_milli - pb.host_cpu_base.max(axis=0)).astype(np.int64)
        self.free_c, self.free_m = free_c, c.host_memory_free_mb
        self.cap_c = np.minimum(free_c, np.maximum(pb.cpu_limit_all, 0))
        self.cap_m = np.minimum(self.free_m, np.maximum(pb.mem_limit, 0))
        self.rules_of: dict[int, list[int]] = {}
        for r in pb.hard_rules:
            for v in pb.rule_members[r]:
                self.rules_of.setdefault(v, []).append(r)
        self.aa_of: dict[int, list[int]] = {}
        soft_aa = set(pb.soft_aa)
        for k, m in enumerate(pb.aa_members):
            if k not in soft_aa:
                for v in m:
                    self.aa_of.setdefault(v, []).append(k)
        self.scale_c = float(c.host_cpu_capacity_milli.mean()) or 1.0
        self.scale_m = float(c.host_memory_mb.mean()) or 1.0

    def unit_load(self, u: list[int]) -> tuple[int, np.ndarray, int]:
        """CPU, memory per target host, running VMs of unit ``u``."""
        mem = np.where(self.pb.boot_move[u], self.boot_v[u, None], self.mem_v[u, None])
        return (
            int(self.cpu_v[u].sum()),
            mem.sum(axis=0).astype(np.int64),
            int(self.pb.vm_running[u].sum()),
        )

    def target_mask(self, u: list[int]) -> np.ndarray:
        ok = np.ones(self.c.n_hosts, dtype=bool)
        for v in u:
            t = np.zeros(self.c.n_hosts, dtype=bool)
            t[self.targets[v]] = True
            ok &= t
        return ok

    def no_downtime(self, u: list[int]) -> np.ndarray:
        """Hosts every VM of ``u`` reaches without downtime (Live, Quick, or its own)."""
        kind = self.pb.move_kind[u]
        ok = ~np.isin(kind, BOOT_KINDS)
        ok[np.arange(len(u)), self.start[u]] = True
        return np.asarray(ok.all(axis=0))

    def hosts_for(self, u: list[int]) -> np.ndarray:
        """Hosts ``u`` may take given where everyone else is now (targets and rules)."""
        c, p = self.c, self.p
        fd = c.host_fault_domain
        ok = self.target_mask(u)
        for v in u:
            for r in self.rules_of.get(v, ()):
                others = [w for w in self.pb.rule_members[r] if w not in u and p[w] >= 0]
                if not others:
                    continue
                hs = p[others]
                rt = c.rules[r].rule_type
                if rt == RuleType.DIFFERENT_NODE:
                    ok[hs] = False
                elif rt == RuleType.DIFFERENT_FAULT_DOMAIN:
                    ok &= ~np.isin(fd, fd[hs])
                elif rt == RuleType.SAME_FAULT_DOMAIN:
                    ok &= np.isin(fd, fd[hs])
                else:
                    only = np.zeros(c.n_hosts, dtype=bool)
                    only[hs] = True
                    ok &= only
            for k in self.aa_of.get(v, ()):
                others = [w for w in self.pb.aa_members[k] if w not in u and p[w] >= 0]
                if others:
                    ok[p[others]] = False
        return ok

    def fits(self, uc: int, um: np.ndarray, ur: int, under: bool) -> np.ndarray:
        cap_c, cap_m = (self.cap_c, self.cap_m) if under else (self.free_c, self.free_m)
        return (
            (self.cpu + uc <= cap_c)
            & (self.mem + um <= cap_m)
            & (self.run + ur <= self.pb.running_limit)
        )

    def lowest(self, pool: np.ndarray, uc: int, um: np.ndarray) -> int:
        c = self.c
        load = np.maximum(
            (self.cpu + uc + self.pb.host_cpu_base.max(axis=0)) / c.host_cpu_capacity_milli,
            (self.mem + um + c.host_memory_reserve_mb) / c.host_memory_mb,
        )
        return int(np.flatnonzero(pool)[np.argmin(load[pool])])

    def put(self, u: list[int], h: int, sign: int = 1) -> None:
        uc, um, ur = self.unit_load(u)
        self.p[u] = h if sign > 0 else -1
        self.cpu[h] += sign * uc
        self.mem[h] += sign * um[h]
        self.run[h] += sign * ur


def greedy_assign(
    pb: PlanningProblem,
    start: np.ndarray,
    movers: np.ndarray,
    targets: dict[int, np.ndarray],
    misfits: list[list[int]] | None = None,
) -> np.ndarray | None:
    """Place ``movers`` (VM indices; ``targets[v]``: the hosts ``v`` may take) into
    ``start`` (see the module docstring).  Returns the placement, or ``None`` when some
    unit finds no host.  ``misfits`` (when given) collects the units that found no host
    under the threshold at their turn; with it, a unit that finds no host at all stays on
    its node (when it may end there) instead of failing the whole placement."""
    pl = _Placer(pb, start, movers, targets)
    order = _units(pb, movers, pl)
    for u in order:
        ok = pl.hosts_for(u)
        uc, um, ur = pl.unit_load(u)
        under = ok & pl.fits(uc, um, ur, True)
        if misfits is not None and not under.any():
            misfits.append(u)
        pool = under if under.any() else ok & pl.fits(uc, um, ur, False)
        if not pool.any():
            home = int(start[u[0]])
            if misfits is None or not all(int(start[v]) == home for v in u):
                return None
            # Reported as a misfit: it stays home for now, so that its cover can be swapped.
            if not all(pb.allowed[v, home] for v in u):
                return None
            pool = np.zeros(pb.cluster.n_hosts, dtype=bool)
            pool[home] = True
        live = pool & pl.no_downtime(u)
        if live.any():
            pool = live  # a downtime move only where no move without it fits as well
        home = int(start[u[0]])
        if all(int(start[v]) == home for v in u) and pool[home]:
            h = home  # not forced to leave and still fits: staying costs nothing
        else:
            h = pl.lowest(pool, uc, um)
        pl.put(u, h)
    _repair(pl, order, start)
    return pl.p


def _units(pb: PlanningProblem, movers: np.ndarray, pl: _Placer) -> list[list[int]]:
    """Movers tied by hard SameNode rules move together; most constrained (fewest hosts)
    first, then largest: VMs that only a few nodes can take get those nodes before flexible
    VMs fill them."""
    groups = pb.same_node_groups
    mset = {int(v) for v in movers.tolist()}
    seen: set[int] = set()
    units: list[list[int]] = []
    for v in sorted(mset):
        if v in seen:
            continue
        u = [w for w in groups.get(v, (v,)) if w in mset]
        seen.update(u)
        units.append(u)

    def size(u: list[int]) -> float:
        uc, um, _ = pl.unit_load(u)
        return max(uc / pl.scale_c, float(um.max()) / pl.scale_m)

    return sorted(units, key=lambda u: (int(pl.target_mask(u).sum()), -size(u), u[0]))


def _repair(pl: _Placer, order: list[list[int]], start: np.ndarray) -> None:
    """A node left above the threshold hands one of its incoming units to another node that
    stays under it (no extra cost: those VMs move anyway)."""
    for _ in range(2 * len(order)):
        over = np.flatnonzero((pl.cpu > pl.cap_c) | (pl.mem > pl.cap_m))
        if not len(over):
            return
        moved = False
        for h in over.tolist():
            incoming = [u for u in order if int(pl.p[u[0]]) == h and int(start[u[0]]) != h]
            incoming.sort(
                key=lambda u: (
                    -max(pl.unit_load(u)[0] / pl.scale_c, float(pl.unit_load(u)[1][h]) / pl.scale_m)
                )
            )
            for u in incoming:
                pl.put(u, h, -1)
                uc, um, ur = pl.unit_load(u)
                ok = pl.hosts_for(u)
                ok[h] = False
                room = ok & pl.fits(uc, um, ur, True)
                if (room & pl.no_downtime(u)).any():
                    room &= pl.no_downtime(u)
                h2 = pl.lowest(room, uc, um) if room.any() else h
                pl.put(u, h2)
                if h2 != h:
                    moved = True
                    break
            if moved:
                break
        if not moved:
            return


def same_partners(pb: PlanningProblem, mask: np.ndarray) -> np.ndarray:
    """VMs tied by SameNode/SameFaultDomain rules (hard or soft) to a VM in ``mask``, not
    in it."""
    out = np.zeros(pb.cluster.n_vms, dtype=bool)
    cur = mask.copy()
    same = [
        r
        for r in pb.hard_rules + pb.soft_rules
        if pb.cluster.rules[r].rule_type in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN)
    ]
    changed = True
    while changed:
        changed = False
        for r in same:
            m = pb.rule_members[r]
            if any(cur[v] for v in m):
                for v in m:
                    if not cur[v]:
                        cur[v] = out[v] = True
                        changed = True
    return out


__all__ = ["greedy_assign", "same_partners"]
