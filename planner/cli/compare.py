"""``hvplan compare``: the optimizer against simulations of the native balancers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from planner.cli import app
from planner.cli.common import EXIT_NO, err, fail, load_or_exit, out, print_json
from planner.compare import (
    HVPLAN,
    CompareOptions,
    CompareResult,
    compare,
    summary_lines,
    write_outputs,
)
from planner.loadmodel import HighMode, Level


@app.command(name="compare")
def compare_cmd(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory of CSV files.")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", file_okay=False,
        help="Write compare.csv, compare.json, native_moves.csv and compare.png here.")] = None,
    level: Annotated[Level | None, typer.Option(
        "--level", help="Balancer level (default: the cluster's auto_balancer_level).")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=100.0, help="Threshold in percent; overrides --level.")
    ] = None,
    high_mode: Annotated[HighMode, typer.Option(
        "--high-mode", help="Reading of the High level: average (+5 points) or absolute "
        "(60 %).")] = HighMode.AVERAGE,
    time_limit: Annotated[float, typer.Option(
        "--time-limit", min=0.1, help="Optimizer time limit in seconds.")] = 20.0,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Solver seed.")] = 0,
    json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")
                    ] = False,
) -> None:
    """Compare hvplan's plan with Node Fairness and SCVMM Dynamic Optimization simulations."""
    cluster = load_or_exit(snapshot, json)
    res = compare(cluster, CompareOptions(level=level, threshold_pct=threshold,
                                          high_mode=high_mode, time_limit_s=time_limit,
                                          seed=seed))
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            fail(f"--out {out_dir} is a file, expected a directory", 2)
        try:
            written = write_outputs(res, out_dir)
        except OSError as e:
            fail(f"cannot write to {out_dir}: {e.strerror or e}")
        err.print(f"wrote {', '.join(p.name for p in written)} to {out_dir}")
    hv = res.row(HVPLAN)
    no_plan = hv is not None and hv.status not in ("OPTIMAL", "FEASIBLE")
    if json:
        print_json(res.to_dict())
    else:
        _print_text(res)
    for note in res.notes:
        err.print(f"note: {note}")
    if no_plan:
        raise typer.Exit(EXIT_NO)


def _print_text(res: CompareResult) -> None:
    """The table of strategies and the sentences on hvplan's advantage."""
    c = res.cluster
    b = res.before()
    out.print(f"Cluster [bold]{c.name}[/]: {c.n_hosts} hosts, {c.n_vms} VMs")
    out.print(f"Threshold: {res.threshold.rule}")
    out.print(f"Before: {b['hosts_over_threshold_after']} host(s) over the threshold, highest "
              f"CPU {b['max_cpu_pct_after']:.1f} %, memory {b['max_memory_pct_after']:.1f} %")
    t = Table()
    for col in ("strategy", "status", "moves", "moved MB", "downtime", "passes",
                "converge s", "migrate s", "over", "max CPU %", "max mem %", "rules", "AA"):
        t.add_column(col, justify="left" if col in ("strategy", "status") else "right",
                     no_wrap=True)
    for r in res.rows:
        m = r.metrics
        t.add_row(r.name, r.status, str(r.moves), f"{r.memory_moved_mb:,}",
                  str(r.downtime_moves), str(r.passes), f"{r.converge_seconds:.0f}",
                  f"{r.estimated_migration_seconds:.0f}",
                  str(m["hosts_over_threshold_after"]), f"{m['max_cpu_pct_after']:.1f}",
                  f"{m['max_memory_pct_after']:.1f}", str(m["rule_violations_after"]),
                  str(m["anti_affinity_pairs_after"]))
    # Wider than a default 80-column pipe: the rows are meant to be read whole.
    Console(file=sys.stdout, width=max(out.width, 180), highlight=False).print(t)
    out.print("What ran:")
    for r in res.rows:
        out.print(f"  {r.name}: {r.description}")
    for line in summary_lines(res):
        out.print(line)
