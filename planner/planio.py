"""Plan files (SPEC §5): ``plan.csv``, ``placement.csv``, ``summary.json`` (+ runbooks).

:func:`write_plan` orders the moves with :func:`planner.sequencing.build_sequence`, writes
every file into a temporary directory next to the output, runs the independent verifier
(:func:`planner.verify.verify_plan`) on that directory, and only then moves the files into
place: a plan that fails verification, or cannot be sequenced, leaves nothing behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planner.cluster import Cluster
from planner.loadmodel import host_loads
from planner.optimizer import OptimizeResult, summary_loads
from planner.powershell import write_runbooks
from planner.sequencing import PLAN_COLUMNS, SequenceResult, build_sequence
from planner.verify import verify_plan

PLAN_FILES = ("plan.csv", "placement.csv", "summary.json", "plan.ps1", "rollback.ps1")


@dataclass
class WriteOutcome:
    """Result of :func:`write_plan`: ``ok`` when the files are in place."""

    ok: bool
    summary: dict[str, Any]
    message: str = ""
    violations: list[dict[str, Any]] = field(default_factory=list)
    sequence: SequenceResult | None = None


def _csv(header: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(header), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in header})
    return buf.getvalue()


def _deciding(res: OptimizeResult) -> tuple[str, int | None, int | None]:
    """Tier whose value and bound ``summary.json`` reports as ``objective``/``bound``."""
    name = res.gap_tier or ("migration" if "migration" in res.objective
                            else next(iter(res.objective), "migration"))
    val = res.objective.get(name)
    lb = res.bound.get(name)
    return name, None if val is None else int(val), None if lb is None else int(lb)


def build_summary(cluster: Cluster, res: OptimizeResult, seq: SequenceResult | None
                  ) -> dict[str, Any]:
    """The content of ``summary.json`` (SPEC §5 keys plus tiers, seed, parameters, ...)."""
    assert res.placement is not None
    before = summary_loads(cluster, cluster.vm_host, res.threshold, res.drained)
    after = summary_loads(cluster, res.placement, res.threshold, res.drained)
    moves = list(seq.moves) if seq is not None else []
    loads = host_loads(cluster, res.placement)
    return {
        "status": res.status.value,
        # ``objective``/``bound`` are numbers: those of the deciding tier (the first tier not
        # proven optimal, else the migration cost), so that gap = (objective - bound) /
        # objective holds for them; every tier is in ``objectives``/``bounds``.
        "objective": _deciding(res)[1],
        "bound": _deciding(res)[2],
        "objective_tier": _deciding(res)[0],
        "objectives": dict(res.objective),
        "bounds": dict(res.bound),
        "gap": None if res.gap is None else round(float(res.gap), 6),
        "gap_tier": res.gap_tier,
        "objective_units": {
            "excess": "basis points (0.01 %) of host capacity above the threshold, CPU + memory",
            "anti_affinity": "pairs of legacy anti-affinity class members sharing a node",
            "migration": "MB of moved memory + shutdown_penalty_mb per Shutdown move",
            "balance": "highest host load in basis points (worst of CPU and memory)",
        },
        "moves": len(moves),
        "vms_moved": int(len(res.moves)),
        "memory_moved_mb": int(sum(m.memory_mb for m in moves)),
        "downtime_moves": int(sum(1 for m in moves if m.kind_name == "Shutdown")),
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
        "max_memory_pct": {"before": before["max_memory_pct"],
                           "after": after["max_memory_pct"]},
        "hosts_over_threshold": {"before": before["hosts_over_threshold"],
                                 "after": after["hosts_over_threshold"]},
        "solve_seconds": round(res.solve_seconds, 3),
        "waves": seq.waves if seq is not None else 0,
        "estimated_seconds": round(seq.estimated_seconds, 1) if seq is not None else 0.0,
        "extra_hops": seq.extra_hops if seq is not None else 0,
        "tiers": [t.to_dict() for t in res.tiers],
        "method": res.method,
        "model_size": dict(res.model_size),
        "timings": dict(res.timings),
        "seed": res.seed,
        "parameters": dict(res.parameters),
        "profile": res.profile,
        "drained": [cluster.host_names[h] for h in res.drained],
        "hosts_after": [
            {"name": cluster.host_names[h], "cpu_pct": round(float(loads.cpu_pct[h]), 4),
             "memory_pct": round(float(loads.memory_pct[h]), 4)}
            for h in range(cluster.n_hosts)
        ],
    }


def write_plan(cluster: Cluster, res: OptimizeResult, out_dir: str | Path) -> WriteOutcome:
    """Sequence, write, verify and publish the plan of ``res`` into ``out_dir``.

    Nothing is written into ``out_dir`` unless sequencing and verification succeed.
    """
    if res.placement is None:
        return WriteOutcome(False, {}, "there is no placement to write")
    seq = build_sequence(cluster, res.placement, res.drained, res.reasons)
    if not seq.ok:
        return WriteOutcome(False, {}, f"no executable order for this plan: {seq.message}",
                            sequence=seq)
    summary = build_summary(cluster, res, seq)
    out = Path(out_dir)
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".hvplan-", dir=parent))
    except OSError as e:
        return WriteOutcome(False, summary, f"cannot write the plan to {out}: "
                            f"{e.strerror or e}", sequence=seq)
    try:
        rows = [m.to_row(cluster) for m in seq.moves]
        (tmp / "plan.csv").write_text(_csv(PLAN_COLUMNS, rows), encoding="utf-8")
        placement_rows = [{"vm": cluster.vm_names[v], "host": cluster.host_names[int(h)]}
                          for v, h in enumerate(np.asarray(res.placement).tolist())]
        (tmp / "placement.csv").write_text(_csv(("vm", "host"), placement_rows),
                                           encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n",
                                          encoding="utf-8")
        write_runbooks(cluster, seq, tmp)
        rep = verify_plan(cluster, tmp)
        if not rep.ok:
            return WriteOutcome(False, summary, "the plan failed independent verification",
                                rep.violations, seq)
        out.mkdir(parents=True, exist_ok=True)
        for name in PLAN_FILES:
            os.replace(tmp / name, out / name)
        return WriteOutcome(True, summary, sequence=seq)
    except OSError as e:
        return WriteOutcome(False, summary, f"cannot write the plan to {out}: "
                            f"{e.strerror or e}", sequence=seq)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
