"""Helpers shared by the command modules: output, snapshot loading, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

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
    """A rich table of every problem: severity, file, row, column, value, message."""
    t = Table(title=title, show_lines=False, expand=False)
    for c in ("", "file", "row", "column", "value", "message"):
        t.add_column(c, overflow="fold")
    for p in report.errors + report.warnings:
        t.add_row("[red]error[/]" if p.severity == "error" else "[yellow]warning[/]",
                  p.file, "" if p.row is None else str(p.row), p.column or "",
                  "" if p.value is None else repr(p.to_dict()["value"]), p.message,
                  )
    return t


def show_problems(report: Report, stream: Console | None = None) -> None:
    """Print warnings and errors (to stderr by default)."""
    if report.problems:
        (stream or err).print(problems_table(report, "Problems in the snapshot"))


def load_or_exit(snapshot: Path, json_mode: bool = False) -> Cluster:
    """Read a snapshot; on errors print every problem and exit 1."""
    cluster, report = read_snapshot(snapshot)
    if cluster is None:
        if json_mode:
            print_json(report.to_dict())
        show_problems(report)
        err.print(f"[red]hvplan: {snapshot} is not a valid snapshot "
                  f"({len(report.errors)} error(s)); nothing was written.[/]")
        raise typer.Exit(EXIT_NO)
    if report.warnings and not json_mode:
        show_problems(report)
    return cluster


def fail(message: str, code: int = EXIT_NO) -> NoReturn:
    """Print a diagnostic on stderr and exit."""
    err.print(f"[red]hvplan: {message}[/]")
    raise typer.Exit(code)
