"""``hvplan compare``: the optimizer against simulations of the native balancers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from planner.cli.choices import HighModeChoice, LevelOpt, LoadChoice, ProgressOpt, ThresholdOpt
from planner.cli.common import (
    EXIT_NO,
    check_out_dir,
    check_seed,
    err,
    load_snapshot,
    out,
    print_json,
    progress_display,
    published_dir,
    safe,
    show_table,
    warnings_json,
)
from planner.cli.plan import JsonOpt
from planner.textsafe import term_safe

if TYPE_CHECKING:
    from planner.compare import CompareResult


OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        help="Write compare.csv, compare.json, native_moves.csv and compare.png here.",
    ),
]
HighModeOpt = Annotated[
    HighModeChoice,
    typer.Option(
        "--high-mode",
        case_sensitive=False,
        help="Reading of the High level: average (+5 points) or absolute (60 %).",
    ),
]
DrainOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--drain",
        metavar="HOST",
        help="Node hvplan's plan empties (repeatable; the native balancers drain none).",
    ),
]
LoadOpt = Annotated[
    LoadChoice | None,
    typer.Option(
        "--load",
        case_sensitive=False,
        help="With a load history: the statistic hvplan's plan judges the threshold at, "
        "as hvplan plan --load (default: p95 with a history).",
    ),
]
TimeLimitOpt = Annotated[
    float, typer.Option("--time-limit", min=0.1, help="Optimizer time limit in seconds.")
]
SeedOpt = Annotated[
    int,
    typer.Option("--seed", callback=check_seed, metavar="N", help="Solver seed (0 to 2147483647)."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an earlier comparison in --out.")]


def compare_cmd(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory of CSV files.")],
    out_dir: OutOpt = None,
    level: LevelOpt = None,
    threshold: ThresholdOpt = None,
    high_mode: HighModeOpt = HighModeChoice.AVERAGE,
    drain: DrainOpt = None,
    load: LoadOpt = None,
    time_limit: TimeLimitOpt = 20.0,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    progress: ProgressOpt = None,
    json: JsonOpt = False,
) -> None:
    """Compare hvplan's plan with Node Fairness and SCVMM Dynamic Optimization simulations."""
    from planner.cli.plan import drained_nodes
    from planner.compare import CompareOptions, compare, write_outputs

    check_out_dir(out_dir)
    cluster, loaded = load_snapshot(snapshot, json)
    opts = CompareOptions(
        level=level.value if level else None,
        threshold_pct=threshold,
        high_mode=high_mode.value,
        time_limit_s=time_limit,
        seed=seed,
        drain=tuple(drained_nodes(cluster, drain or [])),
        load=None if load is None else load.value,
    )
    if out_dir is None:
        with progress_display(json, progress) as prog:
            prog.stage("optimising and simulating the native balancers", time_left=time_limit)
            res = compare(cluster, opts)
    else:
        with (
            published_dir(out_dir, force, "the comparison") as tmp,
            progress_display(json, progress) as prog,
        ):
            prog.stage("optimising and simulating the native balancers", time_left=time_limit)
            res = compare(cluster, opts)
            prog.stage("writing the results")
            written = write_outputs(res, tmp)
        err.print(f"wrote {', '.join(p.name for p in written)} to {safe(out_dir)}")
    from planner.compare import HVPLAN

    hv = res.row(HVPLAN)
    no_plan = hv is not None and hv.status not in ("OPTIMAL", "FEASIBLE")
    if json:
        doc = res.to_dict()
        doc["warnings"] = warnings_json(loaded)
        print_json(doc)
    else:
        _print_text(res)
    for note in res.notes:
        err.print(f"note: {safe(note)}")
    if no_plan:
        raise typer.Exit(EXIT_NO)


def _print_text(res: CompareResult) -> None:
    """The table of strategies and the sentences on hvplan's advantage."""
    c = res.cluster
    b = res.before()
    from planner.compare import summary_lines

    out.print(f"Cluster [bold]{safe(c.name)}[/]: {c.n_hosts} hosts, {c.n_vms} VMs")
    out.print(f"Threshold: {safe(res.threshold.rule)}")
    out.print(
        f"Before: {b['hosts_over_threshold_after']} host(s) over the threshold, highest "
        f"CPU {b['max_cpu_pct_after']:.1f} %, memory {b['max_memory_pct_after']:.1f} %"
    )
    cols = [
        "strategy",
        "status",
        "moves",
        "moved MB",
        "downtime",
        "passes",
        "converge s",
        "migrate s",
        "over",
        "max CPU %",
        "max mem %",
        "rules",
        "AA",
    ]
    rows = []
    for r in res.rows:
        m = r.metrics
        rows.append(
            [
                term_safe(r.name),
                r.status,
                str(r.moves),
                f"{r.memory_moved_mb:,}",
                str(r.downtime_moves),
                str(r.passes),
                f"{r.converge_seconds:.0f}",
                f"{r.estimated_migration_seconds:.0f}",
                str(m["hosts_over_threshold_after"]),
                f"{m['max_cpu_pct_after']:.1f}",
                f"{m['max_memory_pct_after']:.1f}",
                str(m["rule_violations_after"]),
                str(m["anti_affinity_pairs_after"]),
            ]
        )
    show_table(out, cols, rows, right=cols[2:])
    out.print(
        "(over: nodes over the threshold after; rules: rules broken after; AA: "
        "anti-affinity pairs sharing a node after)"
    )
    out.print("What ran:")
    for r in res.rows:
        out.print(f"  {safe(r.name)}: {safe(r.description)}")
    for line in summary_lines(res):
        out.print(safe(line))
