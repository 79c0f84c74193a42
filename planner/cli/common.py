"""Helpers shared by the command modules: output, snapshot loading, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from planner.cluster import Cluster
from planner.diagnostics import Report
from planner.snapshot import read_snapshot

EXIT_OK = 0
EXIT_NO = 1
EXIT_USAGE = 2

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def problems_table(report: Report, title: str) -> Table:
    """A rich table of every problem: severity, file, row, column, value, message.

    Cells are plain :class:`~rich.text.Text`: a user's value such as ``[red]`` is shown as
    written, never taken for markup.
    """
    t = Table(title=title, show_lines=False, expand=False)
    for c in ("", "file", "row", "column", "value", "message"):
        t.add_column(c, overflow="fold")
    for p in report.errors + report.warnings:
        value = p.to_dict()["value"]
        t.add_row(Text("error", style="red") if p.severity == "error"
                  else Text("warning", style="yellow"),
                  Text(p.file), "" if p.row is None else str(p.row), Text(p.column or ""),
                  Text("" if value is None else repr(value)), Text(p.message))
    return t


def problem_lines(report: Report) -> list[str]:
    """One line per problem, errors first: ``error: FILE, row N, column 'C', value 'V':
    message`` (the form for logs, pipes and tests)."""
    return [f"{p.severity}: {p}" for p in report.errors + report.warnings]


def show_problems(report: Report, stream: Console | None = None) -> None:
    """Print warnings and errors (to stderr by default): a table on a terminal, one line per
    problem otherwise (pipes, files, CI logs stay greppable)."""
    console = stream or err
    if not report.problems:
        return
    if console.is_terminal:
        console.print(problems_table(report, "Problems in the snapshot"))
    else:
        for line in problem_lines(report):
            console.print(line, markup=False, highlight=False)


def load_or_exit(snapshot: Path, json_mode: bool = False) -> Cluster:
    """Read a snapshot; on errors print every problem and exit 1."""
    cluster, report = read_snapshot(snapshot)
    if cluster is None:
        if json_mode:
            print_json(report.to_dict())
        show_problems(report)
        err.print(f"[red]hvplan: {escape(str(snapshot))} is not a valid snapshot "
                  f"({len(report.errors)} error(s)); nothing was done.[/]")
        raise typer.Exit(EXIT_NO)
    if report.warnings and not json_mode:
        show_problems(report)
    return cluster


def fail(message: str, code: int = EXIT_NO) -> NoReturn:
    """Print a diagnostic on stderr and exit."""
    err.print(f"[red]hvplan: {escape(message)}[/]")
    raise typer.Exit(code)
