"""Parsed rows → :class:`~planner.cluster.Cluster`, through the one builder
(:func:`~planner.snapshot.build.build_cluster`), and the sound subset of a snapshot with
errors (so that the whole-cluster checks can still run on it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.catalog import CpuCatalog
from planner.cluster import ANY_CONFIG_VERSION, Cluster, ClusterSettings, Network, Rule, RuleType
from planner.diagnostics import Report
from planner.snapshot.build import HostColumns, VmColumns, build_cluster, cpu_milli
from planner.snapshot.records import HostRows, RuleRows, VmRows
from planner.snapshot.schema import VM_COLS


def good_subset(vms: VmRows, rules: RuleRows, report: Report) -> tuple[VmRows, RuleRows]:
    """The VMs and rules whose rows have no error, with indices renumbered."""
    bad_rows = {(p.file, p.row) for p in report.errors}
    keep = [
        i
        for i, r in enumerate(vms.rows)
        if "_bad" not in r
        and (vms.file, r["_row"]) not in bad_rows
        and all(r[c.name] is not None for c in VM_COLS if c.name != "config_version")
        and r["config_version"] is not None
    ]
    new_of = {old: new for new, old in enumerate(keep)}
    good_vms = VmRows(
        [vms.rows[i] for i in keep],
        {k: new_of[i] for k, i in vms.index.items() if i in new_of},
        [vms.host[i] for i in keep],
        [vms.possible[i] for i in keep],
        [vms.preferred[i] for i in keep],
        vms.file,
    )
    rows: list[dict[str, Any]] = []
    members: list[tuple[int, ...]] = []
    for r, m in zip(rules.rows, rules.members, strict=True):
        if (
            "_bad" in r
            or (rules.file, r["_row"]) in bad_rows
            or r["rule_type"] is None
            or r["enabled"] is None
        ):
            continue
        rows.append(r)
        members.append(tuple(new_of[v] for v in m if v in new_of))
    return good_vms, RuleRows(rows, members, rules.file)


def cluster_of(
    name: str,
    settings: ClusterSettings,
    hosts: HostRows,
    vms: VmRows,
    rules: RuleRows,
    networks: list[Network],
    cat: CpuCatalog,
    d: Path,
) -> Cluster:
    """The parsed rows as a cluster, through the one builder."""
    hr, vr = hosts.rows, vms.rows

    def col(rows: list[dict[str, Any]], key: str) -> list[Any]:
        return [r[key] for r in rows]

    lp = col(hr, "logical_processors")
    h = HostColumns(
        names=col(hr, "name"),
        vendor=col(hr, "cpu_vendor"),
        logical_processors=lp,
        memory_mb=col(hr, "memory_mb"),
        state=col(hr, "state"),
        fault_domain=col(hr, "fault_domain"),
        cpu_model=[r["cpu_model"] or "" for r in hr],
        features=hosts.features,
        memory_reserve_mb=col(hr, "memory_reserve_mb"),
        cpu_base_milli=cpu_milli(lp, col(hr, "cpu_base_pct")),
        max_vm_migrations=col(hr, "max_vm_migrations"),
        max_config_version_x10=[
            ANY_CONFIG_VERSION
            if r["max_config_version"] is None
            else round(r["max_config_version"] * 10)
            for r in hr
        ],
        max_running_vms=col(hr, "max_running_vms"),
    )
    vcpus = col(vr, "vcpus")
    v = VmColumns(
        names=col(vr, "name"),
        host=vms.host,
        vcpus=vcpus,
        memory_mb=col(vr, "memory_mb"),
        state=col(vr, "state"),
        priority=col(vr, "priority"),
        cpu_milli=cpu_milli(vcpus, col(vr, "cpu_usage_pct")),
        config_version_x10=[round(r["config_version"] * 10) for r in vr],
        compat=col(vr, "compat_mode"),
        possible_owners=vms.possible,
        preferred_owners=vms.preferred,
        anti_affinity_classes=col(vr, "anti_affinity_class_names"),
        allow_downtime=col(vr, "allow_downtime"),
        pinned=col(vr, "pinned"),
        dynamic_memory=col(vr, "dynamic_memory"),
        memory_startup_mb=col(vr, "memory_startup_mb"),
        memory_minimum_mb=col(vr, "memory_minimum_mb"),
        memory_maximum_mb=col(vr, "memory_maximum_mb"),
    )
    rule_objs = [
        Rule(r["name"], RuleType(r["rule_type"]), bool(r["enabled"]), m, tuple(r.get("_other", ())))
        for r, m in zip(rules.rows, rules.members, strict=True)
    ]
    return build_cluster(
        name, h, v, settings=settings, rules=rule_objs, networks=networks, catalog=cat, source=d
    )
