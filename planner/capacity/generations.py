"""CPU generations: what adding an older or newer node, or retiring the oldest, changes.

Reading of DOMAIN.md used here:

* CommonClusterFeatureSet is the intersection of the feature sets of the cluster's nodes of
  one vendor (``Cluster.vendor_common_features``).  Adding a node of an older model can only
  remove features from it; retiring the oldest nodes can only add features.
* A VM sees the set fixed *when it boots*.  Running VMs keep the set they booted with, so a
  change affects the CommonClusterFeatureSet VMs (configuration version 10.0 or later) of that
  vendor only when they next boot.  Those are the *affected* VMs.
* Live migration to the new node: a running VM can go there only when the node offers every
  feature the VM presents.  Before they reboot, the affected VMs still present the old
  common set, so an older new node is no live-migration target for them until they reboot;
  VMs without compatibility mode keep their host's full set and may never reach it.
* Live-migration targets are compared per VM, before and after (after = once the affected VMs
  have rebooted), with ``Cluster.vm_live_targets``; a VM *loses* targets when the count drops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.capacity.failures import FailureOptions, n1_safe, settle
from planner.capacity.hosts import HostShape, add_hosts
from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import Cluster, CompatMode, HostState, Vendor, VmState
from planner.failover import RestartEngine, failed_matrix

#: Longest list of VM names returned per category.
MAX_NAMES = 50


def _names(cluster: Cluster, idx: np.ndarray) -> list[str]:
    return [cluster.vm_names[int(v)] for v in idx[:MAX_NAMES]]


def _common_vms(cluster: Cluster, vendor: Vendor) -> np.ndarray:
    """VMs of ``vendor`` whose effective mode is CommonClusterFeatureSet."""
    return np.flatnonzero(
        (cluster.vm_effective_compat == CompatMode.COMMON) & (cluster.vm_vendor == vendor)
    )


@dataclass(frozen=True)
class GenerationImpact:
    """Effect of adding ``count`` hosts of ``model`` on feature sets and live migration."""

    model: str
    vendor: str
    count: int
    features_lost: tuple[str, ...]
    features_gained: tuple[str, ...]
    affected_vms: int
    affected_sample: tuple[str, ...]
    not_live_target_until_reboot: int
    never_live_target: int
    lose_live_targets: int
    lose_live_targets_sample: tuple[str, ...]
    n1_safe_after: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def add_generation(
    cluster: Cluster,
    model: str,
    count: int = 1,
    shape: HostShape | None = None,
    catalog: CpuCatalog | None = None,
    options: FailureOptions | None = None,
) -> GenerationImpact:
    """What adding ``count`` hosts of CPU ``model`` does to the feature sets (see module)."""
    cat = catalog or default_catalog()
    m = cat.get(model)
    if m is None:
        raise ValueError(f"unknown CPU model {model!r}")
    after = add_hosts(cluster, model, count, shape, cat)
    vd = int(m.vendor)
    nf_before = len(cluster.features)
    before_set = cluster.vendor_common_features[vd]
    after_set = after.vendor_common_features[vd][:nf_before]
    had_vendor = bool((cluster.host_vendor == vd).any())
    feats = cluster.features
    if had_vendor:
        lost = tuple(feats[i] for i in np.flatnonzero(before_set & ~after_set))
        gained = tuple(feats[i] for i in np.flatnonzero(~before_set & after_set))
    else:
        lost, gained = (), ()
    affected = _common_vms(cluster, m.vendor) if (lost or gained) else np.zeros(0, np.int64)
    # The new host's columns: compatibility of the VMs' *current* presented sets.
    new_cols = np.arange(cluster.n_hosts, after.n_hosts)
    pres = cluster.vm_presented_features
    pres = np.concatenate(
        [pres, np.zeros((cluster.n_vms, len(after.features) - nf_before), dtype=bool)], axis=1
    )
    nh_feats = (
        after.host_features[new_cols[0]] if count else np.ones(len(after.features), dtype=bool)
    )
    same_vendor = cluster.vm_vendor == vd
    running = np.isin(cluster.vm_state, (VmState.RUNNING, VmState.PAUSED))
    fits_now = same_vendor & ~(pres & ~nh_feats[None, :]).any(axis=1)
    fits_after = after.vm_feature_compatible[:, new_cols[0]] if count else fits_now
    not_until_reboot = running & same_vendor & ~fits_now & fits_after
    never = running & same_vendor & ~fits_after
    before_t = cluster.vm_live_targets
    after_t = after.vm_live_targets
    lose = np.flatnonzero(after_t < before_t)
    return GenerationImpact(
        model=m.name,
        vendor=Vendor(vd).name,
        count=count,
        features_lost=lost,
        features_gained=gained,
        affected_vms=len(affected),
        affected_sample=tuple(_names(cluster, affected)),
        not_live_target_until_reboot=int(not_until_reboot.sum()),
        never_live_target=int(never.sum()),
        lose_live_targets=len(lose),
        lose_live_targets_sample=tuple(_names(cluster, lose)),
        n1_safe_after=n1_safe(after, options)[0],
    )


def _catalog_age(cluster: Cluster, cat: CpuCatalog) -> np.ndarray:
    """Catalog position of each host's model (oldest first); unknown models rank newest."""
    order = {n.casefold(): i for i, n in enumerate(cat.names())}
    return np.array(
        [
            order.get(mn.casefold(), len(order)) if mn else len(order)
            for mn in cluster.host_cpu_model
        ],
        dtype=np.int64,
    )


def remove_hosts(cluster: Cluster, hosts: np.ndarray, placement: np.ndarray) -> Cluster:
    """The cluster without ``hosts``, its VMs at ``placement`` (none may be on a removed
    host).  Preferred owners and possible owners drop the removed hosts."""
    keep = np.setdiff1d(np.arange(cluster.n_hosts), hosts)
    new_index = np.full(cluster.n_hosts, -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))
    p = new_index[placement]
    if (p < 0).any():
        raise ValueError("placement puts a VM on a removed host")
    c = cluster
    return c.replace(
        host_names=tuple(c.host_names[h] for h in keep),
        host_state=c.host_state[keep],
        host_fault_domain=c.host_fault_domain[keep],
        host_vendor=c.host_vendor[keep],
        host_cpu_model=tuple(c.host_cpu_model[h] for h in keep),
        host_lp=c.host_lp[keep],
        host_memory_mb=c.host_memory_mb[keep],
        host_memory_reserve_mb=c.host_memory_reserve_mb[keep],
        host_cpu_base_milli=c.host_cpu_base_milli[keep],
        host_max_migrations=c.host_max_migrations[keep],
        host_max_config_version_x10=c.host_max_config_version_x10[keep],
        host_max_running_vms=c.host_max_running_vms[keep],
        host_features=c.host_features[keep],
        vm_host=p.astype(np.int32),
        vm_possible=c.vm_possible[:, keep],
        vm_preferred=tuple(
            tuple(int(new_index[h]) for h in pr if new_index[h] >= 0) for pr in c.vm_preferred
        ),
    )


@dataclass(frozen=True)
class RetireImpact:
    """Effect of retiring the hosts of each vendor's oldest CPU model.

    ``no_live_target_before`` / ``_after``: VMs with no other host they can reach without
    downtime, now and once the old nodes are gone (their VMs relocated).
    """

    retired_hosts: tuple[str, ...]
    models: tuple[str, ...]
    features_gained: dict[str, tuple[str, ...]]
    benefiting_vms: int
    benefiting_sample: tuple[str, ...]
    logical_processors_removed: int
    memory_mb_removed: int
    relocation_feasible: bool
    moves: int
    n1_safe_after: bool | None
    no_live_target_before: int = 0
    no_live_target_after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        d["features_gained"] = {k: list(v) for k, v in self.features_gained.items()}
        return d


def retire_oldest(
    cluster: Cluster, catalog: CpuCatalog | None = None, options: FailureOptions | None = None
) -> RetireImpact:
    """Retire, for every vendor with more than one CPU model, the hosts of its oldest model.

    The retired hosts' VMs are relocated with the drain simulation at 100 % capacity (other
    VMs stay); when that succeeds, the smaller cluster is checked for N+1 safety.
    """
    cat = catalog or default_catalog()
    age = _catalog_age(cluster, cat)
    retire: list[int] = []
    models: list[str] = []
    gained: dict[str, tuple[str, ...]] = {}
    benefit: list[np.ndarray] = []
    for vd in Vendor:
        hs = np.flatnonzero((cluster.host_vendor == vd) & (cluster.host_state != HostState.DOWN))
        if len(hs) == 0 or len(set(age[hs].tolist())) < 2:
            continue
        oldest = hs[age[hs] == age[hs].min()]
        retire.extend(int(h) for h in oldest)
        models.append(cluster.host_cpu_model[int(oldest[0])])
        rest = np.setdiff1d(np.flatnonzero(cluster.host_vendor == vd), oldest)
        after = cluster.host_features[rest].all(axis=0)
        g = np.flatnonzero(after & ~cluster.vendor_common_features[vd])
        gained[vd.name] = tuple(cluster.features[i] for i in g)
        if len(g):
            benefit.append(_common_vms(cluster, vd))
    r = np.array(sorted(retire), dtype=np.int64)
    ben = np.concatenate(benefit) if benefit else np.zeros(0, dtype=np.int64)
    if len(r) == 0:
        return RetireImpact((), (), {}, 0, (), 0, 0, True, 0, None)
    eng = RestartEngine(cluster, "drain")
    res = settle(
        eng, failed_matrix(cluster.n_hosts, [tuple(r.tolist())]), options or FailureOptions()
    )[0]
    feasible = bool((res.targets[0] >= 0).all())
    safe_after: bool | None = None
    islands_after: int | None = None
    if feasible:
        placement = cluster.vm_host.astype(np.int64).copy()
        placement[res.movers[0]] = res.targets[0]
        smaller = remove_hosts(cluster, r, placement)
        safe_after = n1_safe(smaller, options)[0]
        # VMs that could not move anywhere without downtime once the old nodes are gone.
        islands_after = int((smaller.vm_live_targets == 0).sum())
    return RetireImpact(
        retired_hosts=tuple(cluster.host_names[h] for h in r),
        models=tuple(models),
        features_gained=gained,
        benefiting_vms=len(ben),
        benefiting_sample=tuple(_names(cluster, ben)),
        logical_processors_removed=int(cluster.host_lp[r].sum()),
        memory_mb_removed=int(cluster.host_memory_mb[r].sum()),
        relocation_feasible=feasible,
        moves=len(res.movers[0]),
        n1_safe_after=safe_after,
        no_live_target_before=int((cluster.vm_live_targets == 0).sum()),
        no_live_target_after=islands_after,
    )


__all__ = ["GenerationImpact", "RetireImpact", "add_generation", "remove_hosts", "retire_oldest"]
