"""Independent verification of a plan: trusts neither the solver nor the sequencer.

Never imports OR-Tools or the optimizer, and never calls the sequencer.
:func:`verify_plan_data` checks a plan held in memory (what :func:`planner.plan` does
before anything is written);
:func:`verify_plan` reads a plan directory (:func:`planner.planrows.read_plan_files`) and
checks that.  In this order:

1. **identity**: the plan was made from this snapshot (``snapshot_sha256`` of summary.json
   against the loader's hash).  When it was not, that is the only violation reported;
2. **files**: every file is there and every row/column/value of plan.csv and placement.csv
   reads (one ``plan_file`` violation per bad row); summary.json is a JSON object whose
   numbers are finite (no NaN or infinity);
3. **the sequence**, re-simulated wave by wave (:func:`planner.verify_sequence.
   verify_sequence`): sources, migration types (Start from Down nodes, no Live without a
   live-migration network), targets, configuration versions, capacity with a moving VM on
   both ends, running VMs per node, live-migration limits, Different* rules at every moment,
   SameNode groups, and that the plan ends on placement.csv;
4. **the final placement**: every hard rule (:func:`planner.checks.placement_violations`);
   a rule that holds now must hold after the plan; a rule broken now may stay broken only
   when ``rules_left_broken`` names it;
5. **summary.json**: the move counts, memory moved, downtime moves, waves and every
   objective term it states are recomputed;
6. **the runbooks**: plan.ps1 carries exactly the moves of plan.csv (same steps, waves, VMs,
   nodes, types); rollback.ps1 is a safe sequence of its own from placement.csv back to the
   snapshot's placement (re-simulated like the plan), except the VMs summary.json's
   ``rollback.kept`` names.

Each mistake yields exactly one violation (:func:`planner.violation.dedupe`; one kind
vocabulary, :data:`planner.violation.KINDS`).  Violations hold indices; the report's
:attr:`VerifyReport.violations` names them from the cluster
(:meth:`planner.violation.Violation.to_dict`).
"""

from __future__ import annotations

import math
import sys as _sys
import types as _types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from planner.checks import (
    RULE_KINDS,
    Violation,
    anti_affinity_violations,
    dedupe,
    placement_violations,
    rule_violations,
)
from planner.cluster import Cluster, HostState, MoveKind
from planner.loadmodel import Threshold
from planner.planrows import MOVE_KIND_BY_NAME, PlanFiles, PlanMove, read_plan_files
from planner.powershell import runbook_entries
from planner.reference import objective_values as reference_objective
from planner.reference import problem_from_parameters
from planner.verify_sequence import replay_sequence, verify_sequence
from planner.violation import Unresolved, rule_refs


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_plan`; ``ok`` when no violation was found.

    Attributes
    ----------
    cluster:
        The snapshot the plan was checked against (the indices of ``items`` refer to it).
    items:
        The :class:`planner.violation.Violation` found, one per mistake; :attr:`violations`
        is their JSON form (SPEC §6 ``verify --json``: kind, step, vm, host, message),
        named from ``cluster``.
    """

    cluster: Cluster
    items: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the plan passed every check."""
        return not self.items

    @property
    def violations(self) -> list[dict[str, Any]]:
        """The violations as JSON objects, named from :attr:`cluster`."""
        return [v.to_dict(self.cluster) for v in self.items]

    def add(self, kind: str, message: str, step: int | None = None) -> None:
        """Record one violation about the plan's files as a whole (no VM, node or rule)."""
        self.items.append(Violation(kind, message, step=step))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (SPEC §6 ``verify --json``)."""
        return {"ok": self.ok, "violations": self.violations}


# ----------------------------------------------------------------------------- summary.json
class _Bad(ValueError):
    """A summary.json value that is missing or of the wrong type."""


def non_finite_keys(data: object, path: str = "") -> list[str]:
    """Dotted keys of every NaN or infinite number inside ``data``."""
    if isinstance(data, float):
        return [] if math.isfinite(data) else [path or "(top)"]
    if isinstance(data, dict):
        return [
            k
            for key, val in data.items()
            for k in non_finite_keys(val, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(data, list):
        return [k for i, val in enumerate(data) for k in non_finite_keys(val, f"{path}[{i}]")]
    return []


def _int(summary: dict[str, Any], key: str) -> int | None:
    """An integer value of summary.json (None when absent)."""
    val = summary.get(key)
    if val is None:
        return None
    if isinstance(val, bool) or not isinstance(val, int | float) or float(val) != int(val):
        raise _Bad(f"{key} must be an integer, got {val!r}")
    return int(val)


def _drained(cluster: Cluster, summary: dict[str, Any], rep: VerifyReport) -> list[int]:
    names = summary.get("drained")
    if names is None:
        names = (summary.get("parameters") or {}).get("drain", [])
    if not isinstance(names, list):
        rep.add("summary", f"summary.json: drained must be a list of node names, got {names!r}")
        return []
    out = []
    for name in names:
        h = cluster.host_index.get(str(name).casefold())
        if h is None:
            rep.add("summary", f"summary.json drains unknown node {name!r}")
        else:
            out.append(h)
    return out


def _identity(cluster: Cluster, summary: dict[str, Any]) -> Violation | None:
    """The one-line refusal of a plan made from another snapshot."""
    want, got = cluster.snapshot_sha256, summary.get("snapshot_sha256")
    if want is None:
        return None  # a cluster built in memory has no files to hash
    if got is None:
        return Violation(
            "snapshot",
            "summary.json does not say which snapshot the plan was "
            "made from (no snapshot_sha256); make the plan again",
        )
    if str(got).lower() != want.lower():
        return Violation(
            "snapshot",
            f"the plan was made from another snapshot "
            f"(snapshot_sha256 {str(got)[:12]}..., this snapshot "
            f"{want[:12]}...); nothing else was checked",
        )
    return None


# ----------------------------------------------------------------------------- rules
def _rules_left_broken(cluster: Cluster, summary: dict[str, Any], rep: VerifyReport) -> set[str]:
    """Names of the rules summary.json says are left broken (validated)."""
    raw = summary.get("rules_left_broken", [])
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        rep.add(
            "summary",
            "summary.json: rules_left_broken must be a list of objects {rule, vms, reason}",
        )
        return set()
    return {str(x.get("rule")) for x in raw}


def _final_rules(cluster: Cluster, final: list[Violation], named: set[str]) -> list[Violation]:
    """Rule violations of the final placement against the rules broken now: one held now
    must hold; one broken now may stay broken only when named in ``rules_left_broken``
    (``named``: the names summary.json gives)."""
    now = {
        v.rule
        for v in rule_violations(cluster) + anti_affinity_violations(cluster)
        if v.hard and v.rule is not None
    }
    left = {ref for name in named for ref in rule_refs(cluster, name)}
    out: list[Violation] = []
    for v in final:
        if v.kind not in RULE_KINDS or v.rule is None or not v.hard:
            out.append(v)
        elif v.rule not in now:
            out.append(replace(v, message=v.message + " (it holds before the plan)"))
        elif v.rule not in left:
            out.append(
                replace(
                    v,
                    message=v.message
                    + " (broken before the plan, but rules_left_broken does not name it)",
                )
            )
    return out


def _named_not_broken(cluster: Cluster, final: list[Violation], named: set[str]) -> list[Violation]:
    """A ``summary`` violation per name of ``rules_left_broken`` that is not broken after
    the plan (a name the snapshot does not have is carried as unresolved text)."""
    broken = {v.rule for v in final if v.kind in RULE_KINDS and v.hard}
    out = []
    for name in sorted(named):
        refs = rule_refs(cluster, name)
        if set(refs) & broken:
            continue
        out.append(
            Violation(
                "summary",
                f"rules_left_broken names '{name}', which is not broken after the plan",
                rule=refs[0] if refs else None,
                unresolved=None if refs else Unresolved(rule=name),
            )
        )
    return out


# ----------------------------------------------------------------------------- numbers
def _counts(moves: Sequence[PlanMove], summary: dict[str, Any], rep: VerifyReport) -> None:
    """Move counts, memory moved, downtime moves and waves against plan.csv."""
    downtime = (MoveKind.SHUTDOWN, MoveKind.START)
    checks = {
        "moves": len(moves),
        "memory_moved_mb": sum(m.memory_mb for m in moves),
        "downtime_moves": sum(1 for m in moves if m.kind in downtime),
        "waves": max((m.wave for m in moves), default=0),
    }
    for k, val in checks.items():
        try:
            got = _int(summary, k)
        except _Bad as e:
            rep.add("summary", f"summary.json: {e}")
            continue
        if got is not None and got != val:
            rep.add("summary", f"{k}: summary.json says {got}, plan.csv gives {val}")


def _memory_rows(cluster: Cluster, moves: Sequence[PlanMove]) -> list[Violation]:
    return [
        Violation(
            "memory_mb",
            f"step {m.step}: VM {cluster.vm_names[m.vm]} "
            f"has {int(cluster.vm_memory_mb[m.vm])} MB, plan.csv says "
            f"{m.memory_mb}",
            vms=(m.vm,),
            step=m.step,
        )
        for m in moves
        if m.memory_mb != int(cluster.vm_memory_mb[m.vm])
    ]


def _objective(
    cluster: Cluster, final: np.ndarray, summary: dict[str, Any], rep: VerifyReport
) -> None:
    """Every objective term summary.json states, recomputed with the reference
    (:func:`planner.problem.objective_values`) on the problem the plan was made for
    (rebuilt from ``parameters`` and ``threshold_pct``), and the move budget."""
    try:
        t = summary.get("threshold_pct") or {}
        thr = Threshold(
            float(t["cpu"]),
            float(t["memory"]),
            str(summary.get("level", "custom")),
            str(summary.get("threshold_rule", "")),
        )
        params = summary.get("parameters") or {}
        if not isinstance(params, dict):
            raise TypeError("parameters must be an object")
        problem = problem_from_parameters(cluster, params, thr)
        got = reference_objective(problem, final)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        rep.add("summary", f"summary.json lacks what is needed to recompute the objective: {e}")
        return
    moved = int((final != cluster.vm_host).sum())
    if problem.max_moves is not None and moved > problem.max_moves:
        rep.add(
            "move_budget",
            f"the plan moves {moved} VMs, its budget (max_moves) is {problem.max_moves}",
        )
    claimed = summary.get("objectives") or {}
    if not isinstance(claimed, dict):
        rep.add("summary", "summary.json: objectives must be an object")
        return
    samples = params.get("load_samples", 1)
    if isinstance(samples, int) and samples > 1 and "load_sample_indices" not in params:
        # Judged over load samples summary.json does not name (a plan made through the
        # library with its own LoadSamples): the excess and balance tiers depend on them;
        # the other tiers are still recomputed.  With load_sample_indices the samples are
        # rebuilt from the snapshot's history and every tier is recomputed.
        got = {k: v for k, v in got.items() if k not in ("excess", "balance")}
    tier = summary.get("objective_tier")
    scalar = summary.get("objective")
    if tier in got and isinstance(scalar, int | float) and int(scalar) != got[tier]:
        rep.add(
            "objective", f"objective ({tier}): summary.json says {scalar}, recomputed {got[tier]}"
        )
    for k, val in got.items():
        c = claimed.get(k)
        if isinstance(c, int | float) and int(c) != val:
            rep.add("objective", f"objective term {k}: summary.json says {c}, recomputed {val}")


# ----------------------------------------------------------------------------- runbooks
def _runbook_moves(
    cluster: Cluster, name: str, text: str
) -> tuple[list[PlanMove] | None, str | None]:
    """The moves a runbook carries, as plan rows (None and why when it cannot be read)."""
    try:
        entries = runbook_entries(text)
    except ValueError as err:
        return None, f"{name} cannot be read back: {err}"
    out = []
    for e in entries:
        v = cluster.vm_index.get(e.vm.casefold())
        s = cluster.host_index.get(e.source.casefold())
        d = cluster.host_index.get(e.target.casefold())
        k = MOVE_KIND_BY_NAME.get(e.migration_type.casefold())
        if v is None or s is None or d is None or k is None:
            return None, (
                f"{name} step {e.step} moves {e.vm!r} from {e.source!r} to "
                f"{e.target!r}, which are not in the snapshot"
            )
        out.append(PlanMove(e.step, e.wave, v, s, d, k, temporary=e.temporary))
    return out, None


def _check_plan_ps1(cluster: Cluster, moves: Sequence[PlanMove], text: str) -> Violation | None:
    """plan.ps1 carries exactly the moves of plan.csv (one violation at the first
    difference)."""
    got, why = _runbook_moves(cluster, "plan.ps1", text)
    if got is None:
        return Violation("runbook", str(why))
    key = [(m.step, m.wave, m.vm, m.source, m.target, int(m.kind)) for m in got]
    want = [(m.step, m.wave, m.vm, m.source, m.target, int(m.kind)) for m in moves]
    if key == want:
        return None
    for i, (a, b) in enumerate(zip(key, want, strict=False)):
        if a != b:
            return Violation(
                "runbook",
                f"plan.ps1 does not carry the moves of "
                f"plan.csv: its move {i + 1} is {_describe(cluster, a)}, "
                f"plan.csv step {b[0]} is {_describe(cluster, b)}",
                vms=(b[2],),
                step=b[0],
            )
    extra = want[len(key)][0] if len(want) > len(key) else None
    return Violation(
        "runbook", f"plan.ps1 carries {len(key)} moves, plan.csv {len(want)}", step=extra
    )


def _describe(cluster: Cluster, row: tuple[int, int, int, int, int, int]) -> str:
    from planner.cluster import MOVE_KIND_NAMES

    step, wave, v, s, d, k = row
    return (
        f"{cluster.vm_names[v]} {cluster.host_names[s]} → {cluster.host_names[d]} "
        f"{MOVE_KIND_NAMES.get(MoveKind(k), '?')} (wave {wave}, step {step})"
    )


def _check_rollback(
    cluster: Cluster,
    moves: Sequence[PlanMove],
    placement: np.ndarray,
    summary: dict[str, Any],
    text: str,
) -> Violation | None:
    """rollback.ps1 is a safe sequence from ``placement`` back to the snapshot's placement,
    except the VMs summary.json's ``rollback.kept`` names."""
    back, why = _runbook_moves(cluster, "rollback.ps1", text)
    if back is None:
        return Violation("runbook", str(why))
    target = cluster.vm_host.astype(np.int64).copy()
    kept = (
        (summary.get("rollback") or {}).get("kept", [])
        if isinstance(summary.get("rollback"), dict)
        else []
    )
    for item in kept if isinstance(kept, list) else []:
        v = cluster.vm_index.get(str(item.get("vm") if isinstance(item, dict) else item).casefold())
        if v is not None:
            target[v] = placement[v]
    boot = cluster.vm_host.astype(np.int64).copy()
    for m in moves:
        if m.kind in (MoveKind.SHUTDOWN, MoveKind.START):
            boot[m.vm] = m.target
    found = verify_sequence(cluster, back, target, start=placement, boot=boot)
    if not found:
        return None
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return Violation(
        "runbook",
        f"rollback.ps1 is not a safe way back: {found[0].message}" + more,
        vms=found[0].vms[:1],
        step=found[0].step,
    )


# ----------------------------------------------------------------------------- entry points
def verify_plan_data(
    cluster: Cluster,
    moves: Sequence[PlanMove],
    placement: np.ndarray | None,
    summary: dict[str, Any] | None,
    plan_ps1: str | None = None,
    rollback_ps1: str | None = None,
    problems: Iterable[Violation] = (),
) -> VerifyReport:
    """Check a plan held in memory against ``cluster`` (see the module docstring).

    Parameters
    ----------
    cluster:
        The snapshot.
    moves:
        The plan's steps in order (plan.csv).
    placement:
        Host per VM after the plan (placement.csv); None when it could not be read.
    summary:
        The content of summary.json; None when it could not be read.
    plan_ps1, rollback_ps1:
        The runbooks' text; None skips the runbook checks (in memory, before they exist).
    problems:
        Problems already found while reading the files.

    Returns
    -------
    VerifyReport
        ``ok`` when every check passed; else one violation per mistake.
    """
    rep = VerifyReport(cluster)
    if isinstance(summary, dict):
        wrong = _identity(cluster, summary)
        if wrong is not None:
            rep.items.append(wrong)
            return rep
    rep.items.extend(problems)
    if rep.items:
        # A plan whose files do not read is judged no further: every later finding (counts,
        # objective, placement, runbooks) would only echo the bad row or file.
        return rep
    if summary is not None:
        bad = non_finite_keys(summary)
        if bad:
            rep.add(
                "summary",
                "summary.json holds numbers that are not finite (NaN or "
                "infinity): " + ", ".join(bad[:10]),
            )
            return rep
    if placement is None or summary is None:
        return rep
    drained = _drained(cluster, summary, rep)
    named = _rules_left_broken(cluster, summary, rep)
    p = np.asarray(placement, dtype=np.int64)
    # The final placement is where the moves lead; placement.csv is only compared with it.
    found, end = replay_sequence(cluster, moves, p, drained)
    found += _memory_rows(cluster, moves)
    final = placement_violations(cluster, end, drained)
    found += _final_rules(cluster, [v for v in final if v.hard], named)
    found += _named_not_broken(cluster, final, named)
    _counts(moves, summary, rep)
    if "objectives" in summary or "objective" in summary:
        _objective(cluster, end, summary, rep)
    if plan_ps1 is not None:
        v = _check_plan_ps1(cluster, moves, plan_ps1)
        found += [v] if v is not None else []
    if rollback_ps1 is not None and np.array_equal(end, p):
        # (When the moves do not lead to placement.csv, that is already reported.)
        v = _check_rollback(cluster, moves, end, summary, rollback_ps1)
        found += [v] if v is not None else []
    rep.items = dedupe(_drop_runbook_echo(rep.items + found))
    return rep


def _drop_runbook_echo(found: list[Violation]) -> list[Violation]:
    """A plan.csv step edited by hand differs from plan.ps1 too: that difference is the
    same mistake as the step's own violation, so it is not reported again."""
    steps = {v.step for v in found if v.kind != "runbook" and v.step is not None}
    return [v for v in found if not (v.kind == "runbook" and v.step in steps)]


def verify_plan(cluster: Cluster, plan_dir: str | Path) -> VerifyReport:
    """Check the plan files in ``plan_dir`` against ``cluster`` (see the module docstring)."""
    files = read_plan_files(cluster, plan_dir)
    return verify_files(cluster, files)


def verify_files(cluster: Cluster, files: PlanFiles) -> VerifyReport:
    """Check a plan read with :func:`planner.planrows.read_plan_files`."""
    return verify_plan_data(
        cluster,
        files.moves,
        files.placement,
        files.summary,
        files.plan_ps1,
        files.rollback_ps1,
        files.problems,
    )


# ----------------------------------------------------------------------------- helpers
def balance_hosts(cluster: Cluster, drained: Iterable[int] = ()) -> np.ndarray:
    """Hosts counted by the balance term: Up and not drained."""
    mask = cluster.host_state == HostState.UP
    d = list(drained)
    if d:
        mask[np.asarray(d, dtype=int)] = False
    return mask


__all__ = [
    "RULE_KINDS",
    "VerifyReport",
    "balance_hosts",
    "non_finite_keys",
    "verify_files",
    "verify_plan",
    "verify_plan_data",
]


class _CallableModule(_types.ModuleType):
    """``planner.verify(cluster, plan)``: the package-level name is also this module's name
    (the public API calls :func:`planner.api.verify` whichever of the two Python bound)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from planner.api import verify

        return verify(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
