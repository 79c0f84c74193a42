"""Columns of a history batch as NumPy arrays: texts as dictionary codes, numbers, times in
Unix seconds, with validity masks (no Python loop over rows)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from planner.diagnostics import Report

#: Unix seconds above this are taken for milliseconds (year 5138).
_MAX_UNIX_S = 10**11
_OFFSET_RE = re.compile(r"[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|z|[+-]\d{2}(?::?\d{2})?)$")


def text_codes(arr: pa.Array) -> tuple[np.ndarray, list[str | None]]:
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


def float_values(arr: pa.Array) -> np.ndarray:
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


def time_seconds(arr: pa.Array, report: Report, file: str) -> tuple[np.ndarray, np.ndarray]:
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
        v = float_values(arr)
        valid = np.isfinite(v) & (v >= 0) & (v < _MAX_UNIX_S) & (v == np.floor(v))
        return np.where(valid, v, 0).astype(np.int64), valid
    codes, texts = text_codes(arr)
    secs, ok = _parse_time_texts(texts)
    if codes.size and (codes < 0).any():
        secs, ok = np.append(secs, 0), np.append(ok, False)
    return secs[codes], ok[codes]


def cell_texts(arr: pa.Array, idx: np.ndarray) -> np.ndarray:
    """The cells ``idx`` of a column as text, for messages."""
    return np.array([str(v) for v in arr.take(pa.array(idx)).to_pylist()], dtype=object)


def blank_cells(arr: pa.Array) -> np.ndarray:
    """Cells that are null or blank text."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        blank = pc.equal(pc.utf8_trim_whitespace(arr), "").fill_null(True)
        return blank.to_numpy(zero_copy_only=False)
    return arr.is_null().to_numpy(zero_copy_only=False)
