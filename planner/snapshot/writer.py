"""Cluster → CSV texts: :func:`snapshot_files` and :func:`write_snapshot`.

The reader's exact inverse: reading what is written gives the same cluster; a cluster
whose names the files could not hold (:mod:`planner.snapshot.names`) is refused before any
file is written.  Columns that
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
    HOST_STATE_NAMES,
    NETWORK_ROLE_NAMES,
    PRIORITY_NAMES,
    RULE_TYPE_NAMES,
    VENDOR_CPUID,
    VM_STATE_NAMES,
    Cluster,
    CompatMode,
    HostState,
    Vendor,
    VmState,
)
from planner.diagnostics import InvalidInput
from planner.snapshot.csvfile import find_file
from planner.snapshot.names import snapshot_name_problems
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
    """Render a cluster as the CSV texts of a snapshot.

    Parameters
    ----------
    cluster:
        The cluster to render.
    catalog:
        The CPU model catalog (default: the built-in one): a host whose features are its
        model's gets an empty ``cpu_features`` cell.

    Returns
    -------
    dict of str to str
        File name → text; ``affinity_rules.csv`` and ``networks.csv`` only when the cluster
        has rules or networks.

    Raises
    ------
    InvalidInput
        When a name or other value could not be read back as written (a line break, a NUL
        character, a ``;`` in a listed name, an empty or duplicate name): the report names
        file, row, column and value of each (see :mod:`planner.snapshot.names`).
    """
    problems = snapshot_name_problems(cluster)
    if not problems.valid:
        raise InvalidInput(problems)
    files = {
        "cluster.csv": _csv_text([c.name for c in CLUSTER_COLS], [_cluster_row(cluster)]),
        "hosts.csv": _csv_text([c.name for c in HOST_COLS], _host_rows(cluster, catalog)),
        "vms.csv": _csv_text([c.name for c in VM_COLS], _vm_rows(cluster)),
    }
    if cluster.rules:
        files["affinity_rules.csv"] = _csv_text([c.name for c in RULE_COLS], _rule_rows(cluster))
    if cluster.networks:
        files["networks.csv"] = _csv_text([c.name for c in NETWORK_COLS], _network_rows(cluster))
    return files


def _bool(x: object) -> str:
    return str(bool(x)).lower()


def _cluster_row(cluster: Cluster) -> list[object]:
    s = cluster.settings
    return [
        cluster.name,
        s.auto_balancer_mode,
        s.auto_balancer_level,
        "" if s.maximum_parallel_migrations is None else s.maximum_parallel_migrations,
        _bool(s.enforced_anti_affinity),
        s.collected_utc or "",
    ]


def _host_rows(cluster: Cluster, catalog: CpuCatalog | None) -> list[list[object]]:
    cat = catalog or default_catalog()
    rows: list[list[object]] = []
    for h in range(cluster.n_hosts):
        fs = {cluster.features[i] for i in np.flatnonzero(cluster.host_features[h])}
        model = cat.get(cluster.host_cpu_model[h]) if cluster.host_cpu_model[h] else None
        explicit = "" if model is not None and model.features == fs else ";".join(sorted(fs))
        lp = int(cluster.host_lp[h])
        rows.append(
            [
                cluster.host_names[h],
                HOST_STATE_NAMES[HostState(cluster.host_state[h])],
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
    return rows


def _vm_rows(cluster: Cluster) -> list[list[object]]:
    hn = cluster.host_names
    all_hosts = np.asarray(cluster.vm_possible.all(axis=1))
    rows: list[list[object]] = []
    for v in range(cluster.n_vms):
        vc = int(cluster.vm_vcpus[v])
        prio = int(cluster.vm_priority[v])
        po = "" if all_hosts[v] else ";".join(hn[h] for h in np.flatnonzero(cluster.vm_possible[v]))
        rows.append(
            [
                cluster.vm_names[v],
                hn[cluster.vm_host[v]],
                VM_STATE_NAMES[VmState(cluster.vm_state[v])],
                PRIORITY_NAMES.get(prio, prio),
                vc,
                int(cluster.vm_memory_mb[v]),
                _bool(cluster.vm_dynamic_memory[v]),
                int(cluster.vm_memory_startup_mb[v]),
                int(cluster.vm_memory_minimum_mb[v]),
                int(cluster.vm_memory_maximum_mb[v]),
                _fmt(cluster.vm_cpu_milli[v] / (vc * CPU_UNITS / 100)),
                _fmt(cluster.vm_config_version_x10[v] / 10),
                COMPAT_NAMES[CompatMode(cluster.vm_compat[v])],
                po,
                ";".join(hn[h] for h in cluster.vm_preferred[v]),
                ";".join(cluster.aa_class_names[c] for c in cluster.vm_aa_classes[v]),
                _bool(cluster.vm_allow_downtime[v]),
                _bool(cluster.vm_pinned[v]),
            ]
        )
    return rows


def _rule_rows(cluster: Cluster) -> list[list[object]]:
    return [
        [
            r.name,
            RULE_TYPE_NAMES[r.rule_type],
            _bool(r.enabled),
            ";".join([cluster.vm_names[m] for m in r.members] + list(r.other_members)),
        ]
        for r in cluster.rules
    ]


def _network_rows(cluster: Cluster) -> list[list[object]]:
    return [
        [
            n.name,
            NETWORK_ROLE_NAMES[n.role],
            "" if n.live_migration_order is None else n.live_migration_order,
            _fmt(n.bandwidth_gbps),
        ]
        for n in cluster.networks
    ]


def write_snapshot(
    cluster: Cluster, directory: str | Path, catalog: CpuCatalog | None = None
) -> Path:
    """Write a cluster as a snapshot directory (UTF-8, comma-separated, LF line ends).

    An optional file the cluster does not need (no rules, no networks) is removed if an
    older one is in the directory, so that reading the directory back gives this cluster.
    Raises :class:`~planner.diagnostics.InvalidInput` (see :func:`snapshot_files`) before
    anything is written when some value could not be read back.
    """
    d = Path(directory)
    files = snapshot_files(cluster, catalog)  # raises before the directory is touched
    d.mkdir(parents=True, exist_ok=True)
    for fname, text in files.items():
        (d / fname).write_text(text, encoding="utf-8", newline="")
    for fname in FILES:
        stale = find_file(d, fname)
        if fname not in files and stale.is_file():
            stale.unlink()
    return d
