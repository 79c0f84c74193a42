"""Independent verification of a plan: trusts neither the solver nor the optimizer.

Never imports OR-Tools or :mod:`planner.optimizer`.  From the snapshot and the plan files
alone (``plan.csv``, ``placement.csv``, ``summary.json``) it checks that:

* every step moves a VM that is where the plan says it is, with the migration type SPEC §3
  allows (Live only to the same vendor and a feature superset, Shutdown only with
  ``allow_downtime``, Off/Saved VMs Quick) and the VM's memory size;
* ``placement.csv`` equals the snapshot with ``plan.csv`` applied;
* the final placement satisfies every hard rule (:func:`planner.checks.placement_violations`);
* every objective term recomputed here equals the one in ``summary.json``, and so do the move
  counts;
* the order is safe: the sequencing verifier when it is installed, else a step-by-step check
  that no node exceeds 100 % while a VM is counted on both ends of its move.

:func:`objective_values` is the reference computation of the objective terms (units in
:mod:`planner.cpsat.objective`); the optimizer uses it to evaluate its own solutions.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planner.cluster import MOVE_KIND_NAMES, Cluster, HostState, MoveKind, VmState
from planner.loadmodel import Threshold, threshold_limits
from planner.reference import hard_violations, problem_from_parameters
from planner.reference import objective_values as reference_objective

#: Basis points per 100 % (unit of the excess and balance terms).
BP = 10_000

#: Column order of ``plan.csv`` (SPEC §5).
PLAN_COLUMNS = ("step", "wave", "vm", "source", "target", "migration_type", "memory_mb",
                "est_seconds", "reason")

TIER_NAMES = ("excess", "anti_affinity", "migration", "balance")


def _ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -((-a) // b)


def balance_hosts(cluster: Cluster, drained: Iterable[int] = ()) -> np.ndarray:
    """Hosts counted by the balance term: Up and not drained."""
    mask = cluster.host_state == HostState.UP
    d = list(drained)
    if d:
        mask[np.asarray(d, dtype=int)] = False
    return mask


def move_cost_of(cluster: Cluster, placement: np.ndarray, shutdown_penalty_mb: int) -> int:
    """Migration cost of going from the snapshot to ``placement`` in one move per VM."""
    p = np.asarray(placement)
    moved = np.flatnonzero(p != cluster.vm_host)
    kinds = cluster.vm_move_kind[moved, p[moved]]
    return int(cluster.vm_memory_mb[moved].sum()
               + shutdown_penalty_mb * int((kinds == MoveKind.SHUTDOWN).sum()))


def objective_values(
    cluster: Cluster,
    placement: np.ndarray,
    threshold: Threshold,
    drained: Iterable[int] = (),
    shutdown_penalty_mb: int = 0,
    enforce_anti_affinity: bool | None = None,
) -> dict[str, int]:
    """Every objective term of ``placement`` (units in :mod:`planner.cpsat.objective`)."""
    p = np.asarray(placement, dtype=np.int64)
    nh = cluster.n_hosts
    cpu = np.bincount(p, weights=cluster.vm_cpu_load_milli, minlength=nh).astype(np.int64)
    mem = np.bincount(p, weights=cluster.vm_mem_load_mb, minlength=nh).astype(np.int64)
    cpu_lim, mem_lim = threshold_limits(cluster, threshold)
    ex_c = _ceil_div(BP * np.maximum(cpu - cpu_lim, 0), cluster.host_cpu_capacity_milli)
    ex_m = _ceil_div(BP * np.maximum(mem - mem_lim, 0), cluster.host_memory_mb)
    enforce = (cluster.settings.enforced_anti_affinity if enforce_anti_affinity is None
               else enforce_anti_affinity)
    pairs = 0
    if not enforce:
        for members in cluster.aa_class_members:
            if len(members) > 1:
                _, counts = np.unique(p[list(members)], return_counts=True)
                pairs += int((counts * (counts - 1) // 2).sum())
    bal = balance_hosts(cluster, drained)
    used_c = _ceil_div(BP * (cpu + cluster.host_cpu_base_milli), cluster.host_cpu_capacity_milli)
    used_m = _ceil_div(BP * (mem + cluster.host_memory_reserve_mb), cluster.host_memory_mb)
    balance = int(np.maximum(used_c, used_m)[bal].max()) if bal.any() else 0
    return {
        "excess": int(ex_c.sum() + ex_m.sum()),
        "anti_affinity": pairs,
        "migration": move_cost_of(cluster, p, shutdown_penalty_mb),
        "balance": balance,
    }


@dataclass(frozen=True)
class PlanMove:
    """One row of ``plan.csv`` with names resolved to indices."""

    step: int
    wave: int
    vm: int
    source: int
    target: int
    migration_type: str
    memory_mb: int
    est_seconds: float
    reason: str

    @property
    def kind(self) -> MoveKind:
        """The migration type as a :class:`MoveKind` (FORBIDDEN when unknown)."""
        for k, n in MOVE_KIND_NAMES.items():
            if n == self.migration_type:
                return k
        return MoveKind.FORBIDDEN


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_plan`; ``ok`` when no violation was found."""

    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the plan passed every check."""
        return not self.violations

    def add(self, kind: str, message: str, step: int | None = None, vm: str | None = None,
            host: str | None = None) -> None:
        """Record one violation."""
        self.violations.append({"kind": kind, "step": step, "vm": vm, "host": host,
                                "message": message})

    def to_dict(self) -> dict[str, Any]:
        """JSON form (SPEC §6 ``verify --json``)."""
        return {"ok": self.ok, "violations": list(self.violations)}


def expected_migration_type(cluster: Cluster, vm: int, target: int) -> str | None:
    """The migration type SPEC §3 gives a move of ``vm`` to ``target`` (None: impossible)."""
    k = int(cluster.vm_move_kind[vm, target])
    return None if k == MoveKind.FORBIDDEN else MOVE_KIND_NAMES[MoveKind(k)]


def check_moves(cluster: Cluster, moves: list[PlanMove], report: VerifyReport) -> np.ndarray:
    """Apply ``moves`` to the snapshot, recording every inconsistent step; return the final
    placement."""
    p = cluster.vm_host.astype(np.int64).copy()
    hn, vn = cluster.host_names, cluster.vm_names
    last_step, last_wave = 0, 0
    for m in moves:
        name = vn[m.vm]
        if m.step <= last_step:
            report.add("order", f"step {m.step} does not follow step {last_step}", m.step, name)
        if m.wave < last_wave:
            report.add("order", f"wave {m.wave} comes after wave {last_wave}", m.step, name)
        last_step, last_wave = m.step, max(last_wave, m.wave)
        if p[m.vm] != m.source:
            report.add("source", f"VM {name} is on {hn[p[m.vm]]} at this step, not on "
                       f"{hn[m.source]}", m.step, name, hn[m.source])
        if m.target == p[m.vm]:
            report.add("no_op", f"VM {name} is already on {hn[m.target]}", m.step, name,
                       hn[m.target])
        exp = expected_migration_type(cluster, m.vm, m.target)
        state = VmState(cluster.vm_state[m.vm])
        running = state in (VmState.RUNNING, VmState.PAUSED)
        if exp is None:
            report.add("migration_type", f"VM {name} ({state.name.title()}) cannot move to "
                       f"{hn[m.target]}: different CPU vendor or missing CPU features and "
                       "no downtime allowed", m.step, name, hn[m.target])
        elif m.migration_type != exp and not (
                m.migration_type == "Shutdown" and running and cluster.vm_allow_downtime[m.vm]):
            report.add("migration_type", f"VM {name} must move to {hn[m.target]} as {exp}, "
                       f"not {m.migration_type}", m.step, name, hn[m.target])
        if m.memory_mb != int(cluster.vm_memory_mb[m.vm]):
            report.add("memory_mb", f"VM {name} has {int(cluster.vm_memory_mb[m.vm])} MB, the "
                       f"plan says {m.memory_mb}", m.step, name)
        p[m.vm] = m.target
    return p


def check_simple_sequence(cluster: Cluster, moves: list[PlanMove], report: VerifyReport
                          ) -> None:
    """Waves in order: while a wave runs, each moving VM counts on source and target; no node
    may exceed 100 % of CPU or memory (used when the sequencing verifier is not installed)."""
    cpu = cluster.host_load_milli() - cluster.host_cpu_base_milli
    mem = cluster.host_mem_used_mb() - cluster.host_memory_reserve_mb
    cpu_cap, mem_cap = cluster.host_cpu_free_milli, cluster.host_memory_free_mb
    waves: dict[int, list[PlanMove]] = {}
    for m in moves:
        waves.setdefault(m.wave, []).append(m)
    for w in sorted(waves):
        dc = np.zeros_like(cpu)
        dm = np.zeros_like(mem)
        for m in waves[w]:
            dc[m.target] += cluster.vm_cpu_load_milli[m.vm]
            dm[m.target] += cluster.vm_mem_load_mb[m.vm]
        during_c, during_m = cpu + dc, mem + dm
        for h in np.flatnonzero((during_c > cpu_cap) & (dc > 0)).tolist():
            report.add("sequence_capacity", f"wave {w}: node {cluster.host_names[h]} exceeds its "
                       "CPU capacity while VMs move in", waves[w][0].step, None,
                       cluster.host_names[h])
        for h in np.flatnonzero((during_m > mem_cap) & (dm > 0)).tolist():
            report.add("sequence_capacity", f"wave {w}: node {cluster.host_names[h]} exceeds its "
                       "memory while VMs move in", waves[w][0].step, None, cluster.host_names[h])
        for m in waves[w]:
            cpu[m.source] -= cluster.vm_cpu_load_milli[m.vm]
            mem[m.source] -= cluster.vm_mem_load_mb[m.vm]
        cpu, mem = cpu + dc, mem + dm


def _threshold_from_summary(summary: dict[str, Any]) -> Threshold:
    t = summary.get("threshold_pct") or {}
    return Threshold(float(t["cpu"]), float(t["memory"]), str(summary.get("level", "custom")),
                     str(summary.get("threshold_rule", "")))


def verify_plan(cluster: Cluster, plan_dir: str | Path) -> VerifyReport:
    """Check the plan files in ``plan_dir`` against ``cluster`` (see the module docstring)."""
    d = Path(plan_dir)
    rep = VerifyReport()
    summary = _read_summary(d / "summary.json", rep)
    moves = _read_plan(cluster, d / "plan.csv", rep)
    placement = _read_placement(cluster, d / "placement.csv", rep)
    if moves is None or placement is None or summary is None:
        return rep
    final = check_moves(cluster, moves, rep)
    diff = np.flatnonzero(final != placement)
    for v in diff[:100].tolist():
        rep.add("placement", f"placement.csv puts VM {cluster.vm_names[v]} on "
                f"{cluster.host_names[placement[v]]}, the plan leaves it on "
                f"{cluster.host_names[final[v]]}", None, cluster.vm_names[v],
                cluster.host_names[placement[v]])
    drained: list[int] = []
    for name in summary.get("drained", []) or []:
        h = cluster.host_index.get(str(name).casefold())
        if h is None:
            rep.add("summary", f"summary.json drains unknown node {name!r}")
        else:
            drained.append(h)
    try:
        # The problem the plan was made for (pipe's reference: rules broken now may stay
        # broken, running members only, boot memory, the chosen migration unit).
        thr = _threshold_from_summary(summary)
        problem = problem_from_parameters(cluster, summary.get("parameters") or {}, thr)
        got = reference_objective(problem, final)
    except (KeyError, TypeError, ValueError) as e:
        rep.add("summary", f"summary.json lacks what is needed to recompute the objective: {e}")
        return rep
    for v in hard_violations(problem, final):
        rep.add(v.kind, v.message, None, v.vms[0] if v.vms else None,
                v.hosts[0] if v.hosts else None)
    claimed = summary.get("objectives") or {}
    tier = summary.get("objective_tier")
    if tier in got and summary.get("objective") is not None and \
            int(summary["objective"]) != got[tier]:
        rep.add("objective", f"objective ({tier}): summary.json says {summary['objective']}, "
                f"recomputed {got[tier]}")
    for k, val in got.items():
        if k in claimed and claimed[k] is not None and int(claimed[k]) != val:
            rep.add("objective", f"objective term {k}: summary.json says {claimed[k]}, "
                    f"recomputed {val}")
    moved_rows = len(moves)
    checks = {
        "moves": moved_rows,
        "memory_moved_mb": sum(m.memory_mb for m in moves),
        "downtime_moves": sum(1 for m in moves if m.migration_type == "Shutdown"),
    }
    for k, val in checks.items():
        if k in summary and int(summary[k]) != val:
            rep.add("summary", f"{k}: summary.json says {summary[k]}, plan.csv gives {val}")
    seq_checked = False
    try:
        from planner import verify_sequence as vs_mod
    except ImportError:
        vs_mod = None  # type: ignore[assignment]
    if vs_mod is not None:
        verify_sequence = vs_mod.verify_sequence
        try:
            for viol in verify_sequence(cluster, moves, final, drained):
                rep.add(viol.kind, viol.message, viol.step, viol.vms[0] if viol.vms else None,
                        viol.hosts[0] if viol.hosts else None)
            seq_checked = True
        except (TypeError, AttributeError, ValueError):
            seq_checked = False
    if not seq_checked:
        check_simple_sequence(cluster, moves, rep)
    return rep


def _read_summary(path: Path, rep: VerifyReport) -> dict[str, Any] | None:
    if not path.is_file():
        rep.add("file", f"{path.name} is missing from the plan directory")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as e:
        rep.add("file", f"{path.name} is not valid JSON: {e}")
        return None
    if not isinstance(data, dict):
        rep.add("file", f"{path.name} does not hold a JSON object")
        return None
    return data


def _rows(path: Path, rep: VerifyReport, needed: tuple[str, ...]) -> list[dict[str, str]] | None:
    if not path.is_file():
        rep.add("file", f"{path.name} is missing from the plan directory")
        return None
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip().casefold() for h in (reader.fieldnames or [])]
            missing = [c for c in needed if c not in header]
            if missing:
                rep.add("file", f"{path.name} lacks column(s) {', '.join(missing)}")
                return None
            return [{(k or "").strip().casefold(): (v or "").strip() for k, v in r.items()}
                    for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        rep.add("file", f"{path.name} cannot be read: {e}")
        return None


def _read_plan(cluster: Cluster, path: Path, rep: VerifyReport) -> list[PlanMove] | None:
    rows = _rows(path, rep, PLAN_COLUMNS)
    if rows is None:
        return None
    out: list[PlanMove] = []
    ok = True
    for n, r in enumerate(rows, start=2):
        try:
            vm = cluster.vm_index.get(r["vm"].casefold())
            src = cluster.host_index.get(r["source"].casefold())
            tgt = cluster.host_index.get(r["target"].casefold())
            for what, idx in (("vm", vm), ("source", src), ("target", tgt)):
                if idx is None:
                    rep.add("file", f"plan.csv row {n}: unknown {what} {r[what]!r}", None,
                            r["vm"])
                    ok = False
            if vm is None or src is None or tgt is None:
                continue
            out.append(PlanMove(int(r["step"]), int(r["wave"]), vm, src, tgt,
                                r["migration_type"], int(r["memory_mb"]),
                                float(r["est_seconds"] or 0), r["reason"]))
        except ValueError as e:
            rep.add("file", f"plan.csv row {n}: bad number ({e})", None, r.get("vm"))
            ok = False
    return out if ok else None


def _read_placement(cluster: Cluster, path: Path, rep: VerifyReport) -> np.ndarray | None:
    rows = _rows(path, rep, ("vm", "host"))
    if rows is None:
        return None
    p = np.full(cluster.n_vms, -1, dtype=np.int64)
    ok = True
    for n, r in enumerate(rows, start=2):
        v = cluster.vm_index.get(r["vm"].casefold())
        h = cluster.host_index.get(r["host"].casefold())
        if v is None or h is None:
            rep.add("file", f"placement.csv row {n}: unknown VM or host ({r['vm']!r}, "
                    f"{r['host']!r})", None, r["vm"])
            ok = False
            continue
        if p[v] >= 0:
            rep.add("file", f"placement.csv row {n}: VM {r['vm']!r} is listed twice", None,
                    r["vm"])
            ok = False
        p[v] = h
    for v in np.flatnonzero(p < 0)[:100].tolist():
        rep.add("placement", f"placement.csv does not list VM {cluster.vm_names[v]}", None,
                cluster.vm_names[v])
        ok = False
    return p if ok else None
