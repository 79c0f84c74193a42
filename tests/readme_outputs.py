"""Regenerate, or check, every command output shown in README.md.

The README marks each shown command with an HTML comment and a fenced block under it::

    <!-- run: hvplan validate data/examples/small4 -->
    ```text
    $ hvplan validate data/examples/small4
    valid: ...
    ```

``python tests/readme_outputs.py`` runs every marked command, in README order, with bash, in
one scratch directory that holds a copy of the repository's ``data/`` (so ``plan-out``
written by one command is there for the next, and nothing is written into the checkout),
and rewrites each block: the command after ``$``, its stdout, then its stderr, then
``(exit code N)`` when it is not 0.  ``--check`` runs them the same way and exits 1 (with a
diff) when a block differs from what the command prints now.

Determinism: fixed seeds are in the commands themselves; the environment is fixed
(``COLUMNS``, no colour, UTF-8, ``PYTHONHASHSEED``); volatile values (solver seconds, rates,
worker counts, timestamps, the scratch path) are *shown as generated* but *compared* after
:func:`normalise`.

A marker may say ``<!-- run slow: CMD -->``: that command is regenerated like any other but
checked only with ``--slow`` (the test suite checks the others; CI runs ``--check --slow``).
Its output must not be needed by a later, checked command.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: Seconds one command may take before the run is declared stuck.
COMMAND_TIMEOUT_S = 300

_MARKER = re.compile(r"^<!-- run( slow)?: (.+?) -->[ \t]*$", re.M)
_FENCE = re.compile(r"\n*```text\n(.*?)^```[ \t]*$", re.S | re.M)

#: (pattern, replacement) applied before comparing: values that change from run to run.
VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<TIME>"),
    (re.compile(r"\b\d+(?:\.\d+)? ms\b"), "<T> ms"),
    (re.compile(r"\b\d+\.\d+ s\b"), "<T> s"),
    (re.compile(r"\b\d+(?:\.\d+)? (scenarios|samples|moves|VM-samples)/s\b"), r"<N> \1/s"),
    (re.compile(r"\bon \d+ worker\(s\)"), "on <N> worker(s)"),
    (re.compile(r'("(?:solve_seconds|run_seconds|seconds|wall_seconds)": )-?[0-9.e+-]+'), r"\1<T>"),
)


@dataclass(frozen=True)
class Block:
    """One marked command and the span of its fenced block in the README text."""

    command: str
    slow: bool
    start: int  # where the block (or the insertion point) starts
    end: int  # where it ends
    shown: str  # the block's current content ("" when there is none)


def blocks(text: str) -> Iterator[Block]:
    """Every ``<!-- run: ... -->`` marker of ``text`` with the block under it."""
    for m in _MARKER.finditer(text):
        after = m.end() + 1
        f = _FENCE.match(text, after)
        if f is not None:
            yield Block(m.group(2).strip(), bool(m.group(1)), after, f.end(), f.group(1))
        else:
            yield Block(m.group(2).strip(), bool(m.group(1)), after, after, "")


def normalise(text: str, scratch: str | None = None) -> str:
    """``text`` with the volatile values replaced (see :data:`VOLATILE`)."""
    if scratch:
        text = text.replace(scratch + os.sep, "").replace(scratch, ".")
    for pattern, repl in VOLATILE:
        text = pattern.sub(repl, text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def environment() -> dict[str, str]:
    """A fixed environment: the same output on every machine (and hvplan on PATH)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HVPLAN_", "FORCE_COLOR", "CLICOLOR"))
    }
    env.update(
        {
            "COLUMNS": "100",
            "LINES": "50",
            "NO_COLOR": "1",
            "TERM": "dumb",
            "LC_ALL": "C.UTF-8",
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONWARNINGS": "ignore",
            "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        }
    )
    return env


def run(command: str, cwd: Path) -> str:
    """The block text for ``command`` run in ``cwd``: ``$ command``, stdout, stderr, exit."""
    p = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    out = [f"$ {command}"]
    for stream in (p.stdout, p.stderr):
        s = stream.rstrip("\n")
        if s:
            out.append(s)
    if p.returncode != 0:
        out.append(f"(exit code {p.returncode})")
    return "\n".join(line.rstrip() for line in "\n".join(out).splitlines()) + "\n"


def scratch_dir() -> Path:
    """A fresh directory holding a copy of ``data/`` (and the README, for ``cat``)."""
    d = Path(tempfile.mkdtemp(prefix="hvplan-readme-"))
    shutil.copytree(ROOT / "data", d / "data")
    return d


def main(argv: list[str] | None = None) -> int:
    """Regenerate the README's outputs, or check them (``--check``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--check",
        action="store_true",
        help="compare instead of rewriting; exit 1 when a block differs",
    )
    ap.add_argument(
        "--slow", action="store_true", help="with --check: also run the commands marked 'run slow'"
    )
    ap.add_argument("--readme", type=Path, default=README)
    args = ap.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    found = list(blocks(text))
    if not found:
        print(f"{args.readme}: no <!-- run: ... --> markers", file=sys.stderr)
        return 1
    work = scratch_dir()
    pieces, pos, failures, ran = [], 0, 0, 0
    try:
        for b in found:
            if args.check and b.slow and not args.slow:
                continue
            ran += 1
            new = run(b.command, work)
            if args.check:
                want, got = normalise(b.shown, str(work)), normalise(new, str(work))
                if want != got:
                    failures += 1
                    print(f"README block differs: {b.command}", file=sys.stderr)
                    sys.stderr.writelines(
                        difflib.unified_diff(
                            (want + "\n").splitlines(True),
                            (got + "\n").splitlines(True),
                            "README.md",
                            "now",
                        )
                    )
            else:
                shown = new.replace(str(work) + os.sep, "").replace(str(work), ".")
                pieces += [
                    text[pos : b.start],
                    "```text\n",
                    shown,
                    "```" if b.end > b.start else "```\n",
                ]
                pos = b.end
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.check:
        print(f"{ran} README block(s) checked, {failures} differ(s)", file=sys.stderr)
        return 1 if failures else 0
    pieces.append(text[pos:])
    new_text = "".join(pieces)
    if new_text != text:
        args.readme.write_text(new_text, encoding="utf-8")
    print(f"{ran} README block(s) regenerated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
