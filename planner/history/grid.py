"""The common sample grid of the history files: step, first time and number of samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.diagnostics import Report
from planner.history.cells import time_seconds
from planner.history.model import iso_utc
from planner.history.source import Source, batches

#: Most samples a history may have (a year of 1-minute samples is 525,600).
MAX_SAMPLES = 600_000


@dataclass(frozen=True)
class Grid:
    """``n`` samples every ``step`` seconds from ``t0`` (Unix seconds)."""

    t0: int
    step: int
    n: int


#: Step assumed for a history of one sample time.
DEFAULT_STEP_S = 300


def distinct_times(src: Source, report: Report) -> np.ndarray:
    parts = []
    for _, b in batches(src, ["timestamp"]):
        secs, ok = time_seconds(b.column(0), report, src.name)
        parts.append(pd.unique(secs[ok]))
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def make_grid(times: np.ndarray, files: str, report: Report) -> Grid | None:
    """The common grid: step = most frequent distance between distinct times (ties: the
    larger), anchored
    at the most frequent phase; ``None`` (with an error) when it cannot hold the window."""
    if times.size == 0:
        return None
    if times.size == 1:
        return Grid(int(times[0]), DEFAULT_STEP_S, 1)
    vals, counts = np.unique(np.diff(times), return_counts=True)
    step = int(vals[counts == counts.max()].max())  # ties: the coarser step
    phase, pcount = np.unique(times % step, return_counts=True)
    on = times[(times % step) == phase[np.argmax(pcount)]]
    n = int((on[-1] - on[0]) // step) + 1
    if n > MAX_SAMPLES:
        report.error(
            files,
            f"the history spans {n} samples of {step} s "
            f"({iso_utc(int(on[0]))} to {iso_utc(int(on[-1]))}); at most "
            f"{MAX_SAMPLES} are read: cut the window or use a coarser step",
        )
        return None
    return Grid(int(on[0]), step, n)
