"""Problems found in a user's files, collected into one report.

Bugs and API misuse raise exceptions; problems in the user's files never do.  They are
collected as :class:`Problem` records (file, spreadsheet row, column, value, message) so that
every one of them can be shown at once, as a table or as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

#: Values longer than this are shortened in messages.
_MAX_VALUE_SHOWN = 80


def _short(value: object) -> str | None:
    if value is None:
        return None
    s = str(value)
    return s if len(s) <= _MAX_VALUE_SHOWN else s[: _MAX_VALUE_SHOWN - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One problem in a user's file.  ``row`` is the row number a spreadsheet shows (the
    header is row 1); ``None`` when the problem concerns the whole file or column."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    severity: Severity = "error"
    #: What a valid value looks like, when the problem is one cell ("an integer >= 1").
    expected: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the keys of SPEC §6 (file, row, column, value, message) plus
        ``expected`` (``None`` when the problem is not about one cell's value)."""
        d = asdict(self)
        d["value"] = _short(self.value)
        del d["severity"]
        return d

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        if self.value is not None:
            where += f", value {_short(self.value)!r}"
        return f"{where}: {self.message}"


@dataclass
class Report:
    """Every problem found in a snapshot (or other user input)."""

    problems: list[Problem] = field(default_factory=list)

    def error(
        self,
        file: str,
        message: str,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        expected: str | None = None,
    ) -> None:
        """Record an error."""
        self.problems.append(
            Problem(file, row, column, _none_or_str(value), message, "error", expected)
        )

    def warning(
        self,
        file: str,
        message: str,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        expected: str | None = None,
    ) -> None:
        """Record a warning (odd but legal input)."""
        self.problems.append(
            Problem(file, row, column, _none_or_str(value), message, "warning", expected)
        )

    @property
    def errors(self) -> list[Problem]:
        """Problems that make the input unusable."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems that are reported but do not stop the work."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def valid(self) -> bool:
        """True when there is no error."""
        return not self.errors

    def extend(self, other: Report) -> None:
        """Append another report's problems."""
        self.problems.extend(other.problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"valid", "errors", "warnings"}``."""
        return {
            "valid": self.valid,
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
        }


def _none_or_str(value: object) -> str | None:
    return None if value is None else str(value)


class InvalidInput(Exception):
    """Raised by convenience loaders when a user's input has errors; carries the report."""

    def __init__(self, report: Report) -> None:
        self.report = report
        n = len(report.errors)
        first = str(report.errors[0]) if report.errors else ""
        super().__init__(f"{n} error(s) in the input; first: {first}")
