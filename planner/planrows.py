"""The rows of a plan: one move type, one ``plan.csv`` layout, one reader and one writer.

:class:`PlanMove` is the single representation of a plan row everywhere: the sequencer
produces it, the runbooks render it, the verifiers and the report read it back.  Inside,
VMs and nodes are indices into the :class:`~planner.cluster.Cluster`; names appear only in
the files (:func:`plan_csv_text`, :func:`read_plan_csv`).

Every text cell goes through :func:`planner.textsafe.csv_cell` when written and
:func:`planner.textsafe.csv_uncell` when read (the spreadsheet-formula defence), so a name
such as ``=HYPERLINK(...)`` is shown as text by a spreadsheet and still reads back exactly.

This is the one reader of plan files: :func:`read_plan_files` (verify, report, replay and
:func:`planner.planio.read_plan`), :func:`parse_plan_row` the one parser of a ``plan.csv``
row (also behind the snapshot-free :func:`planner.read_plan`).  Problems in a file that was
edited by hand are collected into a :class:`planner.diagnostics.Report` naming the file,
the row (as a spreadsheet numbers it), the column and the value; the verifier sees them as
:class:`planner.violation.Violation` (kind ``plan_file``, one per bad row,
:func:`plan_file_violations`; a VM or node name the snapshot does not have travels as
:attr:`~planner.violation.Violation.unresolved` text, having no index).  Nothing here
raises for bad file content.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planner.cluster import MOVE_KIND_NAMES, Cluster, MoveKind
from planner.diagnostics import Report
from planner.textsafe import csv_cell, csv_uncell
from planner.violation import Violation, plan_file_violations

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
    path: Path, needed: Sequence[str], report: Report, required: bool = True
) -> list[tuple[int, dict[str, str]]] | None:
    """Rows of a CSV file as ``(spreadsheet row, {column: raw text})``, or None (with the
    problem in ``report``) when the file is missing, unreadable or lacks a column.  An absent
    file that is not ``required`` is None without a problem."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        if required:
            report.error(path.name, "the file is missing from the plan directory")
        return None
    except OSError as e:
        report.error(path.name, f"cannot be read ({e.strerror or e})")
        return None
    except UnicodeDecodeError as e:
        report.error(path.name, f"not valid UTF-8 text ({e.reason} at byte {e.start})")
        return None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            report.error(path.name, "the file is empty; expected a header row")
            return None
        cols = {h.strip().casefold(): i for i, h in enumerate(header)}
        missing = [c for c in needed if c not in cols]
        for c in missing:
            report.error(path.name, "a required column is missing", column=c)
        if missing:
            return None
        rows = []
        for n, raw in enumerate(reader, start=2):
            if not any(x.strip() for x in raw):
                continue
            rows.append((n, {c: (raw[i] if i < len(raw) else "") for c, i in cols.items()}))
    except csv.Error as e:
        report.error(path.name, f"not a valid CSV file ({e})")
        return None
    return rows


def _int(text: str) -> int | None:
    """A whole number >= 0 (digits only), else None."""
    t = text.strip()
    return int(t) if t.isascii() and t.isdigit() else None


def _float(text: str) -> float | None:
    """A finite number >= 0, else None."""
    try:
        x = float(text.strip())
    except ValueError:
        return None
    return x if math.isfinite(x) and x >= 0 else None


#: ``plan.csv`` columns that may be left out (their value when absent or empty).
_OPTIONAL_CELLS = {"memory_mb": "0", "est_seconds": "0", "reason": "", "temporary": ""}
_NAME_COLUMNS = ("vm", "source", "target")


def parse_plan_row(
    name: str, n: int, r: dict[str, str], report: Report
) -> tuple[dict[str, Any], bool]:
    """One ``plan.csv`` row (raw text by column) as typed values, names kept: the form
    :meth:`PlanMove.to_row` gives, None where a cell is bad, and whether every cell read.
    Every bad cell is recorded in ``report`` (file ``name``, row ``n``, column, value).

    This is the one parser of ``plan.csv`` cells; :func:`read_plan_moves` then resolves the
    names in the snapshot.
    """
    cell = {c: (r.get(c, "") or _OPTIONAL_CELLS.get(c, "")) for c in PLAN_COLUMNS}
    out: dict[str, Any] = {c: csv_uncell(cell[c]) for c in (*_NAME_COLUMNS, "reason")}
    kind = MOVE_KIND_BY_NAME.get(cell["migration_type"].strip().casefold())
    temp = cell["temporary"].strip().casefold()
    typed: dict[str, Any] = {
        "step": _int(cell["step"]),
        "wave": _int(cell["wave"]),
        "migration_type": None if kind is None else MOVE_KIND_NAMES[kind],
        "memory_mb": _int(cell["memory_mb"]),
        "est_seconds": _float(cell["est_seconds"]),
        "temporary": None if temp not in _TRUE | _FALSE else temp in _TRUE,
    }
    expected = {
        "step": "a whole number >= 0",
        "wave": "a whole number >= 0",
        "migration_type": "one of " + ", ".join(MOVE_KIND_NAMES.values()),
        "memory_mb": "a whole number >= 0",
        "est_seconds": "a number >= 0",
        "temporary": "true or false",
    }
    ok = True
    for col, want in expected.items():
        if typed[col] is None:
            report.error(
                name, f"expected {want}", row=n, column=col, value=cell[col], expected=want
            )
            ok = False
    for col in _NAME_COLUMNS:
        if not out[col]:
            report.error(name, "a name is required", row=n, column=col, value="")
            ok = False
    out.update(typed)
    return {c: out[c] for c in PLAN_COLUMNS}, ok


def _resolve(
    cluster: Cluster, name: str, n: int, row: dict[str, Any], report: Report
) -> PlanMove | None:
    """A typed ``plan.csv`` row with its names looked up in ``cluster`` (any case)."""
    vm = cluster.vm_index.get(row["vm"].casefold())
    ends = [cluster.host_index.get(row[c].casefold()) for c in ("source", "target")]
    if vm is None:
        report.error(
            name,
            "VM is not in the snapshot (was the plan made from another snapshot?)",
            row=n,
            column="vm",
            value=row["vm"],
        )
    for col, h in zip(("source", "target"), ends, strict=True):
        if h is None:
            report.error(name, "node is not in the snapshot", row=n, column=col, value=row[col])
    src, dst = ends
    if vm is None or src is None or dst is None or row["migration_type"] is None:
        return None
    kind = MOVE_KIND_BY_NAME[row["migration_type"].casefold()]
    return PlanMove(
        row["step"],
        row["wave"],
        vm,
        src,
        dst,
        kind,
        row["memory_mb"],
        row["est_seconds"],
        row["reason"],
        row["temporary"],
    )


def _plan_cells(
    path: Path, report: Report, required: bool, steps: dict[int, int] | None
) -> list[tuple[int, dict[str, Any], bool]] | None:
    """Every ``plan.csv`` row as ``(spreadsheet row, typed cells, all cells read)``."""
    rows = _table(path, PLAN_COLUMNS[:6], report, required)
    if rows is None:
        return None
    out = []
    for n, r in rows:
        step = _int(r["step"])
        if steps is not None and step is not None:
            steps[n] = step
        out.append((n, *parse_plan_row(path.name, n, r, report)))
    return out


def read_plan_rows(
    path: str | Path,
    report: Report,
    required: bool = True,
    steps: dict[int, int] | None = None,
) -> list[tuple[int, dict[str, Any]]] | None:
    """The valid rows of ``plan.csv`` as ``(spreadsheet row, typed row)`` with names (no
    snapshot needed); every problem goes to ``report``.  None when the file cannot be read
    (or is absent and not ``required``).  ``steps`` receives the step of every row whose
    step reads (bad rows included), by spreadsheet row."""
    rows = _plan_cells(Path(path), report, required, steps)
    return None if rows is None else [(n, row) for n, row, ok in rows if ok]


def read_plan_moves(
    cluster: Cluster,
    path: str | Path,
    report: Report,
    required: bool = True,
    steps: dict[int, int] | None = None,
) -> list[PlanMove] | None:
    """The valid rows of ``plan.csv`` as moves; every problem (file, row, column, value)
    goes to ``report`` (a bad cell and an unknown name of one row alike).  None when the
    file cannot be read.  ``steps`` as for :func:`read_plan_rows`."""
    p = Path(path)
    rows = _plan_cells(p, report, required, steps)
    if rows is None:
        return None
    moves = []
    for n, row, ok in rows:
        move = _resolve(cluster, p.name, n, row, report)
        if ok and move is not None:
            moves.append(move)
    return moves


def read_placement_rows(
    path: str | Path, report: Report, required: bool = True
) -> list[tuple[int, str, str]] | None:
    """``placement.csv`` as ``(spreadsheet row, vm name, host name)``; None when the file
    cannot be read (problems in ``report``)."""
    p = Path(path)
    rows = _table(p, PLACEMENT_COLUMNS, report, required)
    if rows is None:
        return None
    return [(n, csv_uncell(r["vm"]), csv_uncell(r["host"])) for n, r in rows]


def read_placement(
    cluster: Cluster, path: str | Path, report: Report, required: bool = True
) -> np.ndarray | None:
    """Read ``placement.csv``: the host index of every VM, or None with the problems in
    ``report`` (a name not in the snapshot, a VM listed twice or not at all)."""
    p = Path(path)
    rows = read_placement_rows(p, report, required)
    if rows is None:
        return None
    before = len(report.errors)
    out = np.full(cluster.n_vms, -1, dtype=np.int64)
    unknown = 0  # rows naming a VM or node not in the snapshot
    for n, vm_name, host_name in rows:
        v = cluster.vm_index.get(vm_name.casefold())
        h = cluster.host_index.get(host_name.casefold())
        if v is None:
            report.error(
                p.name,
                "VM is not in the snapshot (was the plan made from another snapshot?)",
                row=n,
                column="vm",
                value=vm_name,
            )
        if h is None:
            report.error(
                p.name, "node is not in the snapshot", row=n, column="host", value=host_name
            )
        if v is None or h is None:
            unknown += 1
            continue
        if out[v] >= 0:
            report.error(p.name, "the VM is listed twice", row=n, column="vm", value=vm_name)
        else:
            out[v] = h
    missing = np.flatnonzero(out < 0)
    # A misspelt name is one mistake: its VM is then missing too, which is not reported again.
    if len(missing) > unknown:
        shown = ", ".join(cluster.vm_names[v] for v in missing[:5])
        report.error(
            p.name,
            f"does not list {len(missing)} VM(s): {shown}" + (" ..." if len(missing) > 5 else ""),
        )
    return None if len(report.errors) > before else out


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
    report = Report()
    steps: dict[int, int] = {}
    moves = read_plan_moves(cluster, path, report, steps=steps)
    return moves or [], plan_file_violations(report, steps, cluster)


def read_placement_csv(
    cluster: Cluster, path: str | Path
) -> tuple[np.ndarray | None, list[Violation]]:
    """Read ``placement.csv``: the host index of every VM, or None with the problems."""
    report = Report()
    placement = read_placement(cluster, path, report)
    return placement, plan_file_violations(report, cluster=cluster)


#: The files of a plan directory (SPEC §5).
PLAN_FILES = ("plan.csv", "placement.csv", "summary.json", "plan.ps1", "rollback.ps1")


@dataclass(frozen=True)
class PlanFiles:
    """A plan as read back from its directory (:func:`read_plan_files`).

    ``moves`` are the valid rows of plan.csv; ``placement``, ``summary`` and the runbook
    texts are None when the file could not be read (or is absent and was not required);
    ``report`` holds every problem (file, row, column, value), ``problems`` the same as
    verifier violations (kind ``plan_file``).
    """

    moves: tuple[PlanMove, ...]
    placement: np.ndarray | None
    summary: dict[str, Any] | None
    plan_ps1: str | None
    rollback_ps1: str | None
    report: Report = field(default_factory=Report)
    directory: Path | None = None
    #: The step of each plan.csv row that gives one, by spreadsheet row.
    row_steps: dict[int, int] = field(default_factory=dict)
    #: The snapshot the files were read against (names it lacks stay unresolved text).
    cluster: Cluster | None = None

    @property
    def problems(self) -> tuple[Violation, ...]:
        """Every problem as a ``plan_file`` violation (one per bad row)."""
        return tuple(plan_file_violations(self.report, self.row_steps, self.cluster))

    @property
    def ok(self) -> bool:
        """True when every file read without a problem."""
        return self.report.valid

    def final_placement(self, cluster: Cluster) -> np.ndarray:
        """Host per VM after the plan: ``placement.csv``, else the snapshot's placement with
        the moves of ``plan.csv`` applied in step order."""
        if self.placement is not None:
            return self.placement
        p = cluster.vm_host.astype(np.int64).copy()
        for m in sorted(self.moves, key=lambda m: m.step):
            p[m.vm] = m.target
        return p


def read_summary(
    path: str | Path, report: Report | None = None, required: bool = True
) -> tuple[dict[str, Any] | None, list[Violation]]:
    """Read ``summary.json``: a JSON object, or None with the problem (in ``report`` too)."""
    p = Path(path)
    rep = report if report is not None else Report()
    before = len(rep.problems)
    data: Any = None
    try:
        data = json.loads(p.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        if required:
            rep.error(p.name, "the file is missing from the plan directory")
    except OSError as e:
        rep.error(p.name, f"cannot be read ({e.strerror or e})")
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        rep.error(p.name, f"not valid JSON: {e}")
    else:
        if not isinstance(data, dict):
            rep.error(p.name, "expected a JSON object")
            data = None
    sub = Report(rep.problems[before:])
    return (data if sub.valid else None), plan_file_violations(sub)


def _text(path: Path, report: Report, required: bool) -> str | None:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        if required:
            report.error(path.name, "the file is missing from the plan directory")
    except OSError as e:
        report.error(path.name, f"cannot be read ({e.strerror or e})")
    except UnicodeDecodeError as e:
        report.error(path.name, f"not valid UTF-8 text ({e.reason} at byte {e.start})")
    return None


def read_plan_files(cluster: Cluster, plan_dir: str | Path, complete: bool = True) -> PlanFiles:
    """Read a plan directory: the one reader of plan files (verify, report, replay and
    :func:`planner.planio.read_plan` use it).  Problems are collected, never raised.

    Parameters
    ----------
    cluster:
        The snapshot the plan's names refer to.
    plan_dir:
        The plan directory.
    complete:
        True: all five files of SPEC §5 must be there (``hvplan verify``).  False: only
        plan.csv or placement.csv must be (the others are read when present).

    Returns
    -------
    PlanFiles
        What could be read, and every problem (file, row, column, value).
    """
    d = Path(plan_dir)
    report = Report()
    if not d.is_dir():
        report.error(str(d), "the plan directory does not exist or is not a directory")
        return PlanFiles((), None, None, None, None, report, d, cluster=cluster)
    if not complete and not (d / "plan.csv").is_file() and not (d / "placement.csv").is_file():
        report.error(str(d), "neither plan.csv nor placement.csv is in the plan directory")
        return PlanFiles((), None, None, None, None, report, d, cluster=cluster)
    steps: dict[int, int] = {}
    moves = read_plan_moves(cluster, d / "plan.csv", report, complete, steps)
    placement = read_placement(cluster, d / "placement.csv", report, complete)
    summary, _ = read_summary(d / "summary.json", report, complete)
    plan_ps1 = _text(d / "plan.ps1", report, complete)
    rollback_ps1 = _text(d / "rollback.ps1", report, complete)
    return PlanFiles(
        tuple(moves or ()),
        placement,
        summary,
        plan_ps1,
        rollback_ps1,
        report,
        d,
        row_steps=steps,
        cluster=cluster,
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
    "parse_plan_row",
    "plan_file_violations",
    "read_placement",
    "read_placement_csv",
    "read_placement_rows",
    "read_plan_csv",
    "read_plan_files",
    "read_plan_moves",
    "read_plan_rows",
    "read_summary",
]
