"""The ``hvplan`` command line.  Thin commands: parse, call one library function, format,
set the exit code (0 success, 1 the data or the problem says no, 2 usage error; 130, 143,
129 after SIGINT, SIGTERM, SIGHUP).

Commands are registered explicitly below (the command modules do not import ``app``, so
there is no import cycle), and every command module imports its heavy dependencies
(OR-Tools, pandas, Dask, matplotlib, numba) inside the command: ``hvplan --help`` and
``hvplan validate`` start quickly.
"""

from __future__ import annotations

import contextlib
import os
import sys
import typing
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click import exceptions as click_errors  # typer ships its own click
from typer.core import TyperGroup

from planner import __version__
from planner.cli import basic, capacity, compare, generate, plan, replay, report, signals

#: Help names of option value types (instead of typer's ``<float range>``, ``<path>``).
_METAVARS = {float: "NUMBER", int: "N", Path: "PATH", str: "TEXT"}


def _plain_metavars(command: Any) -> None:
    """Give every parameter without a metavar a plain one: arguments by their name in
    capitals (``SNAPSHOT``, ``SNAPSHOT...``), options by their value type (``NUMBER``).
    Flags and choices (``<low|medium|high>``) keep typer's display."""
    for p in getattr(command, "params", []):
        if p.metavar is not None or getattr(p, "is_flag", False):
            continue
        if p.__class__.__name__.endswith("Argument"):
            p.metavar = str(p.name).upper()
            # The argument's help says what it is; no "<path>" / "<list[Path]>" after it.
            p.display_type_rich = lambda ctx: None
            continue
        ann = getattr(getattr(p, "type_descriptor", None), "annotation", None)
        ann = typing.get_args(ann)[0] if typing.get_args(ann) else ann  # list[float]
        if isinstance(ann, type) and issubclass(ann, Enum):
            continue
        p.metavar = _METAVARS.get(ann) if isinstance(ann, type) else None


class HvplanGroup(TyperGroup):
    """The top-level group: usage errors in one line (exit 2), interruptions in one line
    (exit 128 + signal), whatever the command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for c in self.commands.values():
            _plain_metavars(c)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run a command; see ``click.Command.main``."""
        try:
            rv = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = rv if isinstance(rv, int) else 0
        except click_errors.NoArgsIsHelpError as e:
            typer.echo(e.ctx.get_help() if e.ctx else "")
            code = 0
        except click_errors.ClickException as e:
            ctx = getattr(e, "ctx", None)
            where = ctx.command_path if ctx is not None else "hvplan"
            msg = " ".join(e.format_message().split())
            msg = msg.replace("Value error, ", "").replace("Input should be ", "expected ")
            typer.echo(f"{where}: error: {msg} (see '{where} --help')", err=True)
            code = e.exit_code
        except typer.Abort:
            code = signals.exit_code()
        if code == 130 or signals.received() is not None:
            code = signals.exit_code()
            typer.echo(signals.message(code), err=True)
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    name="hvplan",
    cls=HvplanGroup,
    help="Optimization-based placement planner for Hyper-V failover clusters.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hvplan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Optimization-based placement planner for Hyper-V failover clusters.

    Exit codes: 0 success, 1 the data or the problem says no, 2 usage error,
    130/143/129 interrupted by SIGINT (Ctrl-C)/SIGTERM/SIGHUP.
    """


# Explicit registration, in the order of ``hvplan --help``.
app.command(short_help="Check a snapshot: every problem and warning.")(basic.validate)
app.command(short_help="Per-node load, threshold and rules broken now.")(basic.status)
app.command(short_help="Optimal, verified migration plan.")(plan.plan)
app.command(short_help="Check a plan against a snapshot, independently.")(plan.verify)
app.command(name="compare", short_help="hvplan against the native balancers.")(compare.compare_cmd)
app.command(short_help="Batch what-if capacity planning (N+k, growth, drains).")(capacity.capacity)
app.command(short_help="Realistic synthetic snapshot.")(generate.generate)
app.command(short_help="Self-contained HTML report with charts.")(report.report)
app.command(short_help="Write the PowerShell collector script.")(report.collector)
app.command(name="replay", short_help="Replay the load history: plan vs. native balancers.")(
    replay.replay_cmd
)


def _hard_exit(code: int) -> None:
    """Run the exit handlers (multiprocessing, Dask), flush the standard streams and end
    the process with ``code`` without the interpreter's finalisation."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main() -> None:
    """Console-script entry point: install the signal handlers, run the app; turn
    unexpected errors into a short message (``HVPLAN_DEBUG=1`` shows the traceback)."""
    signals.install()
    try:
        app(prog_name="hvplan")
    except SystemExit as e:
        if signals.received() is None:
            raise
        # Interrupted: every output was cleaned up while the exception unwound.  Leave
        # without the interpreter's finalisation, where a solver thread stopped mid-search
        # can still abort the process (std::terminate) and turn 130/143 into 134.
        _hard_exit(e.code if isinstance(e.code, int) else signals.exit_code())
    except KeyboardInterrupt as e:
        code = signals.exit_code(e)
        print(signals.message(code), file=sys.stderr)
        _hard_exit(code)
    except Exception as e:  # noqa: BLE001 - last resort, a bug: keep the user's terminal clean
        if signals.received() is not None:
            # A signal that arrived while a C extension was being imported or initialised
            # surfaces as that extension's error (e.g. "ImportError: initialization
            # failed"): it is still the interruption, not a bug.
            code = signals.exit_code()
            print(signals.message(code), file=sys.stderr)
            _hard_exit(code)
        if os.environ.get("HVPLAN_DEBUG"):
            raise
        print(
            f"hvplan: internal error: {type(e).__name__}: {e}\n"
            "(this is a bug in hvplan; run with HVPLAN_DEBUG=1 for details)",
            file=sys.stderr,
        )
        sys.exit(1)
