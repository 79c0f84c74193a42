"""``hvplan generate``: write a realistic synthetic snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli.choices import HotVendor, LevelChoice, VendorChoice
from planner.cli.common import EXIT_NO, check_out_dir, err, out, print_json, published_dir, safe


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    """Models from repeated and/or comma-separated ``--generation`` values."""
    if not values:
        return None
    return tuple(m.strip() for v in values for m in v.split(",") if m.strip()) or None


def generate(
    hosts: Annotated[
        int,
        typer.Option(
            "--hosts", min=1, help="Number of nodes (1-128; a failover cluster has at most 64)."
        ),
    ],
    vms: Annotated[int, typer.Option("--vms", min=0, help="Number of VMs.")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Snapshot directory to write.", show_default=False)
    ],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an existing non-empty directory (once the new snapshot is complete).",
        ),
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="Cluster name.")] = None,
    vendors: Annotated[
        VendorChoice,
        typer.Option("--vendors", case_sensitive=False, help="CPU vendors of the nodes."),
    ] = VendorChoice.INTEL,
    generation: Annotated[
        list[str] | None,
        typer.Option(
            "--generation",
            help="CPU model from the catalog; repeat it or separate models with "
            "commas for several generations (default: three recent ones per vendor).",
        ),
    ] = None,
    cpu_generations: Annotated[
        int | None,
        typer.Option(
            "--cpu-generations",
            min=1,
            max=3,
            help="Without --generation: only the oldest 1-3 "
            "default CPU generations of each vendor.",
        ),
    ] = None,
    fault_domains: Annotated[
        int | None,
        typer.Option(
            "--fault-domains",
            min=0,
            help="Number of fault domains, nodes assigned round-robin "
            "(0: one per node; default: 4 or the number of nodes).",
        ),
    ] = None,
    rule_density: Annotated[
        float,
        typer.Option(
            "--rule-density", min=0.0, max=1.0, help="Fraction of running VMs in affinity rules."
        ),
    ] = 0.10,
    broken_rule_fraction: Annotated[
        float,
        typer.Option(
            "--broken-rule-fraction",
            min=0.0,
            max=1.0,
            help="Fraction of the DifferentNode and "
            "DifferentFaultDomain rules broken now (as after a failover).",
        ),
    ] = 0.0,
    skew: Annotated[
        float,
        typer.Option(
            "--skew",
            min=0.0,
            max=1.0,
            help="Strength of the imbalance: 0 hot nodes just above "
            "--hot-load-pct, 1 up to 95 % and the others spread widely.",
        ),
    ] = 0.0,
    load_pct: Annotated[
        float, typer.Option("--load-pct", help="Mean CPU and memory load of the nodes, in percent.")
    ] = 50.0,
    hot_fraction: Annotated[
        float,
        typer.Option(
            "--hot-fraction",
            min=0.0,
            max=1.0,
            help="Fraction of nodes loaded above --hot-load-pct.",
        ),
    ] = 0.2,
    hot_load_pct: Annotated[
        float, typer.Option("--hot-load-pct", help="Load the hot nodes exceed, in percent.")
    ] = 85.0,
    hot_vendor: Annotated[
        HotVendor | None,
        typer.Option(
            "--hot-vendor", case_sensitive=False, help="Only nodes of this vendor are made hot."
        ),
    ] = None,
    compat_minimum: Annotated[
        float,
        typer.Option(
            "--compat-minimum", min=0.0, max=1.0, help="Fraction of VMs in MinimumFeatureSet mode."
        ),
    ] = 0.20,
    compat_common: Annotated[
        float,
        typer.Option(
            "--compat-common",
            min=0.0,
            max=1.0,
            help="Fraction of VMs in CommonClusterFeatureSet mode.",
        ),
    ] = 0.15,
    anti_affinity_classes: Annotated[
        int | None,
        typer.Option(
            "--anti-affinity-classes",
            min=0,
            help="Legacy anti-affinity classes (default: VMs / 200).",
        ),
    ] = None,
    aa_class_size: Annotated[
        int,
        typer.Option(
            "--aa-class-size", min=2, help="Largest anti-affinity class (members 2 to this)."
        ),
    ] = 5,
    downtime_fraction: Annotated[
        float,
        typer.Option(
            "--downtime-fraction", min=0.0, max=1.0, help="Fraction of VMs that allow downtime."
        ),
    ] = 0.10,
    pinned_fraction: Annotated[
        float,
        typer.Option(
            "--pinned-fraction", min=0.0, max=1.0, help="Fraction of VMs that are pinned."
        ),
    ] = 0.02,
    stopped_fraction: Annotated[
        float,
        typer.Option(
            "--stopped-fraction", min=0.0, max=0.9, help="Fraction of VMs that are Off or Saved."
        ),
    ] = 0.05,
    restricted_owners_fraction: Annotated[
        float,
        typer.Option(
            "--restricted-owners-fraction",
            min=0.0,
            max=1.0,
            help="Fraction of VMs with a restricted possible-owner list.",
        ),
    ] = 0.03,
    restricted_owners_hosts: Annotated[
        int | None,
        typer.Option(
            "--restricted-owners-hosts",
            min=1,
            help="Hosts in a restricted owner list, the current one included (default: 2-4).",
        ),
    ] = None,
    disabled_rule_fraction: Annotated[
        float,
        typer.Option(
            "--disabled-rule-fraction",
            min=0.0,
            max=1.0,
            help="Fraction of the rules that are disabled.",
        ),
    ] = 0.05,
    enforced_anti_affinity: Annotated[
        bool,
        typer.Option(
            "--enforced-anti-affinity",
            help="Make legacy anti-affinity classes hard (ClusterEnforcedAntiAffinity).",
        ),
    ] = False,
    level: Annotated[
        LevelChoice,
        typer.Option(
            "--level",
            case_sensitive=False,
            help="The cluster's balancer level (auto_balancer_level).",
        ),
    ] = LevelChoice.LOW,
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write a realistic synthetic snapshot (deterministic by seed)."""
    from planner.generate import GeneratorError, GeneratorOptions, generate_cluster
    from planner.loadmodel import LEVEL_BY_NUMBER, Level, host_loads
    from planner.snapshot import write_snapshot

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
    with published_dir(out_dir, force, "the snapshot") as tmp:
        write_snapshot(cluster, tmp)
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
