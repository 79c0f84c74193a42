"""Progress of long work: the library reports stages, the command line shows them.

The library calls a :class:`Progress` (never prints): ``stage(name, time_left=, best=)``
when a phase starts or improves, ``advance(done, total)`` for counted work (scenarios).
:data:`NULL_PROGRESS` does nothing; :class:`StderrProgress` draws one self-erasing status
line on stderr (stage, elapsed, time left, best so far), from a background thread so the
clock moves while a solve runs, and only after the work has taken more than
:data:`DELAY_SECONDS` (short runs stay silent).  :func:`reporter` picks one: shown when
stderr is a terminal, silent under ``--json`` or in a pipe unless ``--progress`` asks.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Protocol, TextIO

#: Work shorter than this shows no progress at all (seconds).
DELAY_SECONDS = 1.0
#: Redraw interval of the status line (seconds).
REFRESH_SECONDS = 0.25


class Progress(Protocol):
    """What the library may report.  Every call must be cheap and never raise."""

    def stage(self, name: str, time_left: float | None = None, best: str | None = None) -> None:
        """A stage started or moved on.

        Parameters
        ----------
        name:
            What is being done, in an administrator's words ("solving: load above the
            threshold", "sequencing the moves").
        time_left:
            Seconds the stage may still take (e.g. the rest of a time limit), or None.
        best:
            The best result so far in a few words ("3 nodes over, 41 moves"), or None.
        """

    def advance(self, done: int, total: int | None = None) -> None:
        """Counted work: ``done`` of ``total`` items (e.g. scenarios) are finished."""


class NullProgress:
    """A :class:`Progress` that shows nothing."""

    def stage(self, name: str, time_left: float | None = None, best: str | None = None) -> None:
        """Ignore the stage."""

    def advance(self, done: int, total: int | None = None) -> None:
        """Ignore the count."""


NULL_PROGRESS = NullProgress()


class StderrProgress:
    """One status line on a terminal stream, redrawn from a daemon thread.

    Use as a context manager: the line is erased when the block ends (also on Ctrl-C).

    Parameters
    ----------
    stream:
        Where to draw (default ``sys.stderr``).
    unit:
        Name of the counted items for :meth:`advance` ("scenarios").
    delay:
        Seconds before anything is drawn.
    tty:
        Draw with ``\\r`` and erase at the end (a terminal); False prints one line per
        change instead (``--progress`` into a log file).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        unit: str = "",
        delay: float = DELAY_SECONDS,
        tty: bool = True,
    ) -> None:
        self._stream = stream or sys.stderr
        self._unit = unit
        self._delay = delay
        self._tty = tty
        self._t0 = time.monotonic()
        self._name = ""
        self._deadline: float | None = None
        self._best: str | None = None
        self._done: int | None = None
        self._total: int | None = None
        self._drawn = 0
        self._last = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hvplan-progress", daemon=True)

    def __enter__(self) -> StderrProgress:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        with self._lock:
            if self._tty and self._drawn:
                self._write("\r" + " " * self._drawn + "\r")
                self._drawn = 0

    def stage(self, name: str, time_left: float | None = None, best: str | None = None) -> None:
        """Start or update a stage (see :class:`Progress`)."""
        with self._lock:
            if name != self._name:
                self._best = None
            self._name = name
            self._deadline = None if time_left is None else time.monotonic() + time_left
            if best is not None:
                self._best = best

    def advance(self, done: int, total: int | None = None) -> None:
        """Update the count (see :class:`Progress`)."""
        with self._lock:
            self._done, self._total = done, total

    def line(self) -> str:
        """The status line as it would be drawn now."""
        now = time.monotonic()
        parts = [self._name or "working"]
        if self._done is not None:
            count = f"{self._done}/{self._total}" if self._total else str(self._done)
            parts.append(f"{count} {self._unit}".rstrip())
        parts.append(f"{_clock(now - self._t0)} elapsed")
        if self._deadline is not None:
            parts.append(f"about {_clock(max(0.0, self._deadline - now))} left")
        elif self._done and self._total and self._total > self._done:
            rate = (now - self._t0) / self._done
            parts.append(f"about {_clock(rate * (self._total - self._done))} left")
        if self._best:
            parts.append(f"best so far: {self._best}")
        return " | ".join(parts)

    def _run(self) -> None:
        if self._stop.wait(self._delay):
            return
        while True:
            with self._lock:
                self._draw()
            if self._stop.wait(REFRESH_SECONDS):
                return

    def _draw(self) -> None:
        if not self._name and self._done is None:
            return  # nothing reported yet
        text = self.line()
        if self._tty:
            width = 0
            try:
                import shutil

                width = shutil.get_terminal_size().columns
            except (OSError, ValueError):
                width = 80
            text = text[: max(10, width - 1)]
            pad = " " * max(0, self._drawn - len(text))
            self._write("\r" + text + pad)
            self._drawn = len(text)
        else:
            # A log: one line per change of stage or count, not per tick.
            key = text.split(" | ")[0] + str(self._done)
            if key != self._last:
                self._last = key
                self._write(text + "\n")

    def _write(self, s: str) -> None:
        try:
            self._stream.write(s)
            self._stream.flush()
        except (OSError, ValueError):
            pass


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"


def reporter(
    json_mode: bool = False, force: bool | None = None, unit: str = "", stream: TextIO | None = None
) -> StderrProgress | None:
    """The progress display for a command, or None for none.

    ``force=True`` (``--progress``) shows it in every mode, ``False`` (``--no-progress``)
    never; by default it is shown when ``stream`` (stderr) is a terminal and not under
    ``--json``.
    """
    stream = stream or sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    show = force if force is not None else (tty and not json_mode)
    return StderrProgress(stream, unit=unit, tty=tty) if show else None


__all__ = [
    "DELAY_SECONDS",
    "NULL_PROGRESS",
    "NullProgress",
    "Progress",
    "StderrProgress",
    "reporter",
]
