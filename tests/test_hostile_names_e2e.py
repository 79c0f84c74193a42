"""Names are data, end to end (issue 15): random names from a hostile alphabet go through
the whole path a user's files take -- snapshot on disk, loader, ``planner.plan``, the plan
files, the runbooks, the HTML report -- and every output is read back with its own parser:
the PowerShell grammar (tree-sitter) for ``plan.ps1``/``rollback.ps1``, the ``csv`` module
for ``plan.csv``/``placement.csv``, ``html.parser`` for the report.

The cluster is ``small4`` (4 nodes, 16 VMs, one node over the Low threshold: a one-move
plan) with every host, VM and the cluster renamed; the plan must stay the same plan.
"""

from __future__ import annotations

import csv
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import planner
from planner.powershell import runbook_moves
from planner.snapshot import read_snapshot, write_snapshot
from planner.textsafe import csv_uncell, term_safe

pytest.importorskip("tree_sitter_powershell")

from tests.test_ps_grammar import HOSTILE_PIECES, assert_parses, check_runbook  # noqa: E402

SMALL4 = Path(__file__).resolve().parents[1] / "data" / "examples" / "small4"
#: Prefixes a spreadsheet would run as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Left out: line breaks and NUL (the loader refuses a multi-line cell and a NUL byte as
#: errors in the user's file; test_validation covers them) and ";" (the list separator of
#: owner and group lists, SPEC §1: a name holding one cannot be listed).
PIECES = [p.replace(";", "") for p in HOSTILE_PIECES if not set(p) & {"\n", "\r", "\x00"}]
PIECES = [p for p in PIECES if p]
HOSTILE_NAME = st.lists(
    st.sampled_from(
        [
            *PIECES,
            "=",
            "+",
            "-",
            "@",
            "<b>",
            "&amp",
            "&lt",
            "</td>",
            "<script>",
            "\x1b[2J",
            "\u202e",
        ]
    ),
    min_size=1,
    max_size=4,
).map("".join)


class _Page(HTMLParser):
    """Collects the tags and the text of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _renamed(tmp: Path, hosts: list[str], vms: list[str], name: str) -> Path:
    base = planner.load_snapshot(SMALL4)
    c = base.replace(
        host_names=tuple(f"{h}~H{i}" for i, h in enumerate(hosts)),
        vm_names=tuple(f"{v}~V{i}" for i, v in enumerate(vms)),
        name=name,
    )
    out = tmp / "snap"
    write_snapshot(c, out)
    return out


def _page(cluster: planner.Cluster, plan_dir: Path) -> _Page:
    from planner.htmlreport import build_report
    from planner.reportplan import read_plan as report_plan

    data, rep = report_plan(cluster, plan_dir)
    assert data is not None and not rep.errors
    page = _Page()
    page.feed(build_report(cluster, data, compare=False, capacity=False).html)
    page.close()
    return page


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hosts=st.lists(HOSTILE_NAME, min_size=4, max_size=4),
    vms=st.lists(HOSTILE_NAME, min_size=16, max_size=16),
    name=HOSTILE_NAME,
)
def test_hostile_names_through_plan_runbooks_csv_and_report(
    tmp_path_factory: pytest.TempPathFactory, hosts: list[str], vms: list[str], name: str
) -> None:
    tmp = tmp_path_factory.mktemp("hostile")
    cluster, report = read_snapshot(_renamed(tmp, hosts, vms, name))
    assert cluster is not None and not report.errors, report.errors
    plan = planner.plan(cluster, planner.PlanOptions(time_limit_s=20))
    assert plan.ok, plan.message
    out = tmp / "plan"
    planner.write_plan(plan, out)
    assert planner.verify(cluster, out).ok

    # CSV: the csv module reads every row; no text cell starts like a formula; the cells
    # read back through csv_uncell are exactly the cluster's names.
    with (out / "plan.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with (out / "placement.csv").open(encoding="utf-8", newline="") as f:
        placement = list(csv.DictReader(f))
    host_names, vm_names = set(cluster.host_names), set(cluster.vm_names)
    for r in rows + placement:
        for col in ("vm", "source", "target", "host"):
            if col in r:
                assert not r[col].startswith(FORMULA_START), r[col]
    assert len(rows) == 1  # the same one-move plan as small4 with its own names
    moves = [
        (csv_uncell(r["vm"]), csv_uncell(r["source"]), csv_uncell(r["target"]), r["migration_type"])
        for r in rows
    ]
    assert all(m[0] in vm_names and m[1] in host_names and m[2] in host_names for m in moves)
    assert {csv_uncell(r["vm"]) for r in placement} == vm_names
    assert {csv_uncell(r["host"]) for r in placement} <= host_names

    # PowerShell: both runbooks parse under the real grammar, carry the names only as data
    # (the move table evaluated from the parse tree) and read back as plan.csv's moves.
    check_runbook((out / "plan.ps1").read_text(encoding="utf-8"), cluster, moves)
    rollback = (out / "rollback.ps1").read_text(encoding="utf-8")
    assert_parses(rollback)
    assert all(m[0] in vm_names for m in runbook_moves(rollback))

    # HTML: the page parses, names add no element (the tags are those of the same report
    # with plain names) and appear as text (HTML-escaped, control characters shown escaped).
    page = _page(cluster, out)
    assert "script" not in page.tags
    text = "".join(page.text)  # convert_charrefs: entities already decoded, once
    for h in cluster.host_names:
        assert term_safe(h) in text or h in text, h
    plain_tags = _plain_report_tags(tmp_path_factory)
    assert page.tags <= plain_tags, page.tags - plain_tags


_PLAIN: dict[str, set[str]] = {}


def _plain_report_tags(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The tags of the report on small4 with its own names (computed once)."""
    if "tags" not in _PLAIN:
        tmp = tmp_path_factory.mktemp("plain")
        cluster = planner.load_snapshot(SMALL4)
        plan = planner.plan(cluster, planner.PlanOptions(time_limit_s=20))
        planner.write_plan(plan, tmp / "plan")
        _PLAIN["tags"] = _page(cluster, tmp / "plan").tags
    return _PLAIN["tags"]
