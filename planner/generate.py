"""Synthetic, realistic cluster snapshots for examples, tests and benchmarks.

:func:`generate_cluster` is a pure function of :class:`GeneratorOptions` (the seed included):
the same options always give the same :class:`~planner.cluster.Cluster`.

How a cluster is built, and why:

* **Hosts** get real CPU models from the shipped catalog, in contiguous blocks per generation
  (nodes are bought in batches).  Sizes come from realistic tiers (32–128 logical processors,
  256 GB–1.5 TB) chosen so that the drawn VMs load the cluster near ``load_pct`` without
  resizing the VMs much; newer generations get the next tier up.
* **VMs** are drawn (with replacement) from the 500 VMs of the Bitbrains GWA-T-12 "rnd" trace
  shipped in ``planner/resources/bitbrains_vms.csv``: vCPUs, provisioned memory and average
  CPU use.  Memory is then scaled by one cluster-wide factor (to 512 MB steps) so the total
  matches the load target.
* **Imbalance.** ``round(hot_fraction * hosts)`` hosts get CPU and memory targets above
  ``hot_load_pct``; the other hosts share the rest so that the hosts' mean load is
  ``load_pct``.  Running VMs are placed largest first on the host furthest below its memory
  target, then the CPU use of each host's VMs is scaled so the host meets its CPU target:
  busy hosts are busy because their VMs are.  Hot hosts are preferably chosen so that each
  keeps a cold node of the same CPU model, so that live migration can relieve it.
* **Rules** are formed *from* the placement (members of a SameNode rule share a host, those of
  a DifferentNode rule sit on distinct hosts, ...), so every enabled rule holds initially and
  no VM is in two rules: the rule set is consistent and satisfiable.  With
  ``broken_rule_fraction`` some DifferentNode/DifferentFaultDomain rules are broken now
  (members on one node / in one fault domain), as after a failover.  Legacy anti-affinity
  classes likewise have their members on distinct hosts.
* **Possible owners** (restricted for a few VMs) always include the current host; pinned VMs
  and VMs with restricted owners are never rule members.

The initial placement always respects 100 % capacity, possible owners and every enabled rule
(except the rules broken on purpose);
:func:`generate_cluster` checks this before returning.
"""

from __future__ import annotations

import csv
import heapq
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    CPU_UNITS,
    Cluster,
    ClusterSettings,
    CompatMode,
    HostState,
    Network,
    NetworkRole,
    Rule,
    RuleType,
    Vendor,
    VmState,
)
from planner.snapshot.build import HostColumns, VmColumns, build_cluster

#: Default CPU generations per ``vendors`` choice (catalog model names, oldest first).
DEFAULT_GENERATIONS: dict[str, tuple[str, ...]] = {
    "intel": ("Cascadelake-Server", "Icelake-Server", "SapphireRapids"),
    "amd": ("EPYC-Rome", "EPYC-Milan", "EPYC-Genoa"),
    "mixed": (
        "Cascadelake-Server",
        "Icelake-Server",
        "SapphireRapids",
        "EPYC-Rome",
        "EPYC-Milan",
        "EPYC-Genoa",
    ),
}
VENDOR_CHOICES = ("intel", "amd", "mixed")

#: Host size tiers (realistic two-socket nodes).
LP_TIERS = (32, 48, 64, 80, 96, 112, 128)
MEMORY_TIERS_MB = tuple(gb * 1024 for gb in (256, 384, 512, 768, 1024, 1536))

#: VM configuration versions drawn (tenths) and their weights: 9.x VMs exist in every
#: long-lived cluster, and CommonClusterFeatureSet falls back to the minimum set for them.
CONFIG_VERSIONS_X10 = (90, 91, 100, 110, 120)
CONFIG_VERSION_WEIGHTS = (0.15, 0.10, 0.30, 0.25, 0.20)

#: Priority values and weights (High, Medium, Low, NoAutoStart).
PRIORITIES = (3000, 2000, 1000, 0)
PRIORITY_WEIGHTS = (0.15, 0.60, 0.20, 0.05)

#: Raw VM memory from the trace is clipped to this before scaling (a handful of trace VMs
#: have 512 GB, which would not fit the smaller host tiers).
MAX_RAW_VM_MEMORY_MB = 131_072
#: Memory granularity of generated VMs.
MEMORY_STEP_MB = 512
#: A VM never gets more than this share of the smallest host's usable memory, so that every
#: VM can move to another host.
MAX_VM_SHARE_OF_HOST = 0.25
#: Hot hosts are loaded between ``hot_load_pct + HOT_MARGIN`` and that + ``HOT_SPREAD``
#: (never above ``MAX_TARGET_PCT``).
HOT_MARGIN_PCT = 2.0
HOT_SPREAD_PCT = 6.0
MAX_TARGET_PCT = 95.0
#: Running VMs needed per host to reach the load targets with realistic VM sizes.
MIN_RUNNING_VMS_PER_HOST = 2
#: Largest memory per logical processor of a generated host, in GB.
MAX_GB_PER_LP = 12
#: Failover clusters stop at 64 nodes; larger sizes are allowed for scaling studies.
MAX_HOSTS = 128
FAILOVER_CLUSTER_MAX_NODES = 64
MAX_RUNNING_VMS_PER_HOST = 1024


class GeneratorError(ValueError):
    """The options cannot produce a cluster; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class GeneratorOptions:
    """Everything that shapes a generated cluster.  Fractions are of all VMs unless noted.

    Attributes:
        hosts: number of cluster nodes (1–128; above 64 is beyond a failover cluster's
            limit, for scaling studies).
        vms: number of VMs.
        seed: random seed; same options and seed give the same cluster.
        name: cluster name (default ``gen{hosts}x{vms}-s{seed}``).
        vendors: ``intel``, ``amd`` or ``mixed``; picks the default generations.
        generations: catalog CPU model names, assigned to contiguous blocks of hosts; their
            vendors must match ``vendors`` (``mixed`` needs both Intel and AMD models).
        cpu_generations: without ``generations``, use only the oldest 1–3 default generations
            of each vendor (default: all three).
        fault_domains: number of fault domains (racks), hosts assigned round-robin; 0 leaves
            every host its own fault domain; default ``min(4, hosts)``.
        rule_density: fraction of running VMs that are members of affinity rules (the four
            types in turn).
        broken_rule_fraction: fraction of the enabled DifferentNode and DifferentFaultDomain
            rules that are broken now (their members share a node / fault domain), as after a
            failover; the other rules hold.
        disabled_rule_fraction: fraction of the rules that are disabled.
        compat_minimum: fraction of VMs in MinimumFeatureSet mode.
        compat_common: fraction of VMs in CommonClusterFeatureSet mode (those with a 9.x
            configuration version fall back to the minimum set).
        anti_affinity_classes: number of legacy anti-affinity classes (default ``vms // 200``).
        aa_class_size: largest number of members of an anti-affinity class (classes get 2 to
            this many; production clusters mostly have pairs: 2).
        downtime_fraction: fraction of VMs with ``allow_downtime``.
        pinned_fraction: fraction of VMs that are pinned.
        stopped_fraction: fraction of VMs that are Off or Saved (two to one).
        restricted_owners_fraction: fraction of VMs with a restricted possible-owner list
            (the current host plus 1–3 hosts it can live-migrate to; VMs with no such host
            keep all owners).
        restricted_owners_hosts: size of a restricted owner list (the current host included;
            default 2–4 drawn per VM), capped by the hosts the VM can live-migrate to.
        preferred_owners_fraction: fraction of VMs with preferred owners.
        load_pct: mean CPU and memory load of the hosts, in percent.
        hot_fraction: fraction of the hosts loaded above ``hot_load_pct`` (rounded half up).
        hot_load_pct: load that the hot hosts exceed, in CPU and in memory.
        skew: strength of the imbalance, 0–1: 0 loads hot hosts just above ``hot_load_pct``
            (within 6 points) and jitters the others by up to 6 points; 1 spreads the hot
            hosts up to 95 % and the others three times as widely.
        hot_vendor: only hosts of this vendor (``intel``/``amd``) are made hot.
        balancer_level: the cluster's ``auto_balancer_level`` (1 Low, 2 Medium, 3 High).
        enforced_anti_affinity: the cluster's ``enforced_anti_affinity``.
    """

    hosts: int = 16
    vms: int = 1000
    seed: int = 0
    name: str | None = None
    vendors: str = "intel"
    generations: tuple[str, ...] | None = None
    cpu_generations: int | None = None
    fault_domains: int | None = None
    rule_density: float = 0.10
    broken_rule_fraction: float = 0.0
    disabled_rule_fraction: float = 0.05
    compat_minimum: float = 0.20
    compat_common: float = 0.15
    anti_affinity_classes: int | None = None
    aa_class_size: int = 5
    downtime_fraction: float = 0.10
    pinned_fraction: float = 0.02
    stopped_fraction: float = 0.05
    restricted_owners_fraction: float = 0.03
    restricted_owners_hosts: int | None = None
    preferred_owners_fraction: float = 0.10
    load_pct: float = 50.0
    hot_fraction: float = 0.2
    hot_load_pct: float = 85.0
    skew: float = 0.0
    hot_vendor: str | None = None
    balancer_level: int = 1
    enforced_anti_affinity: bool = False

    @property
    def cluster_name(self) -> str:
        """The cluster name used (explicit or derived from the sizes and seed)."""
        return self.name or f"gen{self.hosts}x{self.vms}-s{self.seed}"

    @property
    def n_hot(self) -> int:
        """Number of hot hosts: ``hot_fraction * hosts`` rounded half up."""
        return int(np.floor(self.hot_fraction * self.hosts + 0.5))

    @property
    def n_fault_domains(self) -> int:
        """Fault domains in use (0: every host is its own)."""
        return min(4, self.hosts) if self.fault_domains is None else self.fault_domains

    def model_names(self) -> tuple[str, ...]:
        """CPU generations in use (explicit or the vendor default)."""
        if self.generations:
            return tuple(self.generations)
        models = DEFAULT_GENERATIONS.get(self.vendors.lower(), DEFAULT_GENERATIONS["intel"])
        if self.cpu_generations is None:
            return models
        n = self.cpu_generations  # oldest n of each vendor (the defaults list 3 per vendor)
        return tuple(m for i, m in enumerate(models) if i % 3 < n)

    def hot_range(self) -> tuple[float, float]:
        """Range of the hot hosts' load targets in percent (widened by ``skew``)."""
        lo = self.hot_load_pct + HOT_MARGIN_PCT
        extra = self.skew * max(0.0, MAX_TARGET_PCT - lo - HOT_SPREAD_PCT)
        return lo, min(lo + HOT_SPREAD_PCT + extra, MAX_TARGET_PCT)


def option_problems(options: GeneratorOptions, catalog: CpuCatalog | None = None) -> list[str]:
    """Every reason why ``options`` cannot produce a cluster (empty when they can)."""
    o = options
    cat = catalog or default_catalog()
    out: list[str] = []
    if not 1 <= o.hosts <= MAX_HOSTS:
        out.append(
            f"hosts must be from 1 to {MAX_HOSTS} (a failover cluster has at most "
            f"{FAILOVER_CLUSTER_MAX_NODES}), got {o.hosts}"
        )
    if o.vms < 0:
        out.append(f"vms must be >= 0, got {o.vms}")
    if o.seed < 0:
        out.append(f"seed must be >= 0, got {o.seed}")
    if o.vendors.lower() not in VENDOR_CHOICES:
        out.append(f"vendors must be one of {', '.join(VENDOR_CHOICES)}, got {o.vendors!r}")
    fractions = {
        "rule_density": o.rule_density,
        "disabled_rule_fraction": o.disabled_rule_fraction,
        "compat_minimum": o.compat_minimum,
        "compat_common": o.compat_common,
        "downtime_fraction": o.downtime_fraction,
        "pinned_fraction": o.pinned_fraction,
        "stopped_fraction": o.stopped_fraction,
        "hot_fraction": o.hot_fraction,
        "restricted_owners_fraction": o.restricted_owners_fraction,
        "broken_rule_fraction": o.broken_rule_fraction,
        "skew": o.skew,
        "preferred_owners_fraction": o.preferred_owners_fraction,
    }
    for k, v in fractions.items():
        if not 0.0 <= v <= 1.0:
            out.append(f"{k} must be a fraction from 0 to 1, got {v}")
    if o.compat_minimum + o.compat_common > 1.0 + 1e-9:
        out.append(
            "compat_minimum + compat_common must not exceed 1, got "
            f"{o.compat_minimum + o.compat_common:g}"
        )
    if o.stopped_fraction > 0.9:
        out.append(f"stopped_fraction must be at most 0.9, got {o.stopped_fraction}")
    if o.aa_class_size < 2:
        out.append(f"aa_class_size must be at least 2, got {o.aa_class_size}")
    if o.cpu_generations is not None and not 1 <= o.cpu_generations <= 3:
        out.append(f"cpu_generations must be 1, 2 or 3, got {o.cpu_generations}")
    if o.restricted_owners_hosts is not None and o.restricted_owners_hosts < 1:
        out.append(f"restricted_owners_hosts must be at least 1, got {o.restricted_owners_hosts}")
    if o.anti_affinity_classes is not None and o.anti_affinity_classes < 0:
        out.append(f"anti_affinity_classes must be >= 0, got {o.anti_affinity_classes}")
    if o.fault_domains is not None and not 0 <= o.fault_domains <= max(o.hosts, 0):
        out.append(
            f"fault_domains must be from 0 to the number of hosts ({o.hosts}), "
            f"got {o.fault_domains}"
        )
    if o.balancer_level not in (1, 2, 3):
        out.append(f"balancer_level must be 1, 2 or 3, got {o.balancer_level}")
    if not 10.0 <= o.load_pct <= 90.0:
        out.append(f"load_pct must be from 10 to 90, got {o.load_pct}")
    if not 20.0 <= o.hot_load_pct <= MAX_TARGET_PCT - HOT_MARGIN_PCT:
        out.append(
            f"hot_load_pct must be from 20 to {MAX_TARGET_PCT - HOT_MARGIN_PCT:g}, "
            f"got {o.hot_load_pct}"
        )
    # Models and vendors.
    models = o.model_names()
    vendors: set[Vendor] = set()
    for m in models:
        cm = cat.get(m)
        if cm is None:
            out.append(f"unknown CPU model {m!r}; known: {', '.join(cat.names())}")
        elif cm.vendor not in (Vendor.INTEL, Vendor.AMD):
            out.append(f"CPU model {m!r} is neither Intel nor AMD")
        else:
            vendors.add(cm.vendor)
    want = o.vendors.lower()
    if o.generations and want in VENDOR_CHOICES and vendors:
        expect = {
            "intel": {Vendor.INTEL},
            "amd": {Vendor.AMD},
            "mixed": {Vendor.INTEL, Vendor.AMD},
        }[want]
        if vendors != expect:
            out.append(f"generations {', '.join(models)} do not match vendors={want!r}")
    if want == "mixed" and o.hosts < 2:
        out.append("vendors=mixed needs at least 2 hosts")
    if o.hot_vendor is not None:
        hv = o.hot_vendor.lower()
        if hv not in ("intel", "amd"):
            out.append(f"hot_vendor must be intel or amd, got {o.hot_vendor!r}")
        elif vendors and not out:
            want_v = Vendor.INTEL if hv == "intel" else Vendor.AMD
            gens = [cat.get(m) for m in models]
            G = len(gens)
            n_v = sum(
                1
                for g in _generation_of_hosts(o.hosts, G)
                if (cm := gens[g]) is not None and cm.vendor == want_v
            )
            if n_v < o.n_hot:
                out.append(
                    f"hot_fraction {o.hot_fraction:g} asks for {o.n_hot} hot host(s) "
                    f"but only {n_v} host(s) are {hv}"
                )
    if o.vms > MAX_RUNNING_VMS_PER_HOST * max(o.hosts, 1):
        out.append(
            f"{o.vms} VMs do not fit on {o.hosts} hosts: Hyper-V runs at most "
            f"{MAX_RUNNING_VMS_PER_HOST} VMs per host"
        )
    # Load targets: the cold hosts must absorb the rest of the mean load.
    if not out and 0 < o.n_hot < o.hosts:
        lo, hi = o.hot_range()
        hot_mean = min(lo + (hi - lo) / 2, MAX_TARGET_PCT)
        cold = (o.hosts * o.load_pct - o.n_hot * hot_mean) / (o.hosts - o.n_hot)
        if cold > o.hot_load_pct - 3.0:
            out.append(
                f"load_pct {o.load_pct:g} is too high for hot_load_pct "
                f"{o.hot_load_pct:g}: the other hosts would need {cold:.1f} %"
            )
        elif cold < 5.0:
            out.append(
                f"load_pct {o.load_pct:g} is too low for {o.n_hot} hot host(s) at "
                f"{o.hot_load_pct:g} %: the other hosts would need {cold:.1f} %"
            )
    if not out and o.n_hot == 0 and o.load_pct > o.hot_load_pct - 3.0:
        out.append(
            f"load_pct {o.load_pct:g} must be at least 3 points below hot_load_pct "
            f"{o.hot_load_pct:g} when no host is hot"
        )
    return out


# ----------------------------------------------------------------------------- trace data
@dataclass(frozen=True)
class VmTrace:
    """VM sizes and CPU use from a public trace (one entry per traced VM)."""

    vcpus: np.ndarray  # int64
    memory_mb: np.ndarray  # int64
    cpu_usage_pct: np.ndarray  # float64, 5-minute average use of the VM's own vCPUs


@cache
def bitbrains_trace() -> VmTrace:
    """The Bitbrains GWA-T-12 "rnd" VMs shipped with the package (cached)."""
    ref = resources.files("planner.resources").joinpath("bitbrains_vms.csv")
    with resources.as_file(ref) as p, open(Path(p), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return VmTrace(
        vcpus=np.array([int(r["vcpus"]) for r in rows], dtype=np.int64),
        memory_mb=np.array([int(r["memory_mb"]) for r in rows], dtype=np.int64),
        cpu_usage_pct=np.array([float(r["cpu_usage_pct"]) for r in rows], dtype=float),
    )


# ----------------------------------------------------------------------------- helpers
def _nearest_tier(tiers: tuple[int, ...], value: float) -> int:
    """Index of the tier closest to ``value`` on a log scale."""
    t = np.log(np.asarray(tiers, dtype=float))
    return int(np.argmin(np.abs(t - np.log(max(value, 1.0)))))


def _pick(rng: np.random.Generator, n: int, fraction: float, candidates: np.ndarray) -> np.ndarray:
    """``round(fraction * n)`` distinct indices from ``candidates`` (fewer if too few)."""
    k = min(int(np.floor(fraction * n + 0.5)), len(candidates))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(rng.choice(candidates, size=k, replace=False))


def _scale_memory(raw: np.ndarray, total: float, cap: int) -> np.ndarray:
    """Scale ``raw`` memory sizes so they sum to about ``total`` (MB), in MEMORY_STEP_MB steps,
    none above ``cap``.  Sizes that hit the cap stay there; the rest absorb the difference."""
    if len(raw) == 0:
        return raw.astype(np.int64)
    out = raw.astype(float)
    fixed = np.zeros(len(raw), dtype=bool)
    for _ in range(6):
        free_total = total - out[fixed].sum()
        base = raw[~fixed].astype(float)
        if free_total <= 0 or base.sum() <= 0:
            break
        out[~fixed] = base * (free_total / base.sum())
        over = out > cap
        if not (over & ~fixed).any():
            break
        out[over] = cap
        fixed |= over
    step = MEMORY_STEP_MB
    return np.clip(np.rint(out / step) * step, step, max(step, cap // step * step)).astype(np.int64)


class _Placer:
    """Largest-first placement of running VMs on the host furthest below its memory target."""

    def __init__(
        self, targets: np.ndarray, mem_free: np.ndarray, lp: np.ndarray, tie: np.ndarray
    ) -> None:
        self.targets = targets.astype(np.int64)
        self.mem_free = mem_free.astype(np.int64)
        self.lp = lp
        self.used = np.zeros(len(targets), dtype=np.int64)
        self.count = np.zeros(len(targets), dtype=np.int64)
        # Heap of (-deficit, random tie-break, host): the host most below its target first.
        self.heap = [(-int(t), int(tie[h]), h) for h, t in enumerate(self.targets)]
        heapq.heapify(self.heap)
        self.tie = tie

    def place(self, mem: int, vcpus: int) -> int:
        """Host for one VM, or -1 when it fits on no host."""
        skipped = []
        chosen = -1
        while self.heap:
            entry = heapq.heappop(self.heap)
            h = entry[2]
            if (
                self.used[h] + mem <= self.mem_free[h]
                and vcpus <= self.lp[h]
                and self.count[h] < MAX_RUNNING_VMS_PER_HOST
            ):
                chosen = h
                break
            skipped.append(entry)
        for e in skipped:
            heapq.heappush(self.heap, e)
        if chosen >= 0:
            self.used[chosen] += mem
            self.count[chosen] += 1
            heapq.heappush(
                self.heap,
                (-int(self.targets[chosen] - self.used[chosen]), int(self.tie[chosen]), chosen),
            )
        return chosen


# ----------------------------------------------------------------------------- generator
def generate_cluster(options: GeneratorOptions, catalog: CpuCatalog | None = None) -> Cluster:
    """Build a realistic synthetic cluster from ``options`` (deterministic by seed).

    Raises:
        GeneratorError: the options are inconsistent or cannot be met (every reason listed).
    """
    cat = catalog or default_catalog()
    problems = option_problems(options, cat)
    if problems:
        raise GeneratorError(problems)
    o = options
    H, V = o.hosts, o.vms
    # Independent streams per concern, so a change in one part keeps the others stable.
    streams = np.random.SeedSequence(o.seed).spawn(6)
    r_vm, r_host, r_target, r_place, r_attr, r_rule = (np.random.default_rng(s) for s in streams)

    # --- VMs: sizes and CPU use from the trace -------------------------------------------
    trace = bitbrains_trace()
    pick = r_vm.integers(0, len(trace.vcpus), size=V)
    vcpus = trace.vcpus[pick].copy()
    raw_mem = np.clip(trace.memory_mb[pick], MEMORY_STEP_MB, MAX_RAW_VM_MEMORY_MB)
    # Tenths of a percent; at least 0.1 % so that per-host CPU scaling can reach every VM.
    usage10 = np.maximum(np.rint(trace.cpu_usage_pct[pick] * 10), 1).astype(np.int64)
    state = np.full(V, VmState.RUNNING, dtype=np.int8)
    stopped = _pick(r_vm, V, o.stopped_fraction, np.arange(V))
    saved = r_vm.random(len(stopped)) < 1 / 3
    state[stopped[~saved]] = VmState.OFF
    state[stopped[saved]] = VmState.SAVED
    running = state == VmState.RUNNING
    n_run = int(running.sum())
    if n_run < MIN_RUNNING_VMS_PER_HOST * H:
        raise GeneratorError(
            [
                f"{n_run} running VMs are too few to load {H} hosts to "
                f"{o.load_pct:g} %: use at least "
                f"{MIN_RUNNING_VMS_PER_HOST * H} running VMs"
            ]
        )

    # --- hosts: models in blocks, sizes from tiers ----------------------------------------
    models = o.model_names()
    G = len(models)
    gen_of_host = _generation_of_hosts(H, G)
    cms = [m for m in (cat.get(x) for x in models) if m is not None]
    if len(cms) != G:  # option_problems checked the names: a changed catalog is a bug
        raise RuntimeError("CPU model vanished from the catalog")
    host_model = tuple(models[g] for g in gen_of_host)
    host_vendor = np.array([cms[g].vendor for g in gen_of_host], dtype=np.int8)
    load = o.load_pct / 100.0
    mem_need = raw_mem[running].sum() / H / load
    cpu_need = (vcpus[running] * usage10[running]).sum() / 1000 / H / load
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
    host_base_pct = r_host.integers(1, 5, size=H)  # 1–4 % non-VM CPU use
    host_base_milli = host_base_pct * host_lp * (CPU_UNITS // 100)
    mem_free = host_mem - host_reserve
    cpu_free = host_lp * CPU_UNITS - host_base_milli

    # --- load targets: hot hosts above hot_load_pct, the rest share the mean ---------------
    # reach[a, b]: a VM booted on generation a (no compatibility mode) can live on b.
    reach = np.zeros((G, G), dtype=bool)
    for a, ca in enumerate(cms):
        for b, cb in enumerate(cms):
            reach[a, b] = ca.vendor == cb.vendor and ca.features <= cb.features
    hot = _choose_hot(o, r_target, host_vendor, gen_of_host, reach)
    t_cpu = _targets(o, r_target, hot)
    t_mem = _targets(o, r_target, hot)
    tgt_mem_mb = np.maximum(t_mem / 100 * host_mem - host_reserve, 0)
    tgt_cpu_milli = np.maximum((t_cpu - host_base_pct) / 100 * host_lp * CPU_UNITS, 0)

    # --- memory: one cluster-wide factor, then largest-first placement ---------------------
    cap = int(MAX_VM_SHARE_OF_HOST * mem_free.min())
    mem = np.zeros(V, dtype=np.int64)
    mem[running] = _scale_memory(raw_mem[running], float(tgt_mem_mb.sum()), cap)
    # Stopped VMs use no memory now but get the same factor, to look like their neighbours.
    factor = mem[running].sum() / max(int(raw_mem[running].sum()), 1)
    mem[~running] = np.clip(
        np.rint(raw_mem[~running] * factor / MEMORY_STEP_MB) * MEMORY_STEP_MB,
        MEMORY_STEP_MB,
        max(cap, MEMORY_STEP_MB),
    )
    vm_host = np.zeros(V, dtype=np.int32)
    run_idx = np.flatnonzero(running)
    order = run_idx[np.lexsort((r_place.random(len(run_idx)), -mem[run_idx]))]
    placer = _Placer(tgt_mem_mb, mem_free, host_lp, r_place.permutation(H))
    for v in order:
        h = placer.place(int(mem[v]), int(vcpus[v]))
        if h < 0:
            raise GeneratorError(
                [
                    f"the VMs do not fit in the hosts' memory at "
                    f"{o.load_pct:g} % load: use more hosts or a lower load"
                ]
            )
        vm_host[v] = h
    stopped_mask = ~running
    vm_host[stopped_mask] = r_place.integers(0, H, size=int(stopped_mask.sum()))

    # --- CPU: scale each host's VMs to meet its CPU target ---------------------------------
    usage10 = _fit_cpu(usage10, vcpus, vm_host, running, tgt_cpu_milli, H)
    cpu_milli = vcpus * usage10
    cpu_load = np.bincount(vm_host[running], weights=cpu_milli[running], minlength=H)
    mem_load = np.bincount(vm_host[running], weights=mem[running], minlength=H)
    if (cpu_load > cpu_free).any() or (mem_load > mem_free).any():
        raise GeneratorError(
            [
                "the VMs do not fit in the hosts' capacity at the requested "
                "loads: lower hot_load_pct or load_pct"
            ]
        )
    # With few, coarse VMs per host the targets may be missed; a cluster whose hot hosts are
    # not the asked ones would mislead whoever uses it, so say so instead.
    cpu_pct = 100 * (cpu_load + host_base_milli) / (host_lp * CPU_UNITS)
    mem_pct = 100 * (mem_load + host_reserve) / host_mem
    over = (cpu_pct > o.hot_load_pct) | (mem_pct > o.hot_load_pct)
    if not np.array_equal(over, hot):
        names = _host_names(H)
        bad = ", ".join(
            f"{names[h]} (CPU {cpu_pct[h]:.1f} %, memory {mem_pct[h]:.1f} %)"
            for h in np.flatnonzero(over != hot)[:3]
        )
        raise GeneratorError(
            [
                f"{n_run} running VMs on {H} hosts are too few or too coarse to "
                f"load exactly {o.n_hot} host(s) above {o.hot_load_pct:g} %: "
                f"{bad} missed the target; use more VMs or fewer hosts"
            ]
        )

    # --- VM attributes ---------------------------------------------------------------------
    u = r_attr.random(V)
    compat = np.full(V, CompatMode.NONE, dtype=np.int8)
    compat[u < o.compat_minimum] = CompatMode.MINIMUM
    compat[(u >= o.compat_minimum) & (u < o.compat_minimum + o.compat_common)] = CompatMode.COMMON
    version = r_attr.choice(
        np.array(CONFIG_VERSIONS_X10, dtype=np.int32), size=V, p=np.array(CONFIG_VERSION_WEIGHTS)
    )
    priority = r_attr.choice(
        np.array(PRIORITIES, dtype=np.int16), size=V, p=np.array(PRIORITY_WEIGHTS)
    )
    downtime = np.zeros(V, dtype=bool)
    downtime[_pick(r_attr, V, o.downtime_fraction, np.arange(V))] = True

    # --- rules from the placement, then pinned and owners among the other VMs --------------
    n_fd = o.n_fault_domains
    fd_of_host = (np.arange(H) % n_fd if n_fd else np.arange(H)).astype(np.int32)
    fd_names = tuple(f"Rack{k + 1}" for k in range(n_fd)) if n_fd else _host_names(H)
    rules, in_rule = _make_rules(o, r_rule, vm_host, running, fd_of_host, H, V)
    free = np.flatnonzero(running & ~in_rule)
    pinned = np.zeros(V, dtype=bool)
    pinned[_pick(r_attr, V, o.pinned_fraction, free)] = True
    possible = np.ones((V, H), dtype=bool)
    restricted = _pick(r_attr, V, o.restricted_owners_fraction, np.flatnonzero(~in_rule & ~pinned))
    for v in restricted:
        # Owners are the current host plus one to three hosts the VM can live-migrate to,
        # so that a restricted VM is never stranded by its owner list alone.
        h = int(vm_host[v])
        others = np.flatnonzero(reach[gen_of_host[h], gen_of_host] & (np.arange(H) != h))
        if len(others) == 0:
            continue
        k = min(
            len(others),
            int(r_attr.integers(1, 4))
            if o.restricted_owners_hosts is None
            else o.restricted_owners_hosts - 1,
        )
        possible[v] = False
        possible[v, h] = True
        possible[v, r_attr.choice(others, size=k, replace=False)] = True
    preferred: list[tuple[int, ...]] = [()] * V
    for v in _pick(r_attr, V, o.preferred_owners_fraction, np.arange(V)):
        h = int(vm_host[v])
        alt = np.flatnonzero(possible[v] & (np.arange(H) != h))
        preferred[v] = (h, int(r_attr.choice(alt))) if len(alt) else (h,)
    n_aa = V // 200 if o.anti_affinity_classes is None else o.anti_affinity_classes
    aa_names, vm_aa = _make_aa_classes(r_rule, n_aa, vm_host, running, H, V, o.aa_class_size)

    hosts = _host_names(H)
    width = max(4, len(str(V)))
    networks = (
        Network("Management", NetworkRole.CLUSTER_AND_CLIENT, None, 10.0),
        Network("LiveMigration-1", NetworkRole.CLUSTER, 1, 25.0),
        Network("LiveMigration-2", NetworkRole.CLUSTER, 2, 10.0),
    )
    owners: list[tuple[int, ...]] = [()] * V
    for v in np.flatnonzero(~possible.all(axis=1)).tolist():
        owners[v] = tuple(np.flatnonzero(possible[v]).tolist())
    cluster = build_cluster(
        o.cluster_name,
        HostColumns(
            names=hosts,
            vendor=host_vendor,
            logical_processors=host_lp,
            memory_mb=host_mem,
            state=np.full(H, HostState.UP, dtype=np.int8),
            fault_domain=[fd_names[f] for f in fd_of_host],
            cpu_model=host_model,
            features=[cms[g].features for g in gen_of_host],
            memory_reserve_mb=host_reserve.astype(np.int64),
            cpu_base_milli=host_base_milli.astype(np.int64),
            max_vm_migrations=np.full(H, 2, dtype=np.int64),
        ),
        VmColumns(
            names=tuple(f"vm-{i + 1:0{width}d}" for i in range(V)),
            host=vm_host,
            vcpus=vcpus,
            memory_mb=mem,
            state=state,
            priority=priority,
            cpu_milli=cpu_milli.astype(np.int64),
            config_version_x10=version,
            compat=compat,
            possible_owners=owners,
            preferred_owners=preferred,
            anti_affinity_classes=[tuple(aa_names[c] for c in cs) for cs in vm_aa],
            allow_downtime=downtime,
            pinned=pinned,
        ),
        settings=ClusterSettings(
            auto_balancer_mode=2,
            auto_balancer_level=o.balancer_level,
            enforced_anti_affinity=o.enforced_anti_affinity,
        ),
        rules=rules,
        networks=networks,
        catalog=cat,
    )
    return cluster


def _generation_of_hosts(hosts: int, generations: int) -> np.ndarray:
    """Generation index of each host: contiguous, near-equal blocks, oldest first."""
    return (np.arange(hosts) * generations) // hosts


def _host_names(n: int) -> tuple[str, ...]:
    width = max(2, len(str(n)))
    return tuple(f"HV{i + 1:0{width}d}" for i in range(n))


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


def _fit_cpu(
    usage10: np.ndarray,
    vcpus: np.ndarray,
    vm_host: np.ndarray,
    running: np.ndarray,
    target: np.ndarray,
    H: int,
) -> np.ndarray:
    """Scale the CPU use (tenths of a percent) of each host's running VMs so that the host's
    VM CPU load meets ``target`` (milli-LP); VMs at 100 % stay there, the others take up
    the rest."""
    u = usage10.astype(float).copy()
    run = running
    for _ in range(5):
        at_max = u >= 1000
        load = np.bincount(vm_host[run], weights=(vcpus * u)[run], minlength=H)
        flexible = np.bincount(
            vm_host[run & ~at_max], weights=(vcpus * u)[run & ~at_max], minlength=H
        )
        fixed = load - flexible
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(flexible > 0, (target - fixed) / flexible, 1.0)
        factor = np.maximum(factor, 0.0)
        sel = run & ~at_max
        u[sel] = np.minimum(u[sel] * factor[vm_host[sel]], 1000.0)
        if np.allclose(
            np.bincount(vm_host[run], weights=(vcpus * u)[run], minlength=H), target, rtol=1e-3
        ):
            break
    out = np.rint(u).astype(np.int64)
    out[run] = np.clip(out[run], 1, 1000)
    out[~run] = np.clip(usage10[~run], 0, 1000)
    return out


def _make_rules(
    o: GeneratorOptions,
    rng: np.random.Generator,
    vm_host: np.ndarray,
    running: np.ndarray,
    fd_of_host: np.ndarray,
    H: int,
    V: int,
) -> tuple[tuple[Rule, ...], np.ndarray]:
    """Affinity rules that the placement satisfies; each VM is in at most one rule."""
    in_rule = np.zeros(V, dtype=bool)
    target = int(np.floor(o.rule_density * int(running.sum()) + 0.5))
    if target < 2:
        return (), in_rule
    cand = np.flatnonzero(running)
    cand = cand[rng.permutation(len(cand))]
    pools: list[list[int]] = [[] for _ in range(H)]
    for v in cand.tolist():
        pools[int(vm_host[v])].append(v)
    n_fd = int(fd_of_host.max()) + 1
    hosts_of_fd = [np.flatnonzero(fd_of_host == f).tolist() for f in range(n_fd)]
    types = [RuleType.SAME_NODE, RuleType.DIFFERENT_NODE, RuleType.SAME_FAULT_DOMAIN]
    if n_fd >= 2:
        types.append(RuleType.DIFFERENT_FAULT_DOMAIN)
    rules: list[Rule] = []
    used = 0
    failures = 0
    i = 0
    while used < target and failures < len(types):
        rt = types[i % len(types)]
        i += 1
        # A broken DifferentNode / DifferentFaultDomain rule takes the members of the
        # opposite shape (one node / one fault domain); draws only when asked for.
        broken = (
            o.broken_rule_fraction > 0
            and rt in _BROKEN_SHAPE
            and bool(rng.random() < o.broken_rule_fraction)
        )
        members = _rule_members(
            _BROKEN_SHAPE[rt] if broken else rt, rng, pools, hosts_of_fd, min(target - used, 4)
        )
        if len(members) < 2:
            failures += 1
            continue
        failures = 0
        in_rule[members] = True
        used += len(members)
        enabled = bool(rng.random() >= o.disabled_rule_fraction) or broken
        name = f"{_RULE_PREFIX[rt]}-{len(rules) + 1:03d}"
        rules.append(Rule(name, rt, enabled, tuple(members)))
    return tuple(rules), in_rule


_BROKEN_SHAPE = {
    RuleType.DIFFERENT_NODE: RuleType.SAME_NODE,
    RuleType.DIFFERENT_FAULT_DOMAIN: RuleType.SAME_FAULT_DOMAIN,
}

_RULE_PREFIX = {
    RuleType.SAME_NODE: "together",
    RuleType.DIFFERENT_NODE: "apart",
    RuleType.SAME_FAULT_DOMAIN: "same-rack",
    RuleType.DIFFERENT_FAULT_DOMAIN: "across-racks",
}


def _rule_members(
    rt: RuleType,
    rng: np.random.Generator,
    pools: list[list[int]],
    hosts_of_fd: list[list[int]],
    room: int,
) -> list[int]:
    """Members for one rule of type ``rt`` taken from the per-host pools (may be empty)."""
    if room < 2:
        return []
    if rt == RuleType.SAME_NODE:
        ok = [h for h, p in enumerate(pools) if len(p) >= 2]
        if not ok:
            return []
        h = ok[int(rng.integers(len(ok)))]
        k = min(int(rng.integers(2, 4)), room, len(pools[h]))
        return [pools[h].pop() for _ in range(k)]
    if rt == RuleType.DIFFERENT_NODE:
        ok = [h for h, p in enumerate(pools) if p]
        k = min(int(rng.integers(2, 5)), room, len(ok))
        if k < 2:
            return []
        return [pools[int(h)].pop() for h in rng.choice(ok, size=k, replace=False)]
    fd_free = [sum(len(pools[h]) for h in hs) for hs in hosts_of_fd]
    if rt == RuleType.SAME_FAULT_DOMAIN:
        ok = [f for f, n in enumerate(fd_free) if n >= 2]
        if not ok:
            return []
        f = ok[int(rng.integers(len(ok)))]
        k = min(int(rng.integers(2, 4)), room, fd_free[f])
        out: list[int] = []
        while len(out) < k:
            hs = [h for h in hosts_of_fd[f] if pools[h]]
            out.append(pools[hs[int(rng.integers(len(hs)))]].pop())
        return out
    ok = [f for f, n in enumerate(fd_free) if n >= 1]
    k = min(int(rng.integers(2, 4)), room, len(ok))
    if k < 2:
        return []
    out = []
    for f in rng.choice(ok, size=k, replace=False):
        hs = [h for h in hosts_of_fd[int(f)] if pools[h]]
        out.append(pools[hs[int(rng.integers(len(hs)))]].pop())
    return out


def _make_aa_classes(
    rng: np.random.Generator,
    n: int,
    vm_host: np.ndarray,
    running: np.ndarray,
    H: int,
    V: int,
    max_size: int = 5,
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """Legacy anti-affinity classes whose members run on distinct hosts.  Classes are
    numbered in the order their first member appears, as the snapshot loader numbers them."""
    if n <= 0 or H < 2:
        return (), tuple(() for _ in range(V))
    run_idx = np.flatnonzero(running)
    by_host = [run_idx[vm_host[run_idx] == h] for h in range(H)]
    nonempty = np.array([h for h in range(H) if len(by_host[h])])
    classes: list[list[int]] = []
    for _ in range(n):
        k = min(int(rng.integers(2, max_size + 1)), len(nonempty))
        if k < 2:
            break
        hs = rng.choice(nonempty, size=k, replace=False)
        classes.append(sorted(int(by_host[h][rng.integers(len(by_host[h]))]) for h in hs))
    # Renumber by first member so names follow the order in vms.csv.
    order = sorted(range(len(classes)), key=lambda c: (classes[c][0], c))
    vm_aa: list[list[int]] = [[] for _ in range(V)]
    for new, c in enumerate(order):
        for v in classes[c]:
            vm_aa[v].append(new)
    names = tuple(f"AA-{c + 1:02d}" for c in range(len(classes)))
    return names, tuple(tuple(sorted(x)) for x in vm_aa)
