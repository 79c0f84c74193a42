"""Signals end any command promptly: SIGINT → exit 130, SIGTERM → 143, SIGHUP → 129.

The handlers raise into the main thread (SIGINT a plain ``KeyboardInterrupt``, SIGTERM and
SIGHUP an :class:`Interrupted`, a subclass carrying the signal), so every ``finally`` and
context manager runs: temporary outputs are removed and nothing half-written is published
(:mod:`planner.publish`). A second signal within :data:`GRACE_SECONDS` of the first is
ignored, so that a repeated Ctrl-C cannot break the cleanup itself.
"""

from __future__ import annotations

import os
import signal
import time
from types import FrameType

#: Seconds after a signal during which a repeated one is ignored (the cleanup runs).
GRACE_SECONDS = 2.0

_NAMES = {
    "SIGINT": "interrupted (Ctrl-C)",
    "SIGTERM": "terminated (SIGTERM)",
    "SIGHUP": "hung up (SIGHUP)",
}


class Interrupted(KeyboardInterrupt):
    """A signal asked hvplan to stop.

    Attributes
    ----------
    signum:
        The signal number.
    exit_code:
        ``128 + signum``: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


class _State:
    """The last signal received (one per process)."""

    signum: int | None = None
    at: float = 0.0


def received() -> int | None:
    """The signal received since :func:`install`, or None."""
    return _State.signum


def _handler(signum: int, frame: FrameType | None) -> None:
    now = time.monotonic()
    if _State.signum is not None and now - _State.at < GRACE_SECONDS:
        return
    _State.signum, _State.at = signum, now
    if os.environ.get("HVPLAN_DEBUG"):
        import traceback

        traceback.print_stack(frame)
    raise Interrupted(signum)


def install() -> None:
    """Install the handlers (main thread only; signals missing on Windows are skipped)."""
    _State.signum = None
    for name in _NAMES:
        s = getattr(signal, name, None)
        if s is not None:
            signal.signal(s, _handler)


def exit_code(exc: BaseException | None = None) -> int:
    """The exit code for an interruption: ``128 + signum`` (130 when unknown)."""
    if isinstance(exc, Interrupted):
        return exc.exit_code
    return 128 + (_State.signum or signal.SIGINT)


def message(code: int) -> str:
    """The one line printed on stderr for an interruption that ends with ``code``."""
    try:
        name = signal.Signals(code - 128).name
    except ValueError:
        name = "SIGINT"
    return (
        f"hvplan: {_NAMES.get(name, 'interrupted (' + name + ')')}; "
        "no output was left half-written."
    )


__all__ = ["GRACE_SECONDS", "Interrupted", "exit_code", "install", "message", "received"]
