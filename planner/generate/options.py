"""What shapes a generated cluster: :class:`GeneratorOptions`, their limits and
:func:`option_problems` (every reason why a set of options cannot produce a cluster)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import Vendor

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

    Attributes
    ----------
    hosts:
        number of cluster nodes (1–128; above 64 is beyond a failover cluster's
        limit, for scaling studies).
    vms:
        number of VMs.
    seed:
        random seed; same options and seed give the same cluster.
    name:
        cluster name (default ``gen{hosts}x{vms}-s{seed}``).
    vendors:
        ``intel``, ``amd`` or ``mixed``; picks the default generations.
    generations:
        catalog CPU model names, assigned to contiguous blocks of hosts; their
        vendors must match ``vendors`` (``mixed`` needs both Intel and AMD models).
    cpu_generations:
        without ``generations``, use only the oldest 1–3 default generations
        of each vendor (default: all three).
    fault_domains:
        number of fault domains (racks), hosts assigned round-robin; 0 leaves
        every host its own fault domain; default ``min(4, hosts)``.
    rule_density:
        fraction of running VMs that are members of affinity rules (the four
        types in turn).
    broken_rule_fraction:
        fraction of the enabled DifferentNode and DifferentFaultDomain
        rules that are broken now (their members share a node / fault domain), as after a
        failover; the other rules hold.
    disabled_rule_fraction:
        fraction of the rules that are disabled.
    compat_minimum:
        fraction of VMs in MinimumFeatureSet mode.
    compat_common:
        fraction of VMs in CommonClusterFeatureSet mode (those with a 9.x
        configuration version fall back to the minimum set).
    anti_affinity_classes:
        number of legacy anti-affinity classes (default ``vms // 200``).
    aa_class_size:
        largest number of members of an anti-affinity class (classes get 2 to
        this many; production clusters mostly have pairs: 2).
    downtime_fraction:
        fraction of VMs with ``allow_downtime``.
    pinned_fraction:
        fraction of VMs that are pinned.
    stopped_fraction:
        fraction of VMs that are Off or Saved (two to one).
    restricted_owners_fraction:
        fraction of VMs with a restricted possible-owner list
        (the current host plus 1–3 hosts it can live-migrate to; VMs with no such host
        keep all owners).
    restricted_owners_hosts:
        size of a restricted owner list (the current host included;
        default 2–4 drawn per VM), capped by the hosts the VM can live-migrate to.
    preferred_owners_fraction:
        fraction of VMs with preferred owners.
    load_pct:
        mean CPU and memory load of the hosts, in percent.
    hot_fraction:
        fraction of the hosts loaded above ``hot_load_pct`` (rounded half up).
    hot_load_pct:
        load that the hot hosts exceed, in CPU and in memory.
    skew:
        strength of the imbalance, 0–1: 0 loads hot hosts just above ``hot_load_pct``
        (within 6 points) and jitters the others by up to 6 points; 1 spreads the hot
        hosts up to 95 % and the others three times as widely.
    hot_vendor:
        only hosts of this vendor (``intel``/``amd``) are made hot.
    balancer_level:
        the cluster's ``auto_balancer_level`` (1 Low, 2 Medium, 3 High).
    enforced_anti_affinity:
        the cluster's ``enforced_anti_affinity``.
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


def generation_of_hosts(hosts: int, generations: int) -> np.ndarray:
    """Generation index of each host: contiguous, near-equal blocks, oldest first."""
    return (np.arange(hosts) * generations) // hosts


def option_problems(options: GeneratorOptions, catalog: CpuCatalog | None = None) -> list[str]:
    """Every reason why ``options`` cannot produce a cluster (empty when they can)."""
    cat = catalog or default_catalog()
    out = _range_problems(options)
    out += _model_problems(options, cat, checked=not out)
    if options.vms > MAX_RUNNING_VMS_PER_HOST * max(options.hosts, 1):
        out.append(
            f"{options.vms} VMs do not fit on {options.hosts} hosts: Hyper-V runs at most "
            f"{MAX_RUNNING_VMS_PER_HOST} VMs per host"
        )
    if not out:
        out += _load_problems(options)
    return out


def _range_problems(o: GeneratorOptions) -> list[str]:
    """Options outside their ranges (counts, fractions, levels, loads)."""
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
    return out


def _model_problems(o: GeneratorOptions, cat: CpuCatalog, checked: bool) -> list[str]:
    """Unknown models, models that do not match ``vendors``, and a ``hot_vendor`` with too
    few nodes (judged only when the other options are ``checked`` sound)."""
    out: list[str] = []
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
        elif vendors and checked and not out:
            want_v = Vendor.INTEL if hv == "intel" else Vendor.AMD
            gens = [cat.get(m) for m in models]
            G = len(gens)
            n_v = sum(
                1
                for g in generation_of_hosts(o.hosts, G)
                if (cm := gens[g]) is not None and cm.vendor == want_v
            )
            if n_v < o.n_hot:
                out.append(
                    f"hot_fraction {o.hot_fraction:g} asks for {o.n_hot} hot host(s) "
                    f"but only {n_v} host(s) are {hv}"
                )
    return out


def _load_problems(o: GeneratorOptions) -> list[str]:
    """Load targets the cold hosts cannot absorb (the rest of the mean load)."""
    out: list[str] = []
    if 0 < o.n_hot < o.hosts:
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
