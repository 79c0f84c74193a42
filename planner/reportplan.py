"""What the HTML report reads of a plan directory: moves, final placement, summary, options.

:func:`read_plan` reads ``plan.csv`` / ``placement.csv`` / ``summary.json`` with every
problem collected into a :class:`planner.diagnostics.Report` (file, row, column, value).
:func:`plan_settings` reads the options the plan was made with from ``summary.json`` (its
``parameters`` and the top-level identity fields), so that a report about a plan judges
every section by that plan's threshold, drain and objective instead of the defaults.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planner.cluster import Cluster
from planner.diagnostics import Report
from planner.textsafe import csv_uncell


@dataclass(frozen=True)
class PlanMove:
    """One row of ``plan.csv`` (SPEC §5) with VM and hosts as indices."""

    step: int
    wave: int
    vm: int
    source: int
    target: int
    migration_type: str
    memory_mb: int
    est_seconds: float
    reason: str
    temporary: bool = False


@dataclass(frozen=True)
class PlanData:
    """What the report shows of a plan directory."""

    directory: Path
    moves: tuple[PlanMove, ...]
    placement: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)
    drained: tuple[int, ...] = ()


_MIGRATION_TYPES = {"live": "Live", "quick": "Quick", "shutdown": "Shutdown", "start": "Start"}
#: Moves with downtime: a VM shut down and started on its target, or started from a Down node.
DOWNTIME_TYPES = frozenset({"Shutdown", "Start"})


def _read_csv(path: Path, report: Report) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header (case-folded) and ``(spreadsheet row, record)`` pairs; problems go to ``report``."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        report.error(path.name, f"not valid UTF-8 text ({e.reason} at byte {e.start})")
        return [], []
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        report.error(path.name, f"not a readable CSV file: {e}")
        return [], []
    if not rows:
        report.error(path.name, "file is empty; expected a header row")
        return [], []
    header = [h.strip().casefold() for h in rows[0]]
    records = []
    for i, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        # Text cells that hvplan wrote carry the spreadsheet-formula defence: undone here.
        records.append(
            (i, {k: (csv_uncell(r[j].strip()) if j < len(r) else "") for j, k in enumerate(header)})
        )
    return header, records


def read_plan(cluster: Cluster, directory: str | Path) -> tuple[PlanData | None, Report]:
    """Read ``plan.csv``, ``placement.csv`` and ``summary.json`` of a plan directory.

    Returns ``(plan, report)``; ``plan`` is ``None`` when the report has errors (a name that
    is not in the snapshot, a bad number, a missing column, ...).  Either ``plan.csv`` or
    ``placement.csv`` must exist; without ``placement.csv`` the final placement is the
    current one with the moves of ``plan.csv`` applied in step order.
    """
    d = Path(directory)
    report = Report()
    if not d.is_dir():
        report.error(str(d), "plan directory does not exist or is not a directory")
        return None, report
    plan_csv, placement_csv, summary_json = d / "plan.csv", d / "placement.csv", d / "summary.json"
    if not plan_csv.is_file() and not placement_csv.is_file():
        report.error(str(d), "neither plan.csv nor placement.csv is in the plan directory")
        return None, report
    moves: list[PlanMove] = []
    if plan_csv.is_file():
        moves = _read_moves(cluster, plan_csv, report)
    placement = cluster.vm_host.astype(np.int64).copy()
    if placement_csv.is_file():
        _read_placement(cluster, placement_csv, placement, report)
    else:
        for m in sorted(moves, key=lambda m: m.step):
            placement[m.vm] = m.target
    summary: dict[str, Any] = {}
    if summary_json.is_file():
        try:
            loaded = json.loads(summary_json.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            report.error(summary_json.name, f"not valid JSON: {e}")
        else:
            if isinstance(loaded, dict):
                summary = loaded
            else:
                report.error(summary_json.name, "expected a JSON object")
    drained: list[int] = []
    names = summary.get("drained") or []
    for name in names if isinstance(names, list) else [names]:
        h = _lookup({n.casefold(): i for i, n in enumerate(cluster.host_names)}, str(name))
        if h is None:
            report.error(
                summary_json.name,
                "drains a host that is not in the snapshot",
                column="drained",
                value=name,
            )
        elif h not in drained:
            drained.append(h)
    if not report.valid:
        return None, report
    return PlanData(d, tuple(moves), placement, summary, tuple(drained)), report


def _lookup(index: dict[str, int], name: str) -> int | None:
    return index.get(name.casefold())


def _read_moves(cluster: Cluster, path: Path, report: Report) -> list[PlanMove]:
    header, records = _read_csv(path, report)
    if not header:
        return []
    needed = ("step", "vm", "source", "target", "migration_type")
    missing = [c for c in needed if c not in header]
    for c in missing:
        report.error(path.name, "required column is missing", column=c)
    if missing:
        return []
    vm_idx = {n.casefold(): i for i, n in enumerate(cluster.vm_names)}
    host_idx = {n.casefold(): i for i, n in enumerate(cluster.host_names)}
    moves: list[PlanMove] = []
    for row, rec in records:
        ok = True

        def number(
            col: str,
            default: float | None,
            integer: bool,
            row: int = row,
            rec: dict[str, str] = rec,
        ) -> float:
            nonlocal ok
            s = rec.get(col, "")
            if s == "" and default is not None:
                return default
            try:
                v = float(s)
                if not math.isfinite(v) or v < 0 or (integer and v != int(v)):
                    raise ValueError
            except ValueError:
                kind = "a whole number >= 0" if integer else "a number >= 0"
                report.error(path.name, f"expected {kind}", row=row, column=col, value=s)
                ok = False
                return 0.0
            return v

        step = int(number("step", None, True))
        wave = int(number("wave", float(step), True))
        mem = int(number("memory_mb", 0.0, True))
        est = number("est_seconds", 0.0, False)
        vm = _lookup(vm_idx, rec["vm"])
        if vm is None:
            report.error(
                path.name,
                "VM is not in the snapshot (was the plan made from another snapshot?)",
                row=row,
                column="vm",
                value=rec["vm"],
            )
            ok = False
        ends = []
        for col in ("source", "target"):
            h = _lookup(host_idx, rec[col])
            if h is None:
                report.error(
                    path.name, "host is not in the snapshot", row=row, column=col, value=rec[col]
                )
                ok = False
            ends.append(h)
        mtype = _MIGRATION_TYPES.get(rec["migration_type"].casefold())
        if mtype is None:
            report.error(
                path.name,
                "expected Live, Quick, Shutdown or Start",
                row=row,
                column="migration_type",
                value=rec["migration_type"],
            )
            ok = False
        temporary = rec.get("temporary", "").casefold() in ("true", "1", "yes")
        if (
            ok
            and vm is not None
            and ends[0] is not None
            and ends[1] is not None
            and mtype is not None
        ):
            moves.append(
                PlanMove(
                    step,
                    wave,
                    vm,
                    ends[0],
                    ends[1],
                    mtype,
                    mem,
                    est,
                    rec.get("reason", ""),
                    temporary,
                )
            )
    return moves


def _read_placement(cluster: Cluster, path: Path, placement: np.ndarray, report: Report) -> None:
    header, records = _read_csv(path, report)
    if not header:
        return
    for c in ("vm", "host"):
        if c not in header:
            report.error(path.name, "required column is missing", column=c)
    if "vm" not in header or "host" not in header:
        return
    vm_idx = {n.casefold(): i for i, n in enumerate(cluster.vm_names)}
    host_idx = {n.casefold(): i for i, n in enumerate(cluster.host_names)}
    for row, rec in records:
        vm = _lookup(vm_idx, rec["vm"])
        h = _lookup(host_idx, rec["host"])
        if vm is None:
            report.error(
                path.name,
                "VM is not in the snapshot (was the plan made from another snapshot?)",
                row=row,
                column="vm",
                value=rec["vm"],
            )
        if h is None:
            report.error(
                path.name, "host is not in the snapshot", row=row, column="host", value=rec["host"]
            )
        if vm is not None and h is not None:
            placement[vm] = h


# ----------------------------------------------------------------------------- plan options
@dataclass(frozen=True)
class PlanSettings:
    """The options a plan was made with, as its ``summary.json`` records them.

    ``level`` is ``"low"``, ``"medium"``, ``"high"`` or ``None`` (a ``--threshold`` plan, or
    a summary that does not say); ``threshold_pct`` is the user's ``--threshold`` (``None``
    when the level decided); ``high_mode`` the reading of High; ``shown`` every recorded
    option as ``(name, text)`` pairs for the page, in a stable order.
    """

    level: str | None = None
    threshold_pct: float | None = None
    high_mode: str = "average"
    minimise: str | None = None
    created_utc: str | None = None
    collected_utc: str | None = None
    shown: tuple[tuple[str, str], ...] = ()


_LEVELS = ("low", "medium", "high")


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None:
        return "(not set)"
    if isinstance(v, list | tuple):
        return ", ".join(_text(x) for x in v) if v else "(none)"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_text(x)}" for k, x in v.items())
    return str(v)


def _float(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        return None
    try:
        f = float(v)
    except ValueError:
        return None
    return f if math.isfinite(f) and 0.0 <= f <= 100.0 else None


def plan_settings(summary: dict[str, Any]) -> PlanSettings:
    """The plan's options from ``summary``: ``parameters`` first, the top-level fields
    (``level``, ``threshold_pct``, ``threshold_rule``, ``minimise``, ...) where it is silent.

    Parameters
    ----------
    summary:
        The parsed ``summary.json`` (an empty dict when the plan has none).

    Returns
    -------
    PlanSettings
        Unknown or malformed values are left unset (the report then says the default is used).
    """
    params = summary.get("parameters")
    params = params if isinstance(params, dict) else {}

    def pick(*keys: str) -> Any:
        for k in keys:
            if params.get(k) is not None:
                return params[k]
        for k in keys:
            if summary.get(k) is not None:
                return summary[k]
        return None

    level = pick("level")
    level = str(level).strip().lower() if level is not None else None
    threshold = _float(params.get("threshold_pct", params.get("threshold")))
    if threshold is None and level == "custom":
        t = summary.get("threshold_pct")
        threshold = _float(t.get("cpu")) if isinstance(t, dict) else _float(t)
    if level not in _LEVELS:
        level = None
    mode = pick("high_mode")
    rule = str(summary.get("threshold_rule") or "")
    high_mode = (
        str(mode).strip().lower()
        if mode is not None
        else "absolute"
        if "absolute" in rule
        else "average"
    )
    minimise = pick("minimise", "minimize")
    shown: list[tuple[str, str]] = []
    if rule:
        shown.append(("threshold", rule))
    for k in (
        "level",
        "high_mode",
        "minimise",
        "load",
        "headroom_pct",
        "max_moves",
        "drained",
        "profile",
        "seed",
        "time_limit_s",
        "strict_rules",
    ):
        v = pick(k) if k != "drained" else summary.get("drained", params.get("drain"))
        if v is not None:
            shown.append((k, _text(v)))
    seen = {k for k, _ in shown}
    # The drain is shown by name ("drained"); "drain" holds the same hosts as indices.
    aliases = {"profile_source", "drain"}
    shown += [
        (k, _text(v)) for k, v in sorted(params.items()) if k not in seen and k not in aliases
    ]
    created = summary.get("created_utc")
    collected = summary.get("collected_utc")
    return PlanSettings(
        level,
        threshold,
        high_mode if high_mode in ("average", "absolute") else "average",
        None if minimise is None else str(minimise),
        None if created is None else str(created),
        None if collected is None else str(collected),
        tuple(shown),
    )


__all__ = ["DOWNTIME_TYPES", "PlanData", "PlanMove", "PlanSettings", "plan_settings", "read_plan"]
