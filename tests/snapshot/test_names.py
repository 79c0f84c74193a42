"""What names may hold (SPEC §1, README "Names"): the writer refuses a line break, a NUL and,
in listed names and list items, ``;`` -- with file, row, column and value, before writing
anything -- and the reader reports the same values with the same words."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

import planner
from planner.cli import app
from planner.cluster import Cluster
from planner.diagnostics import InvalidInput, Problem
from planner.snapshot import read_snapshot, snapshot_files, write_snapshot
from planner.snapshot.names import LINE_BREAK_MESSAGE, NUL_MESSAGE, separator_message
from tests.fixtures import with_row

SMALL4 = Path(__file__).resolve().parents[2] / "data" / "examples" / "small4"


@pytest.fixture(scope="module")
def small4_cluster() -> Cluster:
    return planner.load_snapshot(SMALL4)


def _renamed_host(c: Cluster, i: int, name: str) -> Cluster:
    names = list(c.host_names)
    names[i] = name
    return c.replace(host_names=tuple(names))


def _refused(c: Cluster, tmp_path: Path) -> list[Problem]:
    """The errors ``write_snapshot`` raises; the directory stays as it was (empty)."""
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidInput) as e:
        write_snapshot(c, out)
    assert list(out.iterdir()) == []
    return e.value.report.errors


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("HV\n02", f"host name: {LINE_BREAK_MESSAGE}"),
        ("HV\r02", f"host name: {LINE_BREAK_MESSAGE}"),
        ("HV\x0002", f"host name: {NUL_MESSAGE}"),
        ("HV;02", separator_message("host name")),
        ("", "a host name may not be empty"),
        ("hv01", "duplicate host name (names ignore case; first on row 2)"),
    ],
)
def test_writer_refuses_a_host_name_it_could_not_read_back(
    small4_cluster: Cluster, tmp_path: Path, name: str, message: str
) -> None:
    (p,) = _refused(_renamed_host(small4_cluster, 1, name), tmp_path)
    assert (p.file, p.row, p.column, p.value, p.message) == ("hosts.csv", 3, "name", name, message)
    assert repr(name) in str(p)  # a line break or NUL shows escaped


def test_writer_names_every_entity_and_field(small4_cluster: Cluster, tmp_path: Path) -> None:
    c = small4_cluster
    rules = list(c.rules)
    rules[0] = dataclasses.replace(rules[0], name="r\n1")
    rules[1] = dataclasses.replace(rules[1], other_members=("Cluster;Disk",))
    c = c.replace(
        name="clu\x00ster",
        vm_names=("SQL;01", *c.vm_names[1:]),
        aa_class_names=("S;QL",),
        fault_domains=("Rack\nA", *c.fault_domains[1:]),
        rules=tuple(rules),
        networks=(dataclasses.replace(c.networks[0], name="Man\x00agement"), *c.networks[1:]),
    )
    got = {(p.file, p.row, p.column, p.value) for p in _refused(c, tmp_path)}
    aa_rows = [v + 2 for v, k in enumerate(c.vm_aa_classes) if k]
    rack_a = [h + 2 for h in range(c.n_hosts) if c.host_fault_domain[h] == 0]
    assert got == {
        ("cluster.csv", 2, "name", "clu\x00ster"),
        ("vms.csv", 2, "name", "SQL;01"),
        *(("vms.csv", r, "anti_affinity_class_names", "S;QL") for r in aa_rows),
        *(("hosts.csv", r, "fault_domain", "Rack\nA") for r in rack_a),
        ("affinity_rules.csv", 2, "name", "r\n1"),
        ("affinity_rules.csv", 3, "groups", "Cluster;Disk"),
        ("networks.csv", 2, "name", "Man\x00agement"),
    }
    with pytest.raises(InvalidInput):
        snapshot_files(c)
    with pytest.raises(InvalidInput):
        write_snapshot(c, tmp_path / "new" / "dir")
    assert not (tmp_path / "new").exists()


def test_writer_keeps_what_may_stand_in_a_name(small4_cluster: Cluster, tmp_path: Path) -> None:
    # ';' in names nobody lists, quotes, commas, tabs, escapes, formulas: read back as written.
    rules = (dataclasses.replace(small4_cluster.rules[0], name="a;b"), *small4_cluster.rules[1:])
    c = _renamed_host(small4_cluster, 1, '=HV "02", \x1b[2J\t\u202e').replace(
        name="clu;ster", rules=rules
    )
    back, report = read_snapshot(write_snapshot(c, tmp_path / "out"))
    assert back is not None, report.errors
    assert back.host_names == c.host_names and back.name == "clu;ster"
    assert back.rules[0].name == "a;b"


def test_reader_refuses_what_the_writer_refuses_with_the_same_words(
    small4_cluster: Cluster, tmp_path: Path
) -> None:
    d = write_snapshot(small4_cluster, tmp_path / "snap")
    for f in ("hosts.csv", "vms.csv"):
        text = (d / f).read_text(encoding="utf-8")
        (d / f).write_text(text.replace("HV02", "HV;02"), encoding="utf-8")
    _, report = read_snapshot(d)
    (p,) = [p for p in report.errors if p.file == "hosts.csv"]
    (w,) = _refused(_renamed_host(small4_cluster, 1, "HV;02"), tmp_path)
    assert (p.row, p.column, p.value) == (w.row, w.column, w.value) == (3, "name", "HV;02")
    assert p.message == w.message == separator_message("host name")
    # The VMs on that host are not reported again as on an unknown host.
    assert not [p for p in report.errors if p.file == "vms.csv" and p.column == "host"]


def test_reader_reports_a_nul_on_its_cell(make_snapshot: object) -> None:
    d = make_snapshot(  # type: ignore[operator]
        with_row("vms.csv", 3, "B\x00,H2,Running,Medium,2,8192,50,None,,,false,false")
    )
    _, report = read_snapshot(d)
    (p,) = report.errors
    assert (p.file, p.row, p.column, p.value, p.message) == (
        "vms.csv",
        3,
        "name",
        "B\x00",
        NUL_MESSAGE,
    )


def test_reader_says_a_line_break_may_not_stand_in_a_value(make_snapshot: object) -> None:
    d = make_snapshot(  # type: ignore[operator]
        with_row("vms.csv", 3, '"B\nC",H2,Running,Medium,2,8192,50,None,,,false,false')
    )
    _, report = read_snapshot(d)
    (p,) = report.errors
    assert (p.file, p.row, p.column, p.value) == ("vms.csv", 3, "name", "B\nC")
    assert LINE_BREAK_MESSAGE in p.message and "closing quote" in p.message


def test_generate_refuses_a_name_with_a_line_break(tmp_path: Path) -> None:
    out = tmp_path / "g"
    result = CliRunner().invoke(
        app, ["generate", "--hosts", "4", "--vms", "8", "--out", str(out), "--name", "a\nb"]
    )
    assert result.exit_code == 1, result.output
    assert "cluster.csv, row 2, column 'name'" in result.stderr
    assert LINE_BREAK_MESSAGE in result.stderr and "nothing was written" in result.stderr
    assert not out.exists()
