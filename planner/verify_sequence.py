"""Independent verification of a migration sequence against a snapshot.

Nothing here trusts the code that built the sequence (it imports neither the sequencer nor
OR-Tools): the moves are re-simulated wave by wave from a start placement (the snapshot's,
or the planned placement for a rollback) and every rule of SPEC §3 is recomputed:

* steps are numbered 1, 2, ... in order and waves never go back; a VM moves at most once per
  wave; a move starts where the VM is at that point and goes somewhere else;
* pinned VMs do not move; targets are Up, not drained, possible owners of the VM, and run
  the VM's configuration version;
* the move kind follows SPEC §3: a running VM listed on a **Down** node is started
  (``Start``), never moved Live or Quick from it (an Off or Saved one there cannot move);
  otherwise it follows the feature set the VM *booted* with (its start host, or the target of
  an earlier Shutdown/Start move, after which it boots again): Live for Running/Paused VMs to
  a same-vendor node offering that set -- and only when the cluster has a live-migration
  network --, Shutdown otherwise and only with ``allow_downtime``, Quick for Off VMs and for
  Saved VMs to compatible nodes;
* capacity: during a wave each node carries its VMs at the wave's start plus every VM
  arriving in the wave (a moving VM counts at both ends; one arriving by Start or Shutdown
  counts its boot memory); a node that receives load must stay within 100 % of CPU and
  memory, and within ``host_max_running_vms`` running VMs;
* enabled DifferentNode / DifferentFaultDomain rules (running members): a member never
  arrives on a node (domain) where another member is, or arrives, during that wave;
* migration limits: a node takes part in at most ``host_migration_limit`` **live**
  migrations per wave (Quick, Shutdown and Start moves are not counted);
* SameNode rules: members that were together before a wave are together after it, unless the
  group is larger than the smallest migration limit of the nodes it moves between;
* the final state equals the target placement (kind ``placement``).

Violations (:class:`planner.violation.Violation`, kinds of :data:`planner.violation.KINDS`)
carry ``step`` (the failing step), the VM and node indices and, for a rule, its index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from planner.checks import RuleRef, Violation, running_members
from planner.cluster import (
    MOVE_KIND_NAMES,
    Cluster,
    CompatMode,
    HostState,
    MoveKind,
    NetworkRole,
    RuleType,
    VmState,
)
from planner.planrows import PlanMove, read_plan_csv


class MoveLike(Protocol):
    """What the verifier reads of a move: indices and the :class:`MoveKind`."""

    @property
    def step(self) -> int: ...  # noqa: D102
    @property
    def wave(self) -> int: ...  # noqa: D102
    @property
    def vm(self) -> int: ...  # noqa: D102
    @property
    def source(self) -> int: ...  # noqa: D102
    @property
    def target(self) -> int: ...  # noqa: D102
    @property
    def kind(self) -> MoveKind: ...  # noqa: D102


#: Former name of :class:`planner.planrows.PlanMove` (kept for callers of this module).
PlannedMove = PlanMove


# ----------------------------------------------------------------------------- move kinds
def live_migration_network(cluster: Cluster) -> bool:
    """Whether the cluster can live-migrate: no networks.csv at all (assumed), or a network
    with a ``live_migration_order`` and a role other than None (SPEC §1 networks.csv)."""
    if not cluster.networks:
        return True
    return any(
        n.live_migration_order is not None and n.role != NetworkRole.NONE for n in cluster.networks
    )


def presented_features(cluster: Cluster, vm: int, boot_host: int) -> np.ndarray:
    """The CPU feature set VM ``vm`` sees after booting on ``boot_host`` (SPEC §3)."""
    c = cluster
    mode = int(c.vm_compat[vm])
    if mode == CompatMode.COMMON and int(c.vm_config_version_x10[vm]) < 100:
        mode = CompatMode.MINIMUM  # CommonClusterFeatureSet needs configuration version 10
    vendor = int(c.host_vendor[boot_host])
    if mode == CompatMode.MINIMUM:
        return np.asarray(c.vendor_baseline[vendor])
    if mode == CompatMode.COMMON:
        same = c.host_vendor == vendor
        return np.asarray(c.host_features[same].all(axis=0))
    return np.asarray(c.host_features[boot_host])


def expected_kind(
    cluster: Cluster,
    vm: int,
    boot_host: int,
    dest: int,
    source: int | None = None,
    live_ok: bool | None = None,
) -> MoveKind:
    """How VM ``vm`` (booted on ``boot_host``, now on ``source``) can move to ``dest``
    per SPEC §3 (configuration versions are checked separately)."""
    c = cluster
    src = boot_host if source is None else source
    state = int(c.vm_state[vm])
    running = state in (VmState.RUNNING, VmState.PAUSED)
    if int(c.host_state[src]) == HostState.DOWN:
        return MoveKind.START if running else MoveKind.FORBIDDEN
    if state == VmState.OFF:
        return MoveKind.QUICK
    same_vendor = int(c.host_vendor[boot_host]) == int(c.host_vendor[dest])
    pres = presented_features(c, vm, boot_host)
    compatible = same_vendor and not bool((pres & ~c.host_features[dest]).any())
    if state == VmState.SAVED:
        return MoveKind.QUICK if compatible else MoveKind.FORBIDDEN
    live = live_migration_network(c) if live_ok is None else live_ok
    if compatible and live:
        return MoveKind.LIVE
    return MoveKind.SHUTDOWN if bool(c.vm_allow_downtime[vm]) else MoveKind.FORBIDDEN


def _kind_text(kind: object) -> str:
    try:
        return MOVE_KIND_NAMES[MoveKind(int(kind))]  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError):
        return repr(kind)


# ----------------------------------------------------------------------------- replay
class _Replay:
    """The simulation state of :func:`verify_sequence`."""

    def __init__(self, c: Cluster, start: np.ndarray, boot: np.ndarray, drained: set[int]) -> None:
        self.c = c
        self.out: list[Violation] = []
        self.drained = drained
        self.pos = [int(h) for h in start]
        self.boot = [int(h) for h in boot]
        self.cpu_load = [int(x) for x in c.vm_cpu_load_milli]
        # Memory a VM occupies where it is now: its assigned memory, or its boot memory once
        # it was (re)started by a Start or Shutdown move.
        self.mem_load = [int(x) for x in c.vm_mem_load_mb]
        self.boot_mem = [int(x) for x in np.asarray(c.vm_boot_memory_mb)]
        for v in range(c.n_vms):
            if self.pos[v] != int(c.vm_host[v]) and self.boot[v] == self.pos[v]:
                self.mem_load[v] = self.boot_mem[v]
        self.consumes = [bool(x) for x in c.vm_consumes]
        H = c.n_hosts
        self.cpu, self.mem, self.run = [0] * H, [0] * H, [0] * H
        for v, h in enumerate(self.pos):
            self.cpu[h] += self.cpu_load[v]
            self.mem[h] += self.mem_load[v]
            self.run[h] += self.consumes[v]
        self.cpu_cap = [int(x) for x in c.host_cpu_free_milli]
        self.mem_cap = [int(x) for x in c.host_memory_free_mb]
        self.run_cap = [int(x) for x in np.asarray(c.host_max_running_vms)]
        self.limit = [int(x) for x in c.host_migration_limit]
        self.ver_cap = [int(x) for x in np.asarray(c.host_max_config_version_x10)]
        self.fd = [int(x) for x in c.host_fault_domain]
        self.live_ok = live_migration_network(c)
        # (rule index, rule, running members, judged by node) of the enabled rules.
        self.apart = [
            (i, r, running_members(c, r.members), r.rule_type == RuleType.DIFFERENT_NODE)
            for i, r in enumerate(c.rules)
            if r.enabled
            and r.rule_type in (RuleType.DIFFERENT_NODE, RuleType.DIFFERENT_FAULT_DOMAIN)
        ]
        self.apart = [x for x in self.apart if len(x[2]) >= 2]
        self.together = [
            (i, r, running_members(c, r.members))
            for i, r in enumerate(c.rules)
            if r.enabled and r.rule_type == RuleType.SAME_NODE
        ]
        self.together = [x for x in self.together if len(x[2]) >= 2]

    def add(
        self,
        kind: str,
        message: str,
        step: int | None,
        vms: Iterable[int] = (),
        hosts: Iterable[int] = (),
        rule: int | None = None,
    ) -> None:
        """Record one violation (``rule``: the index of the affinity rule concerned)."""
        ref = None if rule is None else RuleRef.affinity(rule)
        self.out.append(Violation(kind, message, tuple(vms), tuple(hosts), ref, step=step))

    # ------------------------------------------------------------------ one step
    def check_step(self, m: MoveLike, seen: set[int]) -> bool:
        """Per-move checks; False when the move cannot be applied (skipped)."""
        c, hn, vn = self.c, self.c.host_names, self.c.vm_names
        v, s, d, st = int(m.vm), int(m.source), int(m.target), int(m.step)
        if not (0 <= v < c.n_vms and 0 <= s < c.n_hosts and 0 <= d < c.n_hosts):
            self.add("unknown", f"step {st} refers to an unknown VM or node", st)
            return False
        if v in seen:
            self.add(
                "twice_in_wave",
                f"step {st}: VM {vn[v]} moves twice in wave {m.wave}",
                st,
                (v,),
                (d,),
            )
            return False
        seen.add(v)
        if self.pos[v] != s:
            self.add(
                "wrong_source",
                f"step {st}: VM {vn[v]} is on {hn[self.pos[v]]} at that point, not on {hn[s]}",
                st,
                (v,),
                (s,),
            )
            return False
        if s == d:
            self.add(
                "no_op",
                f"step {st}: VM {vn[v]} 'moves' from {hn[s]} to the same node",
                st,
                (v,),
                (s,),
            )
            return False
        if c.vm_pinned[v]:
            self.add(
                "pinned",
                f"step {st}: VM {vn[v]} is pinned to {hn[int(c.vm_host[v])]} but is moved",
                st,
                (v,),
                (d,),
            )
        if c.host_state[d] != HostState.UP:
            state = HostState(int(c.host_state[d])).name.title()
            self.add(
                "host_not_up",
                f"step {st}: VM {vn[v]} is moved to {hn[d]}, which is {state}",
                st,
                (v,),
                (d,),
            )
        if d in self.drained:
            self.add(
                "drained",
                f"step {st}: VM {vn[v]} is moved to {hn[d]}, which is being drained",
                st,
                (v,),
                (d,),
            )
        if not c.vm_possible[v, d]:
            self.add(
                "possible_owners",
                f"step {st}: {hn[d]} is not a possible owner of VM {vn[v]}",
                st,
                (v,),
                (d,),
            )
        ver = int(c.vm_config_version_x10[v])
        if 0 <= self.ver_cap[d] < ver:
            self.add(
                "config_version",
                f"step {st}: VM {vn[v]} (configuration version "
                f"{ver / 10:.1f}) is moved to {hn[d]}, whose OS runs versions up to "
                f"{self.ver_cap[d] / 10:.1f}",
                st,
                (v,),
                (d,),
            )
        self.check_kind(m, v, s, d, st)
        return True

    def check_kind(self, m: MoveLike, v: int, s: int, d: int, st: int) -> None:
        """The migration type SPEC §3 gives this move."""
        hn, vn = self.c.host_names, self.c.vm_names
        want = expected_kind(self.c, v, self.boot[v], d, s, self.live_ok)
        got = int(m.kind)
        if want == got:
            return
        if int(self.c.host_state[s]) == HostState.DOWN:
            what = (
                "it can only be started elsewhere (Start)"
                if want == MoveKind.START
                else "it is not running, so it cannot move from there"
            )
            self.add(
                "move_kind",
                f"step {st}: VM {vn[v]} is listed on {hn[s]}, which is "
                f"Down: {what}; the plan says {_kind_text(got)}",
                st,
                (v,),
                (s,),
            )
        elif want == MoveKind.FORBIDDEN:
            self.add(
                "move_kind",
                f"step {st}: VM {vn[v]} cannot move to {hn[d]} at all (CPU "
                "vendor or feature set, and no downtime allowed or saved state)",
                st,
                (v,),
                (d,),
            )
        elif got == MoveKind.LIVE and not self.live_ok:
            self.add(
                "move_kind",
                f"step {st}: VM {vn[v]} cannot move Live: the cluster has no "
                "live-migration network",
                st,
                (v,),
                (d,),
            )
        else:
            self.add(
                "move_kind",
                f"step {st}: VM {vn[v]} to {hn[d]} must move "
                f"{_kind_text(want)}, the plan says {_kind_text(got)}",
                st,
                (v,),
                (d,),
            )

    # ------------------------------------------------------------------ one wave
    def check_limits(self, w: int, valid: list[MoveLike]) -> None:
        """Live migrations each node takes part in during this wave."""
        touching: dict[int, list[MoveLike]] = {}
        for m in valid:
            if int(m.kind) == MoveKind.LIVE:
                touching.setdefault(int(m.source), []).append(m)
                touching.setdefault(int(m.target), []).append(m)
        hn = self.c.host_names
        reported: set[int] = set()  # one violation per offending step, not per node
        for h, ms in sorted(touching.items()):
            if len(ms) > self.limit[h] and int(ms[self.limit[h]].step) not in reported:
                st = int(ms[self.limit[h]].step)
                reported.add(st)
                self.add(
                    "migration_limit",
                    f"step {st}: node {hn[h]} takes part in {len(ms)} "
                    f"live migrations of wave {w}, its limit is {self.limit[h]}",
                    st,
                    [int(m.vm) for m in ms],
                    (h,),
                )

    def arrival_mem(self, m: MoveLike) -> int:
        """Memory VM ``m.vm`` occupies on the target of move ``m``."""
        v = int(m.vm)
        if int(m.kind) in (MoveKind.START, MoveKind.SHUTDOWN):
            return self.boot_mem[v]
        return self.mem_load[v]

    def check_capacity(self, w: int, valid: list[MoveLike]) -> None:
        """Capacity and running VMs with arrivals counted while the sources still hold
        the VMs."""
        hn = self.c.host_names
        cpu, mem, run = list(self.cpu), list(self.mem), list(self.run)
        reported: set[tuple[int, str]] = set()
        for m in valid:
            v, d, st = int(m.vm), int(m.target), int(m.step)
            cpu[d] += self.cpu_load[v]
            mem[d] += self.arrival_mem(m)
            run[d] += self.consumes[v]
            if self.cpu_load[v] > 0 and cpu[d] > self.cpu_cap[d] and (d, "c") not in reported:
                reported.add((d, "c"))
                self.add(
                    "capacity_cpu",
                    f"step {st}: during wave {w} node {hn[d]} would need "
                    f"{cpu[d] / 1000:.2f} logical processors for VMs but has "
                    f"{self.cpu_cap[d] / 1000:.2f}",
                    st,
                    (v,),
                    (d,),
                )
            if mem[d] > self.mem_cap[d] and self.arrival_mem(m) > 0 and (d, "m") not in reported:
                reported.add((d, "m"))
                self.add(
                    "capacity_memory",
                    f"step {st}: during wave {w} node {hn[d]} would "
                    f"need {mem[d]} MB for VMs but has {self.mem_cap[d]} MB",
                    st,
                    (v,),
                    (d,),
                )
            if self.consumes[v] and run[d] > self.run_cap[d] and (d, "r") not in reported:
                reported.add((d, "r"))
                self.add(
                    "running_vms",
                    f"step {st}: during wave {w} node {hn[d]} would run "
                    f"{run[d]} VMs, its limit is {self.run_cap[d]}",
                    st,
                    (v,),
                    (d,),
                )

    def check_apart(self, w: int, valid: list[MoveLike]) -> None:
        """DifferentNode/DifferentFaultDomain: arrivals against members present or
        arriving."""
        c, hn, vn, fd, pos = self.c, self.c.host_names, self.c.vm_names, self.fd, self.pos
        arrivals = {int(m.vm): m for m in valid}
        for i, rule, members, by_node in self.apart:
            if not any(x in arrivals for x in members):
                continue
            present: dict[int, list[int]] = {}
            for x in members:
                present.setdefault(pos[x] if by_node else fd[pos[x]], []).append(x)
                if x in arrivals:
                    t = int(arrivals[x].target)
                    present.setdefault(t if by_node else fd[t], []).append(x)
            for x in members:
                if x not in arrivals:
                    continue
                mv = arrivals[x]
                t = int(mv.target)
                others = sorted({o for o in present[t if by_node else fd[t]] if o != x})
                if others:
                    what = f"node {hn[t]}" if by_node else f"fault domain {c.fault_domains[fd[t]]}"
                    self.add(
                        "different_node" if by_node else "different_fault_domain",
                        f"step {mv.step}: VM {vn[x]} arrives on {what} while "
                        + ", ".join(vn[o] for o in others)
                        + f" (same {rule.type_name} rule '{rule.name}') is there in "
                        f"wave {w}",
                        int(mv.step),
                        (x, *others),
                        (t,),
                        i,
                    )

    def apply(
        self, w: int, wave: list[MoveLike], valid: list[MoveLike], target: np.ndarray
    ) -> None:
        """Apply a wave and check that SameNode groups were not split by it."""
        before = list(self.pos)
        for m in valid:
            v, s, d = int(m.vm), int(m.source), int(m.target)
            arrive = self.arrival_mem(m)
            self.cpu[s] -= self.cpu_load[v]
            self.mem[s] -= self.mem_load[v]
            self.run[s] -= self.consumes[v]
            self.cpu[d] += self.cpu_load[v]
            self.mem[d] += arrive
            self.run[d] += self.consumes[v]
            self.mem_load[v] = arrive
            self.pos[v] = d
            if int(m.kind) in (MoveKind.SHUTDOWN, MoveKind.START):
                self.boot[v] = d  # it boots again on the target and sees that node's features
        arrivals = {int(m.vm): m for m in valid}
        hn = self.c.host_names
        for i, r, members in self.together:
            was = {before[x] for x in members}
            now = {self.pos[x] for x in members}
            nodes = was | {int(target[x]) for x in members}
            if len(members) > min(self.limit[h] for h in nodes):
                continue  # too large to move in one wave: the limit decides
            if len(was) == 1 and len(now) > 1:
                steps = [int(arrivals[x].step) for x in members if x in arrivals]
                st = min(steps) if steps else int(wave[0].step)
                self.add(
                    "same_node",
                    f"step {st}: members of SameNode rule '{r.name}' are "
                    "split over " + ", ".join(hn[h] for h in sorted(now)) + f" after wave {w}",
                    st,
                    members,
                    sorted(now),
                    i,
                )


def _check_order(moves: Sequence[MoveLike], out: list[Violation]) -> None:
    for i, m in enumerate(moves):
        if int(m.step) != i + 1:
            out.append(
                Violation(
                    "order",
                    f"step {m.step} is row {i + 1} of the plan; steps "
                    "must be numbered 1, 2, ... in order",
                    step=int(m.step),
                )
            )
            break
    for a, b in zip(moves, moves[1:], strict=False):
        if int(b.wave) < int(a.wave):
            out.append(
                Violation(
                    "order",
                    f"step {b.step} is in wave {b.wave} after a step of "
                    f"wave {a.wave}; waves must not go back",
                    step=int(b.step),
                )
            )
            break


def verify_sequence(
    cluster: Cluster,
    moves: Sequence[MoveLike],
    target: np.ndarray,
    drained: Iterable[int] = (),
    start: np.ndarray | None = None,
    boot: np.ndarray | None = None,
) -> list[Violation]:
    """Re-simulate ``moves`` (in step order) and return every violation.

    Parameters
    ----------
    cluster:
        The snapshot.
    moves:
        The steps, in order.
    target:
        The placement the moves must end on.
    drained:
        Nodes being drained (they receive nothing).
    start:
        Placement before the first move (default: the snapshot's); a rollback starts from
        the planned placement.
    boot:
        Node each VM booted on, whose features it presents (default: ``start``).

    Returns
    -------
    list[Violation]
        Empty when the sequence is executable and ends on ``target``.
    """
    return replay_sequence(cluster, moves, target, drained, start, boot)[0]


def replay_sequence(
    cluster: Cluster,
    moves: Sequence[MoveLike],
    target: np.ndarray,
    drained: Iterable[int] = (),
    start: np.ndarray | None = None,
    boot: np.ndarray | None = None,
) -> tuple[list[Violation], np.ndarray]:
    """:func:`verify_sequence` that also returns where the moves leave every VM (moves
    that break a rule are applied; moves that cannot start where they say are skipped)."""
    c = cluster
    tgt = np.asarray(target)
    st0 = np.asarray(c.vm_host if start is None else start, dtype=np.int64)
    if tgt.shape != (c.n_vms,):
        return [
            Violation("placement", f"the target placement has {tgt.size} entries for {c.n_vms} VMs")
        ], st0.copy()
    rp = _Replay(c, st0, st0 if boot is None else np.asarray(boot), {int(d) for d in drained})
    ordered = list(moves)
    _check_order(ordered, rp.out)
    waves: list[list[MoveLike]] = []
    for m in ordered:
        if not waves or int(m.wave) != int(waves[-1][0].wave):
            waves.append([m])
        else:
            waves[-1].append(m)
    for wave in waves:
        w = int(wave[0].wave)
        seen: set[int] = set()
        valid = [m for m in wave if rp.check_step(m, seen)]
        rp.check_limits(w, valid)
        rp.check_capacity(w, valid)
        rp.check_apart(w, valid)
        rp.apply(w, wave, valid, tgt)
    hn, vn = c.host_names, c.vm_names
    wrong = [v for v in range(c.n_vms) if rp.pos[v] != int(tgt[v])]
    for v in wrong[:50]:
        rp.add(
            "placement",
            f"VM {vn[v]} ends on {hn[rp.pos[v]]}, the target placement puts "
            f"it on {hn[int(tgt[v])]}",
            None,
            (v,),
            (int(tgt[v]),),
        )
    if len(wrong) > 50:
        rp.add("placement", f"{len(wrong) - 50} more VMs do not end on their target", None)
    return rp.out, np.asarray(rp.pos, dtype=np.int64)


__all__ = [
    "MoveLike",
    "PlannedMove",
    "expected_kind",
    "live_migration_network",
    "presented_features",
    "read_plan_csv",
    "replay_sequence",
    "verify_sequence",
]
