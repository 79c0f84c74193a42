"""Cluster → CSV texts: :func:`snapshot_files` and :func:`write_snapshot`.

The reader's exact inverse: reading what is written gives the same cluster.  Columns that
hold only their default for every row (``collected_utc``, ``max_config_version``,
``max_running_vms``, the Dynamic Memory columns) are left out, so a snapshot without the
newer data is written byte for byte as before.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    COMPAT_NAMES,
    CPU_UNITS,
    DEFAULT_MAX_RUNNING_VMS,
    RULE_TYPE_NAMES,
    VENDOR_CPUID,
    Cluster,
    CompatMode,
    HostState,
    NetworkRole,
    Vendor,
    VmState,
)
from planner.snapshot.csvfile import find_file
from planner.snapshot.schema import (
    CLUSTER_COLS,
    FILES,
    HOST_COLS,
    NETWORK_COLS,
    RULE_COLS,
    VM_COLS,
)


# ----------------------------------------------------------------------------- the writer
def _fmt(x: float) -> str:
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


#: Columns written only when some row differs from the default (so that a snapshot without
#: the newer data is written as before); the default as text.
_OMITTED_WHEN_DEFAULT = {
    "collected_utc": "",
    "max_config_version": "",
    "max_running_vms": str(DEFAULT_MAX_RUNNING_VMS),
    "dynamic_memory": "false",
}
#: Dynamic Memory amounts are written (all three) only when some differs from ``memory_mb``.
_MEMORY_COLUMNS = ("memory_startup_mb", "memory_minimum_mb", "memory_maximum_mb")


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    amounts = [j for j, name in enumerate(header) if name in _MEMORY_COLUMNS]
    same_memory = bool(amounts) and all(
        r[j] == r[list(header).index("memory_mb")] for r in rows for j in amounts
    )
    keep = []
    for j, name in enumerate(header):
        if name in _OMITTED_WHEN_DEFAULT:
            default = _OMITTED_WHEN_DEFAULT[name]
            if all(str(r[j]) == default for r in rows):
                continue
        elif name in _MEMORY_COLUMNS and same_memory:
            continue
        keep.append(j)
    if len(keep) < len(header):
        header = [header[j] for j in keep]
        rows = [[r[j] for j in keep] for r in rows]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def snapshot_files(cluster: Cluster, catalog: CpuCatalog | None = None) -> dict[str, str]:
    """Render a cluster as the CSV texts of a snapshot (file name → text)."""
    cat = catalog or default_catalog()
    s = cluster.settings
    files: dict[str, str] = {}
    files["cluster.csv"] = _csv_text(
        [c.name for c in CLUSTER_COLS],
        [
            [
                cluster.name,
                s.auto_balancer_mode,
                s.auto_balancer_level,
                "" if s.maximum_parallel_migrations is None else s.maximum_parallel_migrations,
                str(s.enforced_anti_affinity).lower(),
                s.collected_utc or "",
            ]
        ],
    )
    state_names = {HostState.UP: "Up", HostState.PAUSED: "Paused", HostState.DOWN: "Down"}
    host_rows = []
    for h in range(cluster.n_hosts):
        fs = {cluster.features[i] for i in np.flatnonzero(cluster.host_features[h])}
        model = cat.get(cluster.host_cpu_model[h]) if cluster.host_cpu_model[h] else None
        explicit = "" if model is not None and model.features == fs else ";".join(sorted(fs))
        lp = int(cluster.host_lp[h])
        host_rows.append(
            [
                cluster.host_names[h],
                state_names[HostState(cluster.host_state[h])],
                cluster.fault_domains[cluster.host_fault_domain[h]],
                VENDOR_CPUID[Vendor(cluster.host_vendor[h])],
                cluster.host_cpu_model[h],
                explicit,
                lp,
                int(cluster.host_memory_mb[h]),
                int(cluster.host_memory_reserve_mb[h]),
                _fmt(cluster.host_cpu_base_milli[h] / (lp * CPU_UNITS / 100)),
                int(cluster.host_max_migrations[h]),
                ""
                if cluster.host_max_config_version_x10[h] < 0
                else _fmt(cluster.host_max_config_version_x10[h] / 10),
                int(cluster.host_max_running_vms[h]),
            ]
        )
    files["hosts.csv"] = _csv_text([c.name for c in HOST_COLS], host_rows)
    vm_state = {
        VmState.RUNNING: "Running",
        VmState.OFF: "Off",
        VmState.SAVED: "Saved",
        VmState.PAUSED: "Paused",
    }
    prio = {3000: "High", 2000: "Medium", 1000: "Low", 0: "NoAutoStart"}
    hn = cluster.host_names
    all_hosts = np.asarray(cluster.vm_possible.all(axis=1))
    vm_rows = []
    for v in range(cluster.n_vms):
        vc = int(cluster.vm_vcpus[v])
        po = "" if all_hosts[v] else ";".join(hn[h] for h in np.flatnonzero(cluster.vm_possible[v]))
        vm_rows.append(
            [
                cluster.vm_names[v],
                hn[cluster.vm_host[v]],
                vm_state[VmState(cluster.vm_state[v])],
                prio.get(int(cluster.vm_priority[v]), int(cluster.vm_priority[v])),
                vc,
                int(cluster.vm_memory_mb[v]),
                str(bool(cluster.vm_dynamic_memory[v])).lower(),
                int(cluster.vm_memory_startup_mb[v]),
                int(cluster.vm_memory_minimum_mb[v]),
                int(cluster.vm_memory_maximum_mb[v]),
                _fmt(cluster.vm_cpu_milli[v] / (vc * CPU_UNITS / 100)),
                _fmt(cluster.vm_config_version_x10[v] / 10),
                COMPAT_NAMES[CompatMode(cluster.vm_compat[v])],
                po,
                ";".join(hn[h] for h in cluster.vm_preferred[v]),
                ";".join(cluster.aa_class_names[c] for c in cluster.vm_aa_classes[v]),
                str(bool(cluster.vm_allow_downtime[v])).lower(),
                str(bool(cluster.vm_pinned[v])).lower(),
            ]
        )
    files["vms.csv"] = _csv_text([c.name for c in VM_COLS], vm_rows)
    if cluster.rules:
        files["affinity_rules.csv"] = _csv_text(
            [c.name for c in RULE_COLS],
            [
                [
                    r.name,
                    RULE_TYPE_NAMES[r.rule_type],
                    str(r.enabled).lower(),
                    ";".join([cluster.vm_names[m] for m in r.members] + list(r.other_members)),
                ]
                for r in cluster.rules
            ],
        )
    if cluster.networks:
        role = {
            NetworkRole.NONE: "None",
            NetworkRole.CLUSTER: "Cluster",
            NetworkRole.CLUSTER_AND_CLIENT: "ClusterAndClient",
        }
        files["networks.csv"] = _csv_text(
            [c.name for c in NETWORK_COLS],
            [
                [
                    n.name,
                    role[n.role],
                    "" if n.live_migration_order is None else n.live_migration_order,
                    _fmt(n.bandwidth_gbps),
                ]
                for n in cluster.networks
            ],
        )
    return files


def write_snapshot(
    cluster: Cluster, directory: str | Path, catalog: CpuCatalog | None = None
) -> Path:
    """Write a cluster as a snapshot directory (UTF-8, comma-separated, LF line ends).

    An optional file the cluster does not need (no rules, no networks) is removed if an
    older one is in the directory, so that reading the directory back gives this cluster.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = snapshot_files(cluster, catalog)
    for fname, text in files.items():
        (d / fname).write_text(text, encoding="utf-8", newline="")
    for fname in FILES:
        stale = find_file(d, fname)
        if fname not in files and stale.is_file():
            stale.unlink()
    return d
