"""The nodes of a generated cluster: CPU models in blocks, sizes from realistic tiers, and
which nodes are made hot (with their CPU and memory load targets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.catalog import CpuCatalog, CpuModel
from planner.cluster import CPU_UNITS, Vendor
from planner.generate.options import (
    LP_TIERS,
    MAX_GB_PER_LP,
    MEMORY_TIERS_MB,
    GeneratorOptions,
    generation_of_hosts,
)
from planner.generate.vms import VmDraw


@dataclass(frozen=True)
class HostDraw:
    """The drawn nodes (arrays per node unless noted).

    ``reach[a, b]``: a VM booted on generation ``a`` (no compatibility mode) can live on
    generation ``b``.
    """

    gen_of_host: np.ndarray
    models: tuple[CpuModel, ...]  # per generation
    model_name: tuple[str, ...]
    vendor: np.ndarray
    memory_mb: np.ndarray
    lp: np.ndarray
    reserve_mb: np.ndarray
    base_pct: np.ndarray
    base_milli: np.ndarray
    reach: np.ndarray

    @property
    def mem_free(self) -> np.ndarray:
        """Memory left for VMs."""
        return self.memory_mb - self.reserve_mb

    @property
    def cpu_free(self) -> np.ndarray:
        """CPU (milli-LP) left for VMs."""
        return self.lp * CPU_UNITS - self.base_milli


def host_names(n: int) -> tuple[str, ...]:
    """``HV01``, ``HV02``, ... (at least two digits)."""
    width = max(2, len(str(n)))
    return tuple(f"HV{i + 1:0{width}d}" for i in range(n))


def _nearest_tier(tiers: tuple[int, ...], value: float) -> int:
    """Index of the tier closest to ``value`` on a log scale."""
    t = np.log(np.asarray(tiers, dtype=float))
    return int(np.argmin(np.abs(t - np.log(max(value, 1.0)))))


def size_hosts(
    o: GeneratorOptions, cat: CpuCatalog, vms: VmDraw, rng: np.random.Generator
) -> HostDraw:
    """Models in contiguous blocks per generation; memory and logical processors from the
    tiers nearest to what the running VMs need at ``load_pct`` (newer generations one tier
    up); the root partition's reserve and a 1–4 % non-VM CPU use drawn from ``rng``."""
    H = o.hosts
    names = o.model_names()
    G = len(names)
    gen_of_host = generation_of_hosts(H, G)
    cms = [m for m in (cat.get(x) for x in names) if m is not None]
    if len(cms) != G:  # option_problems checked the names: a changed catalog is a bug
        raise RuntimeError("CPU model vanished from the catalog")
    running = vms.running
    load = o.load_pct / 100.0
    mem_need = vms.raw_mem[running].sum() / H / load
    cpu_need = (vms.vcpus[running] * vms.usage10[running]).sum() / 1000 / H / load
    mem_tier0 = _nearest_tier(MEMORY_TIERS_MB, mem_need)
    lp_tier0 = _nearest_tier(LP_TIERS, cpu_need)
    # Newer generations of a vendor get the next tier up: -1, 0, +1 for three generations.
    offset = np.zeros(G, dtype=np.int64)
    for vd in (Vendor.INTEL, Vendor.AMD):
        gs = [g for g in range(G) if cms[g].vendor == vd]
        for j, g in enumerate(gs):
            offset[g] = int(np.floor(j - (len(gs) - 1) / 2 + 0.5))
    host_mem = np.array(MEMORY_TIERS_MB, dtype=np.int64)[
        np.clip(mem_tier0 + offset[gen_of_host], 0, len(MEMORY_TIERS_MB) - 1)
    ]
    host_lp = np.array(LP_TIERS, dtype=np.int64)[
        np.clip(lp_tier0 + offset[gen_of_host], 0, len(LP_TIERS) - 1)
    ]
    # Keep memory per logical processor within what servers are sold with (the trace VMs are
    # memory-heavy): at most MAX_GB_PER_LP GB per logical processor when the tiers allow it.
    lp_floor = np.array(
        [
            LP_TIERS[min(np.searchsorted(LP_TIERS, m / 1024 / MAX_GB_PER_LP), len(LP_TIERS) - 1)]
            for m in host_mem
        ],
        dtype=np.int64,
    )
    host_lp = np.maximum(host_lp, lp_floor)
    # Reserve for the root partition: 4 GiB plus 1 % of the node, in whole GiB.
    host_reserve = 4096 + (host_mem // 100 // 1024) * 1024
    host_base_pct = rng.integers(1, 5, size=H)  # 1–4 % non-VM CPU use
    reach = np.zeros((G, G), dtype=bool)
    for a, ca in enumerate(cms):
        for b, cb in enumerate(cms):
            reach[a, b] = ca.vendor == cb.vendor and ca.features <= cb.features
    return HostDraw(
        gen_of_host=gen_of_host,
        models=tuple(cms),
        model_name=tuple(names[g] for g in gen_of_host),
        vendor=np.array([cms[g].vendor for g in gen_of_host], dtype=np.int8),
        memory_mb=host_mem,
        lp=host_lp,
        reserve_mb=host_reserve,
        base_pct=host_base_pct,
        base_milli=host_base_pct * host_lp * (CPU_UNITS // 100),
        reach=reach,
    )


@dataclass(frozen=True)
class LoadTargets:
    """Which nodes are hot, and each node's VM memory (MB) and VM CPU (milli-LP) target."""

    hot: np.ndarray
    memory_mb: np.ndarray
    cpu_milli: np.ndarray


def load_targets(o: GeneratorOptions, hosts: HostDraw, rng: np.random.Generator) -> LoadTargets:
    """Hot hosts above ``hot_load_pct``; the rest share the mean (CPU drawn, then memory)."""
    hot = _choose_hot(o, rng, hosts.vendor, hosts.gen_of_host, hosts.reach)
    t_cpu = _targets(o, rng, hot)
    t_mem = _targets(o, rng, hot)
    tgt_mem_mb = np.maximum(t_mem / 100 * hosts.memory_mb - hosts.reserve_mb, 0)
    tgt_cpu_milli = np.maximum((t_cpu - hosts.base_pct) / 100 * hosts.lp * CPU_UNITS, 0)
    return LoadTargets(hot, tgt_mem_mb, tgt_cpu_milli)


def _choose_hot(
    o: GeneratorOptions,
    rng: np.random.Generator,
    host_vendor: np.ndarray,
    gen_of_host: np.ndarray,
    reach: np.ndarray,
) -> np.ndarray:
    """Boolean mask of the hot hosts.

    Hosts are taken in random order; a host is preferred when a cold host remains that its
    VMs without compatibility mode can live-migrate to (``reach[g1, g2]``: generation ``g2``
    offers every feature of ``g1``), so that live migration alone can relieve it.  When the
    preference cannot be met (too many hot hosts), the remaining hosts fill up the count.
    """
    H = o.hosts
    hot = np.zeros(H, dtype=bool)
    cand = np.arange(H)
    if o.hot_vendor is not None:
        want = Vendor.INTEL if o.hot_vendor.lower() == "intel" else Vendor.AMD
        cand = cand[host_vendor == want]
    order = rng.permutation(cand)
    n = min(o.n_hot, len(order))
    idx = np.arange(H)
    for h in order:
        if hot.sum() >= n:
            break
        escape = reach[gen_of_host[h], gen_of_host] & ~hot & (idx != h)
        if escape.any():
            hot[h] = True
    for h in order:
        if hot.sum() >= n:
            break
        hot[h] = True
    return hot


def _targets(o: GeneratorOptions, rng: np.random.Generator, hot: np.ndarray) -> np.ndarray:
    """Per-host load targets in percent: hot hosts above hot_load_pct, the others jittered
    around the level that makes the hosts' mean equal to load_pct."""
    H = len(hot)
    t = np.zeros(H)
    lo, hi = o.hot_range()
    t[hot] = rng.uniform(lo, hi, size=int(hot.sum()))
    n_cold = H - int(hot.sum())
    if n_cold:
        cold = (H * o.load_pct - t[hot].sum()) / n_cold
        ceiling = o.hot_load_pct - 2.0
        cold = min(max(cold, 5.0), ceiling)
        spread = max(0.0, min(6.0 * (1 + 2 * o.skew), (ceiling - cold) / 2, cold / 2))
        j = rng.uniform(-spread, spread, size=n_cold)
        j -= j.mean()
        t[~hot] = np.clip(cold + j, 3.0, ceiling)
    return t
