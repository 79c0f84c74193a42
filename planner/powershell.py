"""PowerShell runbooks for a sequence: ``plan.ps1`` carries it out, ``rollback.ps1`` undoes it.

Both scripts share one engine (``planner/resources/runbook.ps1``) and differ only in their
data: the list of moves.  The engine runs wave by wave with the FailoverClusters cmdlets
(``Get-ClusterGroup``, ``Get-ClusterNode``, ``Move-ClusterVirtualMachineRole -Name -Node
-MigrationType -Wait 0`` and polling), checks every move before its wave starts (VM still on
the expected node, destination Up; a VM already on its destination is skipped, so a stopped
run can be restarted), stops with a clear message when the cluster has drifted, supports
``-WhatIf`` (``SupportsShouldProcess``) and writes a transcript.

**Names are data, never code.**  Every VM, node and cluster name enters the script through
:func:`ps_string`, which emits an ASCII-only PowerShell expression:

* runs of printable ASCII become single-quoted literals with ``'`` doubled (inside single
  quotes PowerShell expands nothing: ``$( )``, backticks and ``;`` are plain characters);
* every other character (non-ASCII letters, the Unicode quotes U+2018-U+201B that PowerShell
  also treats as single quotes, control characters such as newlines, tabs or NUL, line and
  paragraph separators) becomes ``[char]0xNNNN`` (a UTF-16 code unit; characters beyond
  U+FFFF become their surrogate pair), joined with ``+`` after a leading string literal so
  that ``+`` concatenates.

So the script is pure ASCII: no byte-order mark or code page can change its meaning, and a
name with a newline or a quote cannot end the literal.  Names never appear in comments.
:func:`ps_single_quoted` is the plain literal form (quotes of all five kinds doubled) for
text without control characters.

``rollback.ps1`` moves back what was moved: the waves in reverse order, each move from its
target to its source with the same migration type (a wave reversed has the same peak loads,
the same nodes taking part and the same rule occupancy as forward, so it is as safe).  Its
pre-flight check skips VMs that are already back (or never moved), so it also undoes a run
that stopped half-way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from planner import __version__
from planner.cluster import MOVE_KIND_NAMES, Cluster, MoveKind, RuleType
from planner.sequencing import Move, SequenceResult

#: Characters PowerShell's tokenizer treats as a single quote (ASCII ' and U+2018-U+201B).
PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


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


def _same_node_groups(cluster: Cluster) -> dict[int, int]:
    """VM → representative of the VMs tied together by enabled SameNode rules."""
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for r in cluster.enabled_rules:
        if r.rule_type == RuleType.SAME_NODE and len(r.members) >= 2:
            first = find(r.members[0])
            for m in r.members[1:]:
                root = find(m)
                if root != first:
                    parent[root] = first
    return {v: find(v) for v in list(parent)}


def _leaders(cluster: Cluster, moves: Sequence[tuple[int, int, int, int, int, MoveKind]]
             ) -> dict[int, int]:
    """Step of the move that carries each SameNode follower (0 for independent moves).

    ``moves`` are ``(step, wave, vm, source, target, kind)``; members of one SameNode group
    moving in the same wave between the same nodes follow the first of them.
    """
    group = _same_node_groups(cluster)
    first: dict[tuple[int, int, int, int], int] = {}
    out: dict[int, int] = {}
    for step, wave, vm, src, dst, _kind in moves:
        if vm not in group:
            out[step] = 0
            continue
        key = (wave, group[vm], src, dst)
        if key in first:
            out[step] = first[key]
        else:
            first[key] = step
            out[step] = 0
    return out


def _plan_lines(cluster: Cluster, moves: Sequence[tuple[int, int, int, int, int, MoveKind]],
                temporary: Sequence[bool]) -> str:
    leaders = _leaders(cluster, moves)
    lines = []
    for (step, wave, vm, src, dst, kind), temp in zip(moves, temporary, strict=True):
        lines.append(
            "    [pscustomobject]@{ "
            f"Step = {step}; Wave = {wave}; Vm = {ps_string(cluster.vm_names[vm])}; "
            f"Source = {ps_string(cluster.host_names[src])}; "
            f"Target = {ps_string(cluster.host_names[dst])}; "
            f"Type = '{MOVE_KIND_NAMES[MoveKind(kind)]}'; "
            f"Temporary = {'$true' if temp else '$false'}; Leader = {leaders[step]} }}")
    return "\n".join(lines)


def _duration_text(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600} h {s % 3600 // 60:02d} min {s % 60:02d} s"


def _render(cluster: Cluster, seq: SequenceResult, *, rollback: bool) -> str:
    if not seq.ok:
        raise ValueError("cannot write a runbook for a sequence that is not executable: "
                         + seq.message)
    ms: list[Move] = list(seq.moves)
    n_waves = max((m.wave for m in ms), default=0)
    if rollback:
        ordered = sorted(ms, key=lambda m: m.step, reverse=True)
        rows = [(i + 1, n_waves - m.wave + 1, m.vm, m.target, m.source, MoveKind(m.kind))
                for i, m in enumerate(ordered)]
        temps = [m.temporary for m in ordered]
        title = "hvplan rollback"
        synopsis = ("Moves back what the hvplan plan moved: the waves in reverse order, each "
                    "VM from its planned target to its source.")
        summary = (f"{len(rows)} move(s) in {n_waves} wave(s) (the plan's waves reversed). "
                   "VMs already back on their source, or never moved, are skipped.")
    else:
        rows = [(m.step, m.wave, m.vm, m.source, m.target, MoveKind(m.kind)) for m in ms]
        temps = [m.temporary for m in ms]
        title = "hvplan plan"
        synopsis = "Carries out an hvplan migration plan, wave by wave."
        kinds = {k: sum(1 for m in ms if m.kind == k) for k in MoveKind if k >= 0}
        summary = (f"{len(ms)} move(s) in {n_waves} wave(s) ({kinds[MoveKind.LIVE]} Live, "
                   f"{kinds[MoveKind.QUICK]} Quick, {kinds[MoveKind.SHUTDOWN]} Shutdown; "
                   f"{seq.extra_hops} temporary hop(s)); estimated duration "
                   f"{_duration_text(seq.estimated_seconds)}.")
    # Generous per-wave timeout: ten times the slowest estimated wave, at least an hour.
    longest = max(seq.wave_seconds, default=0.0)
    timeout = max(3600, int(10 * longest))
    template = resources.files("planner.resources").joinpath("runbook.ps1").read_text(
        encoding="ascii")
    # No clock time in the script: the same plan must give the same file.  A fingerprint of
    # the moves lets an administrator tell two runbooks apart.
    fingerprint = hashlib.sha256(repr((cluster.name, rows, temps)).encode()).hexdigest()[:16]
    values = {
        "@@SYNOPSIS@@": synopsis,
        "@@VERSION@@": __version__,
        "@@GENERATED@@": fingerprint,
        "@@SUMMARY@@": summary,
        "@@CLUSTER@@": ps_string(cluster.name),
        "@@TIMEOUT@@": str(timeout),
        "@@PLAN@@": _plan_lines(cluster, rows, temps),
        "@@KIND@@": "rollback" if rollback else "plan",
        "@@TITLE@@": title,
        "@@WAVES@@": str(n_waves),
    }
    text = template
    for k, v in values.items():
        text = text.replace(k, v)
    return text


def render_plan_ps1(cluster: Cluster, seq: SequenceResult) -> str:
    """The text of ``plan.ps1`` for an executable sequence (ASCII only).

    Raises ``ValueError`` when ``seq.ok`` is False (there is nothing safe to run).
    """
    return _render(cluster, seq, rollback=False)


def render_rollback_ps1(cluster: Cluster, seq: SequenceResult) -> str:
    """The text of ``rollback.ps1``: the plan's moves undone, waves in reverse order."""
    return _render(cluster, seq, rollback=True)


def write_runbooks(cluster: Cluster, seq: SequenceResult, out_dir: str | Path
                   ) -> tuple[Path, Path]:
    """Write ``plan.ps1`` and ``rollback.ps1`` into ``out_dir`` (CRLF line ends, ASCII)."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    plan, back = d / "plan.ps1", d / "rollback.ps1"
    plan.write_text(render_plan_ps1(cluster, seq), encoding="ascii", newline="\r\n")
    back.write_text(render_rollback_ps1(cluster, seq), encoding="ascii", newline="\r\n")
    return plan, back


__all__ = ["PS_SINGLE_QUOTES", "ps_single_quoted", "ps_string", "render_plan_ps1",
           "render_rollback_ps1", "write_runbooks"]
