"""PowerShell runbooks for a sequence: ``plan.ps1`` carries it out, ``rollback.ps1`` undoes it.

Both scripts share one engine (``planner/resources/runbook.ps1``) and differ only in their
data: the **move table**, a clearly delimited block between the lines
:data:`MOVE_TABLE_BEGIN` and :data:`MOVE_TABLE_END`, one ``[pscustomobject]`` per move.  The
engine executes only that table; :func:`runbook_moves` reads it back exactly (quote-aware),
so ``hvplan verify`` can check that both runbooks carry the moves of ``plan.csv``.

What the engine does (see the script's own help): checks the snapshot's age
(``-MaxSnapshotAgeHours``, default 4, ``-Force`` to override), names every downtime move
(Shutdown, Start) before anything runs and refuses them without ``-AllowDowntime``, checks
before each wave that every VM of the table is where the plan expects (drift), starts the
moves of a wave together (one background job per move, so each move's own outcome is
known), checks each move as it ends (owner node, state; a Live move must leave the VM
running) and stops at once on a failure, resumes with ``-StartWave N``, writes a CSV result
log (``-LogPath``) and a transcript, and ends with a summary.  ``-WhatIf`` checks the whole
plan against the live cluster and moves nothing.

**Names are data, never code.**  The template is filled in one pass (:func:`_fill`: the
text inserted for a placeholder is never scanned again), and every VM, node and cluster
name -- and any other text from the snapshot, such as ``collected_utc`` -- enters the script
through :func:`ps_string` only, which emits an ASCII-only PowerShell expression:

* runs of printable ASCII become single-quoted literals with ``'`` doubled (inside single
  quotes PowerShell expands nothing: ``$( )``, backticks, ``;`` and ``@@`` are plain text);
* every other character (non-ASCII letters, the Unicode quotes U+2018-U+201B that PowerShell
  also treats as single quotes, control characters such as newlines, tabs or NUL, line and
  paragraph separators) becomes ``[char]0xNNNN`` (a UTF-16 code unit; characters beyond
  U+FFFF become their surrogate pair), joined with ``+`` after a leading string literal so
  that ``+`` concatenates.

So the script is pure ASCII: no byte-order mark or code page can change its meaning, and a
name with a newline or a quote cannot end the literal.  Names never appear in comments.
:func:`ps_single_quoted` is the plain literal form (quotes of all five kinds doubled) for
text without control characters.

``rollback.ps1`` carries the rollback sequence it is given (a safe sequence from the plan's
end state back to the start, computed by the caller); without one it falls back to the
plan's moves reversed (the waves in reverse order, each move from its target to its source
with the same migration type).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from planner import __version__
from planner.cluster import MOVE_KIND_NAMES, Cluster
from planner.sequencing import Move, SequenceResult

#: Characters PowerShell's tokenizer treats as a single quote (ASCII ' and U+2018-U+201B).
PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"

#: First and last line of the move table in a generated runbook.
MOVE_TABLE_BEGIN = "# >>> hvplan move table >>>"
MOVE_TABLE_END = "# <<< hvplan move table <<<"

#: ``-MigrationType`` value (or ``Start``) per move kind (``MoveKind`` values 0..3): the one
#: move kind name table, :data:`planner.cluster.MOVE_KIND_NAMES`.
MIGRATION_TYPES = {int(kind): name for kind, name in MOVE_KIND_NAMES.items()}
#: Move kinds with downtime: the runbook refuses them without ``-AllowDowntime``.
DOWNTIME_TYPES = ("Shutdown", "Start")


def _plain(ch: str) -> bool:
    """Printable ASCII (kept inside a single-quoted literal)."""
    return " " <= ch <= "~"


def ps_single_quoted(text: str) -> str:
    """A single-quoted PowerShell literal of ``text`` with every quote character doubled.

    Raises ``ValueError`` for control characters (use :func:`ps_string` for any text).
    """
    bad = [c for c in text if not c.isprintable() and c != " "]
    if bad:
        raise ValueError(f"control character U+{ord(bad[0]):04X} in {text!r}; use ps_string")
    out = []
    for ch in text:
        out.append(ch + ch if ch in PS_SINGLE_QUOTES else ch)
    return "'" + "".join(out) + "'"


def ps_string(text: str) -> str:
    """An ASCII-only PowerShell expression whose value is exactly ``text`` (see the module
    docstring).  Plain text gives a plain literal: ``ps_string("HV01") == "'HV01'"``."""
    parts: list[str] = []
    run: list[str] = []
    for ch in text:
        if _plain(ch):
            run.append("''" if ch == "'" else ch)
            continue
        if run or not parts:
            parts.append("'" + "".join(run) + "'")
            run = []
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            parts.append(f"[char]0x{0xD800 + (code >> 10):04X}")
            parts.append(f"[char]0x{0xDC00 + (code & 0x3FF):04X}")
        else:
            parts.append(f"[char]0x{code:04X}")
    if run or not parts:
        parts.append("'" + "".join(run) + "'")
    if len(parts) == 1:
        return parts[0]
    return "(" + " + ".join(parts) + ")"


# ----------------------------------------------------------------------------- reading back
@dataclass(frozen=True)
class RunbookMove:
    """One row of a runbook's move table, as :func:`runbook_entries` reads it back."""

    step: int
    wave: int
    vm: str
    source: str
    target: str
    migration_type: str
    temporary: bool
    leader: int


_CHAR_CODE = re.compile(r"\[char\]0x([0-9A-F]{4})")
_ENTRY_HEAD = re.compile(r"    \[pscustomobject\]@\{ Step = (\d+); Wave = (\d+); Vm = ")
_ENTRY_TAIL = re.compile(
    r"; Type = '(Live|Quick|Shutdown|Start)'; Temporary = \$(true|false); "
    r"Leader = (\d+) \}"
)


def _read_literal(text: str, i: int) -> tuple[str, int]:
    """One single-quoted literal at ``text[i]``, read as PowerShell's tokenizer does: any of
    the five single-quote characters ends it unless another one follows (then that second
    one is kept)."""
    if i >= len(text) or text[i] not in PS_SINGLE_QUOTES:
        raise ValueError(f"expected a quoted string at column {i + 1}")
    i += 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch in PS_SINGLE_QUOTES:
            if i + 1 < len(text) and text[i + 1] in PS_SINGLE_QUOTES:
                out.append(text[i + 1])
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise ValueError("unterminated quoted string")


def read_ps_string(text: str, i: int = 0) -> tuple[str, int]:
    """Read back what :func:`ps_string` emits, starting at ``text[i]``.

    Returns the value and the index just after the expression.  Accepts exactly the forms
    :func:`ps_string` writes (a literal, or ``( literal + [char]0xNNNN + ... )``) and raises
    ``ValueError`` for anything else.
    """
    if i >= len(text) or text[i] != "(":
        return _read_literal(text, i)
    i += 1
    units: list[str] = []
    first = True
    while True:
        if not first:
            if text.startswith(" + ", i):
                i += 3
            elif text.startswith(")", i):
                break
            else:
                raise ValueError(f"unexpected text at column {i + 1}")
        if first and (i >= len(text) or text[i] not in PS_SINGLE_QUOTES):
            raise ValueError("an expression must start with a quoted string")
        first = False
        if i < len(text) and text[i] in PS_SINGLE_QUOTES:
            s, i = _read_literal(text, i)
            units.append(s)
            continue
        m = _CHAR_CODE.match(text, i)
        if not m:
            raise ValueError(f"unexpected text at column {i + 1}")
        units.append(chr(int(m.group(1), 16)))
        i = m.end()
    joined = "".join(units)
    # UTF-16 code units (surrogate pairs) back into text.
    return joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass"), i + 1


def _parse_entry(line: str) -> RunbookMove:
    head = _ENTRY_HEAD.match(line)
    if not head:
        raise ValueError("not a move entry")
    vm, i = read_ps_string(line, head.end())
    ends: list[str] = []
    for key in ("Source", "Target"):
        sep = f"; {key} = "
        if not line.startswith(sep, i):
            raise ValueError(f"expected {sep.strip()!r} at column {i + 1}")
        value, i = read_ps_string(line, i + len(sep))
        ends.append(value)
    tail = _ENTRY_TAIL.fullmatch(line, i)
    if not tail:
        raise ValueError(f"unexpected text at column {i + 1}")
    return RunbookMove(
        int(head.group(1)),
        int(head.group(2)),
        vm,
        ends[0],
        ends[1],
        tail.group(1),
        tail.group(2) == "true",
        int(tail.group(3)),
    )


def runbook_entries(text: str) -> list[RunbookMove]:
    """Every row of the move table of a generated ``plan.ps1`` / ``rollback.ps1``, in order.

    Parameters
    ----------
    text
        The script's text (LF or CRLF line ends).

    Returns
    -------
    list[RunbookMove]
        The rows in the order the script runs them.

    Raises
    ------
    ValueError
        When the table is missing, appears twice, or holds a line that is not exactly what
        the generator writes (the message names the line).
    """
    lines = text.replace("\r\n", "\n").split("\n")
    begins = [n for n, x in enumerate(lines) if x == MOVE_TABLE_BEGIN]
    ends = [n for n, x in enumerate(lines) if x == MOVE_TABLE_END]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError("the script has no single hvplan move table")
    body = [
        (n, x)
        for n, x in enumerate(lines[begins[0] + 1 : ends[0]], begins[0] + 2)
        if x and not x.startswith("#")
    ]
    if len(body) < 2 or body[0][1] != "$MoveTable = @(" or body[-1][1] != ")":
        raise ValueError("the hvplan move table is not a $MoveTable = @( ... ) block")
    out: list[RunbookMove] = []
    for number, line in body[1:-1]:
        try:
            out.append(_parse_entry(line))
        except ValueError as e:
            raise ValueError(f"line {number}: {e}") from None
    return out


def runbook_moves(text: str) -> list[tuple[str, str, str, str]]:
    """The moves a generated runbook carries: ``(vm, source, target, migration_type)`` in
    the order it runs them (``migration_type`` is Live, Quick, Shutdown or Start).

    Raises ``ValueError`` as :func:`runbook_entries` does.
    """
    return [(e.vm, e.source, e.target, e.migration_type) for e in runbook_entries(text)]


# ----------------------------------------------------------------------------- writing
_Row = tuple[int, int, int, int, int, int]  # step, wave, vm, source, target, kind


def _leaders(cluster: Cluster, rows: Sequence[_Row]) -> dict[int, int]:
    """Step of the move that carries each SameNode follower (0 for independent moves):
    members of one SameNode group moving in the same wave between the same nodes follow
    the first of them (the cluster brings them along)."""
    group = cluster.same_node_groups
    first: dict[tuple[int, int, int, int], int] = {}
    out: dict[int, int] = {}
    for step, wave, vm, src, dst, _kind in rows:
        if vm not in group:
            out[step] = 0
            continue
        key = (wave, group[vm][0], src, dst)
        if key in first:
            out[step] = first[key]
        else:
            first[key] = step
            out[step] = 0
    return out


def _table_lines(cluster: Cluster, rows: Sequence[_Row], temporary: Sequence[bool]) -> str:
    leaders = _leaders(cluster, rows)
    lines = []
    for (step, wave, vm, src, dst, kind), temp in zip(rows, temporary, strict=True):
        lines.append(
            "    [pscustomobject]@{ "
            f"Step = {int(step)}; Wave = {int(wave)}; Vm = {ps_string(cluster.vm_names[vm])}; "
            f"Source = {ps_string(cluster.host_names[src])}; "
            f"Target = {ps_string(cluster.host_names[dst])}; "
            f"Type = '{MIGRATION_TYPES[int(kind)]}'; "
            f"Temporary = {'$true' if temp else '$false'}; Leader = {leaders[step]} }}"
        )
    return "\n".join(lines)


def _duration_text(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600} h {s % 3600 // 60:02d} min {s % 60:02d} s"


_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")


def _fill(template: str, values: dict[str, str]) -> str:
    """Fill every ``@@KEY@@`` of the template in one pass: inserted text is never scanned
    again, so a name holding ``@@PLAN@@`` stays that text.  Every key must be used."""
    used: set[str] = set()

    def repl(m: re.Match[str]) -> str:
        used.add(m.group(1))
        return values[m.group(1)]

    text = _PLACEHOLDER.sub(repl, template)
    if used != set(values):
        raise ValueError(f"template placeholders not used: {sorted(set(values) - used)}")
    return text


def _rows_of(moves: Sequence[Move]) -> tuple[list[_Row], list[bool]]:
    rows = [(m.step, m.wave, m.vm, m.source, m.target, int(m.kind)) for m in moves]
    return rows, [bool(m.temporary) for m in moves]


def _reversed_rows(moves: Sequence[Move]) -> tuple[list[_Row], list[bool]]:
    """The fallback rollback: the plan's moves undone, waves in reverse order."""
    n_waves = max((m.wave for m in moves), default=0)
    ordered = sorted(moves, key=lambda m: m.step, reverse=True)
    rows = [
        (i + 1, n_waves - m.wave + 1, m.vm, m.target, m.source, int(m.kind))
        for i, m in enumerate(ordered)
    ]
    return rows, [bool(m.temporary) for m in ordered]


def _summary(rows: Sequence[_Row], hops: int, seconds: float | None) -> str:
    count = {
        t: sum(1 for r in rows if MIGRATION_TYPES[r[5]] == t) for t in MIGRATION_TYPES.values()
    }
    waves = max((r[1] for r in rows), default=0)
    text = (
        f"{len(rows)} move(s) in {waves} wave(s) ({count['Live']} Live, "
        f"{count['Quick']} Quick, {count['Shutdown']} Shutdown, {count['Start']} Start; "
        f"{hops} temporary hop(s))"
    )
    if seconds is not None:
        text += f"; estimated duration {_duration_text(seconds)}"
    return text + "."


def _render(
    cluster: Cluster,
    rows: Sequence[_Row],
    temps: Sequence[bool],
    *,
    kind: str,
    timeout: int,
    seconds: float | None,
) -> str:
    collected = getattr(cluster.settings, "collected_utc", None)
    title = "hvplan rollback" if kind == "rollback" else "hvplan plan"
    synopsis = (
        "Moves the VMs back to where they were before the hvplan plan ran."
        if kind == "rollback"
        else "Carries out an hvplan migration plan, wave by wave."
    )
    template = (
        resources.files("planner.resources").joinpath("runbook.ps1").read_text(encoding="ascii")
    )
    # No clock time in the script: the same plan must give the same file.  A fingerprint of
    # the moves lets an administrator tell two runbooks apart.
    fingerprint = hashlib.sha256(
        repr((cluster.name, collected, kind, list(rows), list(temps))).encode()
    ).hexdigest()[:16]
    values = {
        "SYNOPSIS": synopsis,
        "VERSION": __version__,
        "FINGERPRINT": fingerprint,
        "SUMMARY": _summary(rows, sum(map(bool, temps)), seconds),
        "CLUSTER": ps_string(cluster.name),
        "COLLECTED": ps_string(collected or ""),
        "TIMEOUT": str(int(timeout)),
        "MOVES": _table_lines(cluster, rows, temps),
        "KIND": kind,
        "TITLE": title,
        "BEGIN": MOVE_TABLE_BEGIN,
        "END": MOVE_TABLE_END,
    }
    return _fill(template, values)


def _timeout(seq: SequenceResult) -> int:
    # Generous per-wave backstop: ten times the slowest estimated wave, at least an hour.
    return max(3600, int(10 * max(seq.wave_seconds, default=0.0)))


def _check(seq: SequenceResult, what: str) -> None:
    if not seq.ok:
        raise ValueError(
            f"cannot write {what} for a sequence that is not executable: " + seq.message
        )


def render_plan_ps1(cluster: Cluster, seq: SequenceResult) -> str:
    """The text of ``plan.ps1`` for an executable sequence (ASCII only).

    Raises ``ValueError`` when ``seq.ok`` is False (there is nothing safe to run).
    """
    _check(seq, "a runbook")
    rows, temps = _rows_of(seq.moves)
    return _render(
        cluster, rows, temps, kind="plan", timeout=_timeout(seq), seconds=seq.estimated_seconds
    )


def render_rollback_ps1(
    cluster: Cluster, seq: SequenceResult, rollback: SequenceResult | Sequence[Move] | None = None
) -> str:
    """The text of ``rollback.ps1``.

    Parameters
    ----------
    cluster
        The cluster the plan was made for (names of VMs and nodes).
    seq
        The plan's sequence.
    rollback
        The way back as a safe sequence of its own (moves with steps and waves, from the
        plan's end state to the original placement).  ``None``: the plan's moves reversed.
    """
    _check(seq, "a rollback")
    if rollback is None:
        rows, temps = _reversed_rows(seq.moves)
        return _render(
            cluster,
            rows,
            temps,
            kind="rollback",
            timeout=_timeout(seq),
            seconds=seq.estimated_seconds,
        )
    if isinstance(rollback, SequenceResult):
        _check(rollback, "a rollback")
        rows, temps = _rows_of(rollback.moves)
        return _render(
            cluster,
            rows,
            temps,
            kind="rollback",
            timeout=_timeout(rollback),
            seconds=rollback.estimated_seconds,
        )
    rows, temps = _rows_of(list(rollback))
    return _render(cluster, rows, temps, kind="rollback", timeout=_timeout(seq), seconds=None)


def write_runbooks(
    cluster: Cluster,
    seq: SequenceResult,
    out_dir: str | Path,
    rollback: SequenceResult | Sequence[Move] | None = None,
) -> tuple[Path, Path]:
    """Write ``plan.ps1`` and ``rollback.ps1`` into ``out_dir`` (CRLF line ends, ASCII).

    ``rollback`` is the safe sequence back (see :func:`render_rollback_ps1`).
    """
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    plan, back = d / "plan.ps1", d / "rollback.ps1"
    plan.write_text(render_plan_ps1(cluster, seq), encoding="ascii", newline="\r\n")
    back.write_text(render_rollback_ps1(cluster, seq, rollback), encoding="ascii", newline="\r\n")
    return plan, back


__all__ = [
    "DOWNTIME_TYPES",
    "MIGRATION_TYPES",
    "MOVE_TABLE_BEGIN",
    "MOVE_TABLE_END",
    "PS_SINGLE_QUOTES",
    "RunbookMove",
    "ps_single_quoted",
    "ps_string",
    "read_ps_string",
    "render_plan_ps1",
    "render_rollback_ps1",
    "runbook_entries",
    "runbook_moves",
    "write_runbooks",
]
