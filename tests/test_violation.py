"""The one violation type: indices inside, names only at the edge (``Violation.to_dict``).

Names are data: the cluster below names its VMs, nodes, rule and anti-affinity class with
quotes, semicolons and non-ASCII text, and a rule shares its name with a class.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from planner.checks import placement_violations
from planner.cluster import Cluster, ClusterSettings, RuleType
from planner.planrows import PLAN_COLUMNS, read_plan_csv
from planner.problem import PlanOptions, build_problem
from planner.reference import hard_violations
from planner.status import cluster_status
from planner.verify import verify_plan_data
from planner.violation import (
    KINDS,
    RuleRef,
    RuleTable,
    Unresolved,
    Violation,
    dedupe,
)
from tests.strategies import HostSpec, RuleSpec, VmSpec, make_cluster

VM_A = 'web "front"; é☃'
VM_B = "db;'—ü"
HOST_1 = 'H;"1" Ω'
RULE = 'spread; "it" ☃'


def hostile() -> Cluster:
    """Two nodes; both VMs on the first, in a DifferentNode rule and an enforced
    anti-affinity class of the same name (both broken now)."""
    hosts = [HostSpec(HOST_1), HostSpec("H2")]
    vms = [
        VmSpec(VM_A, HOST_1, anti_affinity_classes=(RULE,)),
        VmSpec(VM_B, HOST_1, anti_affinity_classes=(RULE,)),
    ]
    rules = [RuleSpec(RULE, RuleType.DIFFERENT_NODE, (VM_A, VM_B))]
    return make_cluster(hosts, vms, rules, settings=ClusterSettings(enforced_anti_affinity=True))


def test_structured_fields_are_indices_and_the_edge_names_them() -> None:
    c = hostile()
    found = placement_violations(c)
    assert sorted(v.kind for v in found) == ["anti_affinity", "different_node"]
    for v in found:
        assert all(type(x) is int for x in v.vms + v.hosts)
        assert v.vms == (0, 1) and v.hosts == (0,)
        d = v.to_dict(c)
        assert (d["vm"], d["vms"], d["host"], d["hosts"]) == (VM_A, [VM_A, VM_B], HOST_1, [HOST_1])
        assert d["rule"] == RULE
    by_kind = {v.kind: v for v in found}
    assert by_kind["different_node"].rule == RuleRef(RuleTable.AFFINITY, 0)
    assert by_kind["anti_affinity"].rule == RuleRef(RuleTable.ANTI_AFFINITY, 0)
    # The rule and the class share a name but are two things: two keys, both kept.
    assert len(dedupe(found)) == 2


def test_status_json_renders_through_the_edge() -> None:
    c = hostile()
    st = cluster_status(c)
    d = st.to_dict()
    assert d["violations"] == [v.to_dict(c) for v in st.violations]
    assert {(r["kind"], r["rule"], tuple(r["vms"])) for r in d["rules_broken_now"]} == {
        ("different_node", RULE, (VM_A, VM_B)),
        ("anti_affinity", RULE, (VM_A, VM_B)),
    }


def test_verifier_violations_carry_indices() -> None:
    c = hostile()
    # A rule broken now and left broken without rules_left_broken naming it: one
    # violation per rule (and per class), indices inside, names in the JSON.
    rep = verify_plan_data(c, [], c.vm_host.astype(np.int64), {})
    assert sorted(v.kind for v in rep.items) == ["anti_affinity", "different_node"]
    assert all(v.vms == (0, 1) and v.rule is not None for v in rep.items)
    assert {(d["kind"], d["rule"], d["vm"], d["host"]) for d in rep.violations} == {
        ("different_node", RULE, VM_A, HOST_1),
        ("anti_affinity", RULE, VM_A, HOST_1),
    }
    # Naming it accepts both (the name resolves to the rule and the class).
    named = {"rules_left_broken": [{"rule": RULE, "vms": [VM_A, VM_B], "reason": "x"}]}
    assert verify_plan_data(c, [], c.vm_host.astype(np.int64), named).ok


def test_a_rule_name_the_snapshot_lacks_is_unresolved_text() -> None:
    c = hostile()
    ghost = 'ghost "rule"; ☃'
    summary = {
        "rules_left_broken": [
            {"rule": RULE, "vms": [], "reason": "x"},
            {"rule": ghost, "vms": [], "reason": "x"},
        ]
    }
    rep = verify_plan_data(c, [], c.vm_host.astype(np.int64), summary)
    (v,) = rep.items
    assert v.kind == "summary" and v.rule is None and v.unresolved == Unresolved(rule=ghost)
    assert rep.violations[0]["rule"] == ghost


def test_a_plan_row_naming_an_unknown_vm_is_unresolved_text(tmp_path: Path) -> None:
    c = hostile()
    ghost = 'ghost "vm"; é☃'
    path = tmp_path / "plan.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(PLAN_COLUMNS)
        w.writerow([1, 1, ghost, HOST_1, "H2", "Live", 4096, 1.0, "x", False])
    moves, problems = read_plan_csv(c, path)
    assert moves == []
    (v,) = problems
    assert v.kind == "plan_file" and v.vms == () and v.unresolved == Unresolved(vm=ghost)
    d = v.to_dict(c)
    assert d["vm"] == ghost and d["vms"] == [ghost] and d["host"] is None


def test_reference_check_speaks_the_one_vocabulary() -> None:
    c = hostile()
    pb = build_problem(c, PlanOptions(threshold_pct=80.0, max_moves=0))
    bad = hard_violations(pb, np.array([1, 0]))
    assert {v.kind for v in bad} == {"move_budget"}
    assert all(v.kind in KINDS for v in hard_violations(pb, c.vm_host))


def test_a_violation_is_built_from_indices_only() -> None:
    with pytest.raises(ValueError, match="kind"):
        Violation("max_moves", "not a kind of the vocabulary")
    with pytest.raises(ValueError, match="index"):
        Violation("pinned", "a negative index", vms=(-1,))
    v = Violation("pinned", "m", vms=tuple(np.array([1], dtype=np.int64)), hosts=(np.int32(0),))
    assert v.vms == (1,) and type(v.vms[0]) is int and type(v.hosts[0]) is int


def test_readme_lists_the_kind_vocabulary() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("`planner.violation.KINDS`:")
    listed = readme[start : readme.index(")", start)]
    assert sorted(k.strip(" `\n,") for k in listed.split(":", 1)[1].split(",")) == sorted(KINDS)
