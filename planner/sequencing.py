"""Turn "current placement → target placement" into an executable sequence of waves.

A *wave* is a set of moves started together and awaited before the next wave starts.  The
sequence respects, at every moment (SPEC §3, "During execution"):

* **capacity**: 100 % of each node's CPU and memory available to VMs; a moving VM counts on
  its source *and* its target for the whole wave (only Running/Paused VMs consume);
* **anti-affinity**: members of an enabled DifferentNode (DifferentFaultDomain) rule never
  share a node (fault domain), a moving VM again counting at both ends;
* **migration limits**: a node takes part (as source or target) in at most
  ``cluster.host_migration_limit[h]`` **live** migrations of a wave (Hyper-V's
  ``MaximumVirtualMachineMigrations`` / ``MaximumParallelMigrations`` limit live migrations
  only; Quick, Shutdown and Start moves are not counted, SPEC §3);
* **running VMs**: a node never runs more than ``host_max_running_vms`` VMs, a moving
  running VM again counting at both ends;
* **Start moves**: a running VM listed on a Down node is not running there; it is started on
  its target, where it needs its boot memory (``vm_boot_memory_mb``, as after a Shutdown
  move); it uses no migration slot.  Without a live-migration network the cluster's move
  kinds contain no Live move, and temporary hops (Live or Quick only) are then only possible
  for Off and Saved VMs.

Members of an enabled **SameNode** rule that move to the same node form one *unit* that moves
in a single wave (Hyper-V brings the other members along when one is moved).  The per-wave
migration limit is never exceeded: a unit with more members than the smallest limit of the
nodes it touches is cut into chunks of that size that move in consecutive waves (the members
are apart only between those waves; SPEC §3 requires SameNode only of the final placement).
SameFaultDomain rules are not enforced while moving (SPEC §3 lists only the Different* rules
for execution): members relocating to another domain are apart until the last one arrives.

**Algorithm.**  Greedy list scheduling, wave by wave, with incremental host loads and rule
occupancy counters (every check is O(1) per VM).  Pending units are ranked each wave by:
VMs leaving Paused/Down/drained nodes first; then moves *out of* a node that moves of the
previous wave were waiting for (room or an anti-affinity partner), so that blocked moves
are freed early; then by the *pressure* of the busier of their two nodes (remaining moves
touching the node divided by its limit: the node that needs the most waves is served first,
which keeps the wave count near the lower bound ``max_h ceil(moves touching h / limit h)``);
then larger memory first; then VM index (so the result is deterministic).

**Deadlocks.**  Swaps between full nodes, cycles of moves and anti-affinity members trading
places cannot be ordered at all; they are broken with *temporary hops*: a VM of the cycle
goes to a third node with room (live or quick only, never a new downtime) and continues to
its target later.  After each wave's greedy pass, a one-move-at-a-time relaxation that
ignores migration limits and arrivals (both only ever make things harder) *proves* which
moves can never finish without a hop; one hop is added per round, in slots the wave left
free, and the proof is repeated, so one hop breaks one cycle while the other moves go on.
Only when nothing at all can move does a weaker, order-dependent test pick the hop.  Hops are
``temporary=True`` moves counted in ``extra_hops``.  When no hop is possible the result is
``ok=False`` with a message naming the stuck VMs and nodes; an unexecutable sequence is
never returned.

**Cost.**  Each wave costs O(pending moves) for the ranking and the greedy pass (plus the
linear deadlock test when a move is blocked by room or a rule).  A 2,000-move plan on 64
nodes takes well under a second; a single node drained of 1,000 VMs at one migration at a
time (1,000 waves, the worst case) about as long.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.checks import placement_violations, running_members
from planner.cluster import Cluster, HostState, MoveKind, RuleType
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel, move_seconds, node_rate_mb_s
from planner.planrows import PLAN_COLUMNS, PlanMove

#: The plan-row type (:class:`planner.planrows.PlanMove`) under its former name.
Move = PlanMove


@dataclass(frozen=True)
class SequenceOptions:
    """Settings of :func:`build_sequence`.

    Attributes
    ----------
    durations:
        Parameters of the duration model (:mod:`planner.durations`).
    temporary_hops:
        Allow temporary hops through a third node to break deadlocks (default True).  When
        False a deadlock makes the result ``ok=False``.
    max_temporary_moves:
        Upper bound on hops; ``None`` means as many as there are planned moves.
    check_target:
        Refuse a target that breaks a hard rule of the final placement (capacity, owners,
        pinned, hosts not Up or drained, enabled affinity rules, enforced anti-affinity);
        default True.  Without this check such a target usually deadlocks.
    evacuate_first:
        Give VMs that leave Paused, Down or drained nodes the first slots (default True).
    """

    durations: DurationModel = DEFAULT_DURATION_MODEL
    temporary_hops: bool = True
    max_temporary_moves: int | None = None
    check_target: bool = True
    evacuate_first: bool = True


@dataclass(frozen=True)
class SequenceResult:
    """Outcome of :func:`build_sequence`.

    ``ok`` is False when no executable order was found (then ``moves`` is empty and
    ``message`` says why, naming VMs and nodes).  ``estimated_seconds`` is the whole plan
    (waves plus per-wave overhead), ``wave_seconds`` each wave's makespan, ``extra_hops`` the
    number of temporary moves, ``lower_bound_waves`` the migration-limit bound on the number
    of waves for the planned moves (without hops).
    """

    ok: bool
    moves: tuple[PlanMove, ...]
    waves: int
    estimated_seconds: float
    extra_hops: int
    message: str
    wave_seconds: tuple[float, ...] = ()
    lower_bound_waves: int = 0
    elapsed_seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict, compare=False)
    #: When ``ok`` is False because moves wait for each other: the VMs of those moves.
    stuck_vms: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Summary for ``summary.json`` (no per-move rows)."""
        return {
            "ok": self.ok,
            "waves": self.waves,
            "estimated_seconds": round(self.estimated_seconds, 1),
            "extra_hops": self.extra_hops,
            "moves": len(self.moves),
            "lower_bound_waves": self.lower_bound_waves,
            "message": self.message,
        }


# Why a unit could not start in a wave.
_OK, _SLOT, _CAP, _RULE, _KIND = 0, 1, 2, 3, 4


class _Unit:
    """VMs that move together (one VM, or the members of a SameNode rule) to ``target``.

    ``cpu``/``mem`` are the load the unit adds to its target (boot memory for VMs that get
    there by a Start or Shutdown move), ``hop_mem`` the memory it adds anywhere else (a hop
    is Live or Quick), ``run`` its running VMs, ``live`` whether each VM moves Live to the
    target (only live migrations take migration slots)."""

    __slots__ = ("vms", "target", "cpu", "mem", "hop_mem", "run", "live", "nlive", "arrive",
                 "evac", "uid", "hopped", "memory")

    def __init__(self, vms: list[int], target: int, cpu: int, arrive: list[int],
                 hop_mem: int, run: int, live: list[bool], memory: int, evac: bool,
                 uid: int) -> None:
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


class _Sequencer:
    """Mutable simulation state; one instance per :func:`build_sequence` call."""

    def __init__(self, cluster: Cluster, target: np.ndarray, drained: set[int],
                 options: SequenceOptions, start: np.ndarray, kinds: np.ndarray,
                 mem_now: np.ndarray) -> None:
        c = cluster
        self.c = c
        self.target = target
        self.drained = drained
        self.opt = options
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
    def check(self, u: _Unit, dest: int) -> tuple[int, int, str]:
        """Can unit ``u`` start moving to ``dest`` in the current wave?  Returns
        ``(_OK|_SLOT|_CAP|_RULE, host, detail)``."""
        cur, used, lim = self.cur, self.used, self.lim
        live = u.live if dest == u.target else self.hop_live(u, dest)
        if len(u.vms) == 1:
            if live[0]:
                s = cur[u.vms[0]]
                if used[s] >= lim[s]:
                    return _SLOT, s, ""
                if used[dest] >= lim[dest]:
                    return _SLOT, dest, ""
        elif any(live):
            need: dict[int, int] = {}
            for v, lv in zip(u.vms, live, strict=True):
                if lv:
                    need[cur[v]] = need.get(cur[v], 0) + 1
                    need[dest] = need.get(dest, 0) + 1
            for h, n in need.items():
                if used[h] + n > lim[h]:
                    return _SLOT, h, ""
        mem = u.mem if dest == u.target else u.hop_mem
        if u.cpu > 0 and self.cpu[dest] + u.cpu > self.cpu_cap[dest]:
            return _CAP, dest, "CPU"
        if mem > 0 and self.mem[dest] + mem > self.mem_cap[dest]:
            return _CAP, dest, "memory"
        if u.run and self.run[dest] + u.run > self.run_cap[dest]:
            return _CAP, dest, "room for running VMs (host_max_running_vms)"
        fd_dest = self.fd[dest]
        extra_dn: dict[int, int] = {}
        extra_dfd: dict[int, int] = {}
        for v in u.vms:
            for r in self.dn_of[v]:
                if self.dn_occ[r][dest] + extra_dn.get(r, 0) > 0:
                    return _RULE, dest, f"DifferentNode rule '{self.rule_names[r]}'"
                extra_dn[r] = extra_dn.get(r, 0) + 1
            for r in self.dfd_of[v]:
                here = self.dfd_occ[r][fd_dest] + extra_dfd.get(r, 0)
                if self.fd[cur[v]] == fd_dest:
                    here -= 1  # the VM itself is already in that domain
                if here > 0:
                    return _RULE, dest, f"DifferentFaultDomain rule '{self.dfd_names[r]}'"
                extra_dfd[r] = extra_dfd.get(r, 0) + 1
        return _OK, dest, ""

    def admit(self, u: _Unit, dest: int) -> list[tuple[int, int, int]]:
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
    def hop_live(self, u: _Unit, dest: int) -> list[bool]:
        """Which VMs of ``u`` would move Live to ``dest`` (a hop destination)."""
        return [int(self.kind[v, dest]) == MoveKind.LIVE for v in u.vms]

    def post_wave_state(self) -> tuple[list[int], list[int], list[list[int]], list[list[int]],
                                       dict[int, int], list[int]]:
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

    def deadlocked(self, pending: list[_Unit], certain: bool = True) -> list[_Unit]:
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

        waiting: dict[int, list[_Unit]] = {}  # node h -> units; fault domain d -> key ~d
        queue = deque(pending)
        done: set[int] = set()
        while queue:
            u = queue.popleft()
            if u.uid in done:
                continue
            t = u.target
            key: int | None = None
            if (u.cpu > 0 and cpu[t] + u.cpu > self.cpu_cap[t]) or (
                    u.mem > 0 and mem[t] + u.mem > self.mem_cap[t]) or (
                    u.run > 0 and run[t] + u.run > self.run_cap[t]):
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
    def hop_destination(self, u: _Unit) -> int | None:
        """Best third node for a temporary hop of ``u`` (most room left), or None."""
        best: tuple[float, int] | None = None
        kind = self.kind
        possible = self.c.vm_possible
        curs = {self.cur[v] for v in u.vms}
        for x in range(self.c.n_hosts):
            if not self.hop_ok_host[x] or x in curs or x == u.target:
                continue
            if any(not possible[v, x] or kind[v, x] not in (MoveKind.LIVE, MoveKind.QUICK)
                   for v in u.vms):
                continue
            if self.check(u, x)[0] != _OK:
                continue
            room = min((self.cpu_cap[x] - self.cpu[x] - u.cpu) / max(self.cpu_cap[x], 1),
                       (self.mem_cap[x] - self.mem[x] - u.hop_mem) / max(self.mem_cap[x], 1))
            if best is None or room > best[0]:
                best = (room, x)
        return None if best is None else best[1]


def _units(cluster: Cluster, start: np.ndarray, target: np.ndarray, moving: list[int],
           evac: np.ndarray, kinds: np.ndarray, mem_now: np.ndarray) -> list[_Unit]:
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
    out: list[_Unit] = []
    for (_root, t), vs in sorted(groups.items()):
        vs.sort()
        live = [int(kinds[v, t]) == MoveKind.LIVE for v in vs]
        # A unit never needs more live-migration slots on a node than that node's limit: cut
        # larger groups into chunks of the smallest limit among the nodes they touch.
        size = len(vs)
        if any(live):
            size = max(1, int(min(lim[h] for h in {int(start[v]) for v in vs} | {t})))
        for i in range(0, len(vs), size):
            ch = vs[i:i + size]
            arrive = [int(boot[v]) if int(kinds[v, t]) in (MoveKind.START, MoveKind.SHUTDOWN)
                      else int(mem_now[v]) for v in ch]
            out.append(_Unit(ch, t, int(cpu[ch].sum()), arrive, int(mem_now[ch].sum()),
                             int(consumes[ch].sum()), live[i:i + size],
                             int(cluster.vm_memory_mb[ch].sum()), bool(evac[ch].any()),
                             len(out)))
    return out


def _fail(message: str, started: float, lower: int = 0,
          stuck: Sequence[int] = ()) -> SequenceResult:
    return SequenceResult(False, (), 0, 0.0, 0, message, (), lower,
                          time.perf_counter() - started,
                          stuck_vms=tuple(sorted(int(v) for v in stuck)))


def _target_problems(cluster: Cluster, start: np.ndarray, target: np.ndarray,
                     kinds: np.ndarray, drained: set[int], check_target: bool) -> str | None:
    """Why ``target`` cannot be sequenced at all (None when it can be tried)."""
    hn, vn = cluster.host_names, cluster.vm_names
    moving = np.flatnonzero(target != start)
    bad = [int(v) for v in moving if kinds[v, target[v]] == MoveKind.FORBIDDEN]
    if bad:
        names = ", ".join(f"{vn[v]} → {hn[int(target[v])]}" for v in bad[:10])
        return (f"{len(bad)} move(s) the cluster cannot carry out (different CPU vendor or "
                "feature set and no downtime allowed, no live-migration network, saved "
                f"state, a VM that is not running on a Down node, or an OS that cannot run "
                f"the VM's configuration version): {names}")
    if not check_target:
        return None
    hard = [x for x in placement_violations(cluster, target, drained) if x.hard]
    if hard:
        shown = "; ".join(x.message for x in hard[:10])
        more = f" (and {len(hard) - 10} more)" if len(hard) > 10 else ""
        return f"the target placement breaks {len(hard)} hard rule(s): {shown}{more}"
    return None


@dataclass
class _Run:
    """What the wave loop of :func:`build_sequence` carries from one wave to the next."""

    sq: _Sequencer
    opt: SequenceOptions
    max_hops: int
    hops: int = 0
    hop_note: dict[int, str] = field(default_factory=dict)
    waiting_on: dict[int, int] = field(default_factory=dict)
    waves: list[list[tuple[int, int, int, bool, str]]] = field(default_factory=list)


def _one_wave(c: Cluster, run: _Run, pending: list[_Unit]
              ) -> tuple[list[tuple[int, int, int, bool, str]], list[_Unit]]:
    """Rank the pending units, start every one that can start, add hops when deadlocked.

    Returns the wave's moves ``(vm, source, dest, temporary, note)`` and the units left.
    """
    sq, lim, cur = run.sq, run.sq.lim, run.sq.cur
    deg = [0] * c.n_hosts  # live moves still to touch each node
    for u in pending:
        for v, lv in zip(u.vms, u.live, strict=True):
            if lv:
                deg[cur[v]] += 1
                deg[u.target] += 1
    press = [deg[h] / lim[h] for h in range(c.n_hosts)]
    waiting_on = run.waiting_on

    def key(u: _Unit) -> tuple[bool, bool, float, int, int]:
        s = cur[u.vms[0]]
        a, b = press[s], press[u.target]
        return (not u.evac, s not in waiting_on, -(a if a > b else b), -u.memory, u.uid)

    pending.sort(key=key)
    this_wave: list[tuple[int, int, int, bool, str]] = []
    still: list[_Unit] = []
    blocked: dict[int, tuple[int, int, str]] = {}
    sq.blocked = blocked
    used = sq.used
    # Nodes that blocked moves wait for (room or an anti-affinity partner): leaving them
    # comes first in the next wave.
    run.waiting_on = {}
    stuck_now = False
    for u in pending:
        if len(u.vms) == 1 and u.nlive:
            # Fast path: most units are one VM and most rejections are for a full slot.
            src = cur[u.vms[0]]
            if used[src] >= lim[src] or used[u.target] >= lim[u.target]:
                blocked[u.uid] = (_SLOT, src if used[src] >= lim[src] else u.target, "")
                still.append(u)
                continue
        why, host, detail = sq.check(u, u.target)
        if why == _OK:
            for v, a, d in sq.admit(u, u.target):
                this_wave.append((v, a, d, False, ""))
        else:
            blocked[u.uid] = (why, host, detail)
            still.append(u)
            if why != _SLOT:
                stuck_now = True
                run.waiting_on[host] = run.waiting_on.get(host, 0) + 1
    if stuck_now and run.opt.temporary_hops and run.hops < run.max_hops:
        run.hops = _break_deadlocks(c, sq, still, this_wave, run.hop_note, run.hops,
                                    run.max_hops, True)
        if not this_wave:
            run.hops = _break_deadlocks(c, sq, still, this_wave, run.hop_note, run.hops,
                                        run.max_hops, False)
    return this_wave, still


def _lower_bound(c: Cluster, start: np.ndarray, tgt: np.ndarray, moving: list[int],
                 kinds: np.ndarray, lim: list[int]) -> int:
    """Waves needed at least: ``max_h ceil(live moves touching h / limit h)`` (1 when only
    other moves are planned)."""
    deg0 = [0] * c.n_hosts
    for v in moving:
        if int(kinds[v, tgt[v]]) == MoveKind.LIVE:
            deg0[int(start[v])] += 1
            deg0[int(tgt[v])] += 1
    return max(1, max(math.ceil(d / lim[h]) for h, d in enumerate(deg0)))


def build_sequence(
    cluster: Cluster,
    target: np.ndarray,
    drained: Iterable[int] = (),
    reasons: Mapping[int, str] | None = None,
    options: SequenceOptions | None = None,
    start: np.ndarray | None = None,
    kinds: np.ndarray | None = None,
) -> SequenceResult:
    """Order the moves from the current placement to ``target`` into safe waves.

    Parameters
    ----------
    cluster:
        The snapshot.
    target:
        Final host index per VM (length ``cluster.n_vms``).
    drained:
        Host indices being drained (they receive nothing, not even temporary hops).
    reasons:
        VM index → why it moves (the ``reason`` column); a default is used for others.
    options:
        :class:`SequenceOptions` (defaults when None).
    start:
        Placement to start from (default: the snapshot's ``vm_host``); the rollback starts
        from the planned placement (:func:`rollback_sequence`).
    kinds:
        ``(V, H)`` :class:`MoveKind` of a move of each VM to each node from where it is at
        ``start`` (default: ``cluster.vm_move_kind``).

    Returns
    -------
    SequenceResult
        ``ok=True`` with the moves (steps numbered from 1, waves from 1), or ``ok=False``
        and a message naming the VMs and nodes that make it impossible.  Never raises for
        an infeasible target; raises ``ValueError`` only for a malformed ``target`` array.
    """
    started = time.perf_counter()
    opt = options or SequenceOptions()
    c = cluster
    tgt = np.asarray(target)
    if tgt.shape != (c.n_vms,):
        raise ValueError(f"target has shape {tgt.shape}, expected ({c.n_vms},)")
    if c.n_vms and (tgt.min() < 0 or tgt.max() >= c.n_hosts):
        raise ValueError("target refers to an unknown host index")
    tgt = tgt.astype(np.int64)
    st0 = np.asarray(c.vm_host if start is None else start, dtype=np.int64)
    kd = c.vm_move_kind if kinds is None else np.asarray(kinds)
    drained_set = {int(d) for d in drained}
    problem = _target_problems(c, st0, tgt, kd, drained_set, opt.check_target)
    if problem is not None:
        return _fail(problem, started)
    moving = [int(v) for v in np.flatnonzero(tgt != st0)]
    if not moving:
        return SequenceResult(True, (), 0, 0.0, 0, "nothing to move", (), 0,
                              time.perf_counter() - started)
    leaving = (c.host_state != HostState.UP).copy()
    for d in drained_set:
        leaving[d] = True
    evac = leaving[st0] if opt.evacuate_first else np.zeros(c.n_vms, dtype=bool)
    mem_now = _memory_now(c, st0)
    units = _units(c, st0, tgt, moving, evac, kd, mem_now)
    run = _Run(_Sequencer(c, tgt, drained_set, opt, st0, kd, mem_now), opt,
               opt.max_temporary_moves if opt.max_temporary_moves is not None
               else len(moving))
    lower = _lower_bound(c, st0, tgt, moving, kd, run.sq.lim)
    # Each wave either finishes a move or hops; this bound only stops a runaway loop.
    max_waves = 4 * (len(moving) + run.max_hops) + 10
    pending: list[_Unit] = list(units)
    while pending:
        if len(run.waves) >= max_waves:
            return _fail(f"gave up after {len(run.waves)} waves without finishing "
                         f"({len(pending)} group(s) of moves left)", started, lower)
        this_wave, still = _one_wave(c, run, pending)
        if not this_wave:
            why_not = ("temporary hops are disabled" if not opt.temporary_hops
                       else f"the limit of {run.max_hops} temporary moves is reached"
                       if run.hops >= run.max_hops
                       else "no other node has room for a temporary hop")
            return _fail(_deadlock_message(c, run.sq, still, why_not), started, lower,
                         [v for u in still for v in u.vms])
        run.sq.end_wave()
        run.waves.append(this_wave)
        pending = still
    return _finish(c, run, reasons or {}, evac, st0, kd, lower, started)


def _memory_now(c: Cluster, start: np.ndarray) -> np.ndarray:
    """Memory each VM occupies at ``start``: its boot memory when it got there by a Start
    or Shutdown move (a rollback starts from such a placement), else its load."""
    mem = np.asarray(c.vm_mem_load_mb, dtype=np.int64).copy()
    moved = np.flatnonzero(start != c.vm_host)
    if len(moved):
        k = c.vm_move_kind[moved, start[moved]]
        boots = moved[(k == MoveKind.START) | (k == MoveKind.SHUTDOWN)]
        mem[boots] = np.asarray(c.vm_boot_memory_mb)[boots]
    return mem


def _break_deadlocks(c: Cluster, sq: _Sequencer, still: list[_Unit],
                     this_wave: list[tuple[int, int, int, bool, str]], hop_note: dict[int, str],
                     hops: int, max_hops: int, certain: bool) -> int:
    """Add temporary hops to the current wave (in the slots its regular moves left free)
    until no unit is deadlocked (see :meth:`_Sequencer.deadlocked`, ``certain``) or no hop
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

        def src(u: _Unit, pos: dict[int, int] = pos) -> int:
            return pos.get(u.vms[0], sq.cur[u.vms[0]])

        by_target: dict[int, list[_Unit]] = {}
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
            frees = any(cpu[s] - w.cpu + u.cpu <= sq.cpu_cap[s]
                        and mem[s] - w.hop_mem + u.mem <= sq.mem_cap[s] for u in waiters)
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
            note = (f"temporary hop to break a deadlock: makes room on {c.host_names[s]}"
                    + (f" for {names}" if names else "")
                    + f"; continues to {c.host_names[w.target]} later")
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


def _deadlock_message(c: Cluster, sq: _Sequencer, stuck: list[_Unit], why_not: str) -> str:
    hn, vn = c.host_names, c.vm_names
    parts = []
    for u in stuck[:8]:
        why, host, detail = sq.blocked.get(u.uid, (_SLOT, u.target, ""))
        src = hn[sq.cur[u.vms[0]]]
        who = " + ".join(vn[v] for v in u.vms)
        if why == _CAP:
            cause = f"not enough {detail} on {hn[host]}"
        elif why == _RULE:
            cause = f"{detail} forbids sharing {hn[host]}"
        else:
            cause = f"migration limit of {hn[host]}"
        parts.append(f"{who} ({src} → {hn[u.target]}: {cause})")
    more = f" and {len(stuck) - 8} more" if len(stuck) > 8 else ""
    return (f"no executable order: {len(stuck)} move(s) wait for each other — "
            + "; ".join(parts) + more + f"; {why_not}")


def _why(c: Cluster, v: int, src: int, evac: np.ndarray, kind: MoveKind) -> str:
    """Default ``reason`` of a move of VM ``v`` from ``src``."""
    if not evac[v]:
        return "rebalance"
    state = HostState(int(c.host_state[src]))
    if kind == MoveKind.START:
        return f"started elsewhere: its node {c.host_names[src]} is Down"
    what = "drained" if state == HostState.UP else state.name.title()
    return f"leaves {c.host_names[src]}, which is {what}"


def _finish(c: Cluster, run: _Run, reasons: Mapping[int, str], evac: np.ndarray,
            start: np.ndarray, kinds: np.ndarray, lower: int, started: float
            ) -> SequenceResult:
    """Number the steps and attach move kinds and durations."""
    model = run.opt.durations
    rate = node_rate_mb_s(c, model)
    moves: list[PlanMove] = []
    makespans: list[float] = []
    step = 0
    for w, wave in enumerate(run.waves, start=1):
        # Live migrations of the wave share each node's link.
        count: dict[int, int] = {}
        for v, s, d, _t, _n in wave:
            if int(kinds[v, d]) == MoveKind.LIVE:
                count[s] = count.get(s, 0) + 1
                count[d] = count.get(d, 0) + 1
        longest = 0.0
        for v, s, d, temporary, note in wave:
            step += 1
            kind = MoveKind(int(kinds[v, d]))
            est = move_seconds(c, v, kind, max(count.get(s, 1), count.get(d, 1)), model, rate)
            longest = max(longest, est)
            if temporary:
                why = note
            else:
                why = reasons.get(v) or _why(c, v, int(start[v]), evac, kind)
                if v in run.hop_note:
                    why += f" (after a temporary hop to {run.hop_note[v]})"
            moves.append(PlanMove(step, w, v, s, d, kind, int(c.vm_memory_mb[v]), est, why,
                                  temporary))
        makespans.append(longest)
    total = float(sum(makespans)) + model.wave_overhead_seconds * len(makespans)
    msg = f"{len(moves)} move(s) in {len(run.waves)} wave(s)"
    if run.hops:
        msg += f", including {run.hops} temporary hop(s)"
    return SequenceResult(True, tuple(moves), len(run.waves), total, run.hops, msg,
                          tuple(makespans), lower, time.perf_counter() - started)


__all__ = ["PLAN_COLUMNS", "Move", "SequenceOptions", "SequenceResult", "build_sequence"]
