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
Only when nothing at all can move does a weaker, order-dependent test pick the hop.
When the greedy pass still ends in a deadlock (it may have let a move take the room that
another move needed first), it is run once more in *careful* mode, for up to
``CAREFUL_MAX_MOVES`` moves: a move is then held back in a wave when starting it would make
more moves provably deadlocked than before.  The rollback (:mod:`planner.rollback`) is built
by the same function from the planned placement (``start``) with its own move kinds.  Hops are
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.checks import placement_violations
from planner.cluster import Cluster, HostState, MoveKind
from planner.durations import DEFAULT_DURATION_MODEL, DurationModel, move_seconds, node_rate_mb_s
from planner.planrows import PLAN_COLUMNS, PlanMove
from planner.waves import (
    CAP,
    OK,
    SLOT,
    Unit,
    WaveState,
    break_deadlocks,
    deadlock_message,
    make_units,
)

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


def _fail(
    message: str, started: float, lower: int = 0, stuck: Sequence[int] = ()
) -> SequenceResult:
    return SequenceResult(
        False,
        (),
        0,
        0.0,
        0,
        message,
        (),
        lower,
        time.perf_counter() - started,
        stuck_vms=tuple(sorted(int(v) for v in stuck)),
    )


def _target_problems(
    cluster: Cluster,
    start: np.ndarray,
    target: np.ndarray,
    kinds: np.ndarray,
    drained: set[int],
    check_target: bool,
) -> str | None:
    """Why ``target`` cannot be sequenced at all (None when it can be tried)."""
    hn, vn = cluster.host_names, cluster.vm_names
    moving = np.flatnonzero(target != start)
    bad = [int(v) for v in moving if kinds[v, target[v]] == MoveKind.FORBIDDEN]
    if bad:
        names = ", ".join(f"{vn[v]} → {hn[int(target[v])]}" for v in bad[:10])
        return (
            f"{len(bad)} move(s) the cluster cannot carry out (different CPU vendor or "
            "feature set and no downtime allowed, no live-migration network, saved "
            f"state, a VM that is not running on a Down node, or an OS that cannot run "
            f"the VM's configuration version): {names}"
        )
    if not check_target:
        return None
    # A rule broken before the plan may stay broken (SPEC §3: the plan names it in
    # rules_left_broken); only rules that hold now must hold in the target.
    broken_now = {
        (x.kind, x.rule)
        for x in placement_violations(cluster, start, drained)
        if x.hard and x.rule is not None
    }
    hard = [
        x
        for x in placement_violations(cluster, target, drained)
        if x.hard and (x.rule is None or (x.kind, x.rule) not in broken_now)
    ]
    if hard:
        shown = "; ".join(x.message for x in hard[:10])
        more = f" (and {len(hard) - 10} more)" if len(hard) > 10 else ""
        return f"the target placement breaks {len(hard)} hard rule(s): {shown}{more}"
    return None


@dataclass
class _Run:
    """What the wave loop of :func:`build_sequence` carries from one wave to the next."""

    sq: WaveState
    opt: SequenceOptions
    max_hops: int
    hops: int = 0
    hop_note: dict[int, str] = field(default_factory=dict)
    waiting_on: dict[int, int] = field(default_factory=dict)
    waves: list[list[tuple[int, int, int, bool, str]]] = field(default_factory=list)
    careful: bool = False


def _one_wave(
    c: Cluster, run: _Run, pending: list[Unit]
) -> tuple[list[tuple[int, int, int, bool, str]], list[Unit]]:
    """Rank the pending units, start every one that can start, add hops when deadlocked.

    In ``careful`` mode (the retry after a greedy pass ran into a deadlock) a unit is held
    back when starting it would leave more units certainly deadlocked than before (the
    proof of :meth:`WaveState.deadlocked`): the room it would take is what another move
    needs first.

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

    def key(u: Unit) -> tuple[bool, bool, float, int, int]:
        s = cur[u.vms[0]]
        a, b = press[s], press[u.target]
        return (not u.evac, s not in waiting_on, -(a if a > b else b), -u.memory, u.uid)

    pending.sort(key=key)
    this_wave: list[tuple[int, int, int, bool, str]] = []
    still: list[Unit] = []
    blocked: dict[int, tuple[int, int, str]] = {}
    sq.blocked = blocked
    used = sq.used
    # Nodes that blocked moves wait for (room or an anti-affinity partner): leaving them
    # comes first in the next wave.
    run.waiting_on = {}
    stuck_now = False
    base = len(sq.deadlocked(pending, True)) if run.careful else 0
    for i, u in enumerate(pending):
        if len(u.vms) == 1 and u.nlive:
            # Fast path: most units are one VM and most rejections are for a full slot.
            src = cur[u.vms[0]]
            if used[src] >= lim[src] or used[u.target] >= lim[u.target]:
                blocked[u.uid] = (SLOT, src if used[src] >= lim[src] else u.target, "")
                still.append(u)
                continue
        why, host, detail = sq.check(u, u.target)
        if why == OK and run.careful:
            sq.admit(u, u.target)
            rest = still + pending[i + 1 :]
            if rest and len(sq.deadlocked(rest, True)) > base:
                sq.retract(u, u.target)
                why, host, detail = CAP, u.target, "room another move needs first"
        elif why == OK:
            sq.admit(u, u.target)
        if why == OK:
            for v in u.vms:
                this_wave.append((v, cur[v], u.target, False, ""))
        else:
            blocked[u.uid] = (why, host, detail)
            still.append(u)
            if why != SLOT:
                stuck_now = True
                run.waiting_on[host] = run.waiting_on.get(host, 0) + 1
    if stuck_now and run.opt.temporary_hops and run.hops < run.max_hops:
        run.hops = break_deadlocks(
            c, sq, still, this_wave, run.hop_note, run.hops, run.max_hops, True
        )
        if not this_wave:
            run.hops = break_deadlocks(
                c, sq, still, this_wave, run.hop_note, run.hops, run.max_hops, False
            )
    return this_wave, still


def _lower_bound(
    c: Cluster,
    start: np.ndarray,
    tgt: np.ndarray,
    moving: list[int],
    kinds: np.ndarray,
    lim: list[int],
) -> int:
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
        return SequenceResult(
            True, (), 0, 0.0, 0, "nothing to move", (), 0, time.perf_counter() - started
        )
    leaving = (c.host_state != HostState.UP).copy()
    for d in drained_set:
        leaving[d] = True
    evac = leaving[st0] if opt.evacuate_first else np.zeros(c.n_vms, dtype=bool)
    mem_now = _memory_now(c, st0)
    max_hops = opt.max_temporary_moves if opt.max_temporary_moves is not None else len(moving)
    lim = [max(1, int(x)) for x in c.host_migration_limit]
    lower = _lower_bound(c, st0, tgt, moving, kd, lim)
    failed: tuple[str, list[int]] | None = None
    for careful in (False, True):
        if careful and len(moving) > CAREFUL_MAX_MOVES:
            break
        run = _Run(WaveState(c, tgt, drained_set, st0, kd, mem_now), opt, max_hops, careful=careful)
        units = make_units(c, st0, tgt, moving, evac, kd, mem_now)
        outcome = _run_waves(c, run, units)
        if outcome is None:
            return _finish(c, run, reasons or {}, evac, st0, kd, lower, started)
        failed = failed or outcome
    assert failed is not None
    return _fail(failed[0], started, lower, failed[1])


#: The greedy pass is retried in careful mode (see :func:`_one_wave`) when it ran into a
#: deadlock and at most this many VMs move (careful waves cost O(units²)).
CAREFUL_MAX_MOVES = 300


def _run_waves(c: Cluster, run: _Run, units: list[Unit]) -> tuple[str, list[int]] | None:
    """Build every wave into ``run.waves``; None on success, else the message and the VMs
    of the moves that wait for each other."""
    opt = run.opt
    # Each wave either finishes a move or hops; this bound only stops a runaway loop.
    max_waves = 4 * (sum(len(u.vms) for u in units) + run.max_hops) + 10
    pending: list[Unit] = list(units)
    while pending:
        if len(run.waves) >= max_waves:
            return (
                f"gave up after {len(run.waves)} waves without finishing "
                f"({len(pending)} group(s) of moves left)",
                [],
            )
        this_wave, still = _one_wave(c, run, pending)
        if not this_wave:
            why_not = (
                "temporary hops are disabled"
                if not opt.temporary_hops
                else f"the limit of {run.max_hops} temporary moves is reached"
                if run.hops >= run.max_hops
                else "no other node has room for a temporary hop"
            )
            return (deadlock_message(c, run.sq, still, why_not), [v for u in still for v in u.vms])
        run.sq.end_wave()
        run.waves.append(this_wave)
        pending = still
    return None


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


def _why(c: Cluster, v: int, src: int, evac: np.ndarray, kind: MoveKind) -> str:
    """Default ``reason`` of a move of VM ``v`` from ``src``."""
    if not evac[v]:
        return "rebalance"
    state = HostState(int(c.host_state[src]))
    if kind == MoveKind.START:
        return f"started elsewhere: its node {c.host_names[src]} is Down"
    what = "drained" if state == HostState.UP else state.name.title()
    return f"leaves {c.host_names[src]}, which is {what}"


def _finish(
    c: Cluster,
    run: _Run,
    reasons: Mapping[int, str],
    evac: np.ndarray,
    start: np.ndarray,
    kinds: np.ndarray,
    lower: int,
    started: float,
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
            moves.append(
                PlanMove(step, w, v, s, d, kind, int(c.vm_memory_mb[v]), est, why, temporary)
            )
        makespans.append(longest)
    total = float(sum(makespans)) + model.wave_overhead_seconds * len(makespans)
    msg = f"{len(moves)} move(s) in {len(run.waves)} wave(s)"
    if run.hops:
        msg += f", including {run.hops} temporary hop(s)"
    return SequenceResult(
        True,
        tuple(moves),
        len(run.waves),
        total,
        run.hops,
        msg,
        tuple(makespans),
        lower,
        time.perf_counter() - started,
    )


__all__ = ["PLAN_COLUMNS", "Move", "SequenceOptions", "SequenceResult", "build_sequence"]
