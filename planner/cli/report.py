"""``hvplan report`` (the HTML report) and ``hvplan collector`` (the PowerShell collector)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli.choices import HighModeChoice, LevelOpt, ProgressOpt, ThresholdOpt
from planner.cli.common import (
    OutDir,
    fail,
    load_snapshot,
    out,
    print_json,
    progress_display,
    published_file,
    safe,
    show_notes,
    show_problems,
    with_warnings,
)


def report(
    snapshot: Annotated[
        Path, typer.Argument(help="Snapshot directory of CSV files.", show_default=False)
    ],
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Directory to write report.html into (created when missing)."),
    ] = Path("hvplan-report"),
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="DIR",
            help="Plan directory (plan.csv, placement.csv, summary.json) to show before / after.",
        ),
    ] = None,
    level: LevelOpt = None,
    threshold: ThresholdOpt = None,
    high_mode: Annotated[
        HighModeChoice,
        typer.Option(
            "--high-mode",
            case_sensitive=False,
            help="Reading of the High level: average (+5 points) or absolute (60 %).",
        ),
    ] = HighModeChoice.AVERAGE,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare/--no-compare",
            help="Include the comparison with the native balancers (runs the optimizer).",
        ),
    ] = True,
    capacity: Annotated[
        bool, typer.Option("--capacity/--no-capacity", help="Include the N+1 failover summary.")
    ] = True,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an earlier report in --out.")
    ] = False,
    progress: ProgressOpt = None,
    json: Annotated[bool, typer.Option("--json", help='Print {"report": path} on stdout.')] = False,
) -> None:
    """Write one self-contained HTML page: loads before / after, moves and waves, rules,
    compatibility islands, the native-balancer comparison and the N+1 summary."""
    from planner.htmlreport import REPORT_FILE, build_report, read_plan, write_report

    target = OutDir.check(out_dir, force, "the report")
    cluster, loaded = load_snapshot(snapshot, json)
    plan_data = None
    if plan is not None:
        plan_data, problems = read_plan(cluster, plan)
        if plan_data is None:
            if json:
                print_json(problems.to_dict())
            show_problems(problems)
            fail(
                f"{plan} is not a plan hvplan can show for this snapshot "
                f"({len(problems.errors)} error(s)); nothing was written."
            )
    with target.publish() as tmp, progress_display(json, progress) as prog:
        prog.stage("building the report" + (" (runs the comparison)" if compare else ""))
        page = build_report(
            cluster,
            plan_data,
            level=level.value if level else None,
            threshold_pct=threshold,
            high_mode=high_mode.value,
            compare=compare,
            capacity=capacity,
            warnings=loaded.warnings,
        )
        prog.stage("writing the report")
        write_report(page, tmp)
    show_notes(page.notes)
    path = out_dir / REPORT_FILE
    if json:
        print_json(with_warnings({"report": str(path), "notes": list(page.notes)}, loaded))
    else:
        out.print(f"Report written to {safe(path)}")


def collector(
    out_file: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="FILE",
            help="File to write the collector script to, e.g. Export-ClusterState.ps1.",
            show_default=False,
        ),
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write the PowerShell collector that exports a live cluster as a snapshot.

    \b
    Run it on a cluster node:
      .\\Export-ClusterState.ps1 -OutputPath C:\\hvplan\\snapshot
    Get-Help .\\Export-ClusterState.ps1 -Full shows every option.
    """
    from planner.collector import write_collector

    with published_file(out_file, force, "the collector") as tmp:
        write_collector(tmp, overwrite=True)
    out.print(f"Collector written to {safe(out_file)}")
    out.print(
        "On a cluster node run:  .\\" + safe(out_file.name) + " -OutputPath C:\\hvplan\\snapshot"
    )
    out.print("then copy the directory here and run:  hvplan validate snapshot")
