"""Reading and validating ``vm_history`` / ``host_history`` (SPEC §1) into a LoadHistory.

Both files are long tables, one row per entity per sample, as CSV or Parquet.  They are read
in batches of about a million rows with pyarrow and checked column-wise with NumPy (no Python
loop over rows), so a month of 5-minute samples for 8,000 VMs (69 million rows) loads in
seconds and the memory held is the ``int32`` result plus one batch.

Two passes over each file: the first reads only the timestamps and fixes the common grid
(its step is the most frequent distance between consecutive distinct times; times off that
grid are errors), the second converts and scatters every row into the ``(T, V)`` arrays.

Problems go into the snapshot's :class:`~planner.diagnostics.Report` with file, row, column
and value.  Rows are numbered as a spreadsheet shows a CSV file (header = row 1); for
Parquet, ``row`` is the 1-based record number.  At most :data:`ROWS_SHOWN` rows are listed
per kind of problem, followed by one line counting the rest.

What is an error and what a warning
-----------------------------------
Errors: a missing required column, a bad or naive (no UTC offset) timestamp, a time off the
grid, a CPU % outside 0..100, a memory value that is not a positive number of MB, the same
entity twice at one time, more than :data:`MAX_SAMPLES` samples.  Warnings: rows naming a VM
or host that the snapshot does not have (ignored), a VM or host missing at some sample times
(it takes its nearest earlier value; before its first row, its first value), unknown columns,
both a CSV and a Parquet file present (the Parquet file is read).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from planner.cluster import CPU_UNITS, Cluster
from planner.diagnostics import Report
from planner.history.model import LoadHistory, iso_utc

#: Problems listed one by one per (file, column, kind); the rest are counted.
ROWS_SHOWN = 10
#: Most samples a history may have (a year of 1-minute samples is 525,600).
MAX_SAMPLES = 600_000
#: Most VM-samples held (int32 x 2 resources: 8 GB); larger windows must be cut.
MAX_CELLS = 1_000_000_000
#: Rows per batch.
BATCH_ROWS = 1 << 20
#: Unix seconds above this are taken for milliseconds (year 5138).
_MAX_UNIX_S = 10**11
_OFFSET_RE = re.compile(r"[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|z|[+-]\d{2}(?::?\d{2})?)$")
_TYPE_LINE = "#TYPE"


@dataclass(frozen=True)
class _Spec:
    stem: str
    entity: str  # "vm" or "host"
    value: str  # "cpu_usage_pct" or "cpu_base_pct"
    optional: tuple[str, ...]  # further known columns


_VM = _Spec("vm_history", "vm", "cpu_usage_pct", ("memory_mb",))
_HOST = _Spec("host_history", "host", "cpu_base_pct", ())


@dataclass
class _Source:
    """One history file: where it is, its columns (lower case → as written), how to read."""

    path: Path
    name: str
    parquet: bool
    columns: dict[str, str]
    skip_rows: int = 0  # CSV lines before the header (a #TYPE line)


@dataclass
class _Collector:
    """Problems of one file, capped per kind."""

    report: Report
    file: str
    shown: dict[tuple[str, str], int] = field(default_factory=dict)
    hidden: dict[tuple[str, str], int] = field(default_factory=dict)
    warning: dict[tuple[str, str], bool] = field(default_factory=dict)

    def rows(
        self,
        column: str,
        message: str,
        rows: np.ndarray,
        values: np.ndarray,
        expected: str | None = None,
        warning: bool = False,
    ) -> None:
        """Record a problem on each of ``rows`` (the first :data:`ROWS_SHOWN` shown)."""
        key = (column, message)
        self.warning[key] = warning
        room = max(ROWS_SHOWN - self.shown.get(key, 0), 0)
        add = self.report.warning if warning else self.report.error
        n_shown = min(room, len(rows))
        for r, v in zip(rows[:n_shown], values[:n_shown], strict=True):
            add(self.file, message, row=int(r), column=column, value=v, expected=expected)
        self.shown[key] = self.shown.get(key, 0) + n_shown
        self.hidden[key] = self.hidden.get(key, 0) + len(rows) - n_shown

    def close(self) -> None:
        """One line per kind counting the rows not listed."""
        for key, n in self.hidden.items():
            if n:
                add = self.report.warning if self.warning[key] else self.report.error
                add(self.file, f"{key[1]}: {n} more row(s) like this not listed", column=key[0])


# ----------------------------------------------------------------------------- files
def _find(directory: Path, spec: _Spec, report: Report) -> _Source | None:
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
            return _Source(path, name, True, _colmap(cols))
        skip, header = _csv_header(path)
    except (OSError, pa.ArrowException, UnicodeDecodeError, csv.Error) as e:
        report.error(name, f"cannot read the file: {e}")
        return None
    if header is None:
        report.error(name, "file is empty; expected a header row and data rows")
        return None
    return _Source(path, name, False, _colmap(header), skip)


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


def _check_columns(src: _Source, spec: _Spec, report: Report) -> bool:
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


def _batches(src: _Source, columns: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
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


def _row_numbers(src: _Source, start: int, idx: np.ndarray) -> np.ndarray:
    first = 1 if src.parquet else 2 + src.skip_rows
    return idx.astype(np.int64) + start + first


# ----------------------------------------------------------------------------- conversion
def _strings(arr: pa.Array) -> tuple[np.ndarray, list[str | None]]:
    """Dictionary codes (int64, -1 for null) and the distinct values of a text column."""
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    codes = arr.indices.to_numpy(zero_copy_only=False)
    codes = (
        np.where(pd.isna(codes), -1, codes).astype(np.int64)
        if arr.null_count
        else codes.astype(np.int64)
    )
    return codes, [None if v is None else str(v) for v in arr.dictionary.to_pylist()]


def _numbers(arr: pa.Array) -> np.ndarray:
    """float64 values; NaN for empty or non-numeric cells."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return arr.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        text = pc.utf8_trim_whitespace(arr)
        try:
            return text.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            s = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
            return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    if pa.types.is_boolean(arr.type):
        return np.full(len(arr), np.nan)
    return arr.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)


def _parse_time_texts(values: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Unix seconds (int64) of distinct timestamp texts, and which were valid."""
    n = len(values)
    out = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    s = pd.Series([("" if v is None else v.strip()) for v in values], dtype=object)
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    is_num = np.isfinite(num)
    good_num = is_num & (num >= 0) & (num < _MAX_UNIX_S) & (num == np.floor(num))
    out[good_num] = num[good_num].astype(np.int64)
    ok |= good_num
    iso = ~is_num & s.str.contains(_OFFSET_RE).to_numpy(dtype=bool)
    if iso.any():
        t = pd.to_datetime(s[iso], utc=True, format="ISO8601", errors="coerce")
        valid = t.notna().to_numpy()
        # The resolution pandas picks varies (s, us, ns): count seconds explicitly.
        secs = ((t[valid] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(
            dtype=np.int64
        )
        idx = np.flatnonzero(iso)[valid]
        out[idx] = secs
        ok[idx] = True
    return out, ok


def _times(arr: pa.Array, report: Report, file: str) -> tuple[np.ndarray, np.ndarray]:
    """Unix seconds (int64) and a validity mask for a timestamp column of any type."""
    if pa.types.is_dictionary(arr.type) and not (
        pa.types.is_string(arr.type.value_type) or pa.types.is_large_string(arr.type.value_type)
    ):
        arr = arr.dictionary_decode()
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is None and not getattr(report, "_naive_warned", False):
            report.warning(
                file, "Parquet timestamps carry no time zone; read as UTC", column="timestamp"
            )
            report.__dict__["_naive_warned"] = True
        secs = arr.cast(pa.timestamp("s", tz=arr.type.tz), safe=False).cast(pa.int64())
        valid = secs.is_valid().to_numpy(zero_copy_only=False)
        return secs.fill_null(0).to_numpy(zero_copy_only=False), valid
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        v = _numbers(arr)
        valid = np.isfinite(v) & (v >= 0) & (v < _MAX_UNIX_S) & (v == np.floor(v))
        return np.where(valid, v, 0).astype(np.int64), valid
    codes, texts = _strings(arr)
    secs, ok = _parse_time_texts(texts)
    if codes.size and (codes < 0).any():
        secs, ok = np.append(secs, 0), np.append(ok, False)
    return secs[codes], ok[codes]


def _raw_texts(arr: pa.Array, idx: np.ndarray) -> np.ndarray:
    """The cells ``idx`` of a column as text, for messages."""
    return np.array([str(v) for v in arr.take(pa.array(idx)).to_pylist()], dtype=object)


def _empty_cells(arr: pa.Array) -> np.ndarray:
    """Cells that are null or blank text."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        blank = pc.equal(pc.utf8_trim_whitespace(arr), "").fill_null(True)
        return blank.to_numpy(zero_copy_only=False)
    return arr.is_null().to_numpy(zero_copy_only=False)


# ----------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class _Grid:
    t0: int
    step: int
    n: int


#: Step assumed for a history of one sample time.
DEFAULT_STEP_S = 300


def _distinct_times(src: _Source, report: Report) -> np.ndarray:
    parts = []
    for _, b in _batches(src, ["timestamp"]):
        secs, ok = _times(b.column(0), report, src.name)
        parts.append(pd.unique(secs[ok]))
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def _make_grid(times: np.ndarray, files: str, report: Report) -> _Grid | None:
    """The common grid: step = most frequent distance between distinct times (ties: the
    larger), anchored
    at the most frequent phase; ``None`` (with an error) when it cannot hold the window."""
    if times.size == 0:
        return None
    if times.size == 1:
        return _Grid(int(times[0]), DEFAULT_STEP_S, 1)
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
    return _Grid(int(on[0]), step, n)


# ----------------------------------------------------------------------------- scatter
@dataclass
class _Target:
    """Where one file's rows go."""

    spec: _Spec
    names: dict[str, int]  # casefolded name -> index
    scale: np.ndarray  # float64 per entity: milli units per percent
    value: np.ndarray  # (T, N) int32
    filled: np.ndarray  # (T, N) bool
    mem: np.ndarray | None = None  # (T, V) int32 (VM file)
    mem_default: np.ndarray | None = None  # (V,) MB when the cell is empty


def _entities(arr: pa.Array, names: dict[str, int]) -> tuple[np.ndarray, list[str | None]]:
    """Entity index per row: >= 0 known, -1 unknown name, -2 empty."""
    codes, texts = _strings(arr)
    lut = np.array(
        [
            (-2 if (t is None or not t.strip()) else names.get(t.strip().casefold(), -1))
            for t in texts
        ]
        + [-2],
        dtype=np.int64,
    )
    return lut[codes], texts


def _scatter(src: _Source, tgt: _Target, grid: _Grid, report: Report) -> int:
    """Check and place every row of ``src``; returns the number of rows placed."""
    col = _Collector(report, src.name)
    spec = tgt.spec
    cols = ["timestamp", spec.entity, spec.value] + [c for c in spec.optional if c in src.columns]
    unknown: dict[str, list[int]] = {}
    placed = 0
    n_err = len(report.errors)
    n_ent = tgt.value.shape[1]
    for start, b in _batches(src, cols):
        secs, tok = _times(b.column("timestamp"), report, src.name)
        bad = np.flatnonzero(~tok)
        col.rows(
            "timestamp",
            "not a timestamp: expected ISO 8601 with a UTC offset or Z "
            "(2026-12-01T09:00:00Z) or Unix seconds",
            _row_numbers(src, start, bad),
            _raw_texts(b.column("timestamp"), bad),
        )
        off = tok & ((secs - grid.t0) % grid.step != 0)
        idx = np.flatnonzero(off)
        col.rows(
            "timestamp",
            f"time is off the common sample grid (every {grid.step} s from {iso_utc(grid.t0)})",
            _row_numbers(src, start, idx),
            np.array(
                [iso_utc(int(t)) for t in secs[idx[:ROWS_SHOWN]]]
                + [""] * max(len(idx) - ROWS_SHOWN, 0),
                dtype=object,
            ),
        )
        ent, texts = _entities(b.column(spec.entity), tgt.names)
        idx = np.flatnonzero(ent == -2)
        col.rows(
            spec.entity,
            f"empty {spec.entity} name",
            _row_numbers(src, start, idx),
            np.full(len(idx), "", dtype=object),
        )
        if (ent == -1).any():
            codes, _ = _strings(b.column(spec.entity))
            for i in np.flatnonzero(ent == -1):
                name = texts[codes[i]] or ""
                first_count = unknown.setdefault(
                    name, [int(_row_numbers(src, start, np.array([i]))[0]), 0]
                )
                first_count[1] += 1
        val = _numbers(b.column(spec.value))
        badv = ~((val >= 0) & (val <= 100))
        idx = np.flatnonzero(badv)
        col.rows(
            spec.value,
            "not a percentage",
            _row_numbers(src, start, idx),
            _raw_texts(b.column(spec.value), idx),
            expected="a number from 0 to 100",
        )
        good = tok & ~off & (ent >= 0) & ~badv
        mem = None
        if tgt.mem is not None and "memory_mb" in src.columns:
            mem = _numbers(b.column("memory_mb"))
            empty = _empty_cells(b.column("memory_mb"))
            badm = ~empty & ~((mem > 0) & (mem < 2**31))
            idx = np.flatnonzero(badm)
            col.rows(
                "memory_mb",
                "not a memory size in MB",
                _row_numbers(src, start, idx),
                _raw_texts(b.column("memory_mb"), idx),
                expected="a number > 0",
            )
            good &= ~badm
            mem = np.where(empty, np.nan, mem)
        if len(report.errors) > n_err:
            continue  # nothing is built from a file with errors; keep collecting them
        g = np.flatnonzero(good)
        c = ent[g]
        flat = ((secs[g] - grid.t0) // grid.step) * n_ent + c
        tgt.value.reshape(-1)[flat] = np.rint(val[g] * tgt.scale[c])
        tgt.filled.reshape(-1)[flat] = True
        if tgt.mem is not None:
            assert tgt.mem_default is not None
            if mem is None:
                tgt.mem.reshape(-1)[flat] = tgt.mem_default[c]
            else:
                m = mem[g]
                tgt.mem.reshape(-1)[flat] = np.where(
                    np.isnan(m), tgt.mem_default[c], np.rint(np.nan_to_num(m))
                )
        placed += len(g)
    for name, (row, count) in sorted(unknown.items(), key=lambda kv: kv[1][0])[:ROWS_SHOWN]:
        report.warning(
            src.name,
            f"the snapshot has no {spec.entity} of this name; its {count} row(s) are ignored",
            row=row,
            column=spec.entity,
            value=name,
        )
    if len(unknown) > ROWS_SHOWN:
        report.warning(
            src.name,
            f"{len(unknown) - ROWS_SHOWN} more unknown {spec.entity} "
            f"name(s) not listed; their rows are ignored",
            column=spec.entity,
        )
    col.close()
    return placed


def _duplicates(src: _Source, tgt: _Target, grid: _Grid, report: Report) -> None:
    """Report rows that repeat an (entity, time) pair (the slow path, only when some do)."""
    keys, rows = [], []
    n_ent = tgt.value.shape[1]
    for start, b in _batches(src, ["timestamp", tgt.spec.entity]):
        secs, tok = _times(b.column("timestamp"), report, src.name)
        ent, _ = _entities(b.column(tgt.spec.entity), tgt.names)
        g = np.flatnonzero(tok & (ent >= 0) & ((secs - grid.t0) % grid.step == 0))
        keys.append(((secs[g] - grid.t0) // grid.step) * n_ent + ent[g])
        rows.append(_row_numbers(src, start, g))
    k, r = np.concatenate(keys), np.concatenate(rows)
    order = np.argsort(k, kind="stable")
    k, r = k[order], r[order]
    dup = np.flatnonzero(np.diff(k) == 0) + 1
    names = {i: n for n, i in tgt.names.items()}
    col = _Collector(report, src.name)
    col.rows(
        tgt.spec.entity,
        f"a second row for this {tgt.spec.entity} at the same time",
        r[dup],
        np.array(
            [
                f"{names.get(int(x % n_ent), '?')} at "
                f"{iso_utc(grid.t0 + int(x // n_ent) * grid.step)}"
                for x in k[dup[:ROWS_SHOWN]]
            ]
            + [""] * max(len(dup) - ROWS_SHOWN, 0),
            dtype=object,
        ),
    )
    col.close()


# ----------------------------------------------------------------------------- gaps
def _fill_gaps(
    tgt: _Target, src_name: str, labels: tuple[str, ...], grid: _Grid, report: Report
) -> np.ndarray:
    """Warn about and fill missing samples of entities that have a history; return which
    entities have one."""
    has = tgt.filled.any(axis=0)
    gaps = np.flatnonzero(has & ~tgt.filled.all(axis=0))
    for shown, c in enumerate(gaps):
        if shown == ROWS_SHOWN:
            report.warning(
                src_name,
                f"{len(gaps) - ROWS_SHOWN} more {tgt.spec.entity}(s) "
                "with missing samples not listed (filled the same way)",
            )
            break
        miss = np.flatnonzero(~tgt.filled[:, c])
        report.warning(
            src_name,
            f"no row at {len(miss)} of {grid.n} sample times (first "
            f"{iso_utc(grid.t0 + int(miss[0]) * grid.step)}); the nearest "
            "earlier value is used",
            column=tgt.spec.entity,
            value=labels[c],
        )
    if gaps.size:
        m = tgt.filled[:, gaps]
        t = np.arange(grid.n, dtype=np.int32)[:, None]
        idx = np.where(m, t, -1)
        np.maximum.accumulate(idx, axis=0, out=idx)
        first = m.argmax(axis=0)
        idx = np.where(idx < 0, first[None, :], idx)
        for arr in (tgt.value, tgt.mem):
            if arr is not None:
                arr[:, gaps] = np.take_along_axis(arr[:, gaps], idx, axis=0)
    return np.asarray(has, dtype=bool)


# ----------------------------------------------------------------------------- entry
def load_history(directory: str | Path, cluster: Cluster, report: Report) -> LoadHistory | None:
    """Read ``vm_history.{csv,parquet}`` and ``host_history.{csv,parquet}`` of a snapshot.

    Parameters
    ----------
    directory:
        The snapshot directory.
    cluster:
        The snapshot's cluster (names, vCPUs, logical processors, defaults).
    report:
        The snapshot's report: every problem is appended to it.

    Returns
    -------
    LoadHistory or None
        ``None`` when neither file exists or when the files have errors (then in
        ``report``).  VMs and hosts without rows carry their snapshot values at every
        sample.
    """
    d = Path(directory)
    found = [
        (s, spec)
        for s, spec in ((_find(d, _VM, report), _VM), (_find(d, _HOST, report), _HOST))
        if s is not None
    ]
    if not found:
        return None
    n_err = len(report.errors)
    found = [(s, spec) for s, spec in found if _check_columns(s, spec, report)]
    if len(report.errors) > n_err:
        return None
    try:
        return _load(found, cluster, report, n_err)
    except (OSError, pa.ArrowException) as e:
        report.error(found[0][0].name, f"cannot read the file: {e}")
        return None


def _load(
    found: list[tuple[_Source, _Spec]], cluster: Cluster, report: Report, n_err: int
) -> LoadHistory | None:
    names = " and ".join(s.name for s, _ in found)
    times = np.unique(np.concatenate([_distinct_times(s, report) for s, _ in found]))
    grid = _make_grid(times, names, report)
    if grid is None:
        if len(report.errors) == n_err:
            report.error(names, "no valid timestamp in the history")
        return None
    v, h = cluster.n_vms, cluster.n_hosts
    if grid.n * max(v, 1) > MAX_CELLS:
        report.error(
            names,
            f"{grid.n} samples x {v} VMs is more than {MAX_CELLS} values; "
            "cut the window or use a coarser step",
        )
        return None
    vm_t = _Target(
        _VM,
        cluster.vm_index,
        cluster.vm_vcpus.astype(np.float64) * (CPU_UNITS / 100),
        np.empty((grid.n, v), dtype=np.int32),
        np.zeros((grid.n, v), dtype=bool),
        np.empty((grid.n, v), dtype=np.int32),
        cluster.vm_memory_mb,
    )
    host_t = _Target(
        _HOST,
        cluster.host_index,
        cluster.host_lp.astype(np.float64) * (CPU_UNITS / 100),
        np.empty((grid.n, h), dtype=np.int32),
        np.zeros((grid.n, h), dtype=bool),
    )
    for src, spec in found:
        tgt = vm_t if spec is _VM else host_t
        placed = _scatter(src, tgt, grid, report)
        if len(report.errors) == n_err and placed > int(tgt.filled.sum()):
            _duplicates(src, tgt, grid, report)
    if len(report.errors) > n_err:
        return None
    src_of = {spec.stem: s.name for s, spec in found}
    vm_has = _fill_gaps(vm_t, src_of.get("vm_history", ""), cluster.vm_names, grid, report)
    host_has = _fill_gaps(host_t, src_of.get("host_history", ""), cluster.host_names, grid, report)
    assert vm_t.mem is not None
    vm_t.value[:, ~vm_has] = cluster.vm_cpu_milli[~vm_has].astype(np.int32)
    vm_t.mem[:, ~vm_has] = cluster.vm_memory_mb[~vm_has].astype(np.int32)
    idle = ~cluster.vm_consumes
    vm_t.value[:, idle] = 0
    vm_t.mem[:, idle] = 0
    host_t.value[:, ~host_has] = cluster.host_cpu_base_milli[~host_has].astype(np.int32)
    ts = grid.t0 + grid.step * np.arange(grid.n, dtype=np.int64)
    return LoadHistory(
        ts,
        grid.step,
        vm_t.value,
        vm_t.mem,
        host_t.value,
        vm_has,
        host_has,
        tuple(s.name for s, _ in found),
    )


__all__ = ["BATCH_ROWS", "MAX_SAMPLES", "ROWS_SHOWN", "load_history"]
