"""Independent verification of a migration sequence (``plan.csv``) against a snapshot.

Nothing here trusts the code that built the sequence (it imports neither the sequencer nor
OR-Tools): the plan is re-simulated wave by wave from the snapshot alone and every rule of
SPEC §3 "During execution" is recomputed:

* steps are numbered 1, 2, ... in order and waves never go back; a VM moves at most once per
  wave; a move starts where the VM is at that point and goes somewhere else;
* pinned VMs do not move; targets are Up, not drained and possible owners of the VM;
* the move kind follows SPEC §3 from the feature set the VM *booted* with (its snapshot host,
  or the target of an earlier Shutdown move, after which it boots again): Live for
  Running/Paused VMs to a same-vendor node offering that set, Shutdown otherwise and only with
  ``allow_downtime``, Quick for Off VMs and for Saved VMs to compatible nodes;
* capacity: during a wave each node carries its VMs at the wave's start plus every VM
  arriving in the wave (a moving VM counts at both ends); a node that receives load must stay
  within 100 % of CPU and memory available to VMs;
* enabled DifferentNode / DifferentFaultDomain rules: a member never arrives on a node
  (domain) where another member is, or arrives, during that wave;
* migration limits: a node takes part in at most ``host_migration_limit`` moves per wave, with
  no exception;
* SameNode rules: members that were together before a wave are together after it, unless the
  group is larger than the smallest migration limit of the nodes it moves between (then it
  has to move in several waves);
* the final state equals the target placement.

Violations carry ``step`` (the failing step) and name the VM and node.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from planner.checks import Violation
from planner.cluster import (
    MOVE_KIND_NAMES,
    Cluster,
    CompatMode,
    HostState,
    MoveKind,
    RuleType,
    VmState,
)


class MoveLike(Protocol):
    """What the verifier reads of a move: ``step, wave, vm, source, target`` (indices) and
    the move kind, either as ``kind`` (:class:`MoveKind` or its int value, as
    ``planner.sequencing.Move`` has it) or as ``migration_type`` (``"Live"``, ``"Quick"``,
    ``"Shutdown"``, as in ``plan.csv``)."""

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


_KIND_BY_NAME = {"live": MoveKind.LIVE, "quick": MoveKind.QUICK, "shutdown": MoveKind.SHUTDOWN,
                 "start": MoveKind.START}


def _kind_of(move: object) -> int | None:
    """The move kind as an int (None when the move carries none that is recognised)."""
    kind = getattr(move, "kind", None)
    if kind is not None:
        try:
            return int(kind)
        except (TypeError, ValueError):
            return _KIND_BY_NAME.get(str(kind).casefold())
    name = getattr(move, "migration_type", None)
    if name is None:
        return None
    got = _KIND_BY_NAME.get(str(name).strip().casefold())
    return None if got is None else int(got)


@dataclass(frozen=True)
class PlannedMove:
    """A move read back from ``plan.csv`` (indices instead of names)."""

    step: int
    wave: int
    vm: int
    source: int
    target: int
    kind: MoveKind
    temporary: bool = False


# ----------------------------------------------------------------------------- move kinds
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


def expected_kind(cluster: Cluster, vm: int, boot_host: int, dest: int) -> MoveKind:
    """How VM ``vm`` (booted on ``boot_host``) can move to ``dest`` per SPEC §3."""
    c = cluster
    state = int(c.vm_state[vm])
    if int(c.host_state[boot_host]) == HostState.DOWN:
        # Listed on a Down node: not running there; a running one is started elsewhere.
        consuming = state in (VmState.RUNNING, VmState.PAUSED)
        return MoveKind.START if consuming else MoveKind.FORBIDDEN
    if state == VmState.OFF:
        return MoveKind.QUICK
    same_vendor = int(c.host_vendor[boot_host]) == int(c.host_vendor[dest])
    pres = presented_features(c, vm, boot_host)
    compatible = same_vendor and not bool((pres & ~c.host_features[dest]).any())
    if state == VmState.SAVED:
        return MoveKind.QUICK if compatible else MoveKind.FORBIDDEN
    if compatible and c.live_migration_possible:
        return MoveKind.LIVE
    return MoveKind.SHUTDOWN if bool(c.vm_allow_downtime[vm]) else MoveKind.FORBIDDEN


# ----------------------------------------------------------------------------- verification
def verify_sequence(
    cluster: Cluster,
    moves: Sequence[MoveLike],
    target: np.ndarray,
    drained: Iterable[int] = (),
) -> list[Violation]:
    """Re-simulate ``moves`` (in step order) from the snapshot and return every violation.

    An empty list means the sequence is executable and ends in ``target``.
    """
    c = cluster
    hn, vn = c.host_names, c.vm_names
    H, V = c.n_hosts, c.n_vms
    tgt = np.asarray(target)
    out: list[Violation] = []
    if tgt.shape != (V,):
        return [Violation("target", f"the target placement has {tgt.size} entries for {V} VMs")]
    drained_set = {int(d) for d in drained}

    pos = [int(h) for h in c.vm_host]
    boot = list(pos)
    cpu_load = [int(x) for x in c.vm_cpu_load_milli]
    mem_load = [int(x) for x in c.vm_mem_load_mb]
    cpu = [0] * H
    mem = [0] * H
    for v, h in enumerate(pos):
        cpu[h] += cpu_load[v]
        mem[h] += mem_load[v]
    cpu_cap = [int(x) for x in c.host_cpu_free_milli]
    mem_cap = [int(x) for x in c.host_memory_free_mb]
    limit = [int(x) for x in c.host_migration_limit]
    fd = [int(x) for x in c.host_fault_domain]
    apart = [(r, r.rule_type == RuleType.DIFFERENT_NODE) for r in c.enabled_rules
             if len(r.members) >= 2 and r.rule_type in (RuleType.DIFFERENT_NODE,
                                                        RuleType.DIFFERENT_FAULT_DOMAIN)]
    together = [r for r in c.enabled_rules
                if r.rule_type == RuleType.SAME_NODE and len(r.members) >= 2]

    ordered = list(moves)
    # Order of steps and waves.
    for i, m in enumerate(ordered):
        if int(m.step) != i + 1:
            out.append(Violation("order", f"step {m.step} is row {i + 1} of the plan; steps "
                                 "must be numbered 1, 2, ... in order", step=int(m.step)))
            break
    for a, b in zip(ordered, ordered[1:], strict=False):
        if int(b.wave) < int(a.wave):
            out.append(Violation("order", f"step {b.step} is in wave {b.wave} after a step of "
                                 f"wave {a.wave}; waves must not go back", step=int(b.step)))
            break

    waves: list[list[MoveLike]] = []
    for m in ordered:
        if not waves or int(m.wave) != int(waves[-1][0].wave):
            waves.append([m])
        else:
            waves[-1].append(m)

    for wave in waves:
        w = int(wave[0].wave)
        seen: set[int] = set()
        valid: list[MoveLike] = []
        for m in wave:
            v, s, d, st = int(m.vm), int(m.source), int(m.target), int(m.step)
            if not (0 <= v < V and 0 <= s < H and 0 <= d < H):
                out.append(Violation("unknown", f"step {st} refers to an unknown VM or node",
                                     step=st))
                continue
            if v in seen:
                out.append(Violation("twice_in_wave", f"step {st}: VM {vn[v]} moves twice in "
                                     f"wave {w}", vms=(vn[v],), hosts=(hn[d],), step=st))
                continue
            seen.add(v)
            if pos[v] != s:
                out.append(Violation("wrong_source", f"step {st}: VM {vn[v]} is on "
                                     f"{hn[pos[v]]} at that point, not on {hn[s]}",
                                     vms=(vn[v],), hosts=(hn[pos[v]], hn[s]), step=st))
                continue
            if s == d:
                out.append(Violation("no_op", f"step {st}: VM {vn[v]} 'moves' from {hn[s]} to "
                                     "the same node", vms=(vn[v],), hosts=(hn[s],), step=st))
                continue
            if c.vm_pinned[v]:
                out.append(Violation("pinned", f"step {st}: VM {vn[v]} is pinned to "
                                     f"{hn[int(c.vm_host[v])]} but is moved",
                                     vms=(vn[v],), hosts=(hn[d],), step=st))
            if c.host_state[d] != HostState.UP:
                state = HostState(int(c.host_state[d])).name.title()
                out.append(Violation("host_not_up", f"step {st}: VM {vn[v]} is moved to "
                                     f"{hn[d]}, which is {state}", vms=(vn[v],),
                                     hosts=(hn[d],), step=st))
            if d in drained_set:
                out.append(Violation("drained", f"step {st}: VM {vn[v]} is moved to {hn[d]}, "
                                     "which is being drained", vms=(vn[v],), hosts=(hn[d],),
                                     step=st))
            if not c.vm_possible[v, d]:
                out.append(Violation("possible_owners", f"step {st}: {hn[d]} is not a "
                                     f"possible owner of VM {vn[v]}", vms=(vn[v],),
                                     hosts=(hn[d],), step=st))
            want = expected_kind(c, v, boot[v], d)
            got = _kind_of(m)
            if want == MoveKind.FORBIDDEN:
                out.append(Violation("move_kind", f"step {st}: VM {vn[v]} cannot move to "
                                     f"{hn[d]} at all (CPU vendor or feature set, and no "
                                     "downtime allowed or saved state)", vms=(vn[v],),
                                     hosts=(hn[d],), step=st))
            elif got != want:
                got_name = (MOVE_KIND_NAMES[MoveKind(got)] if got in (0, 1, 2, 3)
                            else repr(getattr(m, "migration_type", getattr(m, "kind", None))))
                out.append(Violation("move_kind", f"step {st}: VM {vn[v]} to {hn[d]} must "
                                     f"move {MOVE_KIND_NAMES[want]}, the plan says {got_name}",
                                     vms=(vn[v],), hosts=(hn[d],), step=st))
            valid.append(m)

        # Migration limits: moves each node takes part in during this wave.
        touching: dict[int, list[MoveLike]] = {}
        for m in valid:
            touching.setdefault(int(m.source), []).append(m)
            touching.setdefault(int(m.target), []).append(m)
        for h, ms in sorted(touching.items()):
            if len(ms) <= limit[h]:
                continue
            st = int(ms[limit[h]].step)
            out.append(Violation("migration_limit", f"step {st}: node {hn[h]} takes part in "
                                 f"{len(ms)} moves of wave {w}, its limit is {limit[h]}",
                                 vms=tuple(vn[int(m.vm)] for m in ms), hosts=(hn[h],),
                                 step=st))

        # Capacity with arrivals counted while the sources still hold the VMs.
        peak_cpu = list(cpu)
        peak_mem = list(mem)
        reported: set[tuple[int, str]] = set()
        for m in valid:
            v, d, st = int(m.vm), int(m.target), int(m.step)
            peak_cpu[d] += cpu_load[v]
            peak_mem[d] += mem_load[v]
            if cpu_load[v] > 0 and peak_cpu[d] > cpu_cap[d] and (d, "cpu") not in reported:
                reported.add((d, "cpu"))
                out.append(Violation("capacity_cpu", f"step {st}: during wave {w} node {hn[d]} "
                                     f"would need {peak_cpu[d] / 1000:.2f} logical processors "
                                     f"for VMs but has {cpu_cap[d] / 1000:.2f}",
                                     vms=(vn[v],), hosts=(hn[d],), step=st))
            if mem_load[v] > 0 and peak_mem[d] > mem_cap[d] and (d, "mem") not in reported:
                reported.add((d, "mem"))
                out.append(Violation("capacity_memory", f"step {st}: during wave {w} node "
                                     f"{hn[d]} would need {peak_mem[d]} MB for VMs but has "
                                     f"{mem_cap[d]} MB", vms=(vn[v],), hosts=(hn[d],),
                                     step=st))

        # Anti-affinity: arrivals against members present at the start or arriving.
        arrivals = {int(m.vm): m for m in valid}
        for rule, by_node in apart:
            def place(h: int, by_node: bool = by_node) -> int:
                return h if by_node else fd[h]
            present: dict[int, list[int]] = {}
            for mbr in rule.members:
                present.setdefault(place(pos[mbr]), []).append(mbr)
            for mbr in rule.members:
                if mbr in arrivals:
                    present.setdefault(place(int(arrivals[mbr].target)), []).append(mbr)
            for mbr in rule.members:
                if mbr not in arrivals:
                    continue
                mv = arrivals[mbr]
                where = place(int(mv.target))
                others = sorted({o for o in present[where] if o != mbr})
                if others:
                    what = (f"node {hn[int(mv.target)]}" if by_node
                            else f"fault domain {c.fault_domains[where]}")
                    out.append(Violation(
                        "different_node" if by_node else "different_fault_domain",
                        f"step {mv.step}: VM {vn[mbr]} arrives on {what} while "
                        + ", ".join(vn[o] for o in others)
                        + f" (same {rule.type_name} rule '{rule.name}') is there in wave {w}",
                        rule=rule.name, vms=(vn[mbr], *(vn[o] for o in others)),
                        hosts=(hn[int(mv.target)],), step=int(mv.step)))

        # Apply the wave.
        before = list(pos)
        for m in valid:
            v, s, d = int(m.vm), int(m.source), int(m.target)
            cpu[s] -= cpu_load[v]
            mem[s] -= mem_load[v]
            cpu[d] += cpu_load[v]
            mem[d] += mem_load[v]
            pos[v] = d
            if _kind_of(m) in (MoveKind.SHUTDOWN, MoveKind.START):
                boot[v] = d  # it boots again on the target and sees that node's features
        for r in together:
            was = {before[x] for x in r.members}
            now = {pos[x] for x in r.members}
            nodes = was | {int(tgt[x]) for x in r.members}
            if len(r.members) > min(limit[h] for h in nodes):
                continue  # too large to move in one wave: the limit decides
            if len(was) == 1 and len(now) > 1:
                steps = [int(arrivals[x].step) for x in r.members if x in arrivals]
                st = min(steps) if steps else int(wave[0].step)
                out.append(Violation("same_node", f"step {st}: members of SameNode rule "
                                     f"'{r.name}' are split over "
                                     + ", ".join(hn[h] for h in sorted(now))
                                     + f" after wave {w}", rule=r.name,
                                     vms=tuple(vn[x] for x in r.members),
                                     hosts=tuple(hn[h] for h in sorted(now)), step=st))

    wrong = [v for v in range(V) if pos[v] != int(tgt[v])]
    for v in wrong[:50]:
        out.append(Violation("final_state", f"VM {vn[v]} ends on {hn[pos[v]]}, the target "
                             f"placement puts it on {hn[int(tgt[v])]}", vms=(vn[v],),
                             hosts=(hn[pos[v]], hn[int(tgt[v])])))
    if len(wrong) > 50:
        out.append(Violation("final_state", f"{len(wrong) - 50} more VMs do not end on their "
                             "target"))
    return out


# ----------------------------------------------------------------------------- plan.csv
_TRUE = {"true", "1", "yes"}


def read_plan_csv(cluster: Cluster, path: str | Path) -> tuple[list[PlannedMove], list[Violation]]:
    """Read ``plan.csv`` back into moves (names → indices, case-insensitive).

    Problems (missing columns, unknown names, bad numbers or migration types) come back as
    ``Violation(kind="plan_file", ...)`` naming the row; such rows are skipped.
    """
    p = Path(path)
    moves: list[PlannedMove] = []
    problems: list[Violation] = []
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        return [], [Violation("plan_file", f"{p}: cannot read the plan: {e}")]
    reader = csv.DictReader(text.splitlines())
    cols = {(f or "").strip().casefold(): f for f in (reader.fieldnames or [])}
    needed = ("step", "wave", "vm", "source", "target", "migration_type")
    missing = [n for n in needed if n not in cols]
    if missing:
        return [], [Violation("plan_file", f"{p.name}: missing column(s) "
                              + ", ".join(missing))]
    for row_no, row in enumerate(reader, start=2):
        def get(name: str, row: dict[str, str] = row) -> str:
            key = cols.get(name)
            return (row.get(key) or "").strip() if key is not None else ""
        try:
            step, wave = int(get("step")), int(get("wave"))
        except ValueError:
            problems.append(Violation("plan_file", f"{p.name}, row {row_no}: step and wave "
                                      f"must be integers, got {get('step')!r}, {get('wave')!r}"))
            continue
        v = cluster.vm_index.get(get("vm").casefold())
        s = cluster.host_index.get(get("source").casefold())
        d = cluster.host_index.get(get("target").casefold())
        kind = _KIND_BY_NAME.get(get("migration_type").casefold())
        bad = [f"{n} {get(n)!r}" for n, x in (("vm", v), ("source", s), ("target", d),
                                               ("migration_type", kind)) if x is None]
        if bad or v is None or s is None or d is None or kind is None:
            problems.append(Violation("plan_file", f"{p.name}, row {row_no}: unknown "
                                      + ", ".join(bad), step=step))
            continue
        moves.append(PlannedMove(step, wave, v, s, d, kind, get("temporary").casefold()
                                 in _TRUE))
    return moves, problems


__all__ = ["MoveLike", "PlannedMove", "expected_kind", "presented_features", "read_plan_csv",
           "verify_sequence"]
