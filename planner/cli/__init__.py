"""The ``hvplan`` command line.  Thin commands: parse, call one library function, format,
set the exit code (0 success, 1 the data or the problem says no, 2 usage error)."""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    name="hvplan",
    help="Optimization-based placement planner for Hyper-V failover clusters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register themselves on ``app`` when imported.
from planner.cli import basic  # noqa: E402,F401,I001 - one line per command module
from planner.cli import plan  # noqa: E402,F401
from planner.cli import capacity  # noqa: E402,F401
from planner.cli import generate  # noqa: E402,F401
from planner.cli import report  # noqa: E402,F401
from planner.cli import compare  # noqa: E402,F401


def main() -> None:
    """Console-script entry point: run the app; turn unexpected errors into a short message
    (set ``HVPLAN_DEBUG=1`` to see the traceback)."""
    try:
        app()
    except KeyboardInterrupt:
        print("hvplan: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - last resort, a bug: keep the user's terminal clean
        if os.environ.get("HVPLAN_DEBUG"):
            raise
        print(f"hvplan: internal error: {type(e).__name__}: {e}\n"
              "(this is a bug in hvplan; run with HVPLAN_DEBUG=1 for details)", file=sys.stderr)
        sys.exit(1)
