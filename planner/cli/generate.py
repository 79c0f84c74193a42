"""``hvplan generate``: write a realistic synthetic snapshot.

Every option is declared once, as an ``Annotated`` alias (like
:data:`planner.cli.choices.LevelOpt`); the fraction options share :func:`_fraction`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cli.choices import HotVendor, LevelChoice, VendorChoice
from planner.cli.common import (
    EXIT_NO,
    check_out_dir,
    err,
    fail,
    out,
    print_json,
    problem_lines,
    published_dir,
    safe,
)

if TYPE_CHECKING:
    from planner.cluster import Cluster


def _fraction(flag: str, help: str, most: float = 1.0) -> Any:
    """A fraction option from 0 to ``most``."""
    return typer.Option(flag, min=0.0, max=most, help=help)


HostsOpt = Annotated[
    int,
    typer.Option(
        "--hosts", min=1, help="Number of nodes (1-128; a failover cluster has at most 64)."
    ),
]
VmsOpt = Annotated[int, typer.Option("--vms", min=0, help="Number of VMs.")]
OutOpt = Annotated[
    Path, typer.Option("--out", help="Snapshot directory to write.", show_default=False)
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Random seed.")]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing non-empty directory (once the new snapshot is complete).",
    ),
]
NameOpt = Annotated[str | None, typer.Option("--name", help="Cluster name.")]
VendorsOpt = Annotated[
    VendorChoice,
    typer.Option("--vendors", case_sensitive=False, help="CPU vendors of the nodes."),
]
GenerationOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--generation",
        help="CPU model from the catalog; repeat it or separate models with "
        "commas for several generations (default: three recent ones per vendor).",
    ),
]
CpuGenerationsOpt = Annotated[
    int | None,
    typer.Option(
        "--cpu-generations",
        min=1,
        max=3,
        help="Without --generation: only the oldest 1-3 default CPU generations of each vendor.",
    ),
]
FaultDomainsOpt = Annotated[
    int | None,
    typer.Option(
        "--fault-domains",
        min=0,
        help="Number of fault domains, nodes assigned round-robin "
        "(0: one per node; default: 4 or the number of nodes).",
    ),
]
RuleDensityOpt = Annotated[
    float, _fraction("--rule-density", "Fraction of running VMs in affinity rules.")
]
BrokenRulesOpt = Annotated[
    float,
    _fraction(
        "--broken-rule-fraction",
        "Fraction of the DifferentNode and "
        "DifferentFaultDomain rules broken now (as after a failover).",
    ),
]
SkewOpt = Annotated[
    float,
    _fraction(
        "--skew",
        "Strength of the imbalance: 0 hot nodes just above "
        "--hot-load-pct, 1 up to 95 % and the others spread widely.",
    ),
]
LoadPctOpt = Annotated[
    float, typer.Option("--load-pct", help="Mean CPU and memory load of the nodes, in percent.")
]
HotFractionOpt = Annotated[
    float, _fraction("--hot-fraction", "Fraction of nodes loaded above --hot-load-pct.")
]
HotLoadOpt = Annotated[
    float, typer.Option("--hot-load-pct", help="Load the hot nodes exceed, in percent.")
]
HotVendorOpt = Annotated[
    HotVendor | None,
    typer.Option(
        "--hot-vendor", case_sensitive=False, help="Only nodes of this vendor are made hot."
    ),
]
CompatMinimumOpt = Annotated[
    float, _fraction("--compat-minimum", "Fraction of VMs in MinimumFeatureSet mode.")
]
CompatCommonOpt = Annotated[
    float, _fraction("--compat-common", "Fraction of VMs in CommonClusterFeatureSet mode.")
]
AaClassesOpt = Annotated[
    int | None,
    typer.Option(
        "--anti-affinity-classes", min=0, help="Legacy anti-affinity classes (default: VMs / 200)."
    ),
]
AaClassSizeOpt = Annotated[
    int,
    typer.Option("--aa-class-size", min=2, help="Largest anti-affinity class (members 2 to this)."),
]
DowntimeOpt = Annotated[
    float, _fraction("--downtime-fraction", "Fraction of VMs that allow downtime.")
]
PinnedOpt = Annotated[float, _fraction("--pinned-fraction", "Fraction of VMs that are pinned.")]
StoppedOpt = Annotated[
    float, _fraction("--stopped-fraction", "Fraction of VMs that are Off or Saved.", 0.9)
]
RestrictedOpt = Annotated[
    float,
    _fraction(
        "--restricted-owners-fraction", "Fraction of VMs with a restricted possible-owner list."
    ),
]
RestrictedHostsOpt = Annotated[
    int | None,
    typer.Option(
        "--restricted-owners-hosts",
        min=1,
        help="Hosts in a restricted owner list, the current one included (default: 2-4).",
    ),
]
DisabledRulesOpt = Annotated[
    float, _fraction("--disabled-rule-fraction", "Fraction of the rules that are disabled.")
]
EnforcedAaOpt = Annotated[
    bool,
    typer.Option(
        "--enforced-anti-affinity",
        help="Make legacy anti-affinity classes hard (ClusterEnforcedAntiAffinity).",
    ),
]
BalancerLevelOpt = Annotated[
    LevelChoice,
    typer.Option(
        "--level", case_sensitive=False, help="The cluster's balancer level (auto_balancer_level)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    """Models from repeated and/or comma-separated ``--generation`` values."""
    if not values:
        return None
    return tuple(m.strip() for v in values for m in v.split(",") if m.strip()) or None


def generate(
    hosts: HostsOpt,
    vms: VmsOpt,
    out_dir: OutOpt,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    name: NameOpt = None,
    vendors: VendorsOpt = VendorChoice.INTEL,
    generation: GenerationOpt = None,
    cpu_generations: CpuGenerationsOpt = None,
    fault_domains: FaultDomainsOpt = None,
    rule_density: RuleDensityOpt = 0.10,
    broken_rule_fraction: BrokenRulesOpt = 0.0,
    skew: SkewOpt = 0.0,
    load_pct: LoadPctOpt = 50.0,
    hot_fraction: HotFractionOpt = 0.2,
    hot_load_pct: HotLoadOpt = 85.0,
    hot_vendor: HotVendorOpt = None,
    compat_minimum: CompatMinimumOpt = 0.20,
    compat_common: CompatCommonOpt = 0.15,
    anti_affinity_classes: AaClassesOpt = None,
    aa_class_size: AaClassSizeOpt = 5,
    downtime_fraction: DowntimeOpt = 0.10,
    pinned_fraction: PinnedOpt = 0.02,
    stopped_fraction: StoppedOpt = 0.05,
    restricted_owners_fraction: RestrictedOpt = 0.03,
    restricted_owners_hosts: RestrictedHostsOpt = None,
    disabled_rule_fraction: DisabledRulesOpt = 0.05,
    enforced_anti_affinity: EnforcedAaOpt = False,
    level: BalancerLevelOpt = LevelChoice.LOW,
    json: JsonOpt = False,
) -> None:
    """Write a realistic synthetic snapshot (deterministic by seed)."""
    from planner.generate import GeneratorError, GeneratorOptions, generate_cluster
    from planner.loadmodel import LEVEL_BY_NUMBER, Level
    from planner.snapshot import write_snapshot
    from planner.snapshot.names import snapshot_name_problems

    check_out_dir(out_dir)
    options = GeneratorOptions(
        hosts=hosts,
        vms=vms,
        seed=seed,
        name=name,
        vendors=vendors.value,
        generations=_split(generation),
        fault_domains=fault_domains,
        cpu_generations=cpu_generations,
        broken_rule_fraction=broken_rule_fraction,
        skew=skew,
        aa_class_size=aa_class_size,
        restricted_owners_hosts=restricted_owners_hosts,
        rule_density=rule_density,
        compat_minimum=compat_minimum,
        compat_common=compat_common,
        anti_affinity_classes=anti_affinity_classes,
        downtime_fraction=downtime_fraction,
        pinned_fraction=pinned_fraction,
        stopped_fraction=stopped_fraction,
        load_pct=load_pct,
        hot_fraction=hot_fraction,
        hot_load_pct=hot_load_pct,
        hot_vendor=hot_vendor.value if hot_vendor else None,
        restricted_owners_fraction=restricted_owners_fraction,
        disabled_rule_fraction=disabled_rule_fraction,
        enforced_anti_affinity=enforced_anti_affinity,
        balancer_level={v: k for k, v in LEVEL_BY_NUMBER.items()}[Level(level.value)],
    )
    try:
        cluster = generate_cluster(options)
    except GeneratorError as e:
        for p in e.problems:
            err.print(f"[red]hvplan: {safe(p)}[/]")
        raise typer.Exit(EXIT_NO) from None
    problems = snapshot_name_problems(cluster)  # e.g. a --name with a line break
    if not problems.valid:
        for line in problem_lines(problems):
            err.print(line, markup=False, highlight=False)
        fail(
            f"the snapshot cannot be written ({len(problems.errors)} error(s)); nothing was written"
        )
    with published_dir(out_dir, force, "the snapshot") as tmp:
        write_snapshot(cluster, tmp)
    _report(cluster, out_dir, hot_load_pct, seed, json)


def _report(cluster: Cluster, out_dir: Path, hot_load_pct: float, seed: int, json: bool) -> None:
    """The one-line summary of the written snapshot, or its JSON form."""
    from planner.loadmodel import host_loads

    loads = host_loads(cluster)
    over = int(((loads.cpu_pct > hot_load_pct) | (loads.memory_pct > hot_load_pct)).sum())
    summary = {
        "out": str(out_dir),
        "cluster": cluster.name,
        "hosts": cluster.n_hosts,
        "vms": cluster.n_vms,
        "running_vms": int(cluster.vm_consumes.sum()),
        "rules": len(cluster.rules),
        "anti_affinity_classes": len(cluster.aa_class_names),
        "mean_cpu_pct": round(float(loads.cpu_pct.mean()), 2),
        "mean_memory_pct": round(float(loads.memory_pct.mean()), 2),
        "hosts_over_hot_load": over,
        "seed": seed,
    }
    if json:
        print_json(summary)
        return
    out.print(
        f"wrote {safe(out_dir)}: {cluster.n_hosts} hosts, {cluster.n_vms} VMs "
        f"({summary['running_vms']} running), {len(cluster.rules)} rules, "
        f"mean CPU {summary['mean_cpu_pct']:.1f} % / memory "
        f"{summary['mean_memory_pct']:.1f} %, {over} host(s) over {hot_load_pct:g} % "
        f"(seed {seed})"
    )
