"""What the HTML report reads of a plan directory: moves, final placement, summary, options.

:func:`read_plan` reads ``plan.csv`` / ``placement.csv`` / ``summary.json`` with every
problem collected into a :class:`planner.diagnostics.Report` (file, row, column, value).
:func:`plan_settings` reads the options the plan was made with from ``summary.json`` (its
``parameters`` and the top-level identity fields), so that a report about a plan judges
every section by that plan's threshold, drain and objective instead of the defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planner.cluster import Cluster
from planner.diagnostics import Report
from planner.planrows import PlanMove, read_plan_files


@dataclass(frozen=True)
class PlanData:
    """What the report shows of a plan directory."""

    directory: Path
    moves: tuple[PlanMove, ...]
    placement: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)
    drained: tuple[int, ...] = ()


#: Moves with downtime: a VM shut down and started on its target, or started from a Down node.
DOWNTIME_TYPES = frozenset({"Shutdown", "Start"})


def read_plan(cluster: Cluster, directory: str | Path) -> tuple[PlanData | None, Report]:
    """Read ``plan.csv``, ``placement.csv`` and ``summary.json`` of a plan directory with the
    one plan reader (:func:`planner.planrows.read_plan_files`).

    Returns ``(plan, report)``; ``plan`` is ``None`` when the report has errors (a name that
    is not in the snapshot, a bad number, a missing column, ...).  Either ``plan.csv`` or
    ``placement.csv`` must exist; without ``placement.csv`` the final placement is the
    current one with the moves of ``plan.csv`` applied in step order.
    """
    files = read_plan_files(cluster, directory, complete=False)
    report = files.report
    summary = files.summary or {}
    drained: list[int] = []
    names = summary.get("drained") or []
    for name in names if isinstance(names, list) else [names]:
        h = cluster.host_index.get(str(name).casefold())
        if h is None:
            report.error(
                "summary.json",
                "drains a host that is not in the snapshot",
                column="drained",
                value=name,
            )
        elif h not in drained:
            drained.append(h)
    if not report.valid:
        return None, report
    return (
        PlanData(
            Path(directory),
            files.moves,
            files.final_placement(cluster),
            summary,
            tuple(drained),
        ),
        report,
    )


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
