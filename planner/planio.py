"""Plan files (SPEC §5): ``plan.csv``, ``placement.csv``, ``summary.json``, ``plan.ps1``,
``rollback.ps1``.

Writing files is separate from planning.  A plan is made and verified in memory
(:func:`planner.plan`; :func:`check_plan` is the in-memory verification including the
runbooks); :func:`write_plan` only renders it (:func:`plan_texts`) and writes the five files
into an existing, empty directory (publishing it atomically, ``--force`` and locks are the
CLI's :mod:`planner.publish`).  :func:`read_plan` reads a plan directory back for
``verify``, ``report`` and ``replay``.

Every text cell of the CSV files goes through :func:`planner.textsafe.csv_cell` (and back
through ``csv_uncell`` when read), so names are never spreadsheet formulas and round trips
are exact.  ``summary.json`` holds only finite numbers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from planner import __version__
from planner.checks import anti_affinity_violations, rule_violations
from planner.cluster import Cluster, HostState, MoveKind
from planner.loadmodel import Threshold, host_loads
from planner.planrows import (
    PLAN_FILES,
    PlanFiles,
    placement_csv_text,
    plan_csv_text,
    read_plan_files,
)
from planner.powershell import render_plan_ps1, render_rollback_ps1
from planner.rollback import RollbackResult, rollback_sequence
from planner.sequencing import SequenceResult, build_sequence
from planner.verify import VerifyReport, verify_plan_data

#: What ``summary.json`` says of each objective tier's unit.
OBJECTIVE_UNITS = {
    "rules": "affinity rules and enforced anti-affinity classes broken now and left broken",
    "excess": "basis points (0.01 %) of host capacity above the threshold, CPU + memory",
    "anti_affinity": "pairs of legacy anti-affinity class members sharing a node",
    "migration": "MB of moved memory + shutdown_penalty_mb per Shutdown move",
    "balance": "highest host load in basis points (worst of CPU and memory)",
}


class ResultLike(Protocol):
    """What the writer reads of an optimisation result."""

    placement: np.ndarray | None
    threshold: Threshold
    drained: tuple[int, ...]
    objective: dict[str, int]
    bound: dict[str, int]
    solve_seconds: float
    parameters: dict[str, Any]


@dataclass
class WriteOutcome:
    """Result of :func:`plan_to_directory`: ``ok`` when the files are in place."""

    ok: bool
    summary: dict[str, Any]
    message: str = ""
    violations: list[dict[str, Any]] = field(default_factory=list)
    sequence: SequenceResult | None = None


# ----------------------------------------------------------------------------- summary.json
def _loads(cluster: Cluster, placement: np.ndarray, thr: Threshold) -> dict[str, Any]:
    """Max CPU/memory percent and hosts over the threshold over the nodes that are not
    Down (a Paused or drained node carries its VMs until the plan moves them)."""
    loads = host_loads(cluster, placement)
    up = cluster.host_state != HostState.DOWN
    if not up.any():
        up = np.ones(cluster.n_hosts, dtype=bool)
    return {
        "max_cpu_pct": round(float(loads.cpu_pct[up].max()), 4),
        "max_memory_pct": round(float(loads.memory_pct[up].max()), 4),
        "hosts_over_threshold": int((loads.over(thr) & up).sum()),
    }


def rules_left_broken(
    cluster: Cluster, placement: np.ndarray, reasons: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Rules and enforced anti-affinity classes broken now and still broken after the plan:
    ``[{rule, vms, reason}]`` (``reasons`` by rule name, else a generic reason)."""

    def broken(p: np.ndarray | None) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for v in rule_violations(cluster, p) + anti_affinity_violations(cluster, p):
            if v.hard and v.rule is not None:
                d = v.to_dict(cluster)  # summary.json names rules and VMs
                out[d["rule"]] = tuple(sorted(set(out.get(d["rule"], ())) | set(d["vms"])))
        return out

    now, after = broken(None), broken(np.asarray(placement))
    why = reasons or {}
    return [
        {
            "rule": r,
            "vms": list(after[r]),
            "reason": why.get(r, "no placement within the plan's limits repairs it"),
        }
        for r in sorted(after)
        if r in now
    ]


def _finite(x: Any) -> Any:
    """``x`` with every non-finite float replaced by None (summary.json stays valid JSON)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def _tiers(res: Any) -> list[dict[str, Any]]:
    """Per tier: name, value, bound, gap and status."""
    out = []
    for t in getattr(res, "tiers", []) or []:
        val = getattr(t, "objective", getattr(t, "value", None))
        lb = getattr(t, "bound", None)
        gap = None
        if val is not None and lb is not None:
            gap = round((val - lb) / val, 6) if val else 0.0
        status = getattr(t, "status", None)
        out.append(
            {
                "name": t.name,
                "value": val,
                "objective": val,
                "bound": lb,
                "gap": gap,
                "status": str(getattr(status, "value", status)),
                "seconds": round(float(getattr(t, "seconds", 0.0) or 0.0), 4),
                "note": str(getattr(t, "note", "")),
            }
        )
    return out


def _deciding(res: Any) -> tuple[str, int | None, int | None]:
    """Tier whose value and bound ``summary.json`` reports as ``objective``/``bound``."""
    objective = dict(res.objective)
    name = getattr(res, "gap_tier", None) or (
        "migration" if "migration" in objective else next(iter(objective), "migration")
    )
    val, lb = objective.get(name), dict(res.bound).get(name)
    return name, None if val is None else int(val), None if lb is None else int(lb)


def build_summary(
    cluster: Cluster, res: Any, seq: SequenceResult | None, rollback: RollbackResult | None = None
) -> dict[str, Any]:
    """The content of ``summary.json`` (SPEC §5 keys; see the README for every key)."""
    assert res.placement is not None
    p = np.asarray(res.placement)
    before, after = (
        _loads(cluster, cluster.vm_host, res.threshold),
        _loads(cluster, p, res.threshold),
    )
    moves = list(seq.moves) if seq is not None else []
    back = (
        rollback
        if rollback is not None
        else (rollback_sequence(cluster, p, moves) if seq is not None else None)
    )
    tier, value, bound = _deciding(res)
    gap = getattr(res, "gap", None)
    loads = host_loads(cluster, p)
    status = getattr(res.status, "value", res.status)
    summary: dict[str, Any] = {
        "status": str(status),
        "objective": value,
        "bound": bound,
        "objective_tier": tier,
        "objectives": dict(res.objective),
        "bounds": dict(res.bound),
        "gap": None if gap is None else round(float(gap), 6),
        "gap_tier": getattr(res, "gap_tier", None),
        "objective_units": OBJECTIVE_UNITS,
        "cluster": cluster.name,
        "collected_utc": cluster.settings.collected_utc,
        "snapshot_sha256": cluster.snapshot_sha256,
        "hvplan_version": __version__,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "moves": len(moves),
        "vms_moved": int((p != cluster.vm_host).sum()),
        "memory_moved_mb": int(sum(m.memory_mb for m in moves)),
        "downtime_moves": sum(1 for m in moves if m.kind in (MoveKind.SHUTDOWN, MoveKind.START)),
        "threshold_pct": res.threshold.to_dict(),
        "threshold_rule": res.threshold.rule,
        "level": res.threshold.level,
        "max_cpu_pct_before": before["max_cpu_pct"],
        "max_cpu_pct_after": after["max_cpu_pct"],
        "max_memory_pct_before": before["max_memory_pct"],
        "max_memory_pct_after": after["max_memory_pct"],
        "hosts_over_threshold_before": before["hosts_over_threshold"],
        "hosts_over_threshold_after": after["hosts_over_threshold"],
        "max_cpu_pct": {"before": before["max_cpu_pct"], "after": after["max_cpu_pct"]},
        "max_memory_pct": {"before": before["max_memory_pct"], "after": after["max_memory_pct"]},
        "hosts_over_threshold": {
            "before": before["hosts_over_threshold"],
            "after": after["hosts_over_threshold"],
        },
        "model_size": dict(getattr(res, "model_size", {}) or {}),
        "solve_seconds": round(float(res.solve_seconds), 3),
        "waves": seq.waves if seq is not None else 0,
        "estimated_seconds": round(seq.estimated_seconds, 1) if seq is not None else 0.0,
        "extra_hops": seq.extra_hops if seq is not None else 0,
        "rules_left_broken": rules_left_broken(cluster, p, getattr(res, "left_broken", None)),
        "tiers": _tiers(res),
        "method": getattr(res, "method", ""),
        "timings": dict(getattr(res, "timings", {}) or {}),
        "seed": getattr(res, "seed", None),
        "parameters": dict(res.parameters),
        "profile": getattr(res, "profile", None),
        "drained": [cluster.host_names[h] for h in res.drained],
        "rollback": back.to_dict(cluster) if back is not None else None,
        "hosts_after": [
            {
                "name": cluster.host_names[h],
                "cpu_pct": round(float(loads.cpu_pct[h]), 4),
                "memory_pct": round(float(loads.memory_pct[h]), 4),
            }
            for h in range(cluster.n_hosts)
        ],
    }
    return dict(_finite(summary))


# ----------------------------------------------------------------------------- files
def plan_texts(
    cluster: Cluster,
    placement: np.ndarray,
    seq: SequenceResult,
    summary: dict[str, Any],
    rollback: RollbackResult | None = None,
) -> dict[str, str]:
    """The text of each plan file (name → text; the runbooks with LF line ends)."""
    back = rollback or rollback_sequence(cluster, placement, seq.moves)
    return {
        "plan.csv": plan_csv_text(cluster, seq.moves),
        "placement.csv": placement_csv_text(cluster, placement),
        "summary.json": json.dumps(summary, indent=2, allow_nan=False) + "\n",
        "plan.ps1": render_plan_ps1(cluster, seq),
        "rollback.ps1": render_rollback_ps1(cluster, seq, back.sequence),
    }


def check_plan(
    cluster: Cluster,
    placement: np.ndarray,
    seq: SequenceResult,
    summary: dict[str, Any],
    rollback: RollbackResult | None = None,
) -> VerifyReport:
    """The independent verification of a plan in memory, runbooks included (what
    ``hvplan verify`` would say of the written files)."""
    texts = plan_texts(cluster, placement, seq, summary, rollback)
    return verify_plan_data(
        cluster, list(seq.moves), placement, summary, texts["plan.ps1"], texts["rollback.ps1"]
    )


def write_texts(texts: dict[str, str], out_dir: str | Path) -> list[Path]:
    """Write plan files into the existing, empty directory ``out_dir``.

    Raises ``FileNotFoundError`` / ``FileExistsError`` when ``out_dir`` is missing or not
    empty, ``OSError`` when a write fails (the caller publishes or removes the directory).
    """
    d = Path(out_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d} is not an existing directory")
    if any(d.iterdir()):
        raise FileExistsError(f"{d} is not empty")
    out = []
    for name in PLAN_FILES:
        path = d / name
        if name.endswith(".ps1"):
            path.write_text(texts[name], encoding="ascii", newline="\r\n")
        else:
            path.write_text(texts[name], encoding="utf-8", newline="")
        out.append(path)
    return out


def write_plan(plan: Any, out_dir: Any, *legacy: Any) -> Any:
    """Write a plan made in memory (:class:`planner.Plan`) into the existing, empty
    directory ``out_dir``: the five files of SPEC §5.  Nothing is planned or verified here.

    Parameters
    ----------
    plan:
        The plan: ``cluster``, ``result`` (with ``placement``), an executable ``sequence``,
        ``summary`` (built when empty) and optionally ``rollback``.
    out_dir:
        An existing, empty directory.

    Returns
    -------
    list[Path]
        The files written.

    The former form ``write_plan(cluster, result, out_dir)`` (sequence, verify and write,
    returning a :class:`WriteOutcome`) is still accepted for existing notebooks and scripts.
    """
    if isinstance(plan, Cluster):
        res = out_dir
        order = build_sequence(plan, res.placement, res.drained, res.reasons)
        if not order.ok:
            return WriteOutcome(
                False, {}, f"no executable order for this plan: {order.message}", sequence=order
            )
        return write_plan_dir(plan, res, order, legacy[0])
    cluster: Cluster = plan.cluster
    seq: SequenceResult = plan.sequence
    placement = np.asarray(plan.result.placement)
    if seq is None or not seq.ok:
        raise ValueError("write_plan needs a plan with an executable sequence")
    back = getattr(plan, "rollback", None) or rollback_sequence(cluster, placement, seq.moves)
    summary = getattr(plan, "summary", None) or build_summary(cluster, plan.result, seq, back)
    return write_texts(plan_texts(cluster, placement, seq, summary, back), out_dir)


def read_plan(cluster: Cluster, plan_dir: str | Path) -> PlanFiles:
    """Read a plan directory back: moves, placement, summary, runbook texts and every
    problem found (never raises for bad content)."""
    return read_plan_files(cluster, plan_dir)


# ----------------------------------------------------------------------------- legacy path
def write_plan_dir(
    cluster: Cluster, res: Any, seq: SequenceResult, out_dir: str | Path
) -> WriteOutcome:
    """Summarise, verify in memory, then write the plan into ``out_dir`` through a temporary
    sibling directory: nothing is written unless verification succeeds."""
    if res.placement is None or not seq.ok:
        return WriteOutcome(False, {}, "there is no executable plan to write", sequence=seq)
    p = np.asarray(res.placement)
    back = rollback_sequence(cluster, p, seq.moves)
    summary = build_summary(cluster, res, seq, back)
    texts = plan_texts(cluster, p, seq, summary, back)
    rep = verify_plan_data(
        cluster, list(seq.moves), p, summary, texts["plan.ps1"], texts["rollback.ps1"]
    )
    if not rep.ok:
        return WriteOutcome(
            False, summary, "the plan failed independent verification", rep.violations, seq
        )
    out = Path(out_dir)
    try:
        parent = out.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".hvplan-", dir=parent))
    except OSError as e:
        return WriteOutcome(
            False, summary, f"cannot write the plan to {out}: {e.strerror or e}", sequence=seq
        )
    try:
        write_texts(texts, tmp)
        out.mkdir(parents=True, exist_ok=True)
        for name in PLAN_FILES:
            os.replace(tmp / name, out / name)
        return WriteOutcome(True, summary, sequence=seq)
    except OSError as e:
        return WriteOutcome(
            False, summary, f"cannot write the plan to {out}: {e.strerror or e}", sequence=seq
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
