"""Parsed rows of the snapshot files, with the name lookups the reader resolves references
through (shared by the reader and the whole-cluster checks), and :func:`named_rows`, the one
pass every file with a ``name`` column is read by."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from planner.diagnostics import Report
from planner.snapshot.csvfile import Table, parse_columns
from planner.snapshot.names import LIST_SEPARATOR, separator_message
from planner.snapshot.schema import Col

T = TypeVar("T")


@dataclass
class HostRows:
    rows: list[dict[str, Any]]
    index: dict[str, int]
    features: list[frozenset[str]]
    file: str
    #: False when host names cannot be known (no ``name`` column): references are not checked.
    names_known: bool = True
    #: Casefolded names on rows that were rejected for another reason (already reported).
    unresolved: set[str] = field(default_factory=set)


@dataclass
class VmRows:
    rows: list[dict[str, Any]]
    index: dict[str, int]
    host: list[int]
    possible: list[tuple[int, ...]]
    preferred: list[tuple[int, ...]]
    file: str
    names_known: bool = True
    unresolved: set[str] = field(default_factory=set)


@dataclass
class RuleRows:
    rows: list[dict[str, Any]]
    members: list[tuple[int, ...]]
    file: str


@dataclass
class NamedRows(Generic[T]):
    """The rows of one file that have a usable name (present, not used on an earlier row),
    in file order, each with what the file's row check returned for it."""

    rows: list[dict[str, Any]]
    #: Casefolded name → position in ``rows``.
    index: dict[str, int]
    extra: list[T]
    #: Casefolded names of rows left out for a problem already reported.
    unresolved: set[str]
    #: False when the file has no ``name`` column.
    names_known: bool
    #: Rows parsed, named or not.
    parsed: int


def named_rows(
    table: Table,
    cols: Sequence[Col],
    what: str,
    report: Report,
    check: Callable[[dict[str, Any], bool], T],
    *,
    listed: bool = False,
) -> NamedRows[T]:
    """Parse the records of ``table`` (:func:`parse_columns`) and keep those with a usable name.

    A name used again on a later row (names ignore case) is an error on that row; so is a
    ``;`` in a name that other rows list.  ``check(row, duplicate)`` runs on every row,
    whatever its name, so that one pass shows every problem of the row; what it returns is
    kept for the rows kept.

    Parameters
    ----------
    table:
        The file's records (:func:`~planner.snapshot.csvfile.read_table`).
    cols:
        Its column declarations (:data:`~planner.snapshot.schema.COLUMNS`); the first is
        ``name``.
    what:
        What a row is, for messages: ``"host"``, ``"VM"``, ``"rule"``, ``"network"``.
    report:
        Receives every problem.
    check:
        The file's own row check; may fill defaults into the row.
    listed:
        The names are listed by other rows (host and VM names): ``;`` is refused.

    Returns
    -------
    NamedRows
        The rows kept, their index by casefolded name, what ``check`` returned for each, and
        the names of the rows left out.
    """
    rows = parse_columns(table, cols, report)
    out: NamedRows[T] = NamedRows(
        [], {}, [], table.skipped_values("name"), "name" in table.header, len(rows)
    )
    first: dict[str, int] = {}  # casefolded name -> the row it is first on
    for r in rows:
        name = r["name"]
        duplicate = False
        key = "" if name is None else name.casefold()
        if name is not None:
            duplicate = key in first
            if duplicate:
                _duplicate(r, first[key], table.file, what, report)
            else:
                first[key] = r["_row"]
        usable = name is not None and not duplicate
        if usable and listed and LIST_SEPARATOR in name:
            report.error(
                table.file,
                separator_message(f"{what} name"),
                row=r["_row"],
                column=table.header["name"],
                value=name,
                expected=f"a {what} name without ';'",
            )
            r.setdefault("_bad", set()).add("name")
            usable = False
        extra = check(r, duplicate)
        if not usable:
            if name is not None:
                out.unresolved.add(key)
            continue
        out.index[key] = len(out.rows)
        out.rows.append(r)
        out.extra.append(extra)
    return out


def _duplicate(r: dict[str, Any], first: int, file: str, what: str, report: Report) -> None:
    report.error(
        file,
        f"duplicate {what} name (names ignore case; first on row {first})",
        row=r["_row"],
        column="name",
        value=r["name"],
        expected=f"a {what} name not used on another row",
    )
