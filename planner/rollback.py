"""The way back: a safe sequence from the planned placement to the original one.

``rollback.ps1`` is not the plan run backwards: it is a sequence of its own, built by the
same sequencer (:func:`planner.sequencing.build_sequence`) from the state the plan leaves
(every VM on its planned node, VMs that were started or shut down holding their boot
memory) to the snapshot's placement, so capacity (a moving VM on both ends), the running-VM
limit, live-migration limits and the DifferentNode / DifferentFaultDomain rules hold at
every step of it, as for the plan.

A VM is **kept** where the plan put it (and named with the reason) when it cannot or must
not go back:

* its original node is not Up (Paused or Down): nothing moves onto such a node; this covers
  every VM the plan *started* from a Down node;
* its original node is not one of its possible owners (the plan had to move it);
* a SameNode partner that shares its node after the plan is kept (the group stays whole);
* no move can take it back (e.g. a Shutdown move back that its settings no longer allow);
* moving it back would break again an affinity rule or an enforced anti-affinity class that
  the original placement broke and the plan repaired: Windows refuses a move that breaks an
  enabled rule, and undoing a repair is not what a rollback is for.  The rule is named in
  the reason;
* no safe order exists for its move back (the sequencer's stuck moves, after up to
  ``MAX_ROUNDS`` attempts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from planner.checks import RuleRef, anti_affinity_violations, rule_violations
from planner.cluster import Cluster, HostState, MoveKind
from planner.planrows import PlanMove
from planner.sequencing import SequenceOptions, SequenceResult, build_sequence

#: Attempts at ordering the way back, each keeping the VMs whose moves got stuck.
MAX_ROUNDS = 3

#: The ``reason`` of every rollback move.
ROLLBACK_REASON = "rollback: back to its node before the plan"


@dataclass(frozen=True)
class RollbackResult:
    """The way back from a plan.

    Attributes
    ----------
    sequence:
        The rollback's moves, ordered (steps and waves from 1; source = planned node,
        target = original node).
    kept:
        ``(vm, reason)`` for every moved VM that the rollback leaves where the plan put it.
    target:
        Host per VM at the end of the rollback.
    """

    sequence: SequenceResult
    kept: tuple[tuple[int, str], ...]
    target: np.ndarray

    def to_dict(self, cluster: Cluster) -> dict[str, object]:
        """The ``rollback`` entry of ``summary.json``."""
        return {
            "moves": len(self.sequence.moves),
            "waves": self.sequence.waves,
            "estimated_seconds": round(self.sequence.estimated_seconds, 1),
            "kept": [
                {
                    "vm": cluster.vm_names[v],
                    "host": cluster.host_names[int(self.target[v])],
                    "reason": why,
                }
                for v, why in self.kept
            ],
        }


def rollback_kinds(cluster: Cluster, moves: Sequence[PlanMove]) -> np.ndarray:
    """``(V, H)`` move kinds from the planned placement: a VM moved Live or Quick still
    presents the features of the node it booted on (the snapshot's), so the snapshot's kinds
    hold; a VM that was shut down booted on its target and goes back by the kind that
    node's features give (Live when they allow it, else Shutdown); a started one stays."""
    from planner.verify_sequence import expected_kind

    kinds = cluster.vm_move_kind.copy()
    for m in moves:
        if m.kind in (MoveKind.SHUTDOWN, MoveKind.START):
            home = int(cluster.vm_host[m.vm])
            kinds[m.vm, :] = MoveKind.FORBIDDEN
            if m.kind == MoveKind.SHUTDOWN:
                # It now presents the features of the node it booted on (the plan's
                # target): back home Live when that node's features allow it, else by
                # another Shutdown move (when downtime is allowed).
                kinds[m.vm, home] = expected_kind(
                    cluster, m.vm, int(m.target), home, source=int(m.target)
                )
    return kinds


def _rules_broken(cluster: Cluster, placement: np.ndarray) -> dict[RuleRef, tuple[int, ...]]:
    """Enabled rules and enforced anti-affinity classes broken by ``placement``: rule →
    the VM indices of its violations."""
    out: dict[RuleRef, tuple[int, ...]] = {}
    for v in rule_violations(cluster, placement) + anti_affinity_violations(cluster, placement):
        if v.hard and v.rule is not None:
            out[v.rule] = tuple(sorted(set(out.get(v.rule, ())) | set(v.vms)))
    return out


def _keep_for_rules(
    cluster: Cluster, placement: np.ndarray, target: np.ndarray, kept: dict[int, str]
) -> None:
    """Keep the moved VMs of every rule the way back would break again (in place)."""
    after_plan = _rules_broken(cluster, placement)
    for _ in range(cluster.n_vms + 1):
        again = {r: vs for r, vs in _rules_broken(cluster, target).items() if r not in after_plan}
        changed = False
        for rule, vms in sorted(again.items(), key=lambda kv: (kv[0].name(cluster), kv[0])):
            for v in vms:
                if target[v] != placement[v]:
                    target[v] = placement[v]
                    kept[v] = (
                        f"moving it back would break again rule '{rule.name(cluster)}', which the "
                        "original placement broke and the plan repaired"
                    )
                    changed = True
        if not changed:
            return


def rollback_sequence(
    cluster: Cluster,
    placement: np.ndarray,
    moves: Sequence[PlanMove],
    options: SequenceOptions | None = None,
) -> RollbackResult:
    """The safe way back from ``placement`` (reached by ``moves``) to the snapshot.

    Parameters
    ----------
    cluster:
        The snapshot.
    placement:
        Host per VM after the plan.
    moves:
        The plan's moves (to know which VMs booted again on their target).
    options:
        Sequencer settings (its ``check_target`` and ``evacuate_first`` are turned off: the
        original placement is not judged as a plan target, and nothing is evacuated).

    Returns
    -------
    RollbackResult
        The sequence, the VMs kept where the plan put them (with the reason) and the
        placement the rollback ends on.  The sequence is always executable (``ok``); at
        worst it moves nothing.
    """
    p = np.asarray(placement, dtype=np.int64)
    home = cluster.vm_host.astype(np.int64)
    kinds = rollback_kinds(cluster, moves)
    target = home.copy()
    kept: dict[int, str] = {}
    for v in np.flatnonzero(p != home).tolist():
        h = int(home[v])
        if cluster.host_state[h] != HostState.UP:
            state = HostState(int(cluster.host_state[h])).name.title()
            kept[v] = f"its node before the plan, {cluster.host_names[h]}, is {state}"
        elif not cluster.vm_possible[v, h]:
            kept[v] = f"its node before the plan, {cluster.host_names[h]}, is not a possible owner"
        elif kinds[v, h] == MoveKind.FORBIDDEN:
            kept[v] = f"no move can take it back to {cluster.host_names[h]}"
    _keep_partners(cluster, p, home, kept)
    for v in kept:
        target[v] = p[v]
    _keep_for_rules(cluster, p, target, kept)
    base = options or SequenceOptions()
    opts = SequenceOptions(
        base.durations,
        base.temporary_hops,
        base.max_temporary_moves,
        check_target=False,
        evacuate_first=False,
    )
    reasons = {v: ROLLBACK_REASON for v in range(cluster.n_vms)}
    seq = build_sequence(cluster, target, (), reasons, opts, start=p, kinds=kinds)
    for _ in range(MAX_ROUNDS):
        if seq.ok or not seq.stuck_vms:
            break
        for v in seq.stuck_vms:
            target[v] = p[v]
            kept[v] = "no safe order was found for its move back"
        seq = build_sequence(cluster, target, (), reasons, opts, start=p, kinds=kinds)
    if not seq.ok:
        target = p.copy()
        for v in np.flatnonzero(p != home).tolist():
            kept.setdefault(v, f"no safe way back was found: {seq.message}")
        seq = build_sequence(cluster, target, (), reasons, opts, start=p, kinds=kinds)
    return RollbackResult(seq, tuple(sorted(kept.items())), target)


def _keep_partners(cluster: Cluster, p: np.ndarray, home: np.ndarray, kept: dict[int, str]) -> None:
    """A kept VM keeps its SameNode partners that share its node after the plan (moving them
    back alone would split the group)."""
    groups = cluster.same_node_groups
    for v in list(kept):
        for w in groups.get(v, ()):
            if w not in kept and p[w] == p[v] and p[w] != home[w]:
                kept[w] = f"it stays with {cluster.vm_names[v]} (SameNode rule), which stays"


def kept_names(cluster: Cluster, kept: Iterable[tuple[int, str]]) -> list[str]:
    """Names of kept VMs (for messages)."""
    return [cluster.vm_names[v] for v, _ in kept]


__all__ = [
    "MAX_ROUNDS",
    "ROLLBACK_REASON",
    "RollbackResult",
    "kept_names",
    "rollback_kinds",
    "rollback_sequence",
]
