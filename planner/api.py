"""The package-level functions of the public API that wrap several modules.

:func:`write_plan`, :func:`read_plan` and :func:`verify` take a :class:`~planner.pipeline.Plan`
or a plan directory; they delegate to :mod:`planner.planio` and :mod:`planner.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.cluster import Cluster
    from planner.pipeline import Plan
    from planner.status import StatusReport


@dataclass(frozen=True)
class PlanFiles:
    """A plan as read back from its directory, without the snapshot (names, not indices).

    Attributes
    ----------
    directory:
        Where it was read from.
    summary:
        ``summary.json``.
    moves:
        ``plan.csv`` rows, typed (``step`` and ``wave`` int, ``migration_type`` Live/Quick/
        Shutdown/Start, ``memory_mb`` int, ``est_seconds`` float, ``temporary`` bool,
        names as text): the form :meth:`planner.planrows.PlanMove.to_row` gives.
    placement:
        ``placement.csv`` as VM name → host name.
    """

    directory: Path
    summary: dict[str, Any]
    moves: list[dict[str, Any]] = field(default_factory=list)
    placement: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """The plan's ``status`` (OPTIMAL, FEASIBLE, ...)."""
        return str(self.summary.get("status", ""))


def write_plan(plan: Plan, directory: str | Path) -> Any:
    """Write the five plan files of ``plan`` into ``directory`` (SPEC §5).

    Returns the write outcome of :func:`planner.planio.write_plan` (``.ok``, ``.message``).
    Raises ``ValueError`` when ``plan`` has no executable plan (``plan.ok`` is False).
    """
    import inspect

    from planner import planio

    if not plan.ok:
        raise ValueError(f"there is no executable plan to write: {plan.message}")
    writer: Any = planio.write_plan
    if "plan" in inspect.signature(writer).parameters:
        Path(directory).mkdir(parents=True, exist_ok=True)
        return writer(plan, directory)
    # planio still takes (cluster, result, directory).
    return writer(plan.cluster, plan.result, directory)


def read_plan(directory: str | Path) -> PlanFiles:
    """Read a plan directory written by :func:`write_plan` or ``hvplan plan``, with the
    parsers of the one plan reader (:mod:`planner.planrows`), no snapshot needed.

    Parameters
    ----------
    directory:
        The plan directory (``plan.csv``, ``placement.csv`` and ``summary.json`` are read).

    Returns
    -------
    PlanFiles
        Summary, typed moves and placement by name.

    Raises
    ------
    planner.diagnostics.InvalidInput
        A file is missing or unreadable, or a cell is bad; its report names every problem
        (file, row, column, value).
    """
    from planner.diagnostics import InvalidInput, Report
    from planner.planrows import read_placement_rows, read_plan_rows, read_summary

    d = Path(directory)
    report = Report()
    if not d.is_dir():
        report.error(str(d), "the plan directory does not exist or is not a directory")
        raise InvalidInput(report)
    rows = read_plan_rows(d / "plan.csv", report) or []
    placement = read_placement_rows(d / "placement.csv", report) or []
    summary, _ = read_summary(d / "summary.json", report)
    if not report.valid or summary is None:
        raise InvalidInput(report)
    return PlanFiles(d, summary, [r for _, r in rows], {vm: h for _, vm, h in placement})


def verify(cluster: Cluster, plan: Plan | str | Path) -> Any:
    """Check a plan independently of the optimizer: a :class:`~planner.pipeline.Plan` (its
    in-memory verification, or its files written to a temporary directory and checked) or
    a plan directory.  Returns the verifier's report (``.ok``, ``.violations``)."""
    import tempfile

    from planner.verify import verify_plan

    if isinstance(plan, str | Path):
        return verify_plan(cluster, plan)
    if plan.verification is not None:
        return plan.verification
    with tempfile.TemporaryDirectory(prefix="hvplan-verify-") as tmp:
        out = Path(tmp) / "plan"
        wo = write_plan(plan, out)
        if not getattr(wo, "ok", True):
            raise ValueError(getattr(wo, "message", "the plan could not be written"))
        return verify_plan(cluster, out)


def status(
    cluster: Cluster,
    level: str | None = None,
    threshold_pct: float | None = None,
    high_mode: str = "average",
) -> StatusReport:
    """Loads, threshold and rule violations now (``hvplan status``)."""
    from planner.status import cluster_status

    return cluster_status(cluster, level, threshold_pct, high_mode)


__all__ = ["PlanFiles", "read_plan", "status", "verify", "write_plan"]
