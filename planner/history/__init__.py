"""Load history (SPEC §1 ``vm_history`` / ``host_history``): data, reading, per-sample
evaluation and robust plans."""

from planner.history.model import (
    QUANTILE,
    LoadHistory,
    LoadStatistic,
    cluster_at,
    constant_history,
    iso_utc,
    nearest_rank,
    parse_statistic,
)
from planner.history.reader import load_history

__all__ = [
    "QUANTILE",
    "LoadHistory",
    "LoadStatistic",
    "cluster_at",
    "constant_history",
    "iso_utc",
    "load_history",
    "nearest_rank",
    "parse_statistic",
]
