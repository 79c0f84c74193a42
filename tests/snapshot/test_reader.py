"""The snapshot format of SPEC §1: what the loader accepts, its defaults, and the round trip
``write_snapshot`` → ``read_snapshot``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from planner.catalog import default_catalog
from planner.cluster import (
    CompatMode,
    HostState,
    NetworkRole,
    RuleType,
    Vendor,
    VmState,
    default_memory_reserve_mb,
)
from planner.diagnostics import InvalidInput
from planner.snapshot import load_snapshot, read_snapshot, snapshot_files, write_snapshot
from tests.fixtures import BASE, BASE_FILES, FIXTURES, SnapshotMaker, base_text
from tests.strategies import assert_same_cluster, clusters

Maker = SnapshotMaker


def powershell5(text: str) -> bytes:
    """What Windows PowerShell 5 ``Export-Csv -Encoding UTF8`` (without
    ``-NoTypeInformation``) makes of a table: BOM, ``#TYPE`` line, every field quoted,
    CRLF line ends, booleans as True/False."""
    lines = ["#TYPE System.Management.Automation.PSCustomObject"]
    for line in text.splitlines():
        cells = ["True" if c == "true" else "False" if c == "false" else c for c in line.split(",")]
        lines.append(",".join('"' + c.replace('"', '""') + '"' for c in cells))
    return b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n"


# ----------------------------------------------------------------------------- the format
def test_powershell5_export_reads_like_the_plain_files(make_snapshot: Maker) -> None:
    plain = load_snapshot(BASE)
    ps = make_snapshot({f: powershell5(base_text(f)) for f in BASE_FILES})
    cluster, report = read_snapshot(ps)
    assert cluster is not None, [str(p) for p in report.errors]
    assert report.problems == []
    assert_same_cluster(plain.replace(name="x"), cluster.replace(name="x"))


def test_type_line_counts_as_a_spreadsheet_row(make_snapshot: Maker) -> None:
    # With the #TYPE line first, the header is row 2 and VM A is row 3.
    text = powershell5(base_text("vms.csv")).replace(b'"4","8192"', b'"four","8192"', 1)
    _, report = read_snapshot(make_snapshot({"vms.csv": text}))
    (p,) = report.errors
    assert (p.file, p.row, p.column, p.value) == ("vms.csv", 3, "vcpus", "four")


def test_headers_names_and_enums_ignore_case(make_snapshot: Maker) -> None:
    hosts = (
        base_text("hosts.csv")
        .replace("name,state", "NAME,State")
        .replace("GenuineIntel", "genuineintel")
        .replace(",Up,", ",UP,")
    )
    vms = (
        base_text("vms.csv")
        .replace("host,", "Host,")
        .replace(",H1,", ",h1,")
        .replace("Running", "running")
        .replace("MinimumFeatureSet", "minimumfeatureset")
    )
    rules = base_text("affinity_rules.csv").replace("A;B", "a;b").replace("SameNode", "samenode")
    cluster, report = read_snapshot(
        make_snapshot({"hosts.csv": hosts, "vms.csv": vms, "affinity_rules.csv": rules})
    )
    assert cluster is not None, [str(p) for p in report.errors]
    assert_same_cluster(load_snapshot(BASE).replace(name="x"), cluster.replace(name="x"))


def test_crlf_lf_and_blank_lines(make_snapshot: Maker) -> None:
    vms = base_text("vms.csv").replace("\n", "\r\n").replace("\r\nC,", "\r\n\r\n  \r\nC,")
    cluster, report = read_snapshot(make_snapshot({"vms.csv": vms}))
    assert cluster is not None
    assert cluster.vm_names == ("A", "B", "C", "D")
    # Blank lines still count as rows: C is now on row 6 of the file.
    bad = vms.replace("C,H3,Running,Low,2", "C,H3,Running,Low,zwei")
    _, report = read_snapshot(make_snapshot({"vms.csv": bad}))
    assert [(p.row, p.column) for p in report.errors] == [(6, "vcpus")]


def test_defaults_of_optional_columns_and_files(make_snapshot: Maker) -> None:
    snap = make_snapshot(
        {
            "cluster.csv": None,
            "affinity_rules.csv": None,
            "networks.csv": None,
            "hosts.csv": "name,cpu_vendor,logical_processors,memory_mb\nH1,Intel,8,32768\n",
            "vms.csv": "name,host,vcpus,memory_mb\nA,H1,2,2048\n",
        }
    )
    cluster, report = read_snapshot(snap)
    assert cluster is not None
    assert cluster.name == snap.name
    s = cluster.settings
    assert (
        s.auto_balancer_mode,
        s.auto_balancer_level,
        s.maximum_parallel_migrations,
        s.enforced_anti_affinity,
    ) == (2, 1, None, False)
    assert cluster.host_state.tolist() == [HostState.UP]
    assert cluster.fault_domains == ("H1",)
    assert cluster.host_memory_reserve_mb.tolist() == [default_memory_reserve_mb(32768)]
    assert cluster.host_cpu_base_milli.tolist() == [0]
    assert cluster.host_max_migrations.tolist() == [2]
    # No model and no features: the vendor's baseline set, with a warning saying so.
    base = {
        f for f, b in zip(cluster.features, cluster.vendor_baseline[Vendor.INTEL], strict=True) if b
    }
    assert {f for f, b in zip(cluster.features, cluster.host_features[0], strict=True) if b} == base
    assert any(p.column == "cpu_model" for p in report.warnings)
    assert cluster.vm_state.tolist() == [VmState.RUNNING]
    assert cluster.vm_priority.tolist() == [2000]
    assert cluster.vm_cpu_milli.tolist() == [0]
    assert cluster.vm_config_version_x10.tolist() == [100]
    assert cluster.vm_compat.tolist() == [CompatMode.NONE]
    assert cluster.vm_possible.all()
    assert cluster.vm_preferred == ((),) and cluster.vm_aa_classes == ((),)
    assert not cluster.vm_allow_downtime.any() and not cluster.vm_pinned.any()
    assert cluster.rules == () and cluster.networks == ()


def test_aliases_numbers_and_booleans(make_snapshot: Maker) -> None:
    snap = make_snapshot(
        {
            "cluster.csv": "name,auto_balancer_mode,auto_balancer_level,enforced_anti_affinity\n"
            "c,LoadBalanceOnNodeJoin,High,YES\n",
            "hosts.csv": "name,cpu_vendor,cpu_model,logical_processors,memory_mb,state\n"
            "H1,AMD,EPYC-Milan,8,32768,Paused\nH2,AuthenticAMD,EPYC-Milan,8,32768,up\n",
            "vms.csv": "name,host,vcpus,memory_mb,priority,allow_downtime,pinned,state,"
            "config_version\n"
            "A,H2,2,2048,3000,1,no,Saved,9.0\nB,H2,2,2048,NoAutoStart,$true,0,Off,"
            "12\nC,H2,1,1024,1000.0,TRUE,False,Paused,8\n",
            "affinity_rules.csv": "name,rule_type,enabled,groups\nr1,4,1,A;B\nr2,1,0,B;C\n",
            "networks.csv": "name,role,live_migration_order,bandwidth_gbps\nn0,3,,1\nn1,1,1,"
            "25\nn2,Cluster,2,2.5\nn3,0,,10\n",
        }
    )
    cluster, report = read_snapshot(snap)
    assert cluster is not None, [str(p) for p in report.errors]
    s = cluster.settings
    assert (s.auto_balancer_mode, s.auto_balancer_level, s.enforced_anti_affinity) == (1, 3, True)
    assert cluster.host_vendor.tolist() == [Vendor.AMD, Vendor.AMD]
    assert cluster.host_state.tolist() == [HostState.PAUSED, HostState.UP]
    assert cluster.vm_priority.tolist() == [3000, 0, 1000]
    assert cluster.vm_allow_downtime.tolist() == [True, True, True]
    assert cluster.vm_pinned.tolist() == [False, False, False]
    assert cluster.vm_state.tolist() == [VmState.SAVED, VmState.OFF, VmState.PAUSED]
    assert cluster.vm_config_version_x10.tolist() == [90, 120, 80]
    assert [(r.rule_type, r.enabled) for r in cluster.rules] == [
        (RuleType.DIFFERENT_NODE, True),
        (RuleType.SAME_FAULT_DOMAIN, False),
    ]
    assert [(n.role, n.live_migration_order, n.bandwidth_gbps) for n in cluster.networks] == [
        (NetworkRole.CLUSTER_AND_CLIENT, None, 1.0),
        (NetworkRole.CLUSTER, 1, 25.0),
        (NetworkRole.CLUSTER, 2, 2.5),
        (NetworkRole.NONE, None, 10.0),
    ]


def test_lists_trim_items_and_ignore_empty_ones(make_snapshot: Maker) -> None:
    snap = make_snapshot(
        {
            "vms.csv": "name,host,vcpus,memory_mb,possible_owners,preferred_owners,"
            'anti_affinity_class_names\nA,H1,2,2048," H1 ; h2 ;",H2;;H1,SQL; sql ;Web\n',
            "affinity_rules.csv": None,
        }
    )
    cluster, report = read_snapshot(snap)
    assert cluster is not None, [str(p) for p in report.errors]
    assert cluster.vm_possible[0].tolist() == [True, True, False]
    assert cluster.vm_preferred == ((1, 0),)
    # Class names ignore case, like every other name.
    assert cluster.aa_class_names == ("SQL", "Web") and cluster.vm_aa_classes == ((0, 1),)


def test_cpu_features_override_the_catalog(make_snapshot: Maker) -> None:
    snap = make_snapshot(
        {
            "hosts.csv": "name,cpu_vendor,cpu_model,cpu_features,"
            "logical_processors,memory_mb\n"
            "H1,Intel,Icelake-Server,sse2;avx512f;my-flag,16,65536\n"
            "H2,Intel,Icelake-Server,,16,65536\nH3,Intel,,,16,65536\n"
        }
    )
    cluster, _ = read_snapshot(snap)
    assert cluster is not None
    sets = [
        {f for f, b in zip(cluster.features, row, strict=True) if b}
        for row in cluster.host_features
    ]
    model = default_catalog().get("Icelake-Server")
    assert model is not None
    assert sets[0] == {"sse2", "avx512f", "my-flag"}
    assert sets[1] == set(model.features)
    assert sets[2] == set(default_catalog().baseline(Vendor.INTEL))


def test_utf8_names_and_quoted_commas(make_snapshot: Maker) -> None:
    vms = (
        base_text("vms.csv")
        .replace("\nB,H2,", '\n"Büro, Server",H2,')
        .replace("\nC,", "\nДатабаза,")
    )
    rules = base_text("affinity_rules.csv").replace("A;B", '"A;Büro, Server"')
    cluster, report = read_snapshot(make_snapshot({"vms.csv": vms, "affinity_rules.csv": rules}))
    assert cluster is not None, [str(p) for p in report.errors]
    assert cluster.vm_names == ("A", "Büro, Server", "Датабаза", "D")
    assert cluster.rules[0].members == (0, 1)


def test_utf16_is_read_with_a_warning(make_snapshot: Maker) -> None:
    snap = make_snapshot({"vms.csv": base_text("vms.csv").encode("utf-16")})
    cluster, report = read_snapshot(snap)
    assert cluster is not None and cluster.n_vms == 4
    assert [(p.file, "UTF-16" in p.message) for p in report.warnings] == [("vms.csv", True)]


def test_file_names_ignore_case(make_snapshot: Maker) -> None:
    snap = make_snapshot()
    (snap / "hosts.csv").rename(snap / "Hosts.CSV")
    cluster, _ = read_snapshot(snap)
    assert cluster is not None and cluster.n_hosts == 3


def test_trailing_empty_column_is_ignored(make_snapshot: Maker) -> None:
    hosts = "\n".join(x + "," for x in base_text("hosts.csv").splitlines()) + "\n"
    cluster, report = read_snapshot(make_snapshot({"hosts.csv": hosts}))
    assert cluster is not None
    assert [p.message for p in report.warnings] == ["column 11 has no name and no values; ignored"]


def test_tab_separated_file_is_refused(make_snapshot: Maker) -> None:
    _, report = read_snapshot(make_snapshot({"vms.csv": base_text("vms.csv").replace(",", "\t")}))
    assert any(p.file == "vms.csv" and p.row == 1 and "tabs" in p.message for p in report.errors)


def test_load_snapshot_raises_with_the_report(make_snapshot: Maker) -> None:
    with pytest.raises(InvalidInput) as info:
        load_snapshot(make_snapshot({"hosts.csv": None}))
    assert info.value.report.errors[0].file == "hosts.csv"
    assert "hosts.csv" in str(info.value)


def test_reading_is_deterministic() -> None:
    a, b = load_snapshot(BASE), load_snapshot(BASE)
    assert_same_cluster(a, b)


def test_cluster_arrays_are_read_only() -> None:
    c = load_snapshot(BASE)
    with pytest.raises(ValueError):
        c.vm_host[0] = 1


# ----------------------------------------------------------------------------- round trip
def test_small4_round_trip(small4: Path, tmp_path: Path) -> None:
    a = load_snapshot(small4)
    b = load_snapshot(write_snapshot(a, tmp_path / "out"))
    assert_same_cluster(a, b)


@given(clusters(max_hosts=5, max_vms=12))
def test_round_trip_of_random_valid_clusters(cluster: object) -> None:
    from planner.cluster import Cluster

    assert isinstance(cluster, Cluster)
    with tempfile.TemporaryDirectory() as tmp:
        back, report = read_snapshot(write_snapshot(cluster, Path(tmp) / "snap"))
    assert back is not None, [str(p) for p in report.errors]
    assert_same_cluster(cluster, back)
    # The strategy's promise: nothing in the current placement is broken.
    from planner.checks import placement_violations

    assert placement_violations(cluster) == []


@given(clusters(max_hosts=3, max_vms=6))
def test_written_files_are_stable(cluster: object) -> None:
    # Writing what was read gives the same bytes: the format has one spelling per value.
    from planner.cluster import Cluster

    assert isinstance(cluster, Cluster)
    first = snapshot_files(cluster)
    with tempfile.TemporaryDirectory() as tmp:
        back = load_snapshot(write_snapshot(cluster, Path(tmp) / "snap"))
    assert snapshot_files(back) == first


def test_round_trip_keeps_fractional_loads(tmp_path: Path) -> None:
    # 3 vCPUs at 1/3 of a percent step: cpu_milli 7 is 0.2333... % and must come back as 7.
    c = load_snapshot(BASE)
    milli = c.vm_cpu_milli.copy()
    milli[:] = [7, 1999, 1, 0]
    base = c.host_cpu_base_milli.copy()
    base[:] = [1, 15999, 333]
    c2 = c.replace(vm_cpu_milli=milli, host_cpu_base_milli=base)
    back = load_snapshot(write_snapshot(c2, tmp_path / "s"))
    assert np.array_equal(back.vm_cpu_milli, milli)
    assert np.array_equal(back.host_cpu_base_milli, base)


def test_the_equality_helper_sees_differences() -> None:
    # Guard for the round-trip tests: a one-unit change anywhere must be noticed.
    c = load_snapshot(BASE)
    mem = c.vm_memory_mb.copy()
    mem[2] += 1
    with pytest.raises(AssertionError, match="vm_memory_mb"):
        assert_same_cluster(c, c.replace(vm_memory_mb=mem))
    feats = c.host_features.copy()
    feats[1, np.flatnonzero(feats[1])[0]] = False
    with pytest.raises(AssertionError, match="feature sets"):
        assert_same_cluster(c, c.replace(host_features=feats))
    with pytest.raises(AssertionError, match="rules"):
        assert_same_cluster(c, c.replace(rules=c.rules[:1]))


def test_writing_over_an_old_snapshot_leaves_no_stale_files(tmp_path: Path) -> None:
    c = load_snapshot(BASE)
    d = write_snapshot(c, tmp_path / "s")
    assert (d / "affinity_rules.csv").exists() and (d / "networks.csv").exists()
    bare = c.replace(rules=(), networks=())
    back = load_snapshot(write_snapshot(bare, d))
    assert back.rules == () and back.networks == ()
    assert not (d / "affinity_rules.csv").exists()


def test_committed_powershell5_fixture_reads_like_the_base() -> None:
    # tests/fixtures/powershell5 holds the base snapshot as Windows PowerShell 5 writes it
    # (BOM, #TYPE line, quoted fields, CRLF, True/False, capitalised property names).
    ps = FIXTURES / "powershell5"
    assert (ps / "vms.csv").read_bytes().startswith(b"\xef\xbb\xbf#TYPE ")
    cluster, report = read_snapshot(ps)
    assert cluster is not None and report.problems == []
    assert_same_cluster(load_snapshot(BASE).replace(name="x"), cluster.replace(name="x"))


# ----------------------------------------------------------------------------- new columns
NEW_HOSTS = (
    "name,state,cpu_vendor,cpu_model,logical_processors,memory_mb,max_config_version,"
    "max_running_vms\nH1,Up,Intel,Icelake-Server,16,65536,12.0,\n"
    "H2,Paused,Intel,Icelake-Server,16,65536,9.0,500\n"
)
NEW_VMS = (
    "name,host,vcpus,memory_mb,dynamic_memory,memory_startup_mb,memory_minimum_mb,"
    "memory_maximum_mb,config_version\nA,H1,2,3000,true,4096,1024,8192,10.0\n"
    "B,H2,2,2048,false,,,,9.0\n"
)


def test_new_columns_are_read_and_written_back(make_snapshot: Maker, tmp_path: Path) -> None:
    snap = make_snapshot(
        {
            "cluster.csv": "name,collected_utc\nc1,2026-12-01T09:30:00+01:00\n",
            "hosts.csv": NEW_HOSTS,
            "vms.csv": NEW_VMS,
            "affinity_rules.csv": None,
            "networks.csv": None,
        }
    )
    c, report = read_snapshot(snap)
    assert c is not None, report.errors
    # 09:30 at +01:00 is 08:30 UTC.
    assert c.settings.collected_utc == "2026-12-01T08:30:00Z"
    assert c.host_max_config_version_x10.tolist() == [120, 90]
    assert c.host_max_running_vms.tolist() == [1024, 500]
    assert c.vm_dynamic_memory.tolist() == [True, False]
    assert c.vm_memory_startup_mb.tolist() == [4096, 2048]
    assert c.vm_memory_minimum_mb.tolist() == [1024, 2048]
    assert c.vm_memory_maximum_mb.tolist() == [8192, 2048]
    write_snapshot(c, tmp_path / "back")
    back = load_snapshot(tmp_path / "back")
    assert_same_cluster(c, back)


def test_snapshot_sha256_covers_the_files_as_read(make_snapshot: Maker) -> None:
    a, b = make_snapshot(), make_snapshot()
    ha, hb = load_snapshot(a).snapshot_sha256, load_snapshot(b).snapshot_sha256
    assert ha is not None and len(ha) == 64 and ha == hb
    # One byte more anywhere changes it (a trailing newline in networks.csv).
    (b / "networks.csv").write_bytes((b / "networks.csv").read_bytes() + b"\n")
    assert load_snapshot(b).snapshot_sha256 != ha
    # A file that is not a snapshot file does not count.
    (a / "notes.txt").write_text("not a snapshot file")
    assert load_snapshot(a).snapshot_sha256 == ha


def test_bad_new_values_are_reported(make_snapshot: Maker) -> None:
    snap = make_snapshot(
        {
            "cluster.csv": "name,collected_utc\nc1,yesterday\n",
            "hosts.csv": NEW_HOSTS.replace(",9.0,500", ",x,0"),
            "vms.csv": NEW_VMS.replace("true,4096,1024,8192", "true,4096,5000,8192"),
        }
    )
    _, report = read_snapshot(snap)
    got = {(p.file, p.row, p.column, p.value) for p in report.errors}
    assert ("cluster.csv", 2, "collected_utc", "yesterday") in got
    assert ("hosts.csv", 3, "max_config_version", "x") in got
    assert ("hosts.csv", 3, "max_running_vms", "0") in got
    # Dynamic Memory: minimum 5,000 > startup 4,096.
    assert ("vms.csv", 2, "memory_minimum_mb", "5000") in got


def test_rule_members_that_are_not_vms_are_kept_and_reported(
    make_snapshot: Maker, tmp_path: Path
) -> None:
    # Microsoft's storage affinity example: a VM and its Cluster Shared Volume.
    snap = make_snapshot(
        {"affinity_rules.csv": "name,rule_type,groups\nstorage,SameFaultDomain,A;Cluster Disk 1\n"}
    )
    c, report = read_snapshot(snap)
    assert c is not None and report.valid
    (rule,) = c.rules
    assert rule.members == (c.vm_index["a"],) and rule.other_members == ("Cluster Disk 1",)
    (w,) = [p for p in report.warnings if p.column == "groups"]
    assert (w.row, w.value) == (2, "Cluster Disk 1") and "non-VM cluster group" in w.message
    write_snapshot(c, tmp_path / "back")
    assert load_snapshot(tmp_path / "back").rules == c.rules


def test_writer_leaves_default_columns_out(make_snapshot: Maker) -> None:
    files = snapshot_files(load_snapshot(make_snapshot()))
    assert "collected_utc" not in files["cluster.csv"]
    assert "max_config_version" not in files["hosts.csv"]
    assert "dynamic_memory" not in files["vms.csv"]
