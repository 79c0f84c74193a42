"""Names are data: terminal escaping and the spreadsheet-formula defence."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from planner.textsafe import FORMULA_PREFIXES, csv_cell, csv_row, csv_uncell, term_safe

HOSTILE = st.text(
    alphabet=st.sampled_from(
        list("=+-@'\"\t\r\n\x00\x1b\x7f\x85\x9b$`;|a Z0")
        + ["\u2018", "\u2019", "\u201a", "\u201b", "\u201c", "\u202e", "\u2066", "\u2028", "é"]
    ),
    max_size=12,
)


def test_term_safe_keeps_ordinary_names() -> None:
    assert term_safe("HV01") == "HV01"
    assert term_safe("Sürücü-VM ü 東京") == "Sürücü-VM ü 東京"
    assert term_safe("") == ""


def test_term_safe_escapes_terminal_sequences() -> None:
    # ESC [2J clears the screen; ESC ]0; sets the window title; CSI via C1 U+009B.
    assert term_safe("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert term_safe("\x9b31m") == "\\x9b31m"
    assert term_safe("x\ny\tz\r") == "x\\ny\\tz\\r"
    assert term_safe("\x00\x7f") == "\\x00\\x7f"


def test_term_safe_escapes_bidi_and_separators() -> None:
    # U+202E RIGHT-TO-LEFT OVERRIDE would display "exe.txt" as "txt.exe".
    assert term_safe("vm\u202etxt.exe") == "vm\\u202etxt.exe"
    assert term_safe("\u2066a\u2069") == "\\u2066a\\u2069"
    assert term_safe("a\u2028b") == "a\\u2028b"


@given(HOSTILE)
def test_term_safe_output_has_no_control_characters(s: str) -> None:
    out = term_safe(s)
    assert all(ch.isprintable() or ch == " " for ch in out), repr(out)


def test_csv_cell_quotes_formula_prefixes_only() -> None:
    assert csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    for prefix in FORMULA_PREFIXES:
        assert csv_cell(prefix + "x") == "'" + prefix + "x"
    assert csv_cell("'already") == "''already"
    assert csv_cell("HV01") == "HV01"
    assert csv_cell("a=b") == "a=b"
    assert csv_cell("") == ""


def test_csv_row_leaves_numbers_alone() -> None:
    assert csv_row([1, "-x", -5, -2.5, None, True, "vm"]) == [1, "'-x", -5, -2.5, None, True, "vm"]


@given(st.one_of(HOSTILE, st.text(max_size=20)))
def test_csv_round_trip_is_exact(s: str) -> None:
    cell = csv_cell(s)
    assert csv_uncell(cell) == s
    # What a spreadsheet sees: the cell never starts with a formula character.
    assert not cell or cell[0] not in FORMULA_PREFIXES


@given(st.lists(st.one_of(HOSTILE, st.integers(-(10**6), 10**6)), max_size=6))
def test_csv_round_trip_through_the_csv_module(row: list[object]) -> None:
    buf = io.StringIO()
    csv.writer(buf).writerow(csv_row(row))
    (read,) = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    expected = [str(v) for v in row]
    got = [
        csv_uncell(cell) if isinstance(orig, str) else cell
        for cell, orig in zip(read, row, strict=True)
    ]
    assert got == expected
