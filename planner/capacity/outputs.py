"""The files of a capacity batch: ``scenarios.csv`` / ``scenarios.parquet`` (one row per
scenario, :data:`COLUMNS`), ``over_time.csv`` (one row per snapshot with a load history,
placement and N+k, :data:`~planner.capacity.overtime.OVER_TIME_COLUMNS`) and
``summary.json``, each written to a temporary file and renamed into place."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner.capacity.overtime import OVER_TIME_COLUMNS

if TYPE_CHECKING:
    from planner.capacity.batch import BatchResult

#: Columns of ``scenarios.csv`` / ``scenarios.parquet`` in order, with their pandas dtype.
COLUMNS: dict[str, str] = {
    "snapshot": "string",
    "scenario": "string",
    "kind": "string",
    "failed_hosts": "string",
    "growth": "float64",
    "added_hosts": "Int64",
    "vms_to_restart": "Int64",
    "vms_not_restarted": "Int64",
    "not_restarted_high": "Int64",
    "not_restarted_medium": "Int64",
    "not_restarted_low": "Int64",
    "noautostart_off": "Int64",
    "max_cpu_pct_after": "float64",
    "max_memory_pct_after": "float64",
    "hosts_over_threshold_after": "Int64",
    "hosts_over_capacity_after": "Int64",
    "survivable": "boolean",
    "settled_by": "string",
    "proven": "boolean",
    "moves": "Int64",
    "live_moves": "Int64",
    "quick_moves": "Int64",
    "downtime_moves": "Int64",
    "memory_moved_mb": "Int64",
    "not_restarted_vms": "string",
    "min_not_restarted": "Int64",
    "min_not_restarted_high": "Int64",
    "min_not_restarted_medium": "Int64",
    "min_not_restarted_low": "Int64",
    "min_loss_proven": "boolean",
    # With a load history, on N+k rows of today's demand: samples of the window, and those
    # at which this scenario is survivable on the current placement / on hvplan's plan.
    "window_samples": "Int64",
    "window_survivable_samples": "Int64",
    "window_survivable_samples_hvplan": "Int64",
}


def table(rows: list[dict[str, Any]], columns: dict[str, str] | None = None) -> pd.DataFrame:
    """``rows`` as a frame of ``columns`` (default :data:`COLUMNS`) with their dtypes."""
    cols = COLUMNS if columns is None else columns
    df = pd.DataFrame(rows, columns=list(cols))
    for c, dt in cols.items():
        df[c] = df[c].astype(dt)  # type: ignore[call-overload]
    return df


def write_outputs(result: BatchResult, out_dir: str | Path) -> list[Path]:
    """Write ``scenarios.csv``, ``scenarios.parquet``, ``over_time.csv`` (only when some
    snapshot has a load history) and ``summary.json`` into ``out_dir``, each first to a
    temporary file and then renamed into place."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    targets: list[tuple[str, Callable[[Path], None]]] = [
        (
            "scenarios.csv",
            lambda p: _csv_safe(result.table).to_csv(p, index=False, lineterminator="\n"),
        ),
        ("scenarios.parquet", lambda p: result.table.to_parquet(p, index=False)),
    ]
    if result.over_time_rows:
        ot = table(result.over_time_rows, OVER_TIME_COLUMNS)
        targets.append(
            ("over_time.csv", lambda p: _csv_safe(ot).to_csv(p, index=False, lineterminator="\n"))
        )
    targets.append(("summary.json", lambda p: _write_json(p, result.summary())))
    for name, write in targets:
        final = d / name
        tmp = d / f".{name}.tmp-{os.getpid()}"
        try:
            write(tmp)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        written.append(final)
    return written


def _csv_safe(table: Any) -> Any:
    """``table`` with every text cell through :func:`planner.textsafe.csv_cell` (the
    spreadsheet-formula defence: snapshot and host names come from the user's files)."""
    from planner.textsafe import csv_cell

    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith("str"):
            out[col] = out[col].map(lambda v: csv_cell(v) if isinstance(v, str) else v)
    return out


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


__all__ = ["COLUMNS", "table", "write_outputs"]
