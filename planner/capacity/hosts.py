"""Added hosts: :func:`add_hosts` appends empty hosts of a catalog CPU model;
:func:`min_additional_hosts` finds the fewest that make the cluster N+1-safe.  Safety is
monotone in the number of added empty hosts (more room, no new VMs to restart; a new host's
own failure restarts nothing), so an exponential search then bisection finds the minimum; it
is *proved* minimal when the count below was decided unsafe by a bound or a CP-SAT
infeasibility proof and the count itself safe by a witness placement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.capacity.failures import FailureOptions, n1_safe
from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    ANY_CONFIG_VERSION,
    DEFAULT_MAX_RUNNING_VMS,
    Cluster,
    HostState,
    Vendor,
)

#: Hyper-V's documented cluster size limit: the host search does not go beyond it.
MAX_CLUSTER_NODES = 64


@dataclass(frozen=True)
class HostShape:
    """Size of a host to add: logical processors, memory, reserve (MB)."""

    logical_processors: int
    memory_mb: int
    memory_reserve_mb: int
    max_vm_migrations: int = 2


def default_shape(cluster: Cluster, vendor: Vendor | None = None) -> HostShape:
    """The largest Up host (by memory, then processors) of ``vendor`` (any vendor when the
    cluster has none of it): new hardware is assumed to be sized like the biggest node."""
    cand = cluster.host_up.copy()
    if vendor is not None and (cand & (cluster.host_vendor == vendor)).any():
        cand &= cluster.host_vendor == vendor
    if not cand.any():
        cand = np.ones(cluster.n_hosts, dtype=bool)
    idx = np.flatnonzero(cand)
    h = int(idx[np.lexsort((-cluster.host_lp[idx], -cluster.host_memory_mb[idx]))[0]])
    return HostShape(
        int(cluster.host_lp[h]),
        int(cluster.host_memory_mb[h]),
        int(cluster.host_memory_reserve_mb[h]),
        int(cluster.host_max_migrations[h]),
    )


def add_hosts(
    cluster: Cluster,
    model: str,
    count: int,
    shape: HostShape | None = None,
    catalog: CpuCatalog | None = None,
) -> Cluster:
    """The cluster with ``count`` empty Up hosts of catalog CPU ``model`` appended.

    Each new host is its own fault domain (the snapshot default) and is a possible owner of
    every VM that may run on every current host (a VM restricted to some hosts stays so).
    Raises ``ValueError`` for a model that is not in the catalog.
    """
    cat = catalog or default_catalog()
    m = cat.get(model)
    if m is None:
        raise ValueError(f"unknown CPU model {model!r}")
    if count <= 0:
        return cluster
    shp = shape or default_shape(cluster, m.vendor)
    c = cluster
    feats = list(c.features)
    extra = sorted(m.features - set(feats))
    feats += extra
    nf = len(feats)
    hf = np.zeros((c.n_hosts + count, nf), dtype=bool)
    hf[: c.n_hosts, : len(c.features)] = c.host_features
    fidx = {f: i for i, f in enumerate(feats)}
    hf[c.n_hosts :, [fidx[f] for f in m.features]] = True
    base = np.zeros((c.vendor_baseline.shape[0], nf), dtype=bool)
    base[:, : len(c.features)] = c.vendor_baseline
    used = {n.casefold() for n in c.host_names}
    names: list[str] = []
    i = 1
    while len(names) < count:
        n = f"NEW-{m.name}-{i}"
        if n.casefold() not in used:
            names.append(n)
            used.add(n.casefold())
        i += 1
    fds = list(c.fault_domains)
    fd_of = {d.casefold(): j for j, d in enumerate(fds)}
    new_fd = []
    for n in names:
        if n.casefold() not in fd_of:
            fd_of[n.casefold()] = len(fds)
            fds.append(n)
        new_fd.append(fd_of[n.casefold()])
    everywhere: np.ndarray = np.asarray(c.vm_possible.all(axis=1))
    possible = np.concatenate(
        [c.vm_possible, np.repeat(everywhere[:, None], count, axis=1)], axis=1
    )

    def cat_(a: np.ndarray, v: float | int, dtype: Any) -> np.ndarray:
        return np.concatenate([a, np.full(count, v, dtype=dtype)]).astype(dtype)

    return c.replace(
        host_names=c.host_names + tuple(names),
        host_state=cat_(c.host_state, int(HostState.UP), np.int8),
        host_fault_domain=np.concatenate([c.host_fault_domain, new_fd]).astype(np.int32),
        fault_domains=tuple(fds),
        host_vendor=cat_(c.host_vendor, int(m.vendor), np.int8),
        host_cpu_model=c.host_cpu_model + (m.name,) * count,
        host_lp=cat_(c.host_lp, shp.logical_processors, np.int64),
        host_memory_mb=cat_(c.host_memory_mb, shp.memory_mb, np.int64),
        host_memory_reserve_mb=cat_(c.host_memory_reserve_mb, shp.memory_reserve_mb, np.int64),
        host_cpu_base_milli=cat_(c.host_cpu_base_milli, 0, np.int64),
        host_max_migrations=cat_(c.host_max_migrations, shp.max_vm_migrations, np.int64),
        host_max_config_version_x10=cat_(
            c.host_max_config_version_x10, ANY_CONFIG_VERSION, np.int32
        ),
        host_max_running_vms=cat_(c.host_max_running_vms, DEFAULT_MAX_RUNNING_VMS, np.int64),
        features=tuple(feats),
        host_features=hf,
        vendor_baseline=base,
        vm_possible=possible,
    )


@dataclass(frozen=True)
class AddHostResult:
    """Fewest added hosts of ``model`` that make the cluster N+1-safe.

    ``needed`` is ``None`` when even ``searched_up_to`` hosts are not enough.  ``proven``
    says the minimum is proved (the count below decided unsafe exactly, the count itself safe
    by a witness).
    """

    model: str
    shape: HostShape
    needed: int | None
    proven: bool
    searched_up_to: int
    evaluations: tuple[tuple[int, bool, bool], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "model": self.model,
            "needed": self.needed,
            "proven": self.proven,
            "searched_up_to": self.searched_up_to,
            "host_shape": {
                "logical_processors": self.shape.logical_processors,
                "memory_mb": self.shape.memory_mb,
                "memory_reserve_mb": self.shape.memory_reserve_mb,
            },
        }


def min_additional_hosts(
    cluster: Cluster,
    model: str,
    options: FailureOptions | None = None,
    max_hosts: int | None = None,
    shape: HostShape | None = None,
    catalog: CpuCatalog | None = None,
) -> AddHostResult:
    """Fewest empty ``model`` hosts to add so that every single-node failure is survivable.

    Exponential search (0, 1, 2, 4, ...) up to ``max_hosts`` (default: up to Hyper-V's
    64-node limit, at least 1), then bisection; see the module docstring for why it is exact.
    """
    opt = options or FailureOptions()
    cat = catalog or default_catalog()
    m = cat.get(model)
    if m is None:
        raise ValueError(f"unknown CPU model {model!r}")
    shp = shape or default_shape(cluster, m.vendor)
    limit = max_hosts if max_hosts is not None else max(MAX_CLUSTER_NODES - cluster.n_hosts, 1)
    evals: dict[int, tuple[bool, bool]] = {}

    def safe(k: int) -> bool:
        if k not in evals:
            evals[k] = n1_safe(add_hosts(cluster, model, k, shp, cat), opt)
        return evals[k][0]

    def result(needed: int | None) -> AddHostResult:
        if needed is None:
            proven = all(p for _, p in evals.values())
        elif needed == 0:
            proven = evals[0][1]
        else:
            proven = evals[needed][1] and evals.get(needed - 1, (False, False))[1]
        return AddHostResult(
            m.name,
            shp,
            needed,
            proven,
            limit,
            tuple((k, s, p) for k, (s, p) in sorted(evals.items())),
        )

    if safe(0):
        return result(0)
    lo, hi = 0, 1
    while not safe(hi):
        lo = hi
        if hi >= limit:
            return result(None)
        hi = min(limit, hi * 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if safe(mid):
            hi = mid
        else:
            lo = mid
    return result(hi)


__all__ = [
    "MAX_CLUSTER_NODES",
    "AddHostResult",
    "HostShape",
    "add_hosts",
    "default_shape",
    "min_additional_hosts",
]
