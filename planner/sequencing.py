"""Turn "current placement → target placement" into an executable sequence of waves.

A *wave* is a set of moves started together and awaited before the next wave starts.  The
sequence respects, at every moment (SPEC §3, "During execution"):

* **capacity**: 100 % of each node's CPU and memory available to VMs; a moving VM counts on
  its source *and* its target for the whole wave (only Running/Paused VMs consume);
* **anti-affinity**: members of an enabled DifferentNode (DifferentFaultDomain) rule never
  share a node (fault domain), a moving VM again counting at both ends;
* **migration limits**: a node takes part (as source or target) in at most
  ``cluster.host_migration_limit[h]`` moves of a wave.  The limit is applied to every move
  kind, not only live ones: a Quick or Shutdown move also occupies the node's
  cluster-group-move machinery, and counting it keeps the estimate conservative.

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

from planner.checks import placement_violations
from planner.cluster import MOVE_KIND_NAMES, Cluster, HostState, MoveKind, RuleType
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel, move_seconds, node_rate_mb_s


@dataclass(frozen=True)
class Move:
    """One row of ``plan.csv``: VM ``vm`` moves from ``source`` to ``target`` (indices) in
    ``wave``; ``step`` is the global 1-based order.  ``memory_mb`` is the VM's assigned
    memory; ``temporary`` marks a hop through a third node that breaks a deadlock."""

    step: int
    wave: int
    vm: int
    source: int
    target: int
    kind: MoveKind
    memory_mb: int
    est_seconds: float
    reason: str
    temporary: bool = False

    @property
    def kind_name(self) -> str:
        """``Live``, ``Quick`` or ``Shutdown`` (the ``-MigrationType`` value)."""
        return MOVE_KIND_NAMES[MoveKind(self.kind)]

    def to_row(self, cluster: Cluster) -> dict[str, Any]:
        """The ``plan.csv`` row (SPEC §5 columns, names instead of indices, plus
        ``temporary``)."""
        return {
            "step": self.step,
            "wave": self.wave,
            "vm": cluster.vm_names[self.vm],
            "source": cluster.host_names[self.source],
            "target": cluster.host_names[self.target],
            "migration_type": self.kind_name,
            "memory_mb": self.memory_mb,
            "est_seconds": round(self.est_seconds, 1),
            "reason": self.reason,
            "temporary": self.temporary,
        }


#: Columns of ``plan.csv`` in order (SPEC §5 plus ``temporary``).
PLAN_COLUMNS = ("step", "wave", "vm", "source", "target", "migration_type", "memory_mb",
                "est_seconds", "reason", "temporary")


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
    moves: tuple[Move, ...]
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
    """VMs that move together (one VM, or the members of a SameNode rule) to ``target``."""

    __slots__ = ("vms", "target", "cpu", "mem", "evac", "uid", "hopped", "memory")

    def __init__(self, vms: list[int], target: int, cpu: int, mem: int, memory: int,
                 evac: bool, uid: int) -> None:
        self.vms = vms
        self.target = target
        self.cpu = cpu
        self.mem = mem
        self.memory = memory
        self.evac = evac
        self.uid = uid
        self.hopped = False


class _Sequencer:
    """Mutable simulation state; one instance per :func:`build_sequence` call."""

    def __init__(self, cluster: Cluster, target: np.ndarray, drained: set[int],
                 options: SequenceOptions) -> None:
        c = cluster
        self.c = c
        self.target = target
        self.drained = drained
        self.opt = options
        H = c.n_hosts
        self.cur: list[int] = [int(h) for h in c.vm_host]
        self.vcpu: list[int] = [int(x) for x in c.vm_cpu_load_milli]
        self.vmem: list[int] = [int(x) for x in c.vm_mem_load_mb]
        self.cpu_cap: list[int] = [int(x) for x in c.host_cpu_free_milli]
        self.mem_cap: list[int] = [int(x) for x in c.host_memory_free_mb]
        self.cpu: list[int] = [0] * H
        self.mem: list[int] = [0] * H
        for v, h in enumerate(self.cur):
            self.cpu[h] += self.vcpu[v]
            self.mem[h] += self.vmem[v]
        self.lim: list[int] = [max(1, int(x)) for x in c.host_migration_limit]
        self.fd: list[int] = [int(x) for x in c.host_fault_domain]
        # Rule occupancy: members of rule r present on host h (DifferentNode) or in domain d
        # (DifferentFaultDomain), counting VMs that are arriving during the current wave.
        self.dn_of: list[list[int]] = [[] for _ in range(c.n_vms)]
        self.dfd_of: list[list[int]] = [[] for _ in range(c.n_vms)]
        self.dn_occ: list[list[int]] = []
        self.dfd_occ: list[list[int]] = []
        self.rule_names: list[str] = []
        self.dfd_names: list[str] = []
        for rule in c.enabled_rules:
            if len(rule.members) < 2:
                continue
            if rule.rule_type == RuleType.DIFFERENT_NODE:
                occ = [0] * H
                for m in rule.members:
                    occ[self.cur[m]] += 1
                    self.dn_of[m].append(len(self.dn_occ))
                self.dn_occ.append(occ)
                self.rule_names.append(rule.name)
            elif rule.rule_type == RuleType.DIFFERENT_FAULT_DOMAIN:
                occ = [0] * len(c.fault_domains)
                for m in rule.members:
                    occ[self.fd[self.cur[m]]] += 1
                    self.dfd_of[m].append(len(self.dfd_occ))
                self.dfd_occ.append(occ)
                self.dfd_names.append(rule.name)
        # Hosts a VM may visit on a temporary hop: Up, not drained.
        self.hop_ok_host = [bool(c.host_up[h]) and h not in drained for h in range(H)]
        self.kind = c.vm_move_kind
        # Per-wave state.
        self.used: list[int] = [0] * H
        self.departures: list[tuple[int, int, int]] = []  # (vm, source, dest)
        self.blocked: dict[int, tuple[int, int, str]] = {}  # uid -> (why, host, detail)

    # ------------------------------------------------------------------ checks
    def check(self, u: _Unit, dest: int) -> tuple[int, int, str]:
        """Can unit ``u`` start moving to ``dest`` in the current wave?  Returns
        ``(_OK|_SLOT|_CAP|_RULE, host, detail)``."""
        cur, used, lim = self.cur, self.used, self.lim
        if len(u.vms) == 1:
            v = u.vms[0]
            s = cur[v]
            if used[s] >= lim[s]:
                return _SLOT, s, ""
            if used[dest] >= lim[dest]:
                return _SLOT, dest, ""
        else:
            need: dict[int, int] = {}
            for v in u.vms:
                need[cur[v]] = need.get(cur[v], 0) + 1
            need[dest] = need.get(dest, 0) + len(u.vms)
            for h, n in need.items():
                if used[h] + n > lim[h]:
                    return _SLOT, h, ""
        if u.cpu > 0 and self.cpu[dest] + u.cpu > self.cpu_cap[dest]:
            return _CAP, dest, "CPU"
        if u.mem > 0 and self.mem[dest] + u.mem > self.mem_cap[dest]:
            return _CAP, dest, "memory"
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
        touched: dict[int, int] = {}
        for _v, s, d in out:
            touched[s] = touched.get(s, 0) + 1
            touched[d] = touched.get(d, 0) + 1
        for h, n in touched.items():
            self.used[h] += n
        self.cpu[dest] += u.cpu
        self.mem[dest] += u.mem
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
            for r in self.dn_of[v]:
                self.dn_occ[r][s] -= 1
            for r in self.dfd_of[v]:
                self.dfd_occ[r][self.fd[s]] -= 1
        for v, _s, d in self.departures:
            self.cur[v] = d
        self.departures = []
        self.used = [0] * self.c.n_hosts

    # ------------------------------------------------------------------ deadlocks
    def post_wave_state(self) -> tuple[list[int], list[int], list[list[int]], list[list[int]],
                                       dict[int, int]]:
        """Loads, rule occupancy and moved VMs' positions once the current wave is over."""
        cpu, mem = self.cpu[:], self.mem[:]
        dn = [row[:] for row in self.dn_occ]
        dfd = [row[:] for row in self.dfd_occ]
        pos: dict[int, int] = {}
        for v, s, d in self.departures:
            cpu[s] -= self.vcpu[v]
            mem[s] -= self.vmem[v]
            for r in self.dn_of[v]:
                dn[r][s] -= 1
            for r in self.dfd_of[v]:
                dfd[r][self.fd[s]] -= 1
            pos[v] = d
        return cpu, mem, dn, dfd, pos

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
        cpu, mem, dn, dfd, pos = self.post_wave_state()
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
                    u.mem > 0 and mem[t] + u.mem > self.mem_cap[t]):
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
                       (self.mem_cap[x] - self.mem[x] - u.mem) / max(self.mem_cap[x], 1))
            if best is None or room > best[0]:
                best = (room, x)
        return None if best is None else best[1]


def _units(cluster: Cluster, target: np.ndarray, moving: list[int], evac: np.ndarray
           ) -> list[_Unit]:
    """Group moving VMs into units: SameNode members with the same target move together."""
    parent = {v: v for v in moving}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for rule in cluster.enabled_rules:
        if rule.rule_type != RuleType.SAME_NODE:
            continue
        ms = [m for m in rule.members if m in parent]
        for a, b in zip(ms, ms[1:], strict=False):
            if int(target[a]) == int(target[b]):
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for v in moving:
        groups.setdefault(find(v), []).append(v)
    cpu = cluster.vm_cpu_load_milli
    mem = cluster.vm_mem_load_mb
    lim = cluster.host_migration_limit
    out: list[_Unit] = []
    for _root, vs in sorted(groups.items()):
        vs.sort()
        # A unit never needs more slots on a node than that node's limit: cut larger groups
        # into chunks of the smallest limit among the nodes they touch.
        size = max(1, int(min(lim[h] for h in {int(cluster.vm_host[v]) for v in vs}
                              | {int(target[vs[0]])})))
        for i in range(0, len(vs), size):
            ch = vs[i:i + size]
            out.append(_Unit(ch, int(target[ch[0]]), int(cpu[ch].sum()), int(mem[ch].sum()),
                             int(cluster.vm_memory_mb[ch].sum()), bool(evac[ch].any()),
                             len(out)))
    return out


def _fail(message: str, started: float, lower: int = 0,
          stuck: Sequence[int] = ()) -> SequenceResult:
    return SequenceResult(False, (), 0, 0.0, 0, message, (), lower,
                          time.perf_counter() - started,
                          stuck_vms=tuple(sorted(int(v) for v in stuck)))


def _target_problems(cluster: Cluster, target: np.ndarray, drained: set[int],
                     check_target: bool) -> str | None:
    """Why ``target`` cannot be sequenced at all (None when it can be tried)."""
    hn, vn = cluster.host_names, cluster.vm_names
    moving = np.flatnonzero(target != cluster.vm_host)
    bad = [int(v) for v in moving
           if cluster.vm_move_kind[v, target[v]] == MoveKind.FORBIDDEN]
    if bad:
        names = ", ".join(f"{vn[v]} → {hn[int(target[v])]}" for v in bad[:10])
        return (f"{len(bad)} move(s) the cluster cannot carry out (different CPU vendor or "
                f"feature set and no downtime allowed, or saved state): {names}")
    if not check_target:
        return None
    hard = [x for x in placement_violations(cluster, target, drained) if x.hard]
    if hard:
        shown = "; ".join(x.message for x in hard[:10])
        more = f" (and {len(hard) - 10} more)" if len(hard) > 10 else ""
        return f"the target placement breaks {len(hard)} hard rule(s): {shown}{more}"
    return None


def build_sequence(
    cluster: Cluster,
    target: np.ndarray,
    drained: Iterable[int] = (),
    reasons: Mapping[int, str] | None = None,
    options: SequenceOptions | None = None,
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
    drained_set = {int(d) for d in drained}
    problem = _target_problems(c, tgt, drained_set, opt.check_target)
    if problem is not None:
        return _fail(problem, started)
    moving = [int(v) for v in np.flatnonzero(tgt != c.vm_host)]
    if not moving:
        return SequenceResult(True, (), 0, 0.0, 0, "nothing to move", (), 0,
                              time.perf_counter() - started)
    leaving = (c.host_state != HostState.UP).copy()
    for d in drained_set:
        leaving[d] = True
    evac = leaving[c.vm_host] if opt.evacuate_first else np.zeros(c.n_vms, dtype=bool)
    units = _units(c, tgt, moving, evac)
    sq = _Sequencer(c, tgt, drained_set, opt)
    lim = sq.lim

    deg0 = [0] * c.n_hosts
    for v in moving:
        deg0[int(c.vm_host[v])] += 1
        deg0[int(tgt[v])] += 1
    lower = max(math.ceil(d / lim[h]) for h, d in enumerate(deg0))

    max_hops = opt.max_temporary_moves if opt.max_temporary_moves is not None else len(moving)
    # Each wave either finishes a move or hops; this bound only stops a runaway loop.
    max_waves = 4 * (len(moving) + max_hops) + 10
    hops = 0
    pending: list[_Unit] = list(units)
    waves: list[list[tuple[int, int, int, bool, str]]] = []  # (vm, src, dst, temporary, why)
    hop_note: dict[int, str] = {}
    waiting_on: dict[int, int] = {}

    while pending:
        if len(waves) >= max_waves:
            return _fail(f"gave up after {len(waves)} waves without finishing "
                         f"({len(pending)} group(s) of moves left)", started, lower)
        cur = sq.cur
        deg = [0] * c.n_hosts
        for u in pending:
            for v in u.vms:
                deg[cur[v]] += 1
            deg[u.target] += len(u.vms)
        press = [deg[h] / lim[h] for h in range(c.n_hosts)]

        def key(u: _Unit, press: list[float] = press, cur: list[int] = cur,
                waiting_on: dict[int, int] = waiting_on) -> tuple[bool, bool, float, int, int]:
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
        waiting_on = {}
        stuck_now = False
        for u in pending:
            if len(u.vms) == 1:
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
                    waiting_on[host] = waiting_on.get(host, 0) + 1
        if stuck_now and opt.temporary_hops and hops < max_hops:
            hops = _break_deadlocks(c, sq, still, this_wave, hop_note, hops, max_hops, True)
            if not this_wave:
                hops = _break_deadlocks(c, sq, still, this_wave, hop_note, hops, max_hops,
                                        False)
        if not this_wave:
            why_not = ("temporary hops are disabled" if not opt.temporary_hops
                       else f"the limit of {max_hops} temporary moves is reached"
                       if hops >= max_hops else "no other node has room for a temporary hop")
            return _fail(_deadlock_message(c, sq, still, why_not), started, lower,
                         [v for u in still for v in u.vms])
        sq.end_wave()
        waves.append(this_wave)
        pending = still

    return _finish(c, waves, reasons or {}, hop_note, evac, opt, hops, lower, started)


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
        cpu, mem, _dn, _dfd, pos = sq.post_wave_state()

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
                        and mem[s] - w.mem + u.mem <= sq.mem_cap[s] for u in waiters)
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


def _finish(c: Cluster, waves: list[list[tuple[int, int, int, bool, str]]],
            reasons: Mapping[int, str], hop_note: dict[int, str], evac: np.ndarray,
            opt: SequenceOptions, hops: int, lower: int, started: float) -> SequenceResult:
    """Number the steps and attach move kinds and durations."""
    model = opt.durations
    rate = node_rate_mb_s(c, model)
    kinds = c.vm_move_kind
    moves: list[Move] = []
    makespans: list[float] = []
    step = 0
    for w, wave in enumerate(waves, start=1):
        count: dict[int, int] = {}
        for _v, s, d, _t, _n in wave:
            count[s] = count.get(s, 0) + 1
            count[d] = count.get(d, 0) + 1
        longest = 0.0
        for v, s, d, temporary, note in wave:
            step += 1
            kind = MoveKind(int(kinds[v, d]))
            est = move_seconds(c, v, kind, max(count[s], count[d]), model, rate)
            longest = max(longest, est)
            if temporary:
                why = note
            else:
                why = reasons.get(v) or (
                    f"leaves {c.host_names[int(c.vm_host[v])]}, which is "
                    f"{'drained' if c.host_state[c.vm_host[v]] == HostState.UP else 'not Up'}"
                    if evac[v] else "rebalance")
                if v in hop_note:
                    why += f" (after a temporary hop to {hop_note[v]})"
            moves.append(Move(step, w, v, s, d, kind, int(c.vm_memory_mb[v]), est, why,
                              temporary))
        makespans.append(longest)
    total = float(sum(makespans)) + model.wave_overhead_seconds * len(makespans)
    msg = f"{len(moves)} move(s) in {len(waves)} wave(s)"
    if hops:
        msg += f", including {hops} temporary hop(s)"
    return SequenceResult(True, tuple(moves), len(waves), total, hops, msg, tuple(makespans),
                          lower, time.perf_counter() - started)


__all__ = ["PLAN_COLUMNS", "Move", "SequenceOptions", "SequenceResult", "build_sequence"]
