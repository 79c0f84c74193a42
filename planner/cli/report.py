"""``hvplan report`` (the HTML report) and ``hvplan collector`` (the PowerShell collector)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli import app
from planner.cli.common import EXIT_NO, err, fail, load_or_exit, out, print_json, show_problems
from planner.collector import write_collector
from planner.htmlreport import build_report, read_plan, write_report
from planner.loadmodel import HighMode, Level
from planner.snapshot import read_snapshot


@app.command()
def report(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory of CSV files.")],
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Directory to write report.html into (created when missing).")] = Path(
        "hvplan-report"),
    plan: Annotated[Path | None, typer.Option(
        "--plan", help="Plan directory (plan.csv, placement.csv, summary.json) to show "
        "before / after.")] = None,
    level: Annotated[Level | None, typer.Option(
        "--level", help="Balancer level (default: the cluster's auto_balancer_level).")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=100.0, help="Threshold in percent; overrides --level.")
    ] = None,
    high_mode: Annotated[HighMode, typer.Option(
        "--high-mode", help="Reading of the High level: average (+5 points) or absolute (60 %).")
    ] = HighMode.AVERAGE,
    compare: Annotated[bool, typer.Option(
        "--compare/--no-compare", help="Include the comparison with the native balancers "
        "(runs the optimizer).")] = True,
    capacity: Annotated[bool, typer.Option(
        "--capacity/--no-capacity", help="Include the N+1 failover summary.")] = True,
    json: Annotated[bool, typer.Option("--json", help="Print {\"report\": path} on stdout.")
    ] = False,
) -> None:
    """Write one self-contained HTML page: loads before / after, moves and waves, rules,
    compatibility islands, the native-balancer comparison and the N+1 summary."""
    cluster, loaded = read_snapshot(snapshot)
    if cluster is None:
        load_or_exit(snapshot, json)  # prints every problem and exits 1
        return
    if loaded.warnings and not json:
        show_problems(loaded)
    plan_data = None
    if plan is not None:
        plan_data, problems = read_plan(cluster, plan)
        if plan_data is None:
            if json:
                print_json(problems.to_dict())
            show_problems(problems)
            fail(f"{plan} is not a plan hvplan can show for this snapshot "
                 f"({len(problems.errors)} error(s)); nothing was written.")
    page = build_report(cluster, plan_data, level=level, threshold_pct=threshold,
                        high_mode=high_mode, compare=compare, capacity=capacity,
                        warnings=loaded.warnings)
    for note in page.notes:
        err.print(f"[yellow]hvplan: {note}[/]")
    try:
        path = write_report(page, out_dir)
    except OSError as e:
        fail(f"cannot write the report to {out_dir}: {e.strerror or e}")
    if json:
        print_json({"report": str(path), "notes": list(page.notes)})
    else:
        out.print(f"Report written to {path}")


@app.command()
def collector(
    out_file: Annotated[Path, typer.Option(
        "--out", help="File to write the collector script to, e.g. Export-ClusterState.ps1.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write the PowerShell collector that exports a live cluster as a snapshot.

    Run it on a cluster node:  .\\Export-ClusterState.ps1 -OutputPath C:\\hvplan\\snapshot
    (Get-Help .\\Export-ClusterState.ps1 -Full shows every option)."""
    try:
        path = write_collector(out_file, overwrite=force)
    except (FileExistsError, IsADirectoryError) as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write {out_file}: {e.strerror or e}", EXIT_NO)
    out.print(f"Collector written to {path}")
    out.print("On a cluster node run:  .\\" + path.name + " -OutputPath C:\\hvplan\\snapshot")
    out.print("then copy the directory here and run:  hvplan validate snapshot")
