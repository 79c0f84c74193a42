"""Validation of bad snapshots: every error kind names file, row, column and value.

Each case changes the valid base snapshot (``tests/fixtures/base``, rows listed in
``tests/fixtures/__init__.py``) in one way and states the problem the user must see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.diagnostics import Problem
from planner.snapshot import MAX_FIELD_CHARS, read_snapshot
from tests.fixtures import (
    Changes,
    SnapshotMaker,
    add_row,
    base_text,
    merge,
    with_header,
    with_row,
    with_rows,
    write_variant,
)

H_HEAD = (
    "name,state,fault_domain,cpu_vendor,cpu_model,logical_processors,memory_mb,"
    "memory_reserve_mb,cpu_base_pct,max_vm_migrations"
)
V_HEAD = (
    "name,host,state,priority,vcpus,memory_mb,cpu_usage_pct,compat_mode,possible_owners,"
    "anti_affinity_class_names,allow_downtime,pinned"
)
H1 = "H1,Up,RackA,GenuineIntel,Icelake-Server,16,65536,4096,0,2"
H3 = "H3,Up,RackB,GenuineIntel,Icelake-Server,16,65536,4096,0,2"
H3_PAUSED = "H3,Paused,RackB,GenuineIntel,Icelake-Server,16,65536,4096,0,2"
H3_DOWN = "H3,Down,RackB,GenuineIntel,Icelake-Server,16,65536,4096,0,2"


def vm(
    name: str = "A",
    host: str = "H1",
    state: str = "Running",
    prio: str = "High",
    vcpus: str = "4",
    mem: str = "8192",
    cpu: str = "50",
    compat: str = "None",
    owners: str = "",
    aa: str = "",
    downtime: str = "false",
    pinned: str = "false",
) -> str:
    """One vms.csv line with the base VM A's values unless told otherwise."""
    return ",".join(
        [name, host, state, prio, vcpus, mem, cpu, compat, owners, aa, downtime, pinned]
    )


@dataclass(frozen=True)
class Case:
    """A bad snapshot and the problem it must produce (``None`` = not applicable)."""

    id: str
    changes: Changes
    file: str
    row: int | None
    column: str | None
    value: str | None
    text: str
    severity: str = "error"


BIG = "x" * (2 * 1024 * 1024)

CASES = [
    # ---- files -------------------------------------------------------------------------
    Case(
        "missing-hosts",
        {"hosts.csv": None},
        "hosts.csv",
        None,
        None,
        None,
        "required file is missing",
    ),
    Case("missing-vms", {"vms.csv": None}, "vms.csv", None, None, None, "required file is missing"),
    Case("empty-file", {"hosts.csv": ""}, "hosts.csv", None, None, None, "file is empty"),
    Case(
        "blank-lines-only",
        {"vms.csv": "\r\n\r\n  \r\n"},
        "vms.csv",
        None,
        None,
        None,
        "file is empty",
    ),
    Case(
        "binary-file",
        {"vms.csv": b"PK\x03\x04\x00\x00binary\x00"},
        "vms.csv",
        None,
        None,
        None,
        "binary file",
    ),
    Case(
        "not-utf8",
        {
            "vms.csv": (
                base_text("vms.csv") + "Caf\xe9,H1,Running,High,4,8192,50,None,,,false,false\n"
            ).encode("latin-1")
        },
        "vms.csv",
        6,
        None,
        None,
        "not valid UTF-8",
    ),
    Case(
        "semicolon-delimited",
        {"hosts.csv": base_text("hosts.csv").replace(",", ";")},
        "hosts.csv",
        1,
        None,
        H_HEAD.replace(",", ";"),
        "';' as the column separator",
    ),
    Case(
        "semicolon-quoted",
        {"hosts.csv": '"name";"state"\n"H1";"Up"\n'},
        "hosts.csv",
        1,
        None,
        'name;"state"',
        "';' as the column separator",
    ),
    Case(
        "field-2mb",
        with_row("vms.csv", 3, vm(name="B", host="H2", aa=BIG)),
        "vms.csv",
        3,
        "anti_affinity_class_names",
        BIG,
        f"the limit is {MAX_FIELD_CHARS}",
    ),
    Case(
        "duplicate-column",
        with_header("hosts.csv", H_HEAD + ",Name"),
        "hosts.csv",
        1,
        "Name",
        None,
        "column appears twice",
    ),
    Case(
        "missing-column",
        {"hosts.csv": "name,cpu_vendor,memory_mb\nH1,Intel,65536\n"},
        "hosts.csv",
        None,
        "logical_processors",
        None,
        "required column is missing",
    ),
    Case(
        "no-header",
        {"vms.csv": "\n".join(base_text("vms.csv").splitlines()[1:]) + "\n"},
        "vms.csv",
        1,
        None,
        ",".join(base_text("vms.csv").splitlines()[1].split(",")),
        "is the header row missing",
    ),
    Case(
        "too-many-fields",
        with_row("vms.csv", 4, vm(name="C", host="H3") + ",extra"),
        "vms.csv",
        4,
        None,
        "extra",
        "fields but the header has",
    ),
    Case(
        "unclosed-quote",
        with_row("vms.csv", 4, 'C,H3,Running,Low,2,4096,25,"None,,,,'),
        "vms.csv",
        4,
        "compat_mode",
        "None,,,,\nD,H1,Off,Medium,2,4096,0,None,,,false,false",
        "closing quote",
    ),
    Case("header-no-rows", {"hosts.csv": H_HEAD + "\n"}, "hosts.csv", None, None, None, "no hosts"),
    Case(
        "two-cluster-rows",
        add_row("cluster.csv", "other,2,1,,false"),
        "cluster.csv",
        3,
        None,
        None,
        "exactly one data row",
    ),
    # ---- types and ranges --------------------------------------------------------------
    Case(
        "int-not-number",
        with_row("hosts.csv", 3, H1.replace("H1", "H2").replace(",16,", ",sixteen,")),
        "hosts.csv",
        3,
        "logical_processors",
        "sixteen",
        "expected an integer from 1",
    ),
    Case(
        "int-fraction",
        with_row("vms.csv", 2, vm(vcpus="2.5")),
        "vms.csv",
        2,
        "vcpus",
        "2.5",
        "expected an integer",
    ),
    Case(
        "int-zero",
        with_row("hosts.csv", 4, H3.replace("65536", "0")),
        "hosts.csv",
        4,
        "memory_mb",
        "0",
        "expected an integer from 1",
    ),
    Case(
        "int-overflow",
        with_row("vms.csv", 2, vm(mem="9" * 40)),
        "vms.csv",
        2,
        "memory_mb",
        "9" * 40,
        "expected an integer from 1",
    ),
    Case(
        "pct-over-100",
        with_row("hosts.csv", 2, H1.replace(",0,2", ",150,2")),
        "hosts.csv",
        2,
        "cpu_base_pct",
        "150",
        "a number from 0 to 100",
    ),
    Case(
        "pct-negative",
        with_row("vms.csv", 2, vm(cpu="-5")),
        "vms.csv",
        2,
        "cpu_usage_pct",
        "-5",
        "a number from 0 to 100",
    ),
    Case(
        "decimal-comma",
        with_row("vms.csv", 2, vm(cpu='"12,5"')),
        "vms.csv",
        2,
        "cpu_usage_pct",
        "12,5",
        "dot as the decimal separator",
    ),
    Case(
        "percent-sign",
        with_row("vms.csv", 2, vm(cpu="12%")),
        "vms.csv",
        2,
        "cpu_usage_pct",
        "12%",
        "without the % sign",
    ),
    Case(
        "nan",
        with_row("vms.csv", 2, vm(cpu="nan")),
        "vms.csv",
        2,
        "cpu_usage_pct",
        "nan",
        "a number from 0 to 100",
    ),
    Case(
        "required-empty",
        with_row("vms.csv", 3, vm(name="B", host="H2", vcpus="")),
        "vms.csv",
        3,
        "vcpus",
        "",
        "value is required",
    ),
    Case(
        "bad-bool",
        with_row("vms.csv", 2, vm(downtime="maybe")),
        "vms.csv",
        2,
        "allow_downtime",
        "maybe",
        "true/false",
    ),
    Case(
        "reserve-above-memory",
        with_row("hosts.csv", 2, H1.replace("4096", "65536")),
        "hosts.csv",
        2,
        "memory_reserve_mb",
        "65536",
        "must be below memory_mb",
    ),
    Case(
        "config-version-zero",
        {"vms.csv": "name,host,vcpus,memory_mb,config_version\nA,H1,2,1024,0\n"},
        "vms.csv",
        2,
        "config_version",
        "0",
        "a number > 0 and <= 1000",
    ),
    Case(
        "bandwidth-zero",
        with_row("networks.csv", 3, "LM1,Cluster,1,0"),
        "networks.csv",
        3,
        "bandwidth_gbps",
        "0",
        "a number > 0",
    ),
    Case(
        "max-migrations-zero",
        with_row("hosts.csv", 2, H1[:-1] + "0"),
        "hosts.csv",
        2,
        "max_vm_migrations",
        "0",
        "an integer from 1",
    ),
    # ---- enums --------------------------------------------------------------------------
    Case(
        "host-state",
        with_row("hosts.csv", 4, H3.replace(",Up,", ",Joining,")),
        "hosts.csv",
        4,
        "state",
        "Joining",
        "Up, Paused, Down",
    ),
    Case(
        "vm-state",
        with_row("vms.csv", 2, vm(state="Starting")),
        "vms.csv",
        2,
        "state",
        "Starting",
        "Running, Off, Saved, Paused",
    ),
    Case(
        "vendor",
        with_row("hosts.csv", 2, H1.replace("GenuineIntel", "Cyrix")),
        "hosts.csv",
        2,
        "cpu_vendor",
        "Cyrix",
        "GenuineIntel, AuthenticAMD",
    ),
    Case(
        "priority",
        with_row("vms.csv", 2, vm(prio="Urgent")),
        "vms.csv",
        2,
        "priority",
        "Urgent",
        "High, Medium, Low, NoAutoStart",
    ),
    Case(
        "priority-number",
        with_row("vms.csv", 2, vm(prio="1500")),
        "vms.csv",
        2,
        "priority",
        "1500",
        "3000, 2000, 1000, 0",
    ),
    Case(
        "compat-mode",
        with_row("vms.csv", 2, vm(compat="Max")),
        "vms.csv",
        2,
        "compat_mode",
        "Max",
        "MinimumFeatureSet, CommonClusterFeatureSet",
    ),
    Case(
        "rule-type",
        with_row("affinity_rules.csv", 2, "spread,Apart,true,A;B"),
        "affinity_rules.csv",
        2,
        "rule_type",
        "Apart",
        "SameNode, DifferentNode",
    ),
    Case(
        "rule-enabled",
        with_row("affinity_rules.csv", 2, "spread,4,sometimes,A;B"),
        "affinity_rules.csv",
        2,
        "enabled",
        "sometimes",
        "true/false",
    ),
    Case(
        "balancer-mode",
        with_row("cluster.csv", 2, "base,5,1,,false"),
        "cluster.csv",
        2,
        "auto_balancer_mode",
        "5",
        "0, 1, 2",
    ),
    Case(
        "balancer-level",
        with_row("cluster.csv", 2, "base,2,Extreme,,false"),
        "cluster.csv",
        2,
        "auto_balancer_level",
        "Extreme",
        "1, 2, 3",
    ),
    Case(
        "parallel-migrations",
        with_row("cluster.csv", 2, "base,2,1,0,false"),
        "cluster.csv",
        2,
        "maximum_parallel_migrations",
        "0",
        "an integer from 1",
    ),
    Case(
        "network-role",
        with_row("networks.csv", 2, "Mgmt,Storage,,1"),
        "networks.csv",
        2,
        "role",
        "Storage",
        "None, Cluster, ClusterAndClient",
    ),
    # ---- names and references ----------------------------------------------------------
    Case(
        "duplicate-host",
        add_row("hosts.csv", H1.replace("H1", "h1")),
        "hosts.csv",
        5,
        "name",
        "h1",
        "duplicate host name (names ignore case; first on row 2)",
    ),
    Case(
        "duplicate-vm",
        add_row("vms.csv", vm(name="a", host="H2")),
        "vms.csv",
        6,
        "name",
        "a",
        "duplicate VM name (names ignore case; first on row 2)",
    ),
    Case(
        "duplicate-rule",
        add_row("affinity_rules.csv", "SPREAD,DifferentNode,true,B;C"),
        "affinity_rules.csv",
        4,
        "name",
        "SPREAD",
        "duplicate rule name",
    ),
    Case(
        "duplicate-network",
        add_row("networks.csv", "lm1,Cluster,3,10"),
        "networks.csv",
        5,
        "name",
        "lm1",
        "duplicate network name",
    ),
    Case(
        "unknown-host",
        with_row("vms.csv", 4, vm(name="C", host="H9")),
        "vms.csv",
        4,
        "host",
        "H9",
        "not in hosts.csv",
    ),
    Case(
        "unknown-possible-owner",
        with_row("vms.csv", 2, vm(owners="H1;HX")),
        "vms.csv",
        2,
        "possible_owners",
        "HX",
        "not in hosts.csv",
    ),
    Case(
        "unknown-preferred-owner",
        {"vms.csv": "name,host,vcpus,memory_mb,preferred_owners\nA,H1,2,1024,H7\n"},
        "vms.csv",
        2,
        "preferred_owners",
        "H7",
        "not in hosts.csv",
    ),
    Case(
        "unknown-rule-member",
        with_row("affinity_rules.csv", 2, "spread,DifferentNode,true,A;B;Z"),
        "affinity_rules.csv",
        2,
        "groups",
        "Z",
        "not a VM in vms.csv: kept as a non-VM cluster group",
        "warning",
    ),
    Case(
        "model-of-other-vendor",
        with_row("hosts.csv", 2, H1.replace("Icelake-Server", "EPYC-Milan")),
        "hosts.csv",
        2,
        "cpu_model",
        "EPYC-Milan",
        "made by AuthenticAMD, not GenuineIntel",
    ),
    # ---- whole-cluster checks ----------------------------------------------------------
    Case(
        "vm-memory-too-big",
        with_row("vms.csv", 4, vm(name="C", host="H3", mem="70000")),
        "vms.csv",
        4,
        "memory_mb",
        "70000",
        "fits on no host",
    ),
    Case(
        "vm-vcpus-too-many",
        with_row("vms.csv", 4, vm(name="C", host="H3", vcpus="32")),
        "vms.csv",
        4,
        "vcpus",
        "32",
        "more vCPUs than any host",
    ),
    Case(
        "vm-cpu-too-big",
        merge(
            {
                "hosts.csv": "\n".join(
                    [H_HEAD]
                    + [h.replace(",0,2", ",50,2") for h in base_text("hosts.csv").splitlines()[1:]]
                )
                + "\n"
            },
            with_row("vms.csv", 4, vm(name="C", host="H3", vcpus="16", cpu="60")),
        ),
        "vms.csv",
        4,
        "cpu_usage_pct",
        "60.0",
        "larger than any host's free CPU",
    ),
    # C (100,000 MB) fits only H3, which is Down: it must be started on H2, too small.
    Case(
        "fits-no-own-owner",
        merge(
            with_row("hosts.csv", 4, H3_DOWN.replace("65536", "131072")),
            with_row("vms.csv", 4, vm(name="C", host="H3", mem="100000", owners="H2;H3")),
        ),
        "vms.csv",
        4,
        "possible_owners",
        "H2;H3",
        "fits on none of the possible owners it may run on",
    ),
    Case(
        "no-up-possible-owner",
        merge(
            with_row("hosts.csv", 4, H3_DOWN),
            with_row("vms.csv", 4, vm(name="C", host="H3", owners="H3")),
        ),
        "vms.csv",
        4,
        "possible_owners",
        "H3",
        "listed on Down node H3 and must be started elsewhere, but none of its possible "
        "owners is Up",
    ),
    Case(
        "no-host-up",
        {
            "hosts.csv": "\n".join(
                [H_HEAD]
                + [h.replace(",Up,", ",Down,") for h in base_text("hosts.csv").splitlines()[1:]]
            )
            + "\n"
        },
        "hosts.csv",
        None,
        "state",
        None,
        "every host is Down",
    ),
    Case(
        "pinned-not-owner",
        with_row("vms.csv", 4, vm(name="C", host="H3", owners="H1;H2", pinned="true")),
        "vms.csv",
        4,
        "pinned",
        "true",
        "not one of its possible owners",
    ),
    Case(
        "same-vs-different-node",
        add_row("affinity_rules.csv", "pair,SameNode,true,B;A"),
        "affinity_rules.csv",
        2,
        "groups",
        "spread",
        "'pair' put them on the same node",
        "warning",
    ),
    Case(
        "same-vs-different-transitive",
        add_row("affinity_rules.csv", "ac,SameNode,true,A;C", "cb,2,true,C;B"),
        "affinity_rules.csv",
        2,
        "groups",
        "spread",
        "'ac', 'cb' put them on the same node",
        "warning",
    ),
    Case(
        "same-vs-different-domain",
        add_row(
            "affinity_rules.csv",
            "doms,DifferentFaultDomain,true,A;C",
            "dom,SameFaultDomain,true,C;A",
        ),
        "affinity_rules.csv",
        4,
        "groups",
        "doms",
        "on the same fault domain",
        "warning",
    ),
    Case(
        "different-node-too-few-hosts",
        merge(
            # C is on the Down H3: it must be started on H1 or H2, where A and B are.
            with_row("hosts.csv", 4, H3_DOWN),
            with_row("affinity_rules.csv", 2, "spread,DifferentNode,true,A;B;C"),
        ),
        "affinity_rules.csv",
        2,
        "groups",
        "spread",
        "3 running members but only 2 nodes",
        "warning",
    ),
    Case(
        "different-node-owners",
        merge(
            with_rows(
                "vms.csv",
                {
                    2: vm(owners="H1;H2"),
                    3: vm(name="B", host="H2", owners="H1;H2"),
                    4: vm(name="C", host="H2", owners="H2", vcpus="2"),
                },
            ),
            with_row("affinity_rules.csv", 2, "spread,DifferentNode,true,A;B;C"),
        ),
        "affinity_rules.csv",
        2,
        "groups",
        "spread",
        "3 running members but only 2",
        "warning",
    ),
    Case(
        "different-domain-too-few",
        add_row("affinity_rules.csv", "racks,DifferentFaultDomain,true,A;B;C"),
        "affinity_rules.csv",
        4,
        "groups",
        "racks",
        "only 2 fault domains",
        "warning",
    ),
    Case(
        "same-node-too-big",
        merge(
            with_row("vms.csv", 3, vm(name="B", host="H2", mem="60000")),
            add_row("affinity_rules.csv", "bc,SameNode,true,B;C"),
        ),
        "affinity_rules.csv",
        4,
        "groups",
        "bc",
        "fits in no node",
        "warning",
    ),
    Case(
        "same-node-no-common-owner",
        merge(
            with_rows(
                "vms.csv",
                {3: vm(name="B", host="H2", owners="H2"), 4: vm(name="C", host="H3", owners="H3")},
            ),
            add_row("affinity_rules.csv", "bc,SameNode,true,B;C"),
        ),
        "affinity_rules.csv",
        4,
        "groups",
        "bc",
        "has no node that every member may run on",
        "warning",
    ),
    Case(
        "same-node-pinned-apart",
        merge(
            with_rows(
                "vms.csv",
                {
                    3: vm(name="B", host="H2", pinned="true"),
                    4: vm(name="C", host="H3", pinned="true"),
                },
            ),
            add_row("affinity_rules.csv", "bc,SameNode,true,B;C"),
        ),
        "affinity_rules.csv",
        4,
        "groups",
        "bc",
        "can never share a node",
        "warning",
    ),
    Case(
        "different-node-pinned-together",
        merge(
            with_rows("vms.csv", {2: vm(pinned="true"), 5: vm(name="D", pinned="true")}),
            with_row("affinity_rules.csv", 3, "ad,DifferentNode,true,A;D"),
        ),
        "affinity_rules.csv",
        3,
        "groups",
        "ad",
        "pinned VMs A and D share node H1",
        "warning",
    ),
    Case(
        "enforced-anti-affinity",
        merge(
            with_row("cluster.csv", 2, "base,2,1,,true"),
            with_row("hosts.csv", 4, H3_DOWN),
            with_rows(
                "vms.csv",
                {
                    2: vm(aa="SQL"),
                    3: vm(name="B", host="H2", aa="SQL"),
                    4: vm(name="C", host="H3", aa="sql"),
                },
            ),
        ),
        "vms.csv",
        2,
        "anti_affinity_class_names",
        "SQL",
        "only 2 nodes they may run on",
        "warning",
    ),
    # ---- warnings -----------------------------------------------------------------------
    Case(
        "unknown-column",
        with_header("vms.csv", V_HEAD.replace("pinned", "pinnned")),
        "vms.csv",
        None,
        "pinnned",
        None,
        "unknown column",
        "warning",
    ),
    Case(
        "no-cluster-and-client",
        with_row("networks.csv", 2, "Mgmt,Cluster,,1"),
        "networks.csv",
        None,
        "role",
        None,
        "no ClusterAndClient network",
        "warning",
    ),
    Case(
        "one-lm-network",
        with_row("networks.csv", 4, "LM2,Cluster,,25"),
        "networks.csv",
        None,
        "live_migration_order",
        "LM1",
        "only one live-migration network",
        "warning",
    ),
    Case(
        "no-lm-network",
        {"networks.csv": "name,role\nMgmt,ClusterAndClient\n"},
        "networks.csv",
        None,
        "live_migration_order",
        None,
        "no network is used for live",
        "warning",
    ),
    Case(
        "model-not-in-catalog",
        with_row("hosts.csv", 2, H1.replace("Icelake-Server", "Pentium-Pro")),
        "hosts.csv",
        2,
        "cpu_model",
        "Pentium-Pro",
        "not in the catalog",
        "warning",
    ),
    Case(
        "disabled-rule",
        with_row("affinity_rules.csv", 3, "together,SameNode,false,A;D"),
        "affinity_rules.csv",
        3,
        "enabled",
        "false",
        "disabled",
        "warning",
    ),
    Case(
        "preferred-not-possible",
        {
            "vms.csv": "name,host,vcpus,memory_mb,possible_owners,preferred_owners\n"
            "A,H1,2,1024,H1;H2,H3\n"
        },
        "vms.csv",
        2,
        "preferred_owners",
        "H3",
        "not one of the VM's possible owners",
        "warning",
    ),
    Case(
        "vcpus-above-own-host",
        merge(
            with_row("hosts.csv", 4, H3.replace(",16,", ",4,")),
            with_row("vms.csv", 4, vm(name="C", host="H3", vcpus="8", cpu="10")),
        ),
        "vms.csv",
        4,
        "vcpus",
        "8",
        "more vCPUs than its host H3",
        "warning",
    ),
    Case(
        "pinned-on-down-host",
        merge(
            with_row("hosts.csv", 4, H3_DOWN),
            with_row("vms.csv", 4, vm(name="C", host="H3", pinned="true")),
        ),
        "vms.csv",
        4,
        "pinned",
        "true",
        "which is Down: it must be started elsewhere, which pinning forbids",
        "warning",
    ),
]


def _matches(p: Problem, c: Case) -> bool:
    return (
        p.severity == c.severity
        and p.file == c.file
        and p.row == c.row
        and p.column == c.column
        and p.value == c.value
        and c.text in p.message
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_reported_precisely(case: Case, make_snapshot: SnapshotMaker) -> None:
    cluster, report = read_snapshot(make_snapshot(case.changes))
    found = [p for p in report.problems if _matches(p, case)]
    assert found, "expected problem not found; got:\n" + "\n".join(
        f"  {p.severity}: {p}" for p in report.problems
    )
    if case.severity == "error":
        assert cluster is None and not report.valid
    # The one-line form a user reads names the file, row, column and value too.
    shown = str(found[0])
    assert shown.startswith(case.file)
    if case.row is not None:
        assert f"row {case.row}" in shown
    if case.column is not None:
        assert f"column '{case.column}'" in shown
    if case.value is not None:
        assert repr(case.value[:20]).strip("'") in shown


def test_base_snapshot_is_valid_without_warnings(base_snapshot: Path) -> None:
    cluster, report = read_snapshot(base_snapshot)
    assert cluster is not None
    assert report.problems == []


def test_every_problem_is_reported_in_one_pass(make_snapshot: SnapshotMaker) -> None:
    # Four independent mistakes in three files, plus a whole-cluster one (VM C cannot fit
    # anywhere) on a row that is otherwise fine: all five are reported together.
    snap = make_snapshot(
        merge(
            with_row("hosts.csv", 3, H1.replace("H1", "H2").replace(",16,", ",x,")),
            with_rows(
                "vms.csv",
                {
                    2: vm(state="Sleeping"),
                    4: vm(name="C", host="H3", mem="999999"),
                    5: vm(name="D", host="H8"),
                },
            ),
            with_row("affinity_rules.csv", 3, "together,Glue,true,A;D"),
        )
    )
    cluster, report = read_snapshot(snap)
    assert cluster is None
    where = {(p.file, p.row, p.column) for p in report.errors}
    assert ("hosts.csv", 3, "logical_processors") in where
    assert ("vms.csv", 2, "state") in where
    assert ("vms.csv", 5, "host") in where
    assert ("affinity_rules.csv", 3, "rule_type") in where


def test_whole_cluster_checks_run_on_the_good_rows(make_snapshot: SnapshotMaker) -> None:
    # Row 2 has a bad state; row 4 is well-formed but too big for any host.  The size check
    # needs the whole cluster, and still runs for the good rows.
    snap = make_snapshot(
        with_rows("vms.csv", {2: vm(state="Sleeping"), 4: vm(name="C", host="H3", mem="999999")})
    )
    _, report = read_snapshot(snap)
    assert {(p.row, p.column) for p in report.errors} == {(2, "state"), (4, "memory_mb")}


def test_row_with_bad_name_still_reports_its_other_problems(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot(
        with_row("hosts.csv", 4, ",Up,RackB,Intel,Icelake-Server,0,65536,70000,0,2")
    )
    _, report = read_snapshot(snap)
    cols = {p.column for p in report.errors if p.file == "hosts.csv" and p.row == 4}
    assert cols == {"name", "logical_processors", "memory_reserve_mb"}


def test_broken_rows_do_not_cascade(make_snapshot: SnapshotMaker) -> None:
    # VM B's row has an extra field; rule 'spread' names B.  Only the broken row is an
    # error: the rule must not also claim that B is unknown.
    snap = make_snapshot(with_row("vms.csv", 3, vm(name="B", host="H2") + ",oops"))
    _, report = read_snapshot(snap)
    assert [(p.file, p.row) for p in report.errors] == [("vms.csv", 3)]


def test_missing_name_column_does_not_flood_references(make_snapshot: SnapshotMaker) -> None:
    lines = base_text("hosts.csv").splitlines()
    hosts = "\n".join(",".join(x.split(",")[1:]) for x in lines) + "\n"
    _, report = read_snapshot(make_snapshot({"hosts.csv": hosts}))
    assert [(p.file, p.column) for p in report.errors] == [("hosts.csv", "name")]


def test_each_problem_in_a_row_is_reported(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot(
        with_row(
            "vms.csv",
            2,
            vm(state="x", prio="y", vcpus="z", mem="-1", cpu="200", compat="w", pinned="q"),
        )
    )
    _, report = read_snapshot(snap)
    cols = {p.column for p in report.errors if p.row == 2}
    assert cols == {
        "state",
        "priority",
        "vcpus",
        "memory_mb",
        "cpu_usage_pct",
        "compat_mode",
        "pinned",
    }


def test_snapshot_directory_problems(tmp_path: Path) -> None:
    _, report = read_snapshot(tmp_path / "nope")
    assert not report.valid and "does not exist" in report.errors[0].message
    f = tmp_path / "file.csv"
    f.write_text("x\n")
    _, report = read_snapshot(f)
    assert not report.valid and "found a file" in report.errors[0].message


def test_file_that_is_a_directory(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot({"networks.csv": None})
    (snap / "networks.csv").mkdir()
    _, report = read_snapshot(snap)
    assert [(p.file, p.message[:20]) for p in report.errors] == [
        ("networks.csv", "expected a file, fou")
    ]


def test_huge_header_field(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot(with_header("networks.csv", "name,role," + "y" * 70_000))
    _, report = read_snapshot(snap)
    assert any(
        p.file == "networks.csv" and p.row == 1 and "header field is longer" in p.message
        for p in report.errors
    )


def test_messages_show_long_values_shortened(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot(with_row("vms.csv", 2, vm(aa=BIG)))
    _, report = read_snapshot(snap)
    (p,) = report.errors
    assert len(p.to_dict()["value"]) <= 80 and len(str(p)) < 400


# ----------------------------------------------------------------------------- robustness
NASTY = st.sampled_from(
    [
        "",
        " ",
        ",",
        '"',
        '""',
        ";",
        "\n",
        "\r\n",
        "\ufeff",
        "\x00",
        "é",
        "-1",
        "0",
        "1e999",
        "nan",
        "9" * 30,
        "True",
        "Up",
        "H1",
        "A",
        "#TYPE",
        "[red]",
        "None",
        "1.5",
        "  x  ",
    ]
)
FILES = ["cluster.csv", "hosts.csv", "vms.csv", "affinity_rules.csv", "networks.csv"]


def _check_report(snap: Path) -> None:
    cluster, report = read_snapshot(snap)  # must not raise
    assert (cluster is None) == (not report.valid)
    for p in report.problems:
        assert isinstance(p.file, str) and p.message
        str(p)
        p.to_dict()


@given(data=st.data())
def test_random_cell_edits_never_crash(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    file = data.draw(st.sampled_from(FILES))
    lines = base_text(file).splitlines()
    row = data.draw(st.integers(1, len(lines)))
    cells = lines[row - 1].split(",")
    col = data.draw(st.integers(0, len(cells) - 1))
    cells[col] = "".join(data.draw(st.lists(NASTY, min_size=1, max_size=4)))
    lines[row - 1] = ",".join(cells)
    snap = write_variant(tmp_path_factory.mktemp("fuzz"), {file: "\n".join(lines) + "\n"})
    _check_report(snap)


@given(
    file=st.sampled_from(FILES),
    content=st.binary(max_size=300)
    | st.text(alphabet=st.sampled_from(list('ab1;,"\n\r \t\x00é#')), max_size=300),
)
def test_random_file_content_never_crashes(
    file: str, content: bytes | str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    snap = write_variant(tmp_path_factory.mktemp("fuzz"), {file: content})
    _check_report(snap)


def test_vm_that_fits_only_a_host_that_is_down(make_snapshot: SnapshotMaker) -> None:
    # H3 is the only host big enough for C (100,000 MB) and it is Down.
    snap = make_snapshot(
        merge(
            with_row("hosts.csv", 4, H3_DOWN.replace("65536", "131072")),
            with_row("vms.csv", 4, vm(name="C", host="H3", mem="100000")),
        )
    )
    _, report = read_snapshot(snap)
    assert [(p.row, p.column, p.value) for p in report.errors] == [(4, "memory_mb", "100000")]
    assert "fits on none of the hosts it may run on" in report.errors[0].message


def test_vms_are_checked_even_without_hosts_csv(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot(merge({"hosts.csv": None}, with_row("vms.csv", 2, vm(vcpus="-2"))))
    _, report = read_snapshot(snap)
    assert {(p.file, p.row, p.column) for p in report.errors} == {
        ("hosts.csv", None, None),
        ("vms.csv", 2, "vcpus"),
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (with_row("vms.csv", 2, vm(state="Sleeping")), "one of Running, Off, Saved, Paused"),
        (with_row("vms.csv", 2, vm(vcpus="")), "a value"),
        (with_row("vms.csv", 4, vm(name="C", host="H9")), "a host name from hosts.csv"),
        (add_row("vms.csv", vm(name="a", host="H2")), "a VM name not used on another row"),
        (with_row("hosts.csv", 2, H1.replace("4096", "70000")), "an integer from 0 to 65535"),
    ],
)
def test_cell_problems_say_what_was_expected(
    make_snapshot: SnapshotMaker, changes: Changes, expected: str
) -> None:
    _, report = read_snapshot(make_snapshot(changes))
    (p,) = report.errors
    assert p.expected == expected
    assert p.to_dict()["expected"] == expected


def test_misnamed_required_file_gets_a_hint(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot()
    (snap / "vms.csv").rename(snap / "vm.csv")
    _, report = read_snapshot(snap)
    (p,) = report.errors
    assert p.file == "vms.csv" and p.message.endswith("(is vm.csv meant to be vms.csv?)")


# ---------------------------------------------------------------- rules broken now: warnings
def test_rules_broken_now_do_not_reject_the_snapshot(make_snapshot: SnapshotMaker) -> None:
    # Issue 11: an enforced anti-affinity class with more running members than nodes (4 on
    # 3 hosts) and a DifferentNode rule over them; the snapshot stays valid, both are named.
    rows = {
        2: vm(aa="DC"),
        3: vm(name="B", host="H2", aa="DC"),
        4: vm(name="C", host="H3", aa="DC", compat="MinimumFeatureSet"),
        5: vm(name="D", host="H1", aa="DC", prio="Medium", mem="4096"),
    }
    snap = make_snapshot(
        merge(
            with_row("cluster.csv", 2, "base,2,1,,true"),
            with_rows("vms.csv", rows),
            with_rows(
                "affinity_rules.csv",
                {2: "spread,DifferentNode,true,A;B;C;D", 3: "together,SameNode,true,A"},
            ),
        )
    )
    cluster, report = read_snapshot(snap)
    assert cluster is not None and report.errors == []
    texts = [p.message for p in report.warnings]
    assert any("class 'DC' has 4 running VMs but only 3" in t for t in texts)
    assert any("4 running members but only 3 nodes" in t for t in texts)
    assert all("left broken" in t for t in texts if "running" in t)


def test_off_members_do_not_count_for_rules(make_snapshot: SnapshotMaker) -> None:
    # D is Off: a DifferentNode rule over A, B, C, D on 3 hosts has 3 running members and
    # holds (SPEC §3), so nothing is reported about it.
    snap = make_snapshot(with_row("affinity_rules.csv", 2, "spread,DifferentNode,true,A;B;C;D"))
    _, report = read_snapshot(snap)
    assert report.errors == []
    assert not [
        p for p in report.warnings if p.file == "affinity_rules.csv" and p.column == "groups"
    ]


# ---------------------------------------------------------------- input hardening (issue 15)
@pytest.mark.parametrize("value", ["32_768", "\uff11\uff12", "nan", "inf", "-inf", "NaN"])
def test_odd_numbers_are_refused(make_snapshot: SnapshotMaker, value: str) -> None:
    # Python's int()/float() accept these; a snapshot must not.
    snap = make_snapshot(with_row("hosts.csv", 2, H1.replace("65536", value)))
    _, report = read_snapshot(snap)
    assert [(p.row, p.column, p.value) for p in report.errors] == [(2, "memory_mb", value)]
    assert "expected an integer" in report.errors[0].message


def test_full_width_digits_are_refused_in_numbers_and_enums(make_snapshot: SnapshotMaker) -> None:
    fifty, three_thousand = "\uff15\uff10", "\uff13\uff10\uff10\uff10"
    snap = make_snapshot(with_row("vms.csv", 2, vm(cpu=fifty, prio=three_thousand)))
    _, report = read_snapshot(snap)
    assert {p.column for p in report.errors} == {"cpu_usage_pct", "priority"}


def test_formula_names_are_warned_about(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot(
        merge(
            with_row("vms.csv", 5, vm(name="=HYPERLINK(1)", state="Off")),
            with_row("affinity_rules.csv", 3, "@rule,SameNode,true,A"),
        )
    )
    cluster, report = read_snapshot(snap)
    assert cluster is not None
    got = {(p.file, p.row, p.value) for p in report.warnings if "formula" in p.message}
    assert got == {("vms.csv", 5, "=HYPERLINK(1)"), ("affinity_rules.csv", 3, "@rule")}


def test_utf32_is_called_utf32(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot({"hosts.csv": base_text("hosts.csv").encode("utf-32")})
    cluster, report = read_snapshot(snap)
    assert cluster is not None
    (w,) = [p for p in report.warnings if p.file == "hosts.csv"]
    assert "UTF-32" in w.message and "UTF-16" not in w.message


def test_symlink_loop_is_named(make_snapshot: SnapshotMaker) -> None:
    snap = make_snapshot()
    (snap / "vms.csv").unlink()
    (snap / "vms.csv").symlink_to(snap / "vms.csv")
    _, report = read_snapshot(snap)
    (e,) = report.errors
    assert e.file == "vms.csv" and "symbolic link loop" in e.message
    loop = snap.parent / "loop"
    loop.symlink_to(loop)
    _, report = read_snapshot(loop)
    assert "symbolic link" in report.errors[0].message
