"""Tests of the PowerShell runbooks (planner.powershell).

``pwsh`` is not available here, so the scripts are checked at the tokenizer level: a small
reader of the PowerShell string syntax the generator emits (single-quoted literals where
any of the five single-quote characters ends the literal unless doubled, ``[char]0xNNNN``
and ``+``) parses every name back, and a bracket scanner checks the script's structure.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.cluster import Cluster, MoveKind
from planner.powershell import (
    MOVE_TABLE_BEGIN,
    MOVE_TABLE_END,
    PS_SINGLE_QUOTES,
    ps_single_quoted,
    ps_string,
    render_plan_ps1,
    render_rollback_ps1,
    runbook_entries,
    runbook_moves,
    write_runbooks,
)
from planner.sequencing import SequenceResult, build_sequence
from planner.verify_sequence import PlannedMove, verify_sequence
from tests.strategies import HostSpec, VmSpec, make_cluster

NASTY = [
    "O'Brien",
    "vm $(Remove-Item C:\\ -Recurse)",
    "`whoami`",
    "a;b",
    "with space",
    "Ünïcødé-虚拟机",
    "\u2018smart\u2019 \u201alow\u201b",
    "new\nline",
    "tab\tand\rreturn",
    "emoji 😀",
    "'",
    "''",
    "$env:PATH",
    "@{}",
    "#> <#",
    "\u2028sep",
]


# ----------------------------------------------------------------------------- a reader
class ParseError(ValueError):
    pass


def read_literal(text: str, i: int) -> tuple[str, int]:
    """Read one single-quoted literal starting at ``text[i]`` the way PowerShell's
    tokenizer does: any single-quote character ends it unless the next one is also a
    single-quote character, in which case that second character is kept."""
    if text[i] not in PS_SINGLE_QUOTES:
        raise ParseError(f"expected a quote at {i}")
    i += 1
    out = []
    while True:
        if i >= len(text):
            raise ParseError("unterminated literal")
        ch = text[i]
        if ch in PS_SINGLE_QUOTES:
            if i + 1 < len(text) and text[i + 1] in PS_SINGLE_QUOTES:
                out.append(text[i + 1])
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1


_CHAR = re.compile(r"\[char\]0x([0-9A-F]{4})")


def read_expr(text: str, i: int) -> tuple[str, int]:
    """Read what :func:`ps_string` emits: a literal, or ``( term + term ... )`` whose first
    term is a literal (so that ``+`` concatenates strings instead of adding numbers)."""
    if text[i] != "(":
        return read_literal(text, i)
    i += 1
    if text[i] not in PS_SINGLE_QUOTES:
        raise ParseError("an expression must start with a string literal")
    units: list[str] = []
    first = True
    while True:
        if not first:
            if text[i : i + 3] == " + ":
                i += 3
            elif text[i] == ")":
                break
            else:
                raise ParseError(f"unexpected {text[i]!r} at {i}")
        first = False
        if text[i] in PS_SINGLE_QUOTES:
            s, i = read_literal(text, i)
            units.append(s)
        else:
            m = _CHAR.match(text, i)
            if not m:
                raise ParseError(f"unexpected {text[i : i + 10]!r}")
            units.append(chr(int(m.group(1), 16)))
            i = m.end()
    # Join UTF-16 code units (surrogate pairs) back into text.
    joined = "".join(units)
    return joined.encode("utf-16", "surrogatepass").decode("utf-16"), i + 1


def evaluate(expr: str) -> str:
    value, end = read_expr(expr, 0)
    if end != len(expr):
        raise ParseError(f"trailing text {expr[end:]!r}")
    return value


# ----------------------------------------------------------------------------- quoting
@pytest.mark.parametrize("name", NASTY)
def test_ps_string_round_trips_and_is_ascii(name: str) -> None:
    expr = ps_string(name)
    assert expr.isascii()
    assert evaluate(expr) == name


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_ps_string_round_trips_any_text(name: str) -> None:
    expr = ps_string(name)
    assert expr.isascii() and evaluate(expr) == name


def test_plain_names_stay_plain() -> None:
    assert ps_string("HV01") == "'HV01'"
    assert ps_string("O'Brien") == "'O''Brien'"
    assert ps_string("") == "''"


@pytest.mark.parametrize("quote", list(PS_SINGLE_QUOTES))
def test_single_quoted_doubles_every_quote_kind(quote: str) -> None:
    name = f"a{quote}b; Remove-Item x"
    lit = ps_single_quoted(name)
    assert evaluate(lit) == name
    # Doubling only the ASCII quote would let a Unicode quote end the literal early.
    naive = "'" + name.replace("'", "''") + "'"
    if quote != "'":
        with pytest.raises(ParseError):
            evaluate(naive)


def test_single_quoted_refuses_control_characters() -> None:
    with pytest.raises(ValueError):
        ps_single_quoted("new\nline")


# ----------------------------------------------------------------------------- scripts
def nasty_cluster() -> Cluster:
    hosts = [
        HostSpec(h, memory_mb=65536, memory_reserve_mb=0)
        for h in ("HV'01", "HV $(Get-Date)", "HV\u2019;03", "ÜHV\n04")
    ]
    vms = [VmSpec(n, i % 3, memory_mb=2048) for i, n in enumerate(NASTY)]
    return make_cluster(hosts, vms, name="clu'ster $(x)")


def nasty_sequence(c: Cluster) -> tuple[np.ndarray, SequenceResult]:
    t = c.vm_host.astype(np.int64).copy()
    for v in range(c.n_vms):
        t[v] = (t[v] + 1 + v % 2) % c.n_hosts
    seq = build_sequence(c, t)
    assert seq.ok, seq.message
    return t, seq


def plan_entries(script: str, c: Cluster) -> list[dict[str, object]]:
    """The move table read back with :func:`runbook_entries`, as dicts."""
    return [
        {
            "Step": e.step,
            "Wave": e.wave,
            "Vm": e.vm,
            "Source": e.source,
            "Target": e.target,
            "Type": e.migration_type,
            "Temporary": e.temporary,
            "Leader": e.leader,
        }
        for e in runbook_entries(script)
    ]


def to_moves(c: Cluster, entries: list[dict[str, object]]) -> list[PlannedMove]:
    kinds = {"Live": MoveKind.LIVE, "Quick": MoveKind.QUICK, "Shutdown": MoveKind.SHUTDOWN}
    return [
        PlannedMove(
            int(e["Step"]),
            int(e["Wave"]),  # type: ignore[call-overload]
            c.vm_names.index(str(e["Vm"])),
            c.host_names.index(str(e["Source"])),
            c.host_names.index(str(e["Target"])),
            kinds[str(e["Type"])],
        )
        for e in entries
    ]


def brackets_balanced(script: str) -> bool:
    """Brackets balance outside strings and comments (a structural sanity check)."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    i = 0
    while i < len(script):
        ch = script[i]
        if script.startswith("<#", i):
            i = script.index("#>", i) + 2
            continue
        if ch == "#":
            i = script.find("\n", i)
            i = len(script) if i < 0 else i
            continue
        if ch in PS_SINGLE_QUOTES:
            _, i = read_literal(script, i)
            continue
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
        i += 1
    return not stack


def test_plan_script_structure_and_names() -> None:
    c = nasty_cluster()
    t, seq = nasty_sequence(c)
    script = render_plan_ps1(c, seq)
    assert script.isascii()
    assert '"' not in script  # no expandable strings anywhere: names are never interpolated
    assert brackets_balanced(script)
    assert "[CmdletBinding(SupportsShouldProcess = $true" in script
    assert "$PSCmdlet.ShouldProcess(" in script
    assert "Start-Transcript" in script and "Stop-Transcript" in script
    assert "[string] $Cluster = " + ps_string(c.name) in script
    assert (
        "Move-ClusterVirtualMachineRole -Cluster $ClusterName -Name $Vm -Node $Node "
        "-MigrationType $Type"
    ) in script
    assert (
        "Start-Job -ScriptBlock $MoveJob -ArgumentList $Cluster, $m.Vm, $m.Target, $m.Type"
    ) in script
    assert "Get-ClusterGroup -Cluster $Cluster" in script
    assert "Get-ClusterNode -Cluster $Cluster" in script
    assert "the cluster has drifted" in script and "not Up" in script
    entries = plan_entries(script, c)
    assert len(entries) == len(seq.moves)
    for e, m in zip(entries, seq.moves, strict=True):
        assert e["Vm"] == c.vm_names[m.vm]
        assert e["Source"] == c.host_names[m.source]
        assert e["Target"] == c.host_names[m.target]
        assert (e["Step"], e["Wave"], e["Type"]) == (m.step, m.wave, m.kind_name)
    # Names never leak into comments or code outside the plan block.
    head = script[: script.index("$MoveTable = @(")]
    for name in (*c.vm_names, *c.host_names):
        if len(name) > 2:
            assert name not in head
    assert verify_sequence(c, to_moves(c, entries), t) == []


def test_rollback_undoes_the_plan() -> None:
    c = nasty_cluster()
    t, seq = nasty_sequence(c)
    entries = plan_entries(render_rollback_ps1(c, seq), c)
    assert len(entries) == len(seq.moves)
    last = seq.moves[-1]
    assert entries[0]["Vm"] == c.vm_names[last.vm]
    assert entries[0]["Source"] == c.host_names[last.target]
    assert entries[0]["Wave"] == 1 and entries[-1]["Wave"] == seq.waves
    # From the plan's end state, the rollback is itself a valid sequence back to the start.
    after = c.replace(vm_host=t.astype(np.int32))
    assert verify_sequence(after, to_moves(after, entries), c.vm_host) == []


def test_rollback_of_a_temporary_hop_retraces_it() -> None:
    hosts = [HostSpec(h, memory_mb=16384, memory_reserve_mb=0) for h in ("H1", "H2", "H3")]
    c = make_cluster(
        hosts, [VmSpec("A", "H1", memory_mb=10240), VmSpec("B", "H2", memory_mb=10240)]
    )
    t = np.array([1, 0])
    seq = build_sequence(c, t)
    assert seq.ok and seq.extra_hops == 1
    entries = plan_entries(render_rollback_ps1(c, seq), c)
    assert sum(bool(e["Temporary"]) for e in entries) == 1
    after = c.replace(vm_host=t.astype(np.int32))
    assert verify_sequence(after, to_moves(after, entries), c.vm_host) == []


def test_same_node_followers_name_their_leader() -> None:
    from planner.cluster import RuleType
    from tests.strategies import RuleSpec

    hosts = [HostSpec("H1"), HostSpec("H2")]
    c = make_cluster(
        hosts,
        [VmSpec("A", "H1"), VmSpec("B", "H1"), VmSpec("C", "H1")],
        [RuleSpec("pair", RuleType.SAME_NODE, ("A", "B"))],
    )
    seq = build_sequence(c, np.array([1, 1, 1]))
    assert seq.ok
    entries = plan_entries(render_plan_ps1(c, seq), c)
    leader = {e["Vm"]: e["Leader"] for e in entries}
    steps = {e["Vm"]: e["Step"] for e in entries}
    assert leader["C"] == 0
    assert sorted([leader["A"], leader["B"]]) == [0, min(steps["A"], steps["B"])]


def test_no_runbook_for_a_refused_sequence() -> None:
    c = make_cluster(
        [
            HostSpec("H1", memory_mb=16384, memory_reserve_mb=0),
            HostSpec("H2", memory_mb=16384, memory_reserve_mb=0),
        ],
        [VmSpec("A", "H1", memory_mb=10240), VmSpec("B", "H2", memory_mb=10240)],
    )
    seq = build_sequence(c, np.array([1, 0]))
    assert not seq.ok
    with pytest.raises(ValueError):
        render_plan_ps1(c, seq)


def test_write_runbooks(tmp_path: Path) -> None:
    c = nasty_cluster()
    _, seq = nasty_sequence(c)
    plan, back = write_runbooks(c, seq, tmp_path / "out")
    raw = plan.read_bytes()
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert back.exists()

    def body(text: str) -> list[str]:
        return [x for x in text.replace("\r\n", "\n").split("\n") if "Generated by" not in x]

    assert body(plan.read_text(encoding="ascii")) == body(render_plan_ps1(c, seq))
    assert body(back.read_text(encoding="ascii")) == body(render_rollback_ps1(c, seq))


def test_same_plan_gives_the_same_script_and_another_plan_another_fingerprint() -> None:
    c = nasty_cluster()
    _, seq = nasty_sequence(c)
    assert len(seq.moves) >= 2
    assert render_plan_ps1(c, seq) == render_plan_ps1(c, seq)
    assert render_rollback_ps1(c, seq) == render_rollback_ps1(c, seq)
    other = dataclasses.replace(seq, moves=seq.moves[:-1])
    fp = re.compile(r"plan fingerprint ([0-9a-f]{16})")
    a = fp.search(render_plan_ps1(c, seq))
    b = fp.search(render_plan_ps1(c, other))
    assert a and b and a.group(1) != b.group(1)


# ----------------------------------------------------------------------------- one-pass fill
def _moves_of(c: Cluster, seq: SequenceResult) -> list[tuple[str, str, str, str]]:
    return [
        (c.vm_names[m.vm], c.host_names[m.source], c.host_names[m.target], m.kind_name)
        for m in seq.moves
    ]


@pytest.mark.parametrize(
    "placeholder",
    [
        "@@PLAN@@",
        "@@WAVES@@",
        "@@MOVES@@",
        "@@CLUSTER@@",
        "@@BEGIN@@",
        "@@END@@",
        "@@KIND@@",
        "@@TIMEOUT@@",
    ],
)
def test_placeholders_in_names_stay_data(placeholder: str) -> None:
    # Regression (issue 15.1): chained str.replace spliced the move list into a cluster
    # named X@@PLAN@@Y and rewrote a VM named SQL@@WAVES@@ to SQL1.
    hosts = [HostSpec(f"H{placeholder}1"), HostSpec("H2")]
    c = make_cluster(
        hosts, [VmSpec(f"SQL{placeholder}", 0), VmSpec("B", 0)], name=f"X{placeholder}Y"
    )
    seq = build_sequence(c, np.array([1, 1]))
    assert seq.ok
    for script in (render_plan_ps1(c, seq), render_rollback_ps1(c, seq)):
        assert f"[string] $Cluster = {ps_string(c.name)}" in script
        assert "@@" not in script.replace(ps_string(c.name), "").replace(
            ps_string(c.vm_names[0]), ""
        ).replace(ps_string(c.host_names[0]), "")
    assert runbook_moves(render_plan_ps1(c, seq)) == _moves_of(c, seq)


def test_runbook_moves_reads_back_plan_and_rollback() -> None:
    c = nasty_cluster()
    _, seq = nasty_sequence(c)
    assert runbook_moves(render_plan_ps1(c, seq)) == _moves_of(c, seq)
    back = runbook_moves(render_rollback_ps1(c, seq))
    assert back == [(vm, dst, src, kind) for vm, src, dst, kind in reversed(_moves_of(c, seq))]
    # CRLF as written on disk reads the same.
    crlf = render_plan_ps1(c, seq).replace("\n", "\r\n")
    assert runbook_moves(crlf) == _moves_of(c, seq)


def test_runbook_moves_refuses_a_tampered_table() -> None:
    c = nasty_cluster()
    _, seq = nasty_sequence(c)
    script = render_plan_ps1(c, seq)
    line = next(x for x in script.split("\n") if x.startswith("    [pscustomobject]@{"))
    with pytest.raises(ValueError, match="line"):
        runbook_moves(script.replace(line, line + "; Remove-Item C:\\"))
    with pytest.raises(ValueError, match="line"):
        runbook_moves(script.replace(line, line.replace("Vm = '", "Vm = $(whoami) + '", 1)))
    with pytest.raises(ValueError, match="single hvplan move table"):
        runbook_moves(script.replace(MOVE_TABLE_BEGIN, "# gone"))
    with pytest.raises(ValueError, match="single hvplan move table"):
        runbook_moves(script + "\n" + MOVE_TABLE_BEGIN + "\n")
    # An edited target is read back as edited (verify then sees a mismatch with plan.csv).
    edited = script.replace(line, line.replace("Target = ", "Target = 'HV99' + ", 1))
    with pytest.raises(ValueError):
        runbook_moves(edited)  # ``'HV99' + (...)`` is not a form the generator writes


def test_the_engine_executes_only_the_table() -> None:
    c = nasty_cluster()
    _, seq = nasty_sequence(c)
    script = render_plan_ps1(c, seq)
    assert script.count("$MoveTable") == 2  # the table and `$Plan = @($MoveTable)`
    assert "$Plan = @($MoveTable)" in script
    assert script.count(MOVE_TABLE_BEGIN) == 1 and script.count(MOVE_TABLE_END) == 1


def test_runbook_parameters_and_checks() -> None:
    c = nasty_cluster()
    _, seq = nasty_sequence(c)
    script = render_plan_ps1(c, seq)
    for text in (
        "[switch] $AllowDowntime",
        "[int] $StartWave = 1",
        "[double] $MaxSnapshotAgeHours = 4",
        "[switch] $Force",
        "[string] $LogPath",
        "Export-Csv -LiteralPath $LogPath -Append -NoTypeInformation -Encoding UTF8",
        "function Assert-NoDrift",
        "function Assert-SnapshotFresh",
        "function Assert-DowntimeAllowed",
        "function Test-Outcome",
        "function Write-Summary",
        "a live migration must leave it running",
        "-StartWave {0}",
        "Start-ClusterGroup -Cluster $ClusterName -Name $Vm",
        "Move-ClusterGroup -Cluster $ClusterName -Name $Vm -Node $Node",
    ):
        assert text in script, text
    # The snapshot time is data: absent here (generated cluster), so the script refuses
    # without -Force.
    assert "$SnapshotCollectedUtc = ''" in script


def test_collected_utc_is_embedded_as_data() -> None:
    import types

    c = nasty_cluster()
    _, seq = nasty_sequence(c)
    stamp = "2026-12-01T08:00:00Z'; Remove-Item x; '"
    settings = types.SimpleNamespace(**{**vars(c.settings), "collected_utc": stamp})
    c2 = dataclasses.replace(c, settings=settings)  # type: ignore[arg-type]
    script = render_plan_ps1(c2, seq)
    assert f"$SnapshotCollectedUtc = {ps_string(stamp)}" in script
    assert evaluate(ps_string(stamp)) == stamp


def test_downtime_and_start_moves_are_named_in_the_table() -> None:
    c = nasty_cluster()
    _, seq = nasty_sequence(c)
    moves = list(seq.moves)
    moves[0] = dataclasses.replace(moves[0], kind=MoveKind.SHUTDOWN)
    moves[1] = dataclasses.replace(moves[1], kind=3)  # type: ignore[arg-type]  # Start
    seq2 = dataclasses.replace(seq, moves=tuple(moves))
    kinds = [k for *_, k in runbook_moves(render_plan_ps1(c, seq2))]
    assert kinds[0] == "Shutdown" and kinds[1] == "Start"
    assert "1 Shutdown, 1 Start" in render_plan_ps1(c, seq2)


def test_rollback_takes_a_sequence_of_its_own(tmp_path: Path) -> None:
    c = nasty_cluster()
    t, seq = nasty_sequence(c)
    after = c.replace(vm_host=t.astype(np.int32))
    back = build_sequence(after, c.vm_host.astype(np.int64))
    assert back.ok
    _, rb = write_runbooks(c, seq, tmp_path, rollback=back)
    got = runbook_moves(rb.read_text(encoding="ascii"))
    assert got == _moves_of(after, back)
    # A bare list of moves works too (no estimate then).
    assert runbook_moves(render_rollback_ps1(c, seq, list(back.moves))) == got


def test_runbook_log_and_display_follow_textsafe() -> None:
    from planner.textsafe import _BIDI_CONTROLS, FORMULA_PREFIXES

    c = nasty_cluster()
    _, seq = nasty_sequence(c)
    script = render_plan_ps1(c, seq)
    # The CSV result log quotes the same first characters as hvplan's own CSV files.
    assert (
        "$FormulaStart = @('=', '+', '-', '@', [string][char]9, [string][char]13, '''')" in script
    )
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}
    # Names on the console: control characters and the same bidi controls escaped.
    m = re.search(r"\[regex\]::Replace\(\$Text, '\[\\p\{Cc\}([^\]]*)\]'", script)
    assert m
    codes: set[str] = set()
    for a, b in re.findall(r"\\u([0-9A-F]{4})(?:-\\u([0-9A-F]{4}))?", m.group(1)):
        codes.update(chr(x) for x in range(int(a, 16), int(b or a, 16) + 1))
    assert _BIDI_CONTROLS | {"\u2028", "\u2029"} == codes
