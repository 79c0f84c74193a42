"""The one cluster builder: per-host and per-VM columns in natural units → :class:`Cluster`.

The snapshot reader, the generator and the tests all build clusters here, so that fault
domains and anti-affinity classes are numbered the same way (case-insensitively, in order of
first appearance), feature sets become the same boolean matrix over the same universe (the
catalog's features plus every host's), and every optional column gets the same default.

Values are already integer (CPU in milli logical processors, memory in MB, versions × 10);
:func:`cpu_milli` converts percentages the way the reader does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    ANY_CONFIG_VERSION,
    CPU_UNITS,
    DEFAULT_MAX_RUNNING_VMS,
    Cluster,
    ClusterSettings,
    CompatMode,
    HostState,
    Network,
    Rule,
    Vendor,
    VmState,
    default_memory_reserve_mb,
)
from planner.units import units_up

IntColumn = Sequence[int] | np.ndarray


@dataclass(frozen=True)
class HostColumns:
    """Per-host data, one entry per host.  ``None`` columns take the documented defaults:
    state Up, fault domain = the host's name, no CPU model, features from the catalog model
    (else the vendor's baseline), the default memory reserve, no base load, 2 migrations,
    any configuration version, 1,024 running VMs."""

    names: Sequence[str]
    vendor: IntColumn
    logical_processors: IntColumn
    memory_mb: IntColumn
    state: IntColumn | None = None
    fault_domain: Sequence[str | None] | None = None
    cpu_model: Sequence[str] | None = None
    features: Sequence[frozenset[str] | None] | None = None
    memory_reserve_mb: IntColumn | None = None
    cpu_base_milli: IntColumn | None = None
    max_vm_migrations: IntColumn | None = None
    max_config_version_x10: IntColumn | None = None
    max_running_vms: IntColumn | None = None


@dataclass(frozen=True)
class VmColumns:
    """Per-VM data, one entry per VM; ``host`` and the owner lists are host indices, an
    empty ``possible_owners`` entry means every host.  ``None`` columns take the defaults:
    Running, Medium priority, no CPU demand, version 10.0, no compatibility mode, no owners,
    preferences or classes, no downtime, not pinned, static memory (startup = minimum =
    maximum = ``memory_mb``)."""

    names: Sequence[str]
    host: IntColumn
    vcpus: IntColumn
    memory_mb: IntColumn
    state: IntColumn | None = None
    priority: IntColumn | None = None
    cpu_milli: IntColumn | None = None
    config_version_x10: IntColumn | None = None
    compat: IntColumn | None = None
    possible_owners: Sequence[Sequence[int]] | None = None
    preferred_owners: Sequence[Sequence[int]] | None = None
    anti_affinity_classes: Sequence[Sequence[str]] | None = None
    allow_downtime: Sequence[bool] | np.ndarray | None = None
    pinned: Sequence[bool] | np.ndarray | None = None
    dynamic_memory: Sequence[bool] | np.ndarray | None = None
    memory_startup_mb: IntColumn | None = None
    memory_minimum_mb: IntColumn | None = None
    memory_maximum_mb: IntColumn | None = None


def cpu_milli(count: IntColumn, pct: Sequence[float] | np.ndarray) -> np.ndarray:
    """``count * pct / 100`` logical processors in milli-LP, rounded up (the input edge,
    :func:`planner.units.units_up`)."""
    return units_up(
        np.asarray(count, dtype=np.int64) * np.asarray(pct, dtype=float) * (CPU_UNITS / 100)
    ).astype(np.int64)


def _col(values: object, n: int, default: object, dtype: type) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=dtype)
    a: np.ndarray = np.asarray(values, dtype=dtype)
    if a.shape != (n,):
        raise ValueError(f"a column has {a.shape[0] if a.ndim else 0} entries, expected {n}")
    return a


def _numbered(names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Index of each name among the distinct names (case-insensitive, first spelling kept,
    numbered in order of first appearance)."""
    index: dict[str, int] = {}
    shown: list[str] = []
    out = np.empty(len(names), dtype=np.int32)
    for i, n in enumerate(names):
        k = n.casefold()
        if k not in index:
            index[k] = len(shown)
            shown.append(n)
        out[i] = index[k]
    return out, tuple(shown)


def _features(
    h: HostColumns, vendor: np.ndarray, cat: CpuCatalog
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Feature universe, host feature matrix and vendor baselines."""
    n = len(h.names)
    models = list(h.cpu_model) if h.cpu_model is not None else [""] * n
    given = list(h.features) if h.features is not None else [None] * n
    sets: list[frozenset[str]] = []
    for i in range(n):
        fs = given[i]
        if fs is None:
            model = cat.get(models[i]) if models[i] else None
            fs = model.features if model is not None else cat.baseline(Vendor(int(vendor[i])))
        sets.append(frozenset(fs))
    universe: set[str] = set()
    for m in cat.models:
        universe |= m.features
    for fs in sets:
        universe |= fs
    feats = tuple(sorted(universe))
    fidx = {f: i for i, f in enumerate(feats)}
    hf = np.zeros((n, len(feats)), dtype=bool)
    for i, fs in enumerate(sets):
        hf[i, [fidx[f] for f in fs]] = True
    base = np.zeros((len(Vendor), len(feats)), dtype=bool)
    for vd in Vendor:
        base[vd, [fidx[f] for f in cat.baseline(vd)]] = True
    return feats, hf, base


def _host_fields(h: HostColumns, cat: CpuCatalog) -> dict[str, object]:
    n = len(h.names)
    vendor = _col(h.vendor, n, 0, np.int8)
    mem = _col(h.memory_mb, n, 0, np.int64)
    fd_given = list(h.fault_domain) if h.fault_domain is not None else [None] * n
    fd, fd_names = _numbered([d if d is not None else h.names[i] for i, d in enumerate(fd_given)])
    feats, hf, base = _features(h, vendor, cat)
    reserve = (
        np.array([default_memory_reserve_mb(int(m)) for m in mem], dtype=np.int64)
        if h.memory_reserve_mb is None
        else _col(h.memory_reserve_mb, n, 0, np.int64)
    )
    return {
        "host_names": tuple(h.names),
        "host_state": _col(h.state, n, HostState.UP, np.int8),
        "host_fault_domain": fd,
        "fault_domains": fd_names,
        "host_vendor": vendor,
        "host_cpu_model": tuple(h.cpu_model) if h.cpu_model is not None else ("",) * n,
        "host_lp": _col(h.logical_processors, n, 0, np.int64),
        "host_memory_mb": mem,
        "host_memory_reserve_mb": reserve,
        "host_cpu_base_milli": _col(h.cpu_base_milli, n, 0, np.int64),
        "host_max_migrations": _col(h.max_vm_migrations, n, 2, np.int64),
        "features": feats,
        "host_features": hf,
        "vendor_baseline": base,
        "host_max_config_version_x10": _col(
            h.max_config_version_x10, n, ANY_CONFIG_VERSION, np.int32
        ),
        "host_max_running_vms": _col(h.max_running_vms, n, DEFAULT_MAX_RUNNING_VMS, np.int64),
    }


def _vm_fields(v: VmColumns, n_hosts: int) -> dict[str, object]:
    n = len(v.names)
    mem = _col(v.memory_mb, n, 0, np.int64)
    possible = np.ones((n, n_hosts), dtype=bool)
    for i, po in enumerate(v.possible_owners or ()):
        if len(po):
            possible[i] = False
            possible[i, list(po)] = True
    classes = v.anti_affinity_classes or [()] * n
    flat = [c for cs in classes for c in cs]
    idx, aa_names = _numbered(flat)
    vm_aa: list[tuple[int, ...]] = []
    k = 0
    for cs in classes:
        mine: list[int] = []
        for c in idx[k : k + len(cs)].tolist():
            if c not in mine:
                mine.append(c)
        k += len(cs)
        vm_aa.append(tuple(mine))
    return {
        "vm_names": tuple(v.names),
        "vm_host": _col(v.host, n, 0, np.int32),
        "vm_state": _col(v.state, n, VmState.RUNNING, np.int8),
        "vm_priority": _col(v.priority, n, 2000, np.int16),
        "vm_vcpus": _col(v.vcpus, n, 1, np.int64),
        "vm_memory_mb": mem,
        "vm_cpu_milli": _col(v.cpu_milli, n, 0, np.int64),
        "vm_config_version_x10": _col(v.config_version_x10, n, 100, np.int32),
        "vm_compat": _col(v.compat, n, CompatMode.NONE, np.int8),
        "vm_possible": possible,
        "vm_preferred": tuple(tuple(int(h) for h in p) for p in v.preferred_owners)
        if v.preferred_owners is not None
        else ((),) * n,
        "vm_aa_classes": tuple(vm_aa),
        "aa_class_names": aa_names,
        "vm_allow_downtime": _col(v.allow_downtime, n, False, np.bool_),
        "vm_pinned": _col(v.pinned, n, False, np.bool_),
        "vm_dynamic_memory": _col(v.dynamic_memory, n, False, np.bool_),
        "vm_memory_startup_mb": mem
        if v.memory_startup_mb is None
        else _col(v.memory_startup_mb, n, 0, np.int64),
        "vm_memory_minimum_mb": mem
        if v.memory_minimum_mb is None
        else _col(v.memory_minimum_mb, n, 0, np.int64),
        "vm_memory_maximum_mb": mem
        if v.memory_maximum_mb is None
        else _col(v.memory_maximum_mb, n, 0, np.int64),
    }


def build_cluster(
    name: str,
    hosts: HostColumns,
    vms: VmColumns,
    *,
    settings: ClusterSettings | None = None,
    rules: Sequence[Rule] = (),
    networks: Sequence[Network] = (),
    catalog: CpuCatalog | None = None,
    source: Path | None = None,
) -> Cluster:
    """Build a :class:`Cluster` from per-host and per-VM columns.

    Parameters
    ----------
    name
        Cluster name.
    hosts, vms
        The columns (see :class:`HostColumns`, :class:`VmColumns` for the defaults).
    settings
        Cluster-wide settings (default: :class:`ClusterSettings` defaults).
    rules, networks
        Affinity rules (members are VM indices) and cluster networks.
    catalog
        CPU model catalog for feature sets (default: the shipped catalog).
    source
        Directory the data was read from, if any.

    Returns
    -------
    Cluster
        The immutable cluster.  Raises ``ValueError`` when columns have the wrong length.
    """
    cat = catalog or default_catalog()
    return Cluster(
        name=name,
        settings=settings or ClusterSettings(),
        rules=tuple(rules),
        networks=tuple(networks),
        source=source,
        **_host_fields(hosts, cat),  # type: ignore[arg-type]
        **_vm_fields(vms, len(hosts.names)),  # type: ignore[arg-type]
    )
