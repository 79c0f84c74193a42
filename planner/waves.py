"""The simulation state of the wave sequencer (:mod:`planner.sequencing`).

A :class:`WaveState` holds, while waves are built, every node's CPU and memory load, its
running VMs, the live-migration slots used in the current wave and the occupancy of the
DifferentNode / DifferentFaultDomain rules; every check is O(1) per VM.  :func:`make_units`
groups the moving VMs (SameNode members with the same target move together) and
:func:`break_deadlocks` adds the temporary hops that untangle moves waiting for each other.
The algorithm is described in :mod:`planner.sequencing`.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from planner.checks import running_members
from planner.cluster import Cluster, MoveKind, RuleType

# Why a unit could not start in a wave.
OK, SLOT, CAP, RULE, KIND = 0, 1, 2, 3, 4


class Unit:
    """VMs that move together (one VM, or the members of a SameNode rule) to ``target``.

    ``cpu``/``mem`` are the load the unit adds to its target (boot memory for VMs that get
    there by a Start or Shutdown move), ``hop_mem`` the memory it adds anywhere else (a hop
    is Live or Quick), ``run`` its running VMs, ``live`` whether each VM moves Live to the
    target (only live migrations take migration slots)."""

    __slots__ = (
        "vms",
        "target",
        "cpu",
        "mem",
        "hop_mem",
        "run",
        "live",
        "nlive",
        "arrive",
        "evac",
        "uid",
        "hopped",
        "memory",
    )

    def __init__(
        self,
        vms: list[int],
        target: int,
        cpu: int,
        arrive: list[int],
        hop_mem: int,
        run: int,
        live: list[bool],
        memory: int,
        evac: bool,
        uid: int,
    ) -> None:
        self.vms = vms
        self.target = target
        self.cpu = cpu
        self.arrive = arrive
        self.mem = sum(arrive)
        self.hop_mem = hop_mem
        self.run = run
        self.live = live
        self.nlive = sum(live)
        self.memory = memory
        self.evac = evac
        self.uid = uid
        self.hopped = False


class WaveState:
    """Mutable simulation state; one instance per :func:`planner.sequencing.build_sequence`
    call."""

    def __init__(
        self,
        cluster: Cluster,
        target: np.ndarray,
        drained: set[int],
        start: np.ndarray,
        kinds: np.ndarray,
        mem_now: np.ndarray,
    ) -> None:
        c = cluster
        self.c = c
        self.target = target
        self.drained = drained
        H = c.n_hosts
        self.cur: list[int] = [int(h) for h in start]
        self.vcpu: list[int] = [int(x) for x in c.vm_cpu_load_milli]
        self.vmem: list[int] = [int(x) for x in mem_now]
        self.consumes: list[bool] = [bool(x) for x in c.vm_consumes]
        self.cpu_cap: list[int] = [int(x) for x in c.host_cpu_free_milli]
        self.mem_cap: list[int] = [int(x) for x in c.host_memory_free_mb]
        self.run_cap: list[int] = [int(x) for x in np.asarray(c.host_max_running_vms)]
        self.cpu: list[int] = [0] * H
        self.mem: list[int] = [0] * H
        self.run: list[int] = [0] * H
        for v, h in enumerate(self.cur):
            self.cpu[h] += self.vcpu[v]
            self.mem[h] += self.vmem[v]
            self.run[h] += self.consumes[v]
        # Memory a VM occupies once its move of this wave is over (boot memory after a
        # Start or Shutdown move), for the VMs where it differs from ``vmem``.
        self.arrive_mem: dict[int, int] = {}
        self.lim: list[int] = [max(1, int(x)) for x in c.host_migration_limit]
        self.fd: list[int] = [int(x) for x in c.host_fault_domain]
        self._rules(c, H)
        # Hosts a VM may visit on a temporary hop: Up, not drained.
        self.hop_ok_host = [bool(c.host_up[h]) and h not in drained for h in range(H)]
        self.kind = kinds
        # Per-wave state: live-migration slots used per node, moves started, blocked units.
        self.used: list[int] = [0] * H
        self.departures: list[tuple[int, int, int]] = []  # (vm, source, dest)
        self.blocked: dict[int, tuple[int, int, str]] = {}  # uid -> (why, host, detail)

    def _rules(self, c: Cluster, H: int) -> None:
        """Occupancy counters of the DifferentNode / DifferentFaultDomain rules."""
        # Rule occupancy: members of rule r present on host h (DifferentNode) or in domain d
        # (DifferentFaultDomain), counting VMs that are arriving during the current wave.
        self.dn_of: list[list[int]] = [[] for _ in range(c.n_vms)]
        self.dfd_of: list[list[int]] = [[] for _ in range(c.n_vms)]
        self.dn_occ: list[list[int]] = []
        self.dfd_occ: list[list[int]] = []
        self.rule_names: list[str] = []
        self.dfd_names: list[str] = []
        for rule in c.enabled_rules:
            members = running_members(c, rule.members)
            if len(members) < 2:
                continue
            if rule.rule_type == RuleType.DIFFERENT_NODE:
                occ = [0] * H
                for m in members:
                    occ[self.cur[m]] += 1
                    self.dn_of[m].append(len(self.dn_occ))
                self.dn_occ.append(occ)
                self.rule_names.append(rule.name)
            elif rule.rule_type == RuleType.DIFFERENT_FAULT_DOMAIN:
                occ = [0] * len(c.fault_domains)
                for m in members:
                    occ[self.fd[self.cur[m]]] += 1
                    self.dfd_of[m].append(len(self.dfd_occ))
                self.dfd_occ.append(occ)
                self.dfd_names.append(rule.name)

    # ------------------------------------------------------------------ checks
    def check(self, u: Unit, dest: int) -> tuple[int, int, str]:
        """Can unit ``u`` start moving to ``dest`` in the current wave?  Returns
        ``(OK|SLOT|CAP|RULE, host, detail)``."""
        cur, used, lim = self.cur, self.used, self.lim
        live = u.live if dest == u.target else self.hop_live(u, dest)
        if len(u.vms) == 1:
            if live[0]:
                s = cur[u.vms[0]]
                if used[s] >= lim[s]:
                    return SLOT, s, ""
                if used[dest] >= lim[dest]:
                    return SLOT, dest, ""
        elif any(live):
            need: dict[int, int] = {}
            for v, lv in zip(u.vms, live, strict=True):
                if lv:
                    need[cur[v]] = need.get(cur[v], 0) + 1
                    need[dest] = need.get(dest, 0) + 1
            for h, n in need.items():
                if used[h] + n > lim[h]:
                    return SLOT, h, ""
        mem = u.mem if dest == u.target else u.hop_mem
        if u.cpu > 0 and self.cpu[dest] + u.cpu > self.cpu_cap[dest]:
            return CAP, dest, "CPU"
        if mem > 0 and self.mem[dest] + mem > self.mem_cap[dest]:
            return CAP, dest, "memory"
        if u.run and self.run[dest] + u.run > self.run_cap[dest]:
            return CAP, dest, "room for running VMs (host_max_running_vms)"
        fd_dest = self.fd[dest]
        extra_dn: dict[int, int] = {}
        extra_dfd: dict[int, int] = {}
        for v in u.vms:
            for r in self.dn_of[v]:
                if self.dn_occ[r][dest] + extra_dn.get(r, 0) > 0:
                    return RULE, dest, f"DifferentNode rule '{self.rule_names[r]}'"
                extra_dn[r] = extra_dn.get(r, 0) + 1
            for r in self.dfd_of[v]:
                here = self.dfd_occ[r][fd_dest] + extra_dfd.get(r, 0)
                if self.fd[cur[v]] == fd_dest:
                    here -= 1  # the VM itself is already in that domain
                if here > 0:
                    return RULE, dest, f"DifferentFaultDomain rule '{self.dfd_names[r]}'"
                extra_dfd[r] = extra_dfd.get(r, 0) + 1
        return OK, dest, ""

    def admit(self, u: Unit, dest: int) -> list[tuple[int, int, int]]:
        """Start unit ``u`` towards ``dest``: arrivals count now, departures at wave end."""
        out = []
        for v in u.vms:
            s = self.cur[v]
            out.append((v, s, dest))
        live = u.live if dest == u.target else self.hop_live(u, dest)
        for (_v, s, d), lv in zip(out, live, strict=True):
            if lv:
                self.used[s] += 1
                self.used[d] += 1
        self.cpu[dest] += u.cpu
        if dest == u.target:
            self.mem[dest] += u.mem
            for v, a in zip(u.vms, u.arrive, strict=True):
                if a != self.vmem[v]:
                    self.arrive_mem[v] = a
        else:
            self.mem[dest] += u.hop_mem
        self.run[dest] += u.run
        fd_dest = self.fd[dest]
        for v in u.vms:
            for r in self.dn_of[v]:
                self.dn_occ[r][dest] += 1
            for r in self.dfd_of[v]:
                self.dfd_occ[r][fd_dest] += 1
        self.departures.extend(out)
        return out

    def retract(self, u: Unit, dest: int) -> None:
        """Undo the :meth:`admit` of ``u`` towards ``dest`` just made (it was the last one)."""
        n = len(u.vms)
        assert self.departures[-n:] and all(
            x[0] == v for x, v in zip(self.departures[-n:], u.vms, strict=True)
        )
        out = self.departures[-n:]
        del self.departures[-n:]
        live = u.live if dest == u.target else self.hop_live(u, dest)
        for (_v, s, d), lv in zip(out, live, strict=True):
            if lv:
                self.used[s] -= 1
                self.used[d] -= 1
        self.cpu[dest] -= u.cpu
        self.mem[dest] -= u.mem if dest == u.target else u.hop_mem
        for v in u.vms:
            self.arrive_mem.pop(v, None)
        self.run[dest] -= u.run
        for v in u.vms:
            for r in self.dn_of[v]:
                self.dn_occ[r][dest] -= 1
            for r in self.dfd_of[v]:
                self.dfd_occ[r][self.fd[dest]] -= 1

    def end_wave(self) -> None:
        """Apply departures: the sources are freed once the wave is over."""
        for v, s, _d in self.departures:
            self.cpu[s] -= self.vcpu[v]
            self.mem[s] -= self.vmem[v]
            self.run[s] -= self.consumes[v]
            for r in self.dn_of[v]:
                self.dn_occ[r][s] -= 1
            for r in self.dfd_of[v]:
                self.dfd_occ[r][self.fd[s]] -= 1
        for v, _s, d in self.departures:
            self.cur[v] = d
            self.vmem[v] = self.arrive_mem.pop(v, self.vmem[v])
        self.departures = []
        self.used = [0] * self.c.n_hosts

    # ------------------------------------------------------------------ deadlocks
    def hop_live(self, u: Unit, dest: int) -> list[bool]:
        """Which VMs of ``u`` would move Live to ``dest`` (a hop destination)."""
        return [int(self.kind[v, dest]) == MoveKind.LIVE for v in u.vms]

    def post_wave_state(
        self,
    ) -> tuple[list[int], list[int], list[list[int]], list[list[int]], dict[int, int], list[int]]:
        """Loads, rule occupancy, moved VMs' positions and running VMs once the current wave
        is over."""
        cpu, mem, run = self.cpu[:], self.mem[:], self.run[:]
        dn = [row[:] for row in self.dn_occ]
        dfd = [row[:] for row in self.dfd_occ]
        pos: dict[int, int] = {}
        for v, s, d in self.departures:
            cpu[s] -= self.vcpu[v]
            mem[s] -= self.vmem[v]
            run[s] -= self.consumes[v]
            for r in self.dn_of[v]:
                dn[r][s] -= 1
            for r in self.dfd_of[v]:
                dfd[r][self.fd[s]] -= 1
            pos[v] = d
        return cpu, mem, dn, dfd, pos, run

    def deadlocked(self, pending: list[Unit], certain: bool = True) -> list[Unit]:
        """Units that cannot reach their target without a temporary hop, judged from the
        state after the current wave, moving units one at a time and ignoring migration
        limits (waves only add constraints to that).

        With ``certain`` (the default) arrivals are ignored too: a unit is freed as soon as
        the nodes' current occupants that can leave make room for it.  Arrivals only ever
        take room, so the units left over are stuck whatever the order: a proof of
        deadlock, which justifies a hop early, while other moves still run.  Without
        ``certain`` arrivals count, in list order; that finds more stuck units but depends
        on the order, so it is used only when nothing at all can move.

        A worklist wakes the units waiting on a node (or fault domain) when something leaves
        it: O(units + wake-ups).
        """
        cpu, mem, dn, dfd, pos, run = self.post_wave_state()
        cur, fd = self.cur, self.fd

        def where(v: int) -> int:
            return pos.get(v, cur[v])

        waiting: dict[int, list[Unit]] = {}  # node h -> units; fault domain d -> key ~d
        queue = deque(pending)
        done: set[int] = set()
        while queue:
            u = queue.popleft()
            if u.uid in done:
                continue
            t = u.target
            key: int | None = None
            if (
                (u.cpu > 0 and cpu[t] + u.cpu > self.cpu_cap[t])
                or (u.mem > 0 and mem[t] + u.mem > self.mem_cap[t])
                or (u.run > 0 and run[t] + u.run > self.run_cap[t])
            ):
                key = t
            else:
                for v in u.vms:
                    if any(dn[r][t] > 0 for r in self.dn_of[v]):
                        key = t
                        break
                    own = 1 if fd[where(v)] == fd[t] else 0
                    if any(dfd[r][fd[t]] - own > 0 for r in self.dfd_of[v]):
                        key = ~fd[t]
                        break
            if key is not None:
                waiting.setdefault(key, []).append(u)
                continue
            done.add(u.uid)
            for v in u.vms:
                src = where(v)
                cpu[src] -= self.vcpu[v]
                mem[src] -= self.vmem[v]
                run[src] -= self.consumes[v]
                for r in self.dn_of[v]:
                    dn[r][src] -= 1
                    dn[r][t] += 0 if certain else 1
                for r in self.dfd_of[v]:
                    dfd[r][fd[src]] -= 1
                    dfd[r][fd[t]] += 0 if certain else 1
                pos[v] = t
                queue.extend(waiting.pop(src, ()))
                queue.extend(waiting.pop(~fd[src], ()))
            if not certain:
                cpu[t] += u.cpu
                mem[t] += u.mem
                run[t] += u.run
        return [u for u in pending if u.uid not in done]

    # ------------------------------------------------------------------ hops
    def hop_destination(self, u: Unit) -> int | None:
        """Best third node for a temporary hop of ``u`` (most room left), or None."""
        best: tuple[float, int] | None = None
        kind = self.kind
        possible = self.c.vm_possible
        curs = {self.cur[v] for v in u.vms}
        for x in range(self.c.n_hosts):
            if not self.hop_ok_host[x] or x in curs or x == u.target:
                continue
            if any(
                not possible[v, x] or kind[v, x] not in (MoveKind.LIVE, MoveKind.QUICK)
                for v in u.vms
            ):
                continue
            if self.check(u, x)[0] != OK:
                continue
            room = min(
                (self.cpu_cap[x] - self.cpu[x] - u.cpu) / max(self.cpu_cap[x], 1),
                (self.mem_cap[x] - self.mem[x] - u.hop_mem) / max(self.mem_cap[x], 1),
            )
            if best is None or room > best[0]:
                best = (room, x)
        return None if best is None else best[1]


def make_units(
    cluster: Cluster,
    start: np.ndarray,
    target: np.ndarray,
    moving: list[int],
    evac: np.ndarray,
    kinds: np.ndarray,
    mem_now: np.ndarray,
) -> list[Unit]:
    """Group moving VMs into units: SameNode members (``Cluster.same_node_groups``) with the
    same target move together."""
    groups: dict[tuple[int, int], list[int]] = {}
    together = cluster.same_node_groups
    for v in moving:
        root = together[v][0] if v in together else v
        groups.setdefault((root, int(target[v])), []).append(v)
    cpu = cluster.vm_cpu_load_milli
    boot = np.asarray(cluster.vm_boot_memory_mb)
    consumes = cluster.vm_consumes
    lim = cluster.host_migration_limit
    out: list[Unit] = []
    for (_root, t), vs in sorted(groups.items()):
        vs.sort()
        live = [int(kinds[v, t]) == MoveKind.LIVE for v in vs]
        # A unit never needs more live-migration slots on a node than that node's limit: cut
        # larger groups into chunks of the smallest limit among the nodes they touch.
        size = len(vs)
        if any(live):
            size = max(1, int(min(lim[h] for h in {int(start[v]) for v in vs} | {t})))
        for i in range(0, len(vs), size):
            ch = vs[i : i + size]
            arrive = [
                int(boot[v])
                if int(kinds[v, t]) in (MoveKind.START, MoveKind.SHUTDOWN)
                else int(mem_now[v])
                for v in ch
            ]
            out.append(
                Unit(
                    ch,
                    t,
                    int(cpu[ch].sum()),
                    arrive,
                    int(mem_now[ch].sum()),
                    int(consumes[ch].sum()),
                    live[i : i + size],
                    int(cluster.vm_memory_mb[ch].sum()),
                    bool(evac[ch].any()),
                    len(out),
                )
            )
    return out


def break_deadlocks(
    c: Cluster,
    sq: WaveState,
    still: list[Unit],
    this_wave: list[tuple[int, int, int, bool, str]],
    hop_note: dict[int, str],
    hops: int,
    max_hops: int,
    certain: bool,
) -> int:
    """Add temporary hops to the current wave (in the slots its regular moves left free)
    until no unit is deadlocked (see :meth:`WaveState.deadlocked`, ``certain``) or no hop
    is possible; returns the new hop count.

    One hop per round, then the deadlock analysis is repeated: a single hop usually
    breaks a whole cycle, and hopping every member of it would waste moves.
    """
    moving_now = {v for v, _s, _d in sq.departures}
    tried: set[int] = set()
    while hops < max_hops:
        dead = sq.deadlocked(still, certain)
        if not dead:
            break
        cpu, mem, _dn, _dfd, pos, _run = sq.post_wave_state()

        def src(u: Unit, pos: dict[int, int] = pos) -> int:
            return pos.get(u.vms[0], sq.cur[u.vms[0]])

        by_target: dict[int, list[Unit]] = {}
        by_domain: dict[int, set[int]] = {}  # fault domain -> DifferentFaultDomain rules
        for u in dead:
            by_target.setdefault(u.target, []).append(u)
            for v in u.vms:
                by_domain.setdefault(sq.fd[u.target], set()).update(sq.dfd_of[v])
        candidates = []
        for w in dead:
            if w.uid in tried or any(v in moving_now for v in w.vms):
                continue
            s = src(w)
            waiters = [u for u in by_target.get(s, ()) if u is not w]
            rules_here = by_domain.get(sq.fd[s], set())
            if not waiters and not any(r in rules_here for v in w.vms for r in sq.dfd_of[v]):
                continue
            # Prefer a hop that by itself makes room for one of the VMs waiting on s.
            frees = any(
                cpu[s] - w.cpu + u.cpu <= sq.cpu_cap[s]
                and mem[s] - w.hop_mem + u.mem <= sq.mem_cap[s]
                for u in waiters
            )
            candidates.append((0 if frees else 1, w.memory, w.uid, w, waiters))
        candidates.sort(key=lambda x: x[:3])
        made = False
        for _f, _m, _uid, w, waiters in candidates:
            tried.add(w.uid)
            x = sq.hop_destination(w)
            if x is None:
                continue
            s = src(w)
            names = ", ".join(c.vm_names[v] for u in waiters[:3] for v in u.vms)
            note = (
                f"temporary hop to break a deadlock: makes room on {c.host_names[s]}"
                + (f" for {names}" if names else "")
                + f"; continues to {c.host_names[w.target]} later"
            )
            for v, a, d in sq.admit(w, x):
                this_wave.append((v, a, d, True, note))
                hop_note[v] = c.host_names[d]
                moving_now.add(v)
            w.hopped = True
            hops += len(w.vms)
            made = True
            break
        if not made:
            break
    return hops


def deadlock_message(c: Cluster, sq: WaveState, stuck: list[Unit], why_not: str) -> str:
    hn, vn = c.host_names, c.vm_names
    parts = []
    for u in stuck[:8]:
        why, host, detail = sq.blocked.get(u.uid, (SLOT, u.target, ""))
        src = hn[sq.cur[u.vms[0]]]
        who = " + ".join(vn[v] for v in u.vms)
        if why == CAP:
            cause = f"not enough {detail} on {hn[host]}"
        elif why == RULE:
            cause = f"{detail} forbids sharing {hn[host]}"
        else:
            cause = f"migration limit of {hn[host]}"
        parts.append(f"{who} ({src} → {hn[u.target]}: {cause})")
    more = f" and {len(stuck) - 8} more" if len(stuck) > 8 else ""
    return (
        f"no executable order: {len(stuck)} move(s) wait for each other — "
        + "; ".join(parts)
        + more
        + f"; {why_not}"
    )
