"""The history files of a snapshot: which file, its columns, and its rows in batches.

Both files are long tables (one row per entity per sample), CSV or Parquet, read in batches of
about a million rows with pyarrow, only the columns needed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from planner.diagnostics import Report

#: Rows per batch.
BATCH_ROWS = 1 << 20
_TYPE_LINE = "#TYPE"


@dataclass(frozen=True)
class Spec:
    """The columns of one kind of history file."""

    stem: str
    entity: str  # "vm" or "host"
    value: str  # "cpu_usage_pct" or "cpu_base_pct"
    optional: tuple[str, ...]  # further known columns


VM_SPEC = Spec("vm_history", "vm", "cpu_usage_pct", ("memory_mb",))
HOST_SPEC = Spec("host_history", "host", "cpu_base_pct", ())


@dataclass
class Source:
    """One history file: where it is, its columns (lower case → as written), how to read."""

    path: Path
    name: str
    parquet: bool
    columns: dict[str, str]
    skip_rows: int = 0  # CSV lines before the header (a #TYPE line)


def find_source(directory: Path, spec: Spec, report: Report) -> Source | None:
    """The history file of ``spec`` in ``directory`` (case-insensitive name), or None."""
    try:
        entries = {e.name.casefold(): e for e in directory.iterdir() if e.is_file()}
    except OSError:
        return None
    pq_path = entries.get(f"{spec.stem}.parquet")
    csv_path = entries.get(f"{spec.stem}.csv")
    if pq_path is not None and csv_path is not None:
        report.warning(
            csv_path.name,
            f"both {spec.stem}.csv and {spec.stem}.parquet exist; "
            f"the Parquet file is read, the CSV file ignored",
        )
    path = pq_path or csv_path
    if path is None:
        return None
    name = path.name
    try:
        if pq_path is not None:
            cols = [str(c) for c in pq.ParquetFile(path).schema_arrow.names]
            return Source(path, name, True, _colmap(cols))
        skip, header = _csv_header(path)
    except (OSError, pa.ArrowException, UnicodeDecodeError, csv.Error) as e:
        report.error(name, f"cannot read the file: {e}")
        return None
    if header is None:
        report.error(name, "file is empty; expected a header row and data rows")
        return None
    return Source(path, name, False, _colmap(header), skip)


def _colmap(names: list[str]) -> dict[str, str]:
    return {n.strip().lstrip("\ufeff").strip().casefold(): n for n in names}


def _csv_header(path: Path) -> tuple[int, list[str] | None]:
    """Lines to skip before the header (PowerShell's ``#TYPE`` line) and the header."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnicodeDecodeError(
            "utf-16", head[:2], 0, 2, "UTF-16 history files are not read; save as UTF-8"
        )
    text = head.decode("utf-8-sig", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    skip = 0
    if lines and lines[0].startswith(_TYPE_LINE):
        skip, lines = 1, lines[1:]
    if not lines:
        return skip, None
    return skip, next(csv.reader([lines[0]]))


def check_columns(src: Source, spec: Spec, report: Report) -> bool:
    required = ("timestamp", spec.entity, spec.value)
    known = set(required) | set(spec.optional)
    ok = True
    for c in required:
        if c not in src.columns:
            report.error(
                src.name,
                f"required column '{c}' is missing (columns: {', '.join(src.columns.values())})",
                column=c,
            )
            ok = False
    for c, shown in src.columns.items():
        if c not in known:
            report.warning(src.name, "unknown column, ignored", column=shown)
    return ok


def batches(src: Source, columns: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(index of the batch's first row, batch)`` over the file, ``columns`` only (lower
    case names in the result)."""
    names = [src.columns[c] for c in columns]
    if src.parquet:
        pf = pq.ParquetFile(
            src.path, read_dictionary=[src.columns[c] for c in columns if c in ("vm", "host")]
        )
        batches: Iterator[pa.RecordBatch] = pf.iter_batches(batch_size=BATCH_ROWS, columns=names)
    else:
        table = pacsv.read_csv(
            src.path,
            read_options=pacsv.ReadOptions(skip_rows=src.skip_rows, block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in src.columns.values()},
                include_columns=names,
                strings_can_be_null=False,
            ),
        )
        batches = iter(table.to_batches(max_chunksize=BATCH_ROWS))
    start = 0
    for b in batches:
        yield start, pa.RecordBatch.from_arrays([b.column(n) for n in names], names=columns)
        start += b.num_rows


def row_numbers(src: Source, start: int, idx: np.ndarray) -> np.ndarray:
    first = 1 if src.parquet else 2 + src.skip_rows
    return idx.astype(np.int64) + start + first
