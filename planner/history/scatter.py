"""History rows → the ``(T, N)`` arrays of a load history: each batch checked column-wise
(problems capped per kind, :class:`Collector`), then scattered; repeated (entity, time) pairs
and missing samples handled after."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from planner.diagnostics import Report
from planner.history.cells import blank_cells, cell_texts, float_values, text_codes, time_seconds
from planner.history.grid import Grid
from planner.history.model import iso_utc
from planner.history.source import Source, Spec, batches, row_numbers
from planner.units import units_up

#: Problems listed one by one per (file, column, kind); the rest are counted.
ROWS_SHOWN = 10


@dataclass
class Collector:
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


@dataclass
class Target:
    """Where one file's rows go."""

    spec: Spec
    names: dict[str, int]  # casefolded name -> index
    scale: np.ndarray  # float64 per entity: milli units per percent
    value: np.ndarray  # (T, N) int32
    filled: np.ndarray  # (T, N) bool
    mem: np.ndarray | None = None  # (T, V) int32 (VM file)
    mem_default: np.ndarray | None = None  # (V,) MB when the cell is empty


def _entities(arr: pa.Array, names: dict[str, int]) -> tuple[np.ndarray, list[str | None]]:
    """Entity index per row: >= 0 known, -1 unknown name, -2 empty."""
    codes, texts = text_codes(arr)
    lut = np.array(
        [
            (-2 if (t is None or not t.strip()) else names.get(t.strip().casefold(), -1))
            for t in texts
        ]
        + [-2],
        dtype=np.int64,
    )
    return lut[codes], texts


def scatter(src: Source, tgt: Target, grid: Grid, report: Report) -> int:
    """Check and place every row of ``src``; returns the number of rows placed."""
    col = Collector(report, src.name)
    spec = tgt.spec
    cols = ["timestamp", spec.entity, spec.value] + [c for c in spec.optional if c in src.columns]
    unknown: dict[str, list[int]] = {}
    placed = 0
    n_err = len(report.errors)
    for start, b in batches(src, cols):
        secs, on_grid = _check_times(b, src, start, grid, col, report)
        ent = _check_entities(b, src, start, tgt, col, unknown)
        val, val_ok = _check_values(b, src, start, spec, col)
        mem, mem_ok = _check_memory(b, src, start, tgt, col)
        if len(report.errors) > n_err:
            continue  # nothing is built from a file with errors; keep collecting them
        good = on_grid & (ent >= 0) & val_ok & mem_ok
        placed += _place(tgt, grid, secs, ent, val, mem, good)
    _unknown_names(src.name, spec, unknown, report)
    col.close()
    return placed


def _check_times(
    b: pa.RecordBatch, src: Source, start: int, grid: Grid, col: Collector, report: Report
) -> tuple[np.ndarray, np.ndarray]:
    """Unix seconds of the batch's rows, and which are valid times on the grid (the others
    reported)."""
    secs, tok = time_seconds(b.column("timestamp"), report, src.name)
    bad = np.flatnonzero(~tok)
    col.rows(
        "timestamp",
        "not a timestamp: expected ISO 8601 with a UTC offset or Z "
        "(2026-12-01T09:00:00Z) or Unix seconds",
        row_numbers(src, start, bad),
        cell_texts(b.column("timestamp"), bad),
    )
    off = tok & ((secs - grid.t0) % grid.step != 0)
    idx = np.flatnonzero(off)
    col.rows(
        "timestamp",
        f"time is off the common sample grid (every {grid.step} s from {iso_utc(grid.t0)})",
        row_numbers(src, start, idx),
        np.array(
            [iso_utc(int(t)) for t in secs[idx[:ROWS_SHOWN]]]
            + [""] * max(len(idx) - ROWS_SHOWN, 0),
            dtype=object,
        ),
    )
    return secs, tok & ~off


def _check_entities(
    b: pa.RecordBatch,
    src: Source,
    start: int,
    tgt: Target,
    col: Collector,
    unknown: dict[str, list[int]],
) -> np.ndarray:
    """Entity index per row (:func:`_entities`); empty names reported, unknown ones counted
    in ``unknown`` (name → [first row, rows])."""
    entity = tgt.spec.entity
    ent, texts = _entities(b.column(entity), tgt.names)
    idx = np.flatnonzero(ent == -2)
    col.rows(
        entity,
        f"empty {entity} name",
        row_numbers(src, start, idx),
        np.full(len(idx), "", dtype=object),
    )
    if (ent == -1).any():
        codes, _ = text_codes(b.column(entity))
        for i in np.flatnonzero(ent == -1):
            name = texts[codes[i]] or ""
            first_count = unknown.setdefault(
                name, [int(row_numbers(src, start, np.array([i]))[0]), 0]
            )
            first_count[1] += 1
    return ent


def _check_values(
    b: pa.RecordBatch, src: Source, start: int, spec: Spec, col: Collector
) -> tuple[np.ndarray, np.ndarray]:
    """The CPU percentages of the batch, and which are valid (the others reported)."""
    val = float_values(b.column(spec.value))
    badv = ~((val >= 0) & (val <= 100))
    idx = np.flatnonzero(badv)
    col.rows(
        spec.value,
        "not a percentage",
        row_numbers(src, start, idx),
        cell_texts(b.column(spec.value), idx),
        expected="a number from 0 to 100",
    )
    return val, ~badv


def _check_memory(
    b: pa.RecordBatch, src: Source, start: int, tgt: Target, col: Collector
) -> tuple[np.ndarray | None, np.ndarray | bool]:
    """The memory amounts of a VM batch (NaN where empty: the VM's own), and which are valid
    (the others reported); ``(None, True)`` when the file has no memory column."""
    if tgt.mem is None or "memory_mb" not in src.columns:
        return None, True
    mem = float_values(b.column("memory_mb"))
    empty = blank_cells(b.column("memory_mb"))
    badm = ~empty & ~((mem > 0) & (mem < 2**31))
    idx = np.flatnonzero(badm)
    col.rows(
        "memory_mb",
        "not a memory size in MB",
        row_numbers(src, start, idx),
        cell_texts(b.column("memory_mb"), idx),
        expected="a number > 0",
    )
    return np.where(empty, np.nan, mem), ~badm


def _place(
    tgt: Target,
    grid: Grid,
    secs: np.ndarray,
    ent: np.ndarray,
    val: np.ndarray,
    mem: np.ndarray | None,
    good: np.ndarray,
) -> int:
    """Write the ``good`` rows into the target's arrays; returns how many."""
    g = np.flatnonzero(good)
    c = ent[g]
    flat = ((secs[g] - grid.t0) // grid.step) * tgt.value.shape[1] + c
    tgt.value.reshape(-1)[flat] = units_up(val[g] * tgt.scale[c])
    tgt.filled.reshape(-1)[flat] = True
    if tgt.mem is not None:
        assert tgt.mem_default is not None
        if mem is None:
            tgt.mem.reshape(-1)[flat] = tgt.mem_default[c]
        else:
            m = mem[g]
            tgt.mem.reshape(-1)[flat] = np.where(
                np.isnan(m), tgt.mem_default[c], units_up(np.nan_to_num(m))
            )
    return len(g)


def _unknown_names(file: str, spec: Spec, unknown: dict[str, list[int]], report: Report) -> None:
    """One warning per unknown name (the first :data:`ROWS_SHOWN`), one line for the rest."""
    for name, (row, count) in sorted(unknown.items(), key=lambda kv: kv[1][0])[:ROWS_SHOWN]:
        report.warning(
            file,
            f"the snapshot has no {spec.entity} of this name; its {count} row(s) are ignored",
            row=row,
            column=spec.entity,
            value=name,
        )
    if len(unknown) > ROWS_SHOWN:
        report.warning(
            file,
            f"{len(unknown) - ROWS_SHOWN} more unknown {spec.entity} "
            f"name(s) not listed; their rows are ignored",
            column=spec.entity,
        )


def duplicates(src: Source, tgt: Target, grid: Grid, report: Report) -> None:
    """Report rows that repeat an (entity, time) pair (the slow path, only when some do)."""
    keys, rows = [], []
    n_ent = tgt.value.shape[1]
    for start, b in batches(src, ["timestamp", tgt.spec.entity]):
        secs, tok = time_seconds(b.column("timestamp"), report, src.name)
        ent, _ = _entities(b.column(tgt.spec.entity), tgt.names)
        g = np.flatnonzero(tok & (ent >= 0) & ((secs - grid.t0) % grid.step == 0))
        keys.append(((secs[g] - grid.t0) // grid.step) * n_ent + ent[g])
        rows.append(row_numbers(src, start, g))
    k, r = np.concatenate(keys), np.concatenate(rows)
    order = np.argsort(k, kind="stable")
    k, r = k[order], r[order]
    dup = np.flatnonzero(np.diff(k) == 0) + 1
    names = {i: n for n, i in tgt.names.items()}
    col = Collector(report, src.name)
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


def fill_gaps(
    tgt: Target, src_name: str, labels: tuple[str, ...], grid: Grid, report: Report
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
