"""Choice types of the command line (light: importing this module imports no numpy).

Every choice option is declared with ``case_sensitive=False``: ``--level Medium``,
``--high-mode Absolute`` and ``--load P95`` are accepted.  The library's own enums (for
example :class:`planner.loadmodel.Level`) share these values; commands convert with
``.value`` when they call the library.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class LevelChoice(StrEnum):
    """Native balancer aggressiveness (``AutoBalancerLevel``)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class HighModeChoice(StrEnum):
    """Reading of the High level: Up hosts' average + 5 points, or 60 %."""

    AVERAGE = "average"
    ABSOLUTE = "absolute"


class LoadChoice(StrEnum):
    """Statistic of the load history at which the threshold is judged."""

    LATEST = "latest"
    MEAN = "mean"
    P95 = "p95"
    P99 = "p99"
    MAX = "max"


class MinimiseChoice(StrEnum):
    """What the migration tier minimises."""

    MEMORY = "memory"
    MOVES = "moves"
    DURATION = "duration"


class VendorChoice(StrEnum):
    """CPU vendors of generated nodes."""

    INTEL = "intel"
    AMD = "amd"
    MIXED = "mixed"


class HotVendor(StrEnum):
    """Vendor whose generated nodes are made hot."""

    INTEL = "intel"
    AMD = "amd"


class MaintenanceEngine(StrEnum):
    """How capacity drains are decided."""

    RESTART = "restart"
    OPTIMIZER = "optimizer"


#: The range of a CP-SAT random seed (a 32-bit signed integer, non-negative here).
SEED_MAX = 2**31 - 1


__all__ = [
    "SEED_MAX",
    "HighModeChoice",
    "HotVendor",
    "LevelChoice",
    "LoadChoice",
    "MaintenanceEngine",
    "MinimiseChoice",
    "VendorChoice",
]


#: The --level and --threshold options, one declaration for every command that takes them.
LevelOpt = Annotated[
    LevelChoice | None,
    typer.Option(
        "--level",
        case_sensitive=False,
        help="Balancer level (default: the cluster's auto_balancer_level).",
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--threshold", min=0.0, max=100.0, help="Threshold in percent; overrides --level."
    ),
]
#: The --progress/--no-progress option of the commands that show progress.
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        show_default=False,
        help="Show progress on stderr (default: on a terminal, not under --json).",
    ),
]
