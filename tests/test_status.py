"""``cluster_status``: loads, threshold, hosts over it, rules broken now, islands."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.cluster import (
    Cluster,
    ClusterSettings,
    CompatMode,
    HostState,
    RuleType,
    Vendor,
    VmState,
)
from planner.snapshot import load_snapshot
from planner.status import cluster_status
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster
from tests.test_loadmodel import SMALL4_CPU, SMALL4_HIGH, SMALL4_MEM


def test_small4_status_numbers(small4: Path) -> None:
    # Loads derived by hand in tests/test_loadmodel.py (SMALL4_CPU / SMALL4_MEM).
    d = cluster_status(load_snapshot(small4)).to_dict()
    assert [h["name"] for h in d["hosts"]] == ["HV01", "HV02", "HV03", "HV04"]
    assert [h["cpu_pct"] for h in d["hosts"]] == pytest.approx(SMALL4_CPU)
    assert [h["memory_pct"] for h in d["hosts"]] == pytest.approx(SMALL4_MEM)
    # Low (the cluster's level 1) is 80 %: only HV01 (85.5 % CPU) is over.
    assert d["threshold_pct"] == {"cpu": 80.0, "memory": 80.0}
    assert [h["over_threshold"] for h in d["hosts"]] == [True, False, False, False]
    assert d["hosts_over_threshold"] == 1
    # HV01 runs SQL01, SQL02, APP01, APP02, WEB01, APP04; HV04 runs MON01, BACKUP01
    # (TEST01 is Saved).
    assert [h["running_vms"] for h in d["hosts"]] == [6, 3, 3, 2]


def test_small4_custom_threshold(small4: Path) -> None:
    # 20 %: HV01 (85.5 / 73.4) and HV02 (memory 21.875) are over; HV03 (10.5 / 15.625) and
    # HV04 (6.125 / 10.9375) are not.
    d = cluster_status(load_snapshot(small4), threshold_pct=20).to_dict()
    assert [h["over_threshold"] for h in d["hosts"]] == [True, True, False, False]
    assert [(h["over_cpu"], h["over_memory"]) for h in d["hosts"]] == [
        (True, True),
        (False, True),
        (False, False),
        (False, False),
    ]
    assert d["level"] == "custom" and d["threshold_alternative"] is None


def test_small4_high_both_readings(small4: Path) -> None:
    c = load_snapshot(small4)
    avg = cluster_status(c, "high").to_dict()
    # JSON percentages are rounded to 4 decimals.
    assert (avg["threshold_pct"]["cpu"], avg["threshold_pct"]["memory"]) == pytest.approx(
        SMALL4_HIGH, abs=1e-4
    )
    assert "average" in avg["threshold_rule"]
    assert avg["threshold_alternative"]["threshold_pct"] == {"cpu": 60.0, "memory": 60.0}
    absolute = cluster_status(c, "high", high_mode="absolute").to_dict()
    assert absolute["threshold_pct"] == {"cpu": 60.0, "memory": 60.0}
    assert "absolute" in absolute["threshold_rule"]
    assert absolute["threshold_alternative"]["threshold_pct"]["cpu"] == pytest.approx(
        SMALL4_HIGH[0], abs=1e-4
    )


def test_small4_violations_now(small4: Path) -> None:
    # SQL01 and SQL02 share HV01 and are in anti-affinity class SQL (not enforced: soft).
    d = cluster_status(load_snapshot(small4)).to_dict()
    assert [
        (v["kind"], v["rule"], sorted(v["vms"]), v["hosts"], v["hard"]) for v in d["violations"]
    ] == [("anti_affinity", "SQL", ["SQL01", "SQL02"], ["HV01"], False)]
    assert d["hard_violations"] == 0
    assert d["compatibility_islands"] == []


def broken() -> Cluster:
    """A cluster whose current placement breaks one thing of each kind.

    H1, H2 Intel (RackA), H3 Intel Paused (RackB), H4 AMD (RackB), each 8 LP / 32,768 MB /
    no reserve.
    - capacity: big1 + big2 + s2 on H2 need 5 + 5 + 0.1 = 10.1 LP (8 available) ->
      capacity_cpu on H2.
    - SameNode 'pair' (s1 on H1, s2 on H2) broken; DifferentNode 'apart' (d1, d2 on H1)
      broken; DifferentFaultDomain 'racks' (d1 on H1, s2 on H2, both RackA) broken;
      disabled SameNode 'off' (s1, big1) broken but soft.
    - owner: o1 on H1 with possible owners H2 only.
    - p1 runs on the Paused H3: not a violation (a Paused node keeps its VMs).
    - enforced anti-affinity class 'DC': d1 and d2 share H1 (hard).
    - island: amd1 on H4, the only AMD host, compat None, no downtime allowed.
    """
    hosts = [
        HostSpec(
            "H1", logical_processors=8, memory_mb=32768, memory_reserve_mb=0, fault_domain="RackA"
        ),
        HostSpec(
            "H2", logical_processors=8, memory_mb=32768, memory_reserve_mb=0, fault_domain="RackA"
        ),
        HostSpec(
            "H3",
            logical_processors=8,
            memory_mb=32768,
            memory_reserve_mb=0,
            fault_domain="RackB",
            state=HostState.PAUSED,
        ),
        HostSpec(
            "H4",
            logical_processors=8,
            memory_mb=32768,
            memory_reserve_mb=0,
            fault_domain="RackB",
            vendor=Vendor.AMD,
        ),
    ]
    vms = [
        VmSpec("big1", "H2", vcpus=8, cpu_milli=5_000, memory_mb=1024),
        VmSpec("big2", "H2", vcpus=8, cpu_milli=5_000, memory_mb=1024),
        VmSpec("s1", "H1", cpu_milli=100, memory_mb=1024),
        VmSpec("s2", "H2", cpu_milli=100, memory_mb=1024),
        VmSpec("d1", "H1", cpu_milli=100, memory_mb=1024, anti_affinity_classes=("DC",)),
        VmSpec("d2", "H1", cpu_milli=100, memory_mb=1024, anti_affinity_classes=("DC",)),
        VmSpec("o1", "H1", cpu_milli=100, memory_mb=1024, possible_owners=("H2",)),
        VmSpec("p1", "H3", cpu_milli=100, memory_mb=1024),
        VmSpec("amd1", "H4", cpu_milli=100, memory_mb=1024, compat=CompatMode.NONE),
        VmSpec("off1", "H4", state=VmState.OFF),
    ]
    rules = [
        RuleSpec("pair", RuleType.SAME_NODE, ("s1", "s2")),
        RuleSpec("apart", RuleType.DIFFERENT_NODE, ("d1", "d2")),
        RuleSpec("racks", RuleType.DIFFERENT_FAULT_DOMAIN, ("d1", "s2")),
        RuleSpec("off", RuleType.SAME_NODE, ("s1", "big1"), enabled=False),
    ]
    return make_cluster(hosts, vms, rules, settings=ClusterSettings(enforced_anti_affinity=True))


def test_rules_and_limits_broken_now() -> None:
    d = cluster_status(broken()).to_dict()
    got = {(v["kind"], v["rule"], tuple(sorted(v["vms"])), v["hard"]) for v in d["violations"]}
    assert got == {
        ("capacity_cpu", None, (), True),
        ("same_node", "pair", ("s1", "s2"), True),
        ("different_node", "apart", ("d1", "d2"), True),
        ("different_fault_domain", "racks", ("d1", "s2"), True),
        ("same_node", "off", ("big1", "s1"), False),
        ("possible_owners", None, ("o1",), True),
        ("anti_affinity", "DC", ("d1", "d2"), True),
    }
    assert d["hard_violations"] == 6
    cap = next(v for v in d["violations"] if v["kind"] == "capacity_cpu")
    assert cap["hosts"] == ["H2"]
    assert "needs 10.10 logical processors for VMs but has 8.00" in cap["message"]
    off = next(v for v in d["violations"] if v["rule"] == "off")
    assert "(disabled)" in off["message"]


def test_islands_and_their_reasons() -> None:
    islands = {
        i["vm"]: i["reason"] for i in cluster_status(broken()).to_dict()["compatibility_islands"]
    }
    # amd1 is Running on the only AMD host: nowhere to go live.  off1 is Off and could move
    # Quick to any Up host, so it is no island.  o1 may only be on H2, which it can reach.
    assert islands["amd1"] == "no other Up host of the same vendor offers its CPU feature set"
    assert "off1" not in islands and "o1" not in islands


def test_island_without_other_owner() -> None:
    c = make_cluster(
        [HostSpec("H1"), HostSpec("H2")],
        [VmSpec("v", "H1", possible_owners=("H1",)), VmSpec("w", "H1")],
    )
    d = cluster_status(c).to_dict()
    assert d["compatibility_islands"] == [
        {"vm": "v", "host": "H1", "reason": "no other Up possible owner"}
    ]


def test_down_host_is_never_over() -> None:
    hosts = [
        HostSpec("H1", logical_processors=2, memory_mb=8192, memory_reserve_mb=0),
        HostSpec(
            "H2", logical_processors=2, memory_mb=8192, memory_reserve_mb=0, state=HostState.DOWN
        ),
    ]
    vms = [VmSpec("a", "H1", vcpus=2, cpu_milli=1_800), VmSpec("b", "H2", vcpus=2, cpu_milli=1_800)]
    d = cluster_status(make_cluster(hosts, vms)).to_dict()
    # Both hosts are at 90 % CPU; the Down one is not reported as over the threshold.
    assert [h["cpu_pct"] for h in d["hosts"]] == [90.0, 90.0]
    assert [h["over_threshold"] for h in d["hosts"]] == [True, False]
    assert [h["state"] for h in d["hosts"]] == ["Up", "Down"]


def test_status_json_has_the_spec_keys(small4: Path) -> None:
    d = cluster_status(load_snapshot(small4)).to_dict()
    assert {"threshold_pct", "hosts", "violations"} <= d.keys()
    assert set(d["threshold_pct"]) == {"cpu", "memory"}
    for h in d["hosts"]:
        assert {"name", "state", "cpu_pct", "memory_pct", "over_threshold"} <= h.keys()
    for v in d["violations"]:
        assert {"kind", "rule", "vms", "hosts", "message"} <= v.keys()


def test_notes_name_the_balancer_mode_and_node_states() -> None:
    hosts = [
        HostSpec("H1"),
        HostSpec("H2", state=HostState.PAUSED),
        HostSpec("H3", state=HostState.DOWN),
    ]
    vms = [
        VmSpec("a", "H1"),
        VmSpec("p", "H2"),
        VmSpec("d", "H3"),
        VmSpec("off", "H3", state=VmState.OFF),
    ]
    for mode, said in (
        (0, "is off (AutoBalancerMode 0)"),
        (1, "only when a node joins"),
        (2, None),
    ):
        c = make_cluster(hosts, vms, settings=ClusterSettings(auto_balancer_mode=mode))
        d = cluster_status(c).to_dict()
        assert d["balancer"]["mode"] == mode
        balancer_notes = [n for n in d["notes"] if "native balancer" in n]
        assert (balancer_notes == []) if said is None else said in balancer_notes[0]
    # Paused and Down are explained; d (Running on the Down H3) must be started elsewhere.
    assert any("Paused: keeps its VMs" in n for n in d["notes"])
    assert any("1 running VM(s) are listed on Down nodes" in n for n in d["notes"])
    hs = {h["name"]: h for h in d["hosts"]}
    assert (hs["H3"]["running_vms"], hs["H3"]["vms"]) == (1, 2)
    assert hs["H2"]["state_meaning"].startswith("keeps its VMs")
    # p stays on its Paused node: not a violation; d on the Down node is.
    assert [(v["kind"], v["vms"]) for v in d["violations"]] == [("host_not_up", ["d"])]


def test_rules_are_judged_over_running_members() -> None:
    # DifferentNode {a, b, off}: a and b apart, off (Off) shares H1 with a -> holds (Off
    # members do not count).  SameNode {a, c}: a on H1, c on H2 -> broken now (tier 0).
    c = make_cluster(
        [HostSpec("H1"), HostSpec("H2")],
        [
            VmSpec("a", "H1"),
            VmSpec("b", "H2"),
            VmSpec("c", "H2"),
            VmSpec("off", "H1", state=VmState.OFF),
        ],
        [
            RuleSpec("apart", RuleType.DIFFERENT_NODE, ("a", "b", "off")),
            RuleSpec("pair", RuleType.SAME_NODE, ("a", "c"), other_members=("Cluster Disk 1",)),
        ],
    )
    d = cluster_status(c).to_dict()
    assert [(r["rule"], r["kind"]) for r in d["rules_broken_now"]] == [("pair", "same_node")]
    assert d["rules_with_other_members"] == [{"rule": "pair", "other_members": ["Cluster Disk 1"]}]
    assert any("non-VM cluster groups" in n for n in d["notes"])
