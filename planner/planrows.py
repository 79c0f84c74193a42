"""The rows of a plan: one move type, one ``plan.csv`` layout, one reader and one writer.

:class:`PlanMove` is the single representation of a plan row everywhere: the sequencer
produces it, the runbooks render it, the verifiers and the report read it back.  Inside,
VMs and nodes are indices into the :class:`~planner.cluster.Cluster`; names appear only in
the files (:func:`plan_csv_text`, :func:`read_plan_csv`).

Every text cell goes through :func:`planner.textsafe.csv_cell` when written and
:func:`planner.textsafe.csv_uncell` when read (the spreadsheet-formula defence), so a name
such as ``=HYPERLINK(...)`` is shown as text by a spreadsheet and still reads back exactly.
Problems in a file that was edited by hand come back as :class:`planner.checks.Violation`
(kind ``plan_file``) naming the file, the row (as a spreadsheet numbers it) and the column;
nothing here raises for bad file content.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planner.checks import Violation
from planner.cluster import MOVE_KIND_NAMES, Cluster, MoveKind
from planner.textsafe import csv_cell, csv_uncell

#: Columns of ``plan.csv`` in order: SPEC §5 plus ``temporary`` (a hop through a third node).
PLAN_COLUMNS = (
    "step",
    "wave",
    "vm",
    "source",
    "target",
    "migration_type",
    "memory_mb",
    "est_seconds",
    "reason",
    "temporary",
)

#: Columns of ``placement.csv`` (SPEC §5).
PLACEMENT_COLUMNS = ("vm", "host")

#: ``migration_type`` text (any case) → :class:`MoveKind`; the inverse of ``MOVE_KIND_NAMES``.
MOVE_KIND_BY_NAME: dict[str, MoveKind] = {n.casefold(): k for k, n in MOVE_KIND_NAMES.items()}

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


@dataclass(frozen=True)
class PlanMove:
    """One step of a plan (one row of ``plan.csv``).

    Attributes
    ----------
    step:
        Global 1-based order.
    wave:
        1-based wave; moves of one wave may run at the same time.
    vm, source, target:
        VM and node indices.
    kind:
        How the VM moves (:class:`MoveKind`: Live, Quick, Shutdown or Start).
    memory_mb:
        The VM's assigned memory.
    est_seconds:
        Estimated duration (:mod:`planner.durations`).
    reason:
        Why the VM moves.
    temporary:
        A hop through a third node that breaks a deadlock (the VM moves on later).
    """

    step: int
    wave: int
    vm: int
    source: int
    target: int
    kind: MoveKind
    memory_mb: int = 0
    est_seconds: float = 0.0
    reason: str = ""
    temporary: bool = False

    @property
    def kind_name(self) -> str:
        """``Live``, ``Quick``, ``Shutdown`` or ``Start`` (the ``migration_type`` text)."""
        return MOVE_KIND_NAMES.get(MoveKind(self.kind), "Forbidden")

    @property
    def migration_type(self) -> str:
        """Alias of :attr:`kind_name` (the ``plan.csv`` column name)."""
        return self.kind_name

    def to_row(self, cluster: Cluster) -> dict[str, Any]:
        """The ``plan.csv`` row: names instead of indices (not yet made CSV-safe)."""
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


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([csv_cell(x) if isinstance(x, str) else x for x in row])
    return buf.getvalue()


def plan_csv_text(cluster: Cluster, moves: Sequence[PlanMove]) -> str:
    """The text of ``plan.csv`` for ``moves`` (text cells through ``csv_cell``)."""
    return _csv_text(PLAN_COLUMNS, ([m.to_row(cluster)[k] for k in PLAN_COLUMNS] for m in moves))


def placement_csv_text(cluster: Cluster, placement: np.ndarray) -> str:
    """The text of ``placement.csv``: ``vm, host`` for every VM."""
    p = np.asarray(placement).tolist()
    return _csv_text(
        PLACEMENT_COLUMNS,
        ((cluster.vm_names[v], cluster.host_names[int(h)]) for v, h in enumerate(p)),
    )


def _table(
    path: Path, needed: Sequence[str]
) -> tuple[list[tuple[int, dict[str, str]]], list[Violation]]:
    """Rows of a CSV file as ``(row number, {column: raw text})``; problems as violations."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return [], [Violation("plan_file", f"{path.name} is missing from the plan directory")]
    except (OSError, UnicodeDecodeError) as e:
        return [], [Violation("plan_file", f"{path.name}: cannot be read ({e})")]
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        cols = {h.strip().casefold(): i for i, h in enumerate(header)}
        missing = [c for c in needed if c not in cols]
        if missing:
            return [], [
                Violation("plan_file", f"{path.name}: missing column(s) " + ", ".join(missing))
            ]
        rows = []
        for n, raw in enumerate(reader, start=2):
            if not any(x.strip() for x in raw):
                continue
            rows.append((n, {c: (raw[i] if i < len(raw) else "") for c, i in cols.items()}))
    except csv.Error as e:
        return [], [Violation("plan_file", f"{path.name}: not a valid CSV file ({e})")]
    return rows, []


def _int(text: str) -> int | None:
    t = text.strip()
    if t.lstrip("-").isascii() and t.lstrip("-").isdigit():
        return int(t)
    return None


def _float(text: str) -> float | None:
    try:
        x = float(text.strip() or "0")
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _row_move(
    cluster: Cluster, name: str, n: int, r: dict[str, str]
) -> tuple[PlanMove | None, Violation | None]:
    """One ``plan.csv`` row as a move, or one violation naming every bad cell of the row."""
    step, wave = _int(r["step"]), _int(r["wave"])
    text = {c: csv_uncell(r.get(c, "")) for c in ("vm", "source", "target", "reason")}
    vm = cluster.vm_index.get(text["vm"].casefold())
    src = cluster.host_index.get(text["source"].casefold())
    dst = cluster.host_index.get(text["target"].casefold())
    kind = MOVE_KIND_BY_NAME.get(r["migration_type"].strip().casefold())
    mem = _int(r.get("memory_mb", "") or "0")
    est = _float(r.get("est_seconds", ""))
    temp = r.get("temporary", "").strip().casefold()
    bad = [
        f"column {col}: {val!r} is {what}"
        for col, val, ok, what in (
            ("step", r["step"], step is not None, "not an integer"),
            ("wave", r["wave"], wave is not None, "not an integer"),
            ("vm", text["vm"], vm is not None, "not a VM of the snapshot"),
            ("source", text["source"], src is not None, "not a node of the snapshot"),
            ("target", text["target"], dst is not None, "not a node of the snapshot"),
            (
                "migration_type",
                r["migration_type"],
                kind is not None,
                "not one of " + "/".join(MOVE_KIND_NAMES.values()),
            ),
            ("memory_mb", r.get("memory_mb", ""), mem is not None, "not an integer"),
            ("est_seconds", r.get("est_seconds", ""), est is not None, "not a finite number"),
            ("temporary", r.get("temporary", ""), temp in _TRUE | _FALSE, "not true/false"),
        )
        if not ok
    ]
    if (
        bad
        or step is None
        or wave is None
        or vm is None
        or src is None
        or dst is None
        or kind is None
        or mem is None
        or est is None
    ):
        return None, Violation("plan_file", f"{name}, row {n}, " + "; ".join(bad), step=step)
    return PlanMove(step, wave, vm, src, dst, kind, mem, est, text["reason"], temp in _TRUE), None


def read_plan_csv(cluster: Cluster, path: str | Path) -> tuple[list[PlanMove], list[Violation]]:
    """Read ``plan.csv`` back into moves (names → indices, case-insensitive).

    Parameters
    ----------
    cluster:
        The snapshot the names refer to.
    path:
        The ``plan.csv`` file.

    Returns
    -------
    tuple[list[PlanMove], list[Violation]]
        The moves of the valid rows, and one ``plan_file`` violation per bad row (file,
        row, column, value) or for an unreadable file.  Bad rows are left out.
    """
    p = Path(path)
    rows, problems = _table(p, PLAN_COLUMNS[:6])
    moves: list[PlanMove] = []
    for n, r in rows:
        move, problem = _row_move(cluster, p.name, n, r)
        if move is not None:
            moves.append(move)
        if problem is not None:
            problems.append(problem)
    return moves, problems


def read_placement_csv(
    cluster: Cluster, path: str | Path
) -> tuple[np.ndarray | None, list[Violation]]:
    """Read ``placement.csv``: the host index of every VM, or None with the problems."""
    p = Path(path)
    rows, problems = _table(p, PLACEMENT_COLUMNS)
    if problems:
        return None, problems
    out = np.full(cluster.n_vms, -1, dtype=np.int64)
    for n, r in rows:
        vm_name, host_name = csv_uncell(r["vm"]), csv_uncell(r["host"])
        v = cluster.vm_index.get(vm_name.casefold())
        h = cluster.host_index.get(host_name.casefold())
        if v is None or h is None:
            col, val = ("vm", vm_name) if v is None else ("host", host_name)
            problems.append(
                Violation(
                    "plan_file", f"{p.name}, row {n}, column {col}: {val!r} is not in the snapshot"
                )
            )
        elif out[v] >= 0:
            problems.append(
                Violation(
                    "plan_file",
                    f"{p.name}, row {n}: VM {vm_name!r} is listed twice",
                    vms=(vm_name,),
                    vm_ids=(v,),
                )
            )
        else:
            out[v] = h
    missing = np.flatnonzero(out < 0)
    if len(missing):
        shown = ", ".join(cluster.vm_names[v] for v in missing[:5])
        problems.append(
            Violation(
                "plan_file",
                f"{p.name} does not list {len(missing)} VM(s): "
                f"{shown}" + (" ..." if len(missing) > 5 else ""),
            )
        )
    return (None if problems else out), problems


#: The files of a plan directory (SPEC §5).
PLAN_FILES = ("plan.csv", "placement.csv", "summary.json", "plan.ps1", "rollback.ps1")


@dataclass(frozen=True)
class PlanFiles:
    """A plan as read back from its directory (:func:`read_plan_files`).

    ``moves`` are the valid rows of plan.csv; ``placement``, ``summary`` and the runbook
    texts are None when the file could not be read; ``problems`` say why (kind
    ``plan_file``).
    """

    moves: tuple[PlanMove, ...]
    placement: np.ndarray | None
    summary: dict[str, Any] | None
    plan_ps1: str | None
    rollback_ps1: str | None
    problems: tuple[Violation, ...] = ()


def read_summary(path: str | Path) -> tuple[dict[str, Any] | None, list[Violation]]:
    """Read ``summary.json``: a JSON object, or None with the problem."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return None, [Violation("plan_file", f"{p.name} is missing from the plan directory")]
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        return None, [Violation("plan_file", f"{p.name} is not valid JSON: {e}")]
    if not isinstance(data, dict):
        return None, [Violation("plan_file", f"{p.name} does not hold a JSON object")]
    return data, []


def _text(path: Path) -> tuple[str | None, list[Violation]]:
    try:
        return path.read_text(encoding="utf-8-sig"), []
    except FileNotFoundError:
        return None, [Violation("plan_file", f"{path.name} is missing from the plan directory")]
    except (OSError, UnicodeDecodeError) as e:
        return None, [Violation("plan_file", f"{path.name}: cannot be read ({e})")]


def read_plan_files(cluster: Cluster, plan_dir: str | Path) -> PlanFiles:
    """Read every file of a plan directory; problems are collected, never raised."""
    d = Path(plan_dir)
    if not d.is_dir():
        return PlanFiles(
            (), None, None, None, None, (Violation("plan_file", f"{d} is not a plan directory"),)
        )
    moves, problems = read_plan_csv(cluster, d / "plan.csv")
    placement, more = read_placement_csv(cluster, d / "placement.csv")
    summary, more2 = read_summary(d / "summary.json")
    plan_ps1, more3 = _text(d / "plan.ps1")
    rollback_ps1, more4 = _text(d / "rollback.ps1")
    return PlanFiles(
        tuple(moves),
        placement,
        summary,
        plan_ps1,
        rollback_ps1,
        tuple(problems + more + more2 + more3 + more4),
    )


__all__ = [
    "MOVE_KIND_BY_NAME",
    "PLACEMENT_COLUMNS",
    "PLAN_COLUMNS",
    "PLAN_FILES",
    "PlanFiles",
    "PlanMove",
    "placement_csv_text",
    "plan_csv_text",
    "read_placement_csv",
    "read_plan_csv",
    "read_plan_files",
    "read_summary",
]
