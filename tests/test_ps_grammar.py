"""Every generated PowerShell file, parsed with a real PowerShell grammar.

``tree-sitter`` with ``tree-sitter-powershell`` (both in the ``test`` extra) parse plan.ps1,
rollback.ps1 and the collector: no ERROR or MISSING node anywhere.  Hostile names (quotes of
every kind including the Unicode ones PowerShell treats as quotes, ``$( )``, backticks,
``@@``, newlines, control characters, ``=+-@`` prefixes) must be pure data: the move table
is evaluated *from the parse tree* and every value there is made of string literals,
``[char]0xNNNN`` casts and ``+`` only (no variable, sub-expression or command can hide in
it), and evaluates to exactly the name; the code outside the table and the two data values
is the same text whatever the names are.

The grammar does not know that PowerShell also ends a single-quoted string at U+2018-U+201B;
that does not matter here because the generated runbooks are pure ASCII (such characters are
written as ``[char]`` codes), and the quote-aware reader of ``test_powershell.py`` covers the
tokenizer rule itself.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.cluster import Cluster, MoveKind
from planner.collector import collector_script
from planner.powershell import (
    MOVE_TABLE_BEGIN,
    MOVE_TABLE_END,
    render_plan_ps1,
    render_rollback_ps1,
    runbook_moves,
    write_runbooks,
)
from planner.sequencing import Move, SequenceResult, build_sequence
from tests.strategies import HostSpec, VmSpec, make_cluster

if os.environ.get("CI"):
    import tree_sitter
    import tree_sitter_powershell
else:  # a developer venv made before the test extra gained the grammar
    tree_sitter = pytest.importorskip("tree_sitter")
    tree_sitter_powershell = pytest.importorskip("tree_sitter_powershell")

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))

HOSTILE_PIECES = [
    "'",
    "''",
    "\u2018",
    "\u2019",
    "\u201a",
    "\u201b",
    '"',
    "\u201c",
    "$(",
    ")",
    "$x",
    "`",
    "`n",
    "@@",
    "@@PLAN@@",
    "@@MOVES@@",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x1b[2J",
    "\x85",
    "\u2028",
    "\u202e",
    "=",
    "+",
    "-",
    "@",
    ";",
    "#",
    "<#",
    "#>",
    "{",
    "}",
    "|",
    "&",
    "a",
    "Z",
    "9",
    " ",
    "é",
    "虚",
    "😀",
]
HOSTILE = st.lists(st.sampled_from(HOSTILE_PIECES), min_size=1, max_size=6).map("".join)


# ----------------------------------------------------------------------------- tree helpers
def parse(text: str) -> Any:
    return PARSER.parse(text.encode("utf-8"))


def syntax_problems(tree: Any, src: bytes) -> list[str]:
    """Every ERROR or MISSING node, with its position and text."""
    out: list[str] = []
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            out.append(f"{n.type} at {n.start_point}: {src[n.start_byte : n.end_byte][:60]!r}")
        stack.extend(n.children)
    return out


def assert_parses(text: str) -> Any:
    tree = parse(text)
    src = text.encode("utf-8")
    problems = syntax_problems(tree, src)
    assert not problems, problems[:5]
    assert not tree.root_node.has_error
    return tree


_KEEP = {
    "string_literal",
    "cast_expression",
    "parenthesized_expression",
    "hash_literal_body",
    "hash_entry",
}


def unwrap(node: Any) -> Any:
    while node.named_child_count == 1 and node.type not in _KEEP:
        node = node.named_children[0]
    return node


def value_of(node: Any, src: bytes) -> Any:
    """Evaluate a value node of the move table from the parse tree; only the forms the
    generator writes are accepted (anything else is an assertion error)."""
    node = unwrap(node)
    text = src[node.start_byte : node.end_byte].decode("utf-8")
    if node.type == "string_literal":
        (chars,) = node.named_children
        assert chars.type == "verbatim_string_characters", chars.type
        assert text.isascii() and text[0] == "'" and text[-1] == "'", text
        return text[1:-1].replace("''", "'")
    if node.type == "parenthesized_expression":
        return value_of(node.named_children[0], src)
    if node.type == "additive_expression":
        left, right = node.named_children
        op = src[left.end_byte : right.start_byte].decode().strip()
        assert op == "+", op
        return str(value_of(left, src)) + str(value_of(right, src))
    if node.type == "cast_expression":
        kind, code = node.named_children
        assert src[kind.start_byte : kind.end_byte] == b"[char]"
        code = unwrap(code)
        assert code.type == "hexadecimal_integer_literal", code.type
        return chr(int(src[code.start_byte : code.end_byte], 16))
    if node.type == "decimal_integer_literal":
        return int(text)
    if node.type == "variable" and text in ("$true", "$false"):
        return text == "$true"
    raise AssertionError(f"{node.type} in a data value: {text!r}")


def _text(s: Any) -> Any:
    """UTF-16 code units (from ``[char]`` casts of surrogate pairs) back into text."""
    if isinstance(s, str):
        return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return s


def find_assignment(tree: Any, src: bytes, variable: str) -> Any:
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "assignment_expression":
            left = n.named_children[0]
            if src[left.start_byte : left.end_byte].decode().strip() == variable:
                return n
        stack.extend(reversed(n.children))
    raise AssertionError(f"no assignment to {variable}")


def table_from_tree(tree: Any, src: bytes) -> list[dict[str, Any]]:
    """The move table, every entry evaluated from the parse tree."""
    assign = find_assignment(tree, src, "$MoveTable")
    rows: list[dict[str, Any]] = []
    stack = [assign.named_children[-1]]
    bodies = []
    while stack:
        n = stack.pop()
        if n.type == "hash_literal_body":
            bodies.append(n)
            continue
        stack.extend(reversed(n.named_children))
    for body in bodies:
        row: dict[str, Any] = {}
        for entry in body.named_children:
            assert entry.type == "hash_entry", entry.type
            key, value = entry.named_children[0], entry.named_children[-1]
            row[src[key.start_byte : key.end_byte].decode()] = _text(value_of(value, src))
        rows.append(row)
    return rows


def param_default(tree: Any, src: bytes, name: str) -> Any:
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "script_parameter":
            var = next(c for c in n.named_children if c.type == "variable")
            if src[var.start_byte : var.end_byte].decode() == name:
                default = next(c for c in n.named_children if c.type == "script_parameter_default")
                return _text(value_of(default.named_children[-1], src))
        stack.extend(n.children)
    raise AssertionError(f"no parameter {name}")


def check_runbook(text: str, cluster: Cluster, moves: list[tuple[str, str, str, str]]) -> None:
    """Parses; the table and the data values, evaluated from the tree, are the names."""
    tree = assert_parses(text)
    src = text.encode("utf-8")
    assert text.isascii()
    rows = table_from_tree(tree, src)
    assert [(r["Vm"], r["Source"], r["Target"], r["Type"]) for r in rows] == moves
    assert param_default(tree, src, "$Cluster") == cluster.name
    snap = find_assignment(tree, src, "$SnapshotCollectedUtc")
    assert isinstance(_text(value_of(snap.named_children[-1], src)), str)
    assert runbook_moves(text) == moves


def engine_text(text: str) -> str:
    """The script without its data: the move table, the two data values, the header."""
    lines = text.replace("\r\n", "\n").split("\n")
    a, b = lines.index(MOVE_TABLE_BEGIN), lines.index(MOVE_TABLE_END)
    kept = lines[:a] + lines[b + 1 :]
    return "\n".join(
        x
        for x in kept
        if not x.startswith(
            ("    [string] $Cluster = ", "$SnapshotCollectedUtc = ", "    Generated by hvplan")
        )
    )


# ----------------------------------------------------------------------------- fixtures
def hand_sequence(c: Cluster, kinds: list[int] | None = None) -> SequenceResult:
    """Every VM moves to the next host, one wave per two moves (built by hand: only the
    text matters here)."""
    moves = []
    for v in range(c.n_vms):
        src = int(c.vm_host[v])
        k = kinds[v] if kinds else 0
        # Start (3) is a MoveKind once the cluster model has it; the text only needs the int.
        kind: Any = MoveKind(k) if k in MoveKind._value2member_map_ else k
        moves.append(
            Move(
                step=v + 1,
                wave=v // 2 + 1,
                vm=v,
                source=src,
                target=(src + 1) % c.n_hosts,
                kind=kind,
                memory_mb=1024,
                est_seconds=10.0,
                reason="test",
            )
        )
    waves = max((m.wave for m in moves), default=0)
    return SequenceResult(
        ok=True,
        moves=tuple(moves),
        waves=waves,
        estimated_seconds=60.0,
        extra_hops=0,
        message="",
        wave_seconds=(10.0,) * waves,
    )


def expected(
    c: Cluster, seq: SequenceResult, *, reverse: bool = False
) -> list[tuple[str, str, str, str]]:
    names = {0: "Live", 1: "Quick", 2: "Shutdown", 3: "Start"}
    out = [
        (c.vm_names[m.vm], c.host_names[m.source], c.host_names[m.target], names[int(m.kind)])
        for m in seq.moves
    ]
    if reverse:
        return [(vm, dst, src, k) for vm, src, dst, k in reversed(out)]
    return out


def named_cluster(host_names: list[str], vm_names: list[str], name: str) -> Cluster:
    hosts = [HostSpec(h) for h in host_names]
    vms = [VmSpec(n, i % len(hosts), memory_mb=1024) for i, n in enumerate(vm_names)]
    return make_cluster(hosts, vms, name=name)


NASTY_HOSTS = ["HV'01", "HV\u2019$(Get-Date)", "HV`n\n03"]
NASTY_VMS = [
    "O'Brien",
    "SQL@@WAVES@@",
    "vm $(Remove-Item C:\\ -Recurse)",
    "`whoami`",
    "\u2018smart\u2019 \u201alow\u201b",
    "new\nline\r",
    '=HYPERLINK("x")',
    "\x1b[2J\x00",
    "+cmd",
    "-1",
    "@SUM(A1)",
    "#> <# ;",
    "😀 \u202e",
]


# ----------------------------------------------------------------------------- tests
def test_grammar_catches_broken_powershell() -> None:
    # The check is only worth something if the grammar rejects broken scripts.
    for broken in ("$x = 'a", "$x = @( 1, ", "function f { param($a) ", "if ($x) { 'a' } else"):
        assert parse(broken).root_node.has_error, broken


def test_plan_and_rollback_parse_and_names_are_literals() -> None:
    c = named_cluster(NASTY_HOSTS, NASTY_VMS, "X@@PLAN@@Y 'clu$(ster)'\n")
    seq = hand_sequence(c, [i % 4 for i in range(c.n_vms)])
    check_runbook(render_plan_ps1(c, seq), c, expected(c, seq))
    check_runbook(render_rollback_ps1(c, seq), c, expected(c, seq, reverse=True))


def test_real_sequence_runbooks_parse(tmp_path: Path) -> None:
    c = named_cluster(NASTY_HOSTS, NASTY_VMS, "clu'ster")
    target = (c.vm_host.astype(np.int64) + 1) % c.n_hosts
    seq = build_sequence(c, target)
    assert seq.ok, seq.message
    plan, back = write_runbooks(c, seq, tmp_path)
    check_runbook(plan.read_text(encoding="ascii"), c, expected(c, seq))
    check_runbook(back.read_text(encoding="ascii"), c, expected(c, seq, reverse=True))


def test_empty_plan_parses() -> None:
    c = named_cluster(["H1", "H2"], [], "c")
    seq = SequenceResult(
        ok=True, moves=(), waves=0, estimated_seconds=0.0, extra_hops=0, message=""
    )
    check_runbook(render_plan_ps1(c, seq), c, [])


def test_collector_parses() -> None:
    assert_parses(collector_script())


def test_names_change_nothing_but_the_data() -> None:
    hostile = named_cluster(NASTY_HOSTS, NASTY_VMS, "X@@PLAN@@Y")
    plain = named_cluster(
        [f"H{i}" for i in range(3)], [f"V{i}" for i in range(len(NASTY_VMS))], "plain"
    )
    seq = hand_sequence(hostile)
    assert engine_text(render_plan_ps1(hostile, seq)) == engine_text(render_plan_ps1(plain, seq))
    assert engine_text(render_rollback_ps1(hostile, seq)) == engine_text(
        render_rollback_ps1(plain, seq)
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hosts=st.lists(HOSTILE, min_size=2, max_size=3),
    vms=st.lists(HOSTILE, min_size=1, max_size=4),
    cluster_name=HOSTILE,
    kinds=st.lists(st.integers(0, 3), min_size=4, max_size=4),
)
def test_random_hostile_names_round_trip(
    hosts: list[str], vms: list[str], cluster_name: str, kinds: list[int]
) -> None:
    # Unique names as Windows compares them (case-insensitively): a suffix per index.
    c = named_cluster(
        [f"{h}{i}" for i, h in enumerate(hosts)],
        [f"{v}{i}" for i, v in enumerate(vms)],
        cluster_name,
    )
    seq = hand_sequence(c, kinds[: c.n_vms])
    with tempfile.TemporaryDirectory() as d:
        plan, back = write_runbooks(c, seq, d)
        check_runbook(plan.read_text(encoding="ascii"), c, expected(c, seq))
        check_runbook(back.read_text(encoding="ascii"), c, expected(c, seq, reverse=True))


def test_rollback_sequence_given_as_input_parses() -> None:
    c = named_cluster(NASTY_HOSTS, NASTY_VMS, "c")
    seq = hand_sequence(c)
    after = dataclasses.replace(c, vm_host=np.array([m.target for m in seq.moves], dtype=np.int32))
    back = hand_sequence(after)
    text = render_rollback_ps1(c, seq, back)
    check_runbook(text, c, expected(after, back))


# ----------------------------------------------------------------------------- cmdlet syntax
#: Parameters of the cmdlets the scripts call, as their documented SYNTAX blocks list them
#: (docs: windows-powershell-docs, winserver2022-ps/FailoverClusters and winserver2025-ps/
#: hyper-v; the performance-history page for Get-ClusterPerformanceHistory).
DOCUMENTED_PARAMETERS = {
    "Move-ClusterVirtualMachineRole": {
        "Name",
        "Node",
        "Cancel",
        "MigrationType",
        "IgnoreLocked",
        "VMId",
        "Wait",
        "InputObject",
        "Cluster",
    },
    "Move-ClusterGroup": {"Name", "Node", "IgnoreLocked", "Wait", "InputObject", "Cluster"},
    "Start-ClusterGroup": {
        "Name",
        "IgnoreLocked",
        "ChooseBestNode",
        "Wait",
        "InputObject",
        "Cluster",
    },
    "Get-ClusterGroup": {"Name", "VMId", "InputObject", "Cluster"},
    # CDXML: -CimSession, not -Cluster.
    "Get-ClusterAffinityRule": {"Name", "CimSession", "ThrottleLimit", "AsJob"},
    "Get-VM": {"Name", "CimSession", "ComputerName", "Credential", "Id", "ClusterObject"},
    "Get-VMMemory": {"CimSession", "ComputerName", "Credential", "VMName", "VM", "VMSnapshot"},
    "Get-VMHostSupportedVersion": {"ComputerName", "Credential", "Default", "CimSession"},
    "Get-ClusterPerformanceHistory": {
        "VMSeriesName",
        "ClusterNodeSeriesName",
        "PhysicalDiskSeriesName",
        "NetAdapterSeriesName",
        "VHDSeriesName",
        "VolumeSeriesName",
        "ClusterSeriesName",
        "TimeFrame",
    },
}
COMMON_PARAMETERS = {
    "ErrorAction",
    "ErrorVariable",
    "WarningAction",
    "Verbose",
    "Debug",
    "WhatIf",
    "Confirm",
    "OutVariable",
}


def command_calls(text: str) -> tuple[dict[str, set[str]], set[str]]:
    """Every command called (name -> parameters used) and every function defined."""
    src = text.encode("utf-8")
    tree = assert_parses(text)
    calls: dict[str, set[str]] = {}
    defined: set[str] = set()
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "function_statement":
            name = next(c for c in n.named_children if c.type == "function_name")
            defined.add(src[name.start_byte : name.end_byte].decode())
        if n.type == "command":
            name = n.child_by_field_name("command_name")
            assert name is not None
            params = calls.setdefault(src[name.start_byte : name.end_byte].decode(), set())
            for el in n.named_children:
                if el.type == "command_elements":
                    params.update(
                        src[p.start_byte : p.end_byte].decode().lstrip("-").rstrip(":")
                        for p in el.named_children
                        if p.type == "command_parameter"
                    )
        stack.extend(n.children)
    return calls, defined


@pytest.mark.parametrize("which", ["plan", "collector"])
def test_cmdlets_are_called_with_their_documented_parameters(which: str) -> None:
    if which == "plan":
        c = named_cluster(NASTY_HOSTS, NASTY_VMS, "c")
        text = render_plan_ps1(c, hand_sequence(c))
    else:
        text = collector_script()
    calls, defined = command_calls(text)
    checked = 0
    for name, params in calls.items():
        if name in DOCUMENTED_PARAMETERS:
            checked += 1
            unknown = params - DOCUMENTED_PARAMETERS[name] - COMMON_PARAMETERS
            assert not unknown, f"{name} has no parameter {sorted(unknown)}"
        elif "-" in name and not name.startswith(
            (
                "Get-",
                "Set-",
                "Write-",
                "Start-",
                "Stop-",
                "Import-",
                "Export-",
                "Select-",
                "Sort-",
                "Where-",
                "ForEach-",
                "Measure-",
                "New-",
                "Out-",
                "Join-",
                "Add-",
                "Receive-",
                "Remove-",
                "Test-",
                "Resolve-",
            )
        ):
            # Not a built-in verb: it must be one of the script's own functions.
            assert name in defined, name
    assert checked >= (3 if which == "plan" else 5)
    if which == "plan":
        assert {
            "Move-ClusterVirtualMachineRole",
            "Start-ClusterGroup",
            "Move-ClusterGroup",
            "Get-ClusterGroup",
        } <= set(calls)
        # Every function the runbook calls that is not a cmdlet is defined in it.
        own = {n for n in calls if n.split("-")[1:] and n in defined}
        assert {"Assert-NoDrift", "Test-Outcome", "Write-Summary"} <= own
