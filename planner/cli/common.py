"""Helpers shared by the command modules: output, snapshot loading, publishing, exit codes.

Everything here is light to import (no numpy, pandas, OR-Tools): ``hvplan --help`` imports
every command module, and the heavy parts are imported inside the commands that use them.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from planner.cli.choices import SEED_MAX
from planner.publish import PublishError, check_dir_target, publish_dir, publish_file
from planner.textsafe import term_safe

if TYPE_CHECKING:
    from planner.cluster import Cluster
    from planner.diagnostics import Problem, Report
    from planner.progress import Progress

EXIT_OK = 0
EXIT_NO = 1
EXIT_USAGE = 2

#: A snapshot older than this is called out by ``plan`` (hours).
STALE_HOURS = 4.0

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def safe(s: object) -> str:
    """``s`` for a human-readable output: control characters shown escaped, and rich
    markup taken literally (``[red]`` in a name stays ``[red]``)."""
    return escape(term_safe(str(s)))


def print_json(data: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ----------------------------------------------------------------------------- tables
def show_table(
    console: Console,
    columns: Sequence[str],
    rows: Sequence[Sequence[str | Text]],
    title: str | None = None,
    right: Sequence[str] = (),
) -> None:
    """Print rows whole: a table when it fits the console's width, else one block per
    record (``column: value`` lines), so that names are never cut.

    Cells are plain text (pass names through :func:`planner.textsafe.term_safe`); rich
    markup in them is not interpreted unless a cell is a :class:`~rich.text.Text`.
    """
    cells = [[c if isinstance(c, Text) else Text(str(c)) for c in r] for r in rows]
    widths = [
        max([len(col)] + [c.cell_len for c in (r[i] for r in cells)])
        for i, col in enumerate(columns)
    ]
    need = sum(widths) + 3 * len(columns) + 1
    if need <= console.width or not console.is_terminal:
        # A pipe or file has no width: print whole rows (one line each, greppable).
        t = Table(title=title, expand=False)
        for col in columns:
            t.add_column(
                col,
                justify="right" if col in right else "left",
                overflow="fold",
                no_wrap=False,
                min_width=len(col),
            )
        for r in cells:
            t.add_row(*r)
        if console.is_terminal:
            console.print(t)
        else:
            Console(
                file=console.file,
                width=max(need, console.width),
                highlight=False,
                color_system=None,
            ).print(t)
        return
    if title:
        console.print(Text(title, style="bold"))
    for r in cells:
        head, *rest = r
        console.print(Text.assemble(Text(f"{columns[0]}: ", style="bold"), head))
        for col, c in zip(columns[1:], rest, strict=True):
            if c.plain:
                console.print(Text.assemble(f"  {col}: ", c))


# ----------------------------------------------------------------------------- problems
def _is_disabled_rule(p: Problem) -> bool:
    return p.severity == "warning" and p.message.startswith("rule is disabled")


def problems_table(report: Report, title: str, problems: list[Problem] | None = None) -> None:
    """Print every problem (severity, file, row, column, value, message) on stderr."""
    rows: list[list[str | Text]] = []
    for p in report.errors + report.warnings if problems is None else problems:
        value = p.to_dict()["value"]
        rows.append(
            [
                Text("error", style="red")
                if p.severity == "error"
                else Text("warning", style="yellow"),
                term_safe(p.file),
                "" if p.row is None else str(p.row),
                term_safe(p.column or ""),
                term_safe("" if value is None else repr(value)),
                term_safe(p.message),
            ]
        )
    show_table(err, ["severity", "file", "row", "column", "value", "message"], rows, title=title)


def problem_lines(report: Report, problems: list[Problem] | None = None) -> list[str]:
    """One line per problem, errors first: ``error: FILE, row N, column 'C', value 'V':
    message`` (the form for logs, pipes and tests)."""
    ps = report.errors + report.warnings if problems is None else problems
    return [term_safe(f"{p.severity}: {p}") for p in ps]


def show_problems(
    report: Report, stream: Console | None = None, disabled_rules: bool = True
) -> None:
    """Print warnings and errors on stderr: a table on a terminal, one line per problem
    otherwise (pipes, files, CI logs stay greppable).

    With ``disabled_rules=False`` the "rule is disabled" warnings are counted in one line
    instead of listed (``validate`` and ``status`` list them; other commands count them).
    """
    console = stream or err
    problems = report.errors + report.warnings
    disabled = [] if disabled_rules else [p for p in problems if _is_disabled_rule(p)]
    problems = [p for p in problems if p not in disabled]
    if problems:
        if console.is_terminal:
            problems_table(report, "Problems in the snapshot", problems)
        else:
            for line in problem_lines(report, problems):
                console.print(line, markup=False, highlight=False)
    if disabled:
        console.print(
            f"note: {len(disabled)} disabled rule(s) are not enforced (hvplan validate lists them)",
            markup=False,
            highlight=False,
        )


def load_snapshot(
    snapshot: Path, json_mode: bool = False, disabled_rules: bool = False
) -> tuple[Cluster, Report]:
    """Read a snapshot; on errors print every problem (and the JSON report with
    ``json_mode``) and exit 1.  Warnings go to stderr in every mode (one line each under
    ``--json``), and stay in the returned report for the JSON output."""
    from planner.snapshot import read_snapshot

    cluster, report = read_snapshot(snapshot)
    if cluster is None:
        if json_mode:
            print_json(report.to_dict())
        show_problems(report)
        err.print(
            f"[red]hvplan: {safe(snapshot)} is not a valid snapshot "
            f"({len(report.errors)} error(s)); nothing was done.[/]"
        )
        raise typer.Exit(EXIT_NO)
    if report.warnings:
        show_problems(report, disabled_rules=disabled_rules)
    return cluster, report


def load_or_exit(snapshot: Path, json_mode: bool = False) -> Cluster:
    """Read a snapshot (see :func:`load_snapshot`) and return the cluster."""
    return load_snapshot(snapshot, json_mode)[0]


def warnings_json(report: Report) -> list[dict[str, Any]]:
    """The snapshot's warnings for a ``--json`` document (key ``warnings``)."""
    return [p.to_dict() for p in report.warnings]


def fail(message: str, code: int = EXIT_NO) -> NoReturn:
    """Print a diagnostic on stderr (control characters escaped) and exit."""
    err.print(f"[red]hvplan: {safe(message)}[/]")
    raise typer.Exit(code)


# ----------------------------------------------------------------------------- outputs
def check_out_dir(out_dir: Path | None) -> None:
    """``--out`` naming an existing file is a usage error (exit 2) in every command."""
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        fail(f"--out {out_dir}: exists and is not a directory", EXIT_USAGE)


@contextlib.contextmanager
def published_dir(out_dir: Path, force: bool, what: str) -> Iterator[Path]:
    """:func:`planner.publish.publish_dir` with the CLI's messages: exists without
    ``--force`` or locked → exit 1, a file given → exit 2, cannot write → exit 1; nothing
    half-written in any case."""
    try:
        with publish_dir(out_dir, force) as tmp:
            yield tmp
    except PublishError as e:
        fail(str(e), EXIT_USAGE if e.usage else EXIT_NO)
    except OSError as e:
        fail(f"cannot write {what} to {out_dir}: {e.strerror or e}; nothing was written")


@dataclass(frozen=True)
class OutDir:
    """A command's ``--out DIR`` (optional for some commands), handled the same everywhere:
    :meth:`check` before any work -- a file given is a usage error (exit 2); a directory
    that exists and is not empty without ``--force``, or is not an earlier output, exits 1
    with the message publishing would give -- and :meth:`publish` to write it whole."""

    path: Path | None
    force: bool
    what: str

    @classmethod
    def check(cls, path: Path | None, force: bool, what: str) -> OutDir:
        """Check ``--out`` now (see the class docstring); exits on a problem."""
        check_out_dir(path)
        if path is not None:
            try:
                check_dir_target(path, force)
            except PublishError as e:
                fail(str(e), EXIT_USAGE if e.usage else EXIT_NO)
        return cls(path, force, what)

    def publish(self) -> contextlib.AbstractContextManager[Path]:
        """:func:`published_dir` for this directory (which must be given)."""
        if self.path is None:
            raise ValueError("no --out directory")
        return published_dir(self.path, self.force, self.what)


def show_notes(notes: Iterable[str]) -> None:
    """Print each note of a result on stderr as ``note: ...`` (control characters
    escaped, no markup)."""
    for note in notes:
        err.print(f"note: {term_safe(note)}", markup=False, highlight=False)


def with_warnings(doc: dict[str, Any], report: Report) -> dict[str, Any]:
    """``doc`` with the snapshot's warnings under ``warnings`` (every ``--json`` output
    of a command that read a snapshot carries them)."""
    doc["warnings"] = warnings_json(report)
    return doc


@contextlib.contextmanager
def published_file(path: Path, force: bool, what: str) -> Iterator[Path]:
    """:func:`planner.publish.publish_file` with the CLI's messages (as
    :func:`published_dir`)."""
    try:
        with publish_file(path, force) as tmp:
            yield tmp
    except PublishError as e:
        fail(str(e), EXIT_USAGE if e.usage else EXIT_NO)
    except OSError as e:
        fail(f"cannot write {what} to {path}: {e.strerror or e}; nothing was written")


def check_seed(value: int) -> int:
    """Callback: a CP-SAT seed is a 32-bit integer."""
    if not 0 <= value <= SEED_MAX:
        raise typer.BadParameter(
            f"{value} is not in the range 0..{SEED_MAX} (the solver takes a 32-bit seed)"
        )
    return value


def snapshot_age(collected_utc: str | None, now: datetime | None = None) -> float | None:
    """Hours since ``collected_utc`` (ISO 8601), or None when unknown or unreadable."""
    if not collected_utc:
        return None
    try:
        t = datetime.fromisoformat(collected_utc.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - t).total_seconds() / 3600.0


def age_text(hours: float) -> str:
    """``35 min``, ``5.2 h`` or ``3.1 days``."""
    if hours < 1:
        return f"{max(0.0, hours * 60):.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


@contextlib.contextmanager
def progress_display(json_mode: bool, force: bool | None, unit: str = "") -> Iterator[Progress]:
    """The progress line on stderr for a command (see :func:`planner.progress.reporter`),
    or a :class:`~planner.progress.NullProgress`; erased when the block ends."""
    from planner.progress import NULL_PROGRESS, reporter

    rep = reporter(json_mode, force, unit=unit)
    if rep is None:
        yield NULL_PROGRESS
        return
    with rep:
        yield rep
