"""Publish outputs whole: a directory or a file appears complete or not at all.

Every hvplan command that writes (``plan --out``, ``report``, ``compare --out``,
``capacity --out``, ``generate``, ``collector``, ``--export-model``) writes into a fresh
temporary sibling (``.hvplan-tmp-*`` next to the target) and publishes it with one rename at
the end:

- an earlier output is replaced only after the new one is complete, and only with
  ``force`` (a directory that holds subdirectories, or the current or home directory, is
  never replaced: it is not an hvplan output);
- a lock file next to the target (``.hvplan-lock-NAME``, created with ``O_EXCL``, holding
  the writer's process id) refuses a second concurrent writer; a lock left by a process that
  no longer runs is taken over;
- on any exception or signal (``KeyboardInterrupt``) the temporary output is removed and the
  target is left untouched; SIGINT, SIGTERM and SIGHUP are held back during the final renames
  so that a signal never leaves a half-swapped directory.

Errors a user can act on raise :class:`PublishError` (``usage=True`` when the target is the
wrong kind of thing, e.g. a file where a directory is expected); an ``OSError`` while writing
(a full or read-only disk) propagates after the cleanup.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".hvplan-tmp-"
LOCK_PREFIX = ".hvplan-lock-"
OLD_PREFIX = ".hvplan-old-"
_HELD_SIGNALS = {
    s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None
}


class PublishError(Exception):
    """An output cannot be published (exists without ``force``, locked, wrong kind).

    Attributes
    ----------
    usage:
        True when the cause is the command line (a file given where a directory is
        expected or the reverse): the CLI exits 2 then, else 1.
    """

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def _target(path: str | Path) -> Path:
    """The absolute target path (a symlink to a directory publishes at its target)."""
    p = Path(os.path.abspath(os.fspath(path)))
    return p.resolve() if p.is_symlink() else p


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """Hold ``.hvplan-lock-NAME`` next to ``target``; a stale lock (its process is gone) is
    taken over, together with the temporary outputs that process left behind."""
    lock = target.parent / f"{LOCK_PREFIX}{target.name}"
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text(encoding="ascii").strip() or "0")
            except (OSError, ValueError):
                pid = 0
            if attempt or _pid_alive(pid):
                raise PublishError(
                    f"another hvplan (process {pid}) is writing {target}; wait for it to end "
                    f"(or remove {lock} if no hvplan runs)"
                ) from None
            lock.unlink(missing_ok=True)
            _remove_leftovers(target)
            continue
        try:
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        finally:
            os.close(fd)
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _remove_leftovers(target: Path) -> None:
    """Remove temporary outputs a killed writer of ``target`` left behind."""
    for p in target.parent.glob(f"{TMP_PREFIX}{target.name}-*"):
        _remove(p)
    for p in target.parent.glob(f"{OLD_PREFIX}{target.name}-*"):
        _remove(p)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def _check_replaceable_dir(target: Path, force: bool) -> bool:
    """Whether ``target`` exists with content to replace; raise when it may not be."""
    if not target.exists():
        return False
    if not target.is_dir():
        raise PublishError(
            f"{target} exists and is not a directory; give a directory for --out", usage=True
        )
    entries = list(target.iterdir())
    if not entries:
        return True
    if not force:
        raise PublishError(
            f"{target} already exists and is not empty; use --force to "
            "replace it (the earlier output is replaced only once the new one "
            "is complete)"
        )
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if target.resolve() in (cwd, home, *cwd.parents) or any(
        e.is_dir() and not e.is_symlink() for e in entries
    ):
        raise PublishError(
            f"refusing to replace {target}: it holds subdirectories or is the "
            "current or home directory, so it is not an earlier hvplan output; "
            "choose another --out"
        )
    return True


def check_dir_target(out: str | Path, force: bool = False) -> None:
    """Raise :class:`PublishError` now when :func:`publish_dir` would refuse ``out`` (a file,
    or not empty without ``force``, or not an earlier output), so that a command can say so
    before its work rather than after."""
    _check_replaceable_dir(_target(out), force)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back (they are delivered afterwards)."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: nothing to hold
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False when the
    system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(rc == 0)


def _swap_in(tmp: Path, target: Path) -> None:
    """Put the complete ``tmp`` directory at ``target``, replacing what is there."""
    if not target.exists():
        os.rename(tmp, target)
        return
    if _exchange(tmp, target):
        _remove(tmp)  # tmp now holds the earlier output
        return
    old = Path(tempfile.mkdtemp(prefix=f"{OLD_PREFIX}{target.name}-", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    _remove(old)


@contextlib.contextmanager
def publish_dir(out: str | Path, force: bool = False) -> Iterator[Path]:
    """Write an output directory whole.

    Parameters
    ----------
    out:
        The directory to publish (its parent is created when missing).
    force:
        Replace an existing non-empty ``out``.

    Yields
    ------
    Path
        A fresh empty temporary directory next to ``out``: write every file there.

    Raises
    ------
    PublishError
        ``out`` exists without ``force``, is a file, or another hvplan is writing it.
    OSError
        The output cannot be written (read-only or full disk); nothing is left behind.
    """
    target = _target(out)
    _check_replaceable_dir(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target):
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{target.name}-", dir=target.parent))
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private
            with _signals_held():
                _check_replaceable_dir(target, force)  # may have appeared meanwhile
                _swap_in(tmp, target)
        finally:
            if tmp.exists():
                _remove(tmp)


@contextlib.contextmanager
def publish_file(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Write one output file whole (same rules as :func:`publish_dir`).

    Yields
    ------
    Path
        A temporary file name next to ``path`` (not yet created): write the content there;
        it replaces ``path`` with one rename when the block ends without an exception.
    """
    target = _target(path)
    if target.is_dir():
        raise PublishError(f"{target} is a directory; give a file name", usage=True)
    if target.exists() and not force:
        raise PublishError(f"{target} already exists; use --force to replace it")
    if not target.parent.is_dir():
        raise PublishError(f"directory {target.parent} does not exist")
    with _lock(target):
        fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{target.name}-", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            if not tmp.exists():
                raise PublishError(f"nothing was written to {target}")
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private
            with _signals_held():
                if target.is_dir():
                    raise PublishError(f"{target} is a directory; give a file name", usage=True)
                os.replace(tmp, target)
        finally:
            if tmp.exists():
                _remove(tmp)


def leftovers(directory: str | Path) -> list[Path]:
    """The temporary and lock files hvplan left in ``directory`` (for tests and checks)."""
    d = Path(directory)
    return sorted(p for pre in (TMP_PREFIX, LOCK_PREFIX, OLD_PREFIX) for p in d.glob(pre + "*"))


__all__ = ["PublishError", "leftovers", "publish_dir", "publish_file"]
