"""CSV decoding: one file's bytes → text → a :class:`Table` of trimmed strings.

Accepted beyond the letter of SPEC §1: Windows PowerShell 5 ``Export-Csv`` output as is
(byte-order mark, every field quoted, CRLF, the ``#TYPE ...`` first line, still counted so row
numbers match a spreadsheet), UTF-16 with a byte-order mark (with a warning), file names in
any case, an unnamed empty trailing column.  Refused with a precise message: missing or
unreadable files (a symlink loop is named as such), UTF-32, binary or non-UTF-8 text,
``;``- or tab-separated files, a missing header row, fields over :data:`MAX_FIELD_CHARS`, rows
wider than the header, unclosed quotes, values holding a line break or NUL (on their row and
column).
"""

from __future__ import annotations

import csv
import difflib
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.diagnostics import Report
from planner.snapshot.names import LINE_BREAK_MESSAGE, NUL_MESSAGE
from planner.snapshot.schema import FILES, MAX_FIELD_CHARS, MAX_FILE_BYTES, BadValue, Col


# ----------------------------------------------------------------------------- raw tables
@dataclass
class Table:
    """A CSV file as trimmed strings; ``rownum[i]`` is the spreadsheet row of record ``i``.

    ``skipped`` holds the rows that could not be split into the header's columns (already
    reported), keyed by column as far as they go, so that later checks can tell "a name
    on a broken row" from "an unknown name".
    """

    file: str
    header: dict[str, str]  # casefolded name -> name as written
    records: list[dict[str, str]]
    rownum: list[int]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def skipped_values(self, column: str) -> set[str]:
        """Casefolded values of ``column`` on the rows that were skipped."""
        return {r[column].casefold() for r in self.skipped if r.get(column)}


_CSV_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)
#: Leading characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@")
#: First line that Windows PowerShell's ``Export-Csv`` writes without ``-NoTypeInformation``.
_TYPE_LINE = "#TYPE"


def find_file(directory: Path, fname: str) -> Path:
    """``directory / fname``, or the entry whose name matches ignoring case (files copied
    from Windows are often ``Hosts.csv``); the plain path when there is neither."""
    p = directory / fname
    if p.exists():
        return p
    try:
        for entry in directory.iterdir():
            if entry.name.casefold() == fname:
                return entry
    except OSError:
        pass
    return p


def _misnamed_hint(directory: Path, fname: str) -> str:
    """``" (is vm.csv meant to be vms.csv?)"`` when a similar file name is present."""
    try:
        present = [e.name for e in directory.iterdir() if e.is_file()]
    except OSError:
        return ""
    others = [n for n in present if n.casefold() not in FILES]
    close = difflib.get_close_matches(fname, [n.casefold() for n in others], n=1, cutoff=0.7)
    if not close:
        return ""
    shown = next(n for n in others if n.casefold() == close[0])
    return f" (is {shown} meant to be {fname}?)"


def _binary(raw: bytes) -> bool:
    """Whether bytes holding NUL are a binary file rather than a CSV text with a NUL in some
    value (reported on its row and column): NUL in the header line (UTF-16 without a
    byte-order mark, archives), or in more than a tenth of the bytes."""
    header = raw.split(b"\n", 1)[0]
    return b"\x00" in header or raw.count(b"\x00") * 10 > len(raw)


def _decode(raw: bytes, fname: str, report: Report) -> str | None:
    """Bytes → text: UTF-8 with or without BOM; UTF-16 with a BOM is accepted with a
    warning (``Out-File`` and ``>`` in Windows PowerShell 5 write it)."""
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        # Checked before UTF-16: the UTF-32 LE mark starts with the UTF-16 LE one.
        try:
            text = raw.decode("utf-32")
        except UnicodeDecodeError:
            report.error(
                fname,
                "the file starts with a UTF-32 byte-order mark but is not "
                "valid UTF-32; save it as UTF-8 (Export-Csv -Encoding UTF8)",
            )
            return None
        report.warning(
            fname,
            "the file is UTF-32 encoded; it was read, but UTF-8 is the "
            "expected encoding (Export-Csv -Encoding UTF8)",
        )
        return text.lstrip("\ufeff")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            report.error(
                fname,
                "the file starts with a UTF-16 byte-order mark but is not "
                "valid UTF-16; save it as UTF-8 (Export-Csv -Encoding UTF8)",
            )
            return None
        report.warning(
            fname,
            "the file is UTF-16 encoded; it was read, but UTF-8 is the "
            "expected encoding (Export-Csv -Encoding UTF8)",
        )
        return text.lstrip("\ufeff")
    if b"\x00" in raw and _binary(raw):
        report.error(fname, "this is a binary file, not a UTF-8 CSV text file")
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        report.error(
            fname,
            f"not valid UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
            f"{e.start}); save the file as UTF-8 (Export-Csv -Encoding UTF8)",
            row=line,
        )
        return None


def _file_bytes(path: Path, fname: str, required: bool, report: Report) -> bytes | None:
    """The file's bytes, or ``None`` with the reason reported (absent files only when
    ``required``)."""
    if path.is_symlink() and not path.exists():
        try:
            path.resolve(strict=True)
        except (OSError, RuntimeError) as e:
            loop = "loop" in str(e).casefold() or getattr(e, "errno", None) == 40
        else:  # pragma: no cover - exists() and resolve() disagree only in a race
            loop = False
        report.error(
            fname,
            "is a symbolic link loop (it points back to itself)"
            if loop
            else "is a symbolic link to a file that does not exist",
        )
        return None
    if not path.exists():
        if required:
            report.error(
                fname,
                f"required file is missing from {path.parent}" + _misnamed_hint(path.parent, fname),
            )
        return None
    if not path.is_file():
        report.error(fname, "expected a file, found a directory or special file")
        return None
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        report.error(fname, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
        return None
    try:
        return path.read_bytes()
    except OSError as e:
        report.error(fname, f"cannot read the file: {e.strerror or e}")
        return None


def _numbered_rows(text: str, fname: str, report: Report) -> list[tuple[int, list[str]]] | None:
    """The non-blank CSV rows with their spreadsheet row numbers (``#TYPE`` line dropped)."""
    if not text.strip():
        report.error(fname, "file is empty; expected a header row and data rows")
        return None
    # Long fields are reported later with their row and column, so the csv module must not
    # stop at its own 128 KiB limit.  The limit is process-wide: only ever raise it (never
    # restore a lower value), so that snapshots read in parallel threads cannot race.
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    try:
        rows.extend(reader)
    except csv.Error as e:
        report.error(fname, f"not a readable CSV file: {e}", row=len(rows) + 1)
        return None
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if numbered and numbered[0][1][0].lstrip("\ufeff").startswith(_TYPE_LINE):
        numbered = numbered[1:]
    if not numbered:
        report.error(fname, "file is empty; expected a header row and data rows")
        return None
    return numbered


def _header(
    numbered: list[tuple[int, list[str]]], fname: str, columns: Sequence[str], report: Report
) -> tuple[dict[str, str], list[str]] | None:
    """Header map (casefolded → as written) and the key of each column, or ``None``."""
    hrow, raw = numbered[0]
    header = [h.strip().lstrip("\ufeff").strip() for h in raw]
    if len(header) == 1 and ";" in header[0]:
        report.error(
            fname,
            "the file uses ';' as the column separator; hvplan reads "
            "comma-separated files (Export-Csv without -UseCulture, or "
            "-Delimiter ',')",
            row=hrow,
            value=header[0],
        )
        return None
    if len(header) == 1 and "\t" in header[0]:
        report.error(
            fname,
            "the file uses tabs as the column separator; hvplan reads comma-separated files",
            row=hrow,
            value=header[0],
        )
        return None
    if columns and not {h.casefold() for h in header} & {c.casefold() for c in columns}:
        report.error(
            fname,
            "none of the column names is known; is the header row missing? "
            "Expected columns: " + ", ".join(columns),
            row=hrow,
            value=",".join(header),
        )
        return None
    body = numbered[1:]
    hmap: dict[str, str] = {}
    keys: list[str] = []
    ok = True
    for j, h in enumerate(header):
        if len(h) > MAX_FIELD_CHARS:
            report.error(
                fname,
                f"header field is longer than {MAX_FIELD_CHARS} characters",
                row=hrow,
                value=h,
            )
            ok = False
        elif not h:
            # A trailing comma (spreadsheets add them) gives an empty, unused column: ignore
            # it.  An empty name over data is an error: those values would be lost.
            if any(j < len(r) and r[j].strip() for _, r in body):
                report.error(
                    fname, f"column {j + 1} has values but no name in the header", row=hrow
                )
                ok = False
            else:
                report.warning(
                    fname, f"column {j + 1} has no name and no values; ignored", row=hrow
                )
        elif h.casefold() in hmap:
            report.error(
                fname, "column appears twice in the header (names ignore case)", row=hrow, column=h
            )
            ok = False
        else:
            hmap[h.casefold()] = h
        keys.append(h.casefold())
    return (hmap, keys) if ok else None


def _bad_cells(
    rec: dict[str, str], num: int, fname: str, hmap: dict[str, str], report: Report
) -> bool:
    """Report the cells of one record that are too long or hold a line break or NUL (a too
    long cell is emptied); whether there was one."""
    broken = False
    for k, cell in rec.items():
        if len(cell) > MAX_FIELD_CHARS:
            report.error(
                fname,
                f"value is {len(cell)} characters long; the limit is {MAX_FIELD_CHARS}",
                row=num,
                column=hmap[k],
                value=cell,
            )
            rec[k] = ""
            broken = True
        elif "\n" in cell or "\r" in cell:
            # No column holds multi-line text: this is an unclosed quote that swallowed
            # the rows after it, or a value with a line break (which no value may hold).
            report.error(
                fname,
                f'value spans several lines ({LINE_BREAK_MESSAGE}): is a closing quote (") '
                "missing?",
                row=num,
                column=hmap[k],
                value=cell,
            )
            broken = True
        elif "\x00" in cell:
            report.error(fname, NUL_MESSAGE, row=num, column=hmap[k], value=cell)
            broken = True
    return broken


def read_table(
    path: Path,
    report: Report,
    *,
    required: bool,
    columns: Sequence[str] = (),
    read: dict[str, bytes] | None = None,
) -> Table | None:
    """Read one CSV file into a :class:`Table`, recording file-level problems.

    Accepts UTF-8 with or without a byte-order mark, CRLF or LF line ends, quoted or bare
    fields, and skips the ``#TYPE ...`` line of Windows PowerShell's ``Export-Csv``.  Blank
    lines are skipped but still counted, so row numbers are those a spreadsheet shows.
    ``columns`` (the names the file may have) lets a missing header row be recognised.
    ``read``, when given, receives the file's bytes under its name (for the snapshot hash).
    Returns ``None`` when the file is absent (an error if ``required``) or unreadable.
    """
    fname = path.name.casefold() if path.name.casefold() in FILES else path.name
    raw = _file_bytes(path, fname, required, report)
    if raw is None:
        return None
    if read is not None:
        read[fname] = raw
    text = _decode(raw, fname, report)
    numbered = None if text is None else _numbered_rows(text, fname, report)
    if numbered is None:
        return None
    head = _header(numbered, fname, columns, report)
    if head is None:
        return None
    hmap, keys = head
    records: list[dict[str, str]] = []
    rownum: list[int] = []
    skipped: list[dict[str, str]] = []
    width = len(keys)
    has_nul = text is not None and "\x00" in text
    all_named = all(keys)
    strip = str.strip
    for num, r in numbered[1:]:
        if all_named:
            rec = dict(zip(keys, map(strip, r), strict=False))
        else:
            rec = {k: c.strip() for k, c in zip(keys, r, strict=False) if k}
        if len(r) > width and any(c.strip() for c in r[width:]):
            report.error(
                fname,
                f"row has {len(r)} fields but the header has {width}; "
                "is a value with a comma missing its quotes?",
                row=num,
                value=",".join(r[width:]),
            )
            skipped.append(rec)
            continue
        # One scan of the row for what no cell may hold; each cell only when it is found.
        joined = "".join(rec.values())
        broken = (
            len(joined) > MAX_FIELD_CHARS
            or "\n" in joined
            or "\r" in joined
            or (has_nul and "\x00" in joined)
        ) and _bad_cells(rec, num, fname, hmap, report)
        if broken:
            skipped.append(rec)
            continue
        records.append(rec)
        rownum.append(num)
    return Table(fname, hmap, records, rownum, skipped)


def parse_columns(table: Table, cols: Sequence[Col], report: Report) -> list[dict[str, Any]]:
    """Parse every record's declared columns; bad cells are reported and set to ``None``.

    Missing required columns are reported once; unknown columns give a warning.  Each
    returned row has ``_row`` (spreadsheet row) and, when some cell was bad, ``_bad`` (the
    set of those column names).
    """
    known = {c.name for c in cols}
    unknown = [shown for key, shown in table.header.items() if key not in known]
    for shown in unknown:
        report.warning(table.file, "unknown column is ignored", column=shown)
    present = [c for c in cols if c.name in table.header]
    if table.header and not present:
        report.error(
            table.file,
            "none of the column names is known; is the header row "
            "missing? Expected columns: " + ", ".join(c.name for c in cols),
            row=None,
            value=",".join(table.header.values()),
        )
    for c in cols:
        if c.required and c.name not in table.header:
            report.error(table.file, "required column is missing", column=c.name)
    absent = {c.name: c.default for c in cols if c.name not in table.header}
    cells = [(c.name, table.header[c.name], c.parse, c.required, c.default) for c in present]
    # Every file's first column is its name: the formula warning comes first on its row.
    named = "name" in table.header
    out: list[dict[str, Any]] = []
    for rec, num in zip(table.records, table.rownum, strict=True):
        row: dict[str, Any] = {"_row": num, **absent}
        if named:
            _formula_warning(rec.get("name", ""), table, num, report)
        for name, shown, parse, required, default in cells:
            s = rec.get(name, "")
            if not s:
                if required:
                    report.error(
                        table.file,
                        "value is required",
                        row=num,
                        column=shown,
                        value="",
                        expected="a value",
                    )
                    row.setdefault("_bad", set()).add(name)
                row[name] = default
                continue
            try:
                row[name] = parse(s)
            except BadValue as e:
                report.error(
                    table.file, f"expected {e}", row=num, column=shown, value=s, expected=str(e)
                )
                row[name] = None
                row.setdefault("_bad", set()).add(name)
        out.append(row)
    return out


def _formula_warning(name: str, table: Table, num: int, report: Report) -> None:
    if name and name[0] in FORMULA_PREFIXES:
        report.warning(
            table.file,
            f"name starts with {name[0]!r}: a spreadsheet opening "
            "a CSV file would run it as a formula (hvplan's own CSV "
            "outputs write such names with a leading ')",
            row=num,
            column=table.header["name"],
            value=name,
        )
