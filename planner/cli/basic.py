"""``hvplan validate`` and ``hvplan status``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from planner.cli import app
from planner.cli.common import EXIT_NO, err, load_or_exit, out, print_json, show_problems
from planner.loadmodel import HighMode, Level
from planner.snapshot import read_snapshot
from planner.status import cluster_status

SnapshotArg = Annotated[Path, typer.Argument(help="Snapshot directory of CSV files.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
LevelOpt = Annotated[Level | None, typer.Option(
    "--level", help="Balancer level (default: the cluster's auto_balancer_level).")]
ThresholdOpt = Annotated[float | None, typer.Option(
    "--threshold", min=0.0, max=100.0, help="Threshold in percent; overrides --level.")]
HighModeOpt = Annotated[HighMode, typer.Option(
    "--high-mode", help="Reading of the High level: average (+5 points) or absolute (60 %).")]


@app.command()
def validate(snapshot: SnapshotArg, json: JsonOpt = False) -> None:
    """Check a snapshot and list every problem and warning (exit 1 when invalid)."""
    cluster, report = read_snapshot(snapshot)
    if json:
        print_json(report.to_dict())
    else:
        show_problems(report, out)
        if report.valid and cluster is not None:
            out.print(f"[green]valid[/]: {cluster.n_hosts} hosts, {cluster.n_vms} VMs, "
                      f"{len(cluster.rules)} rules, {len(report.warnings)} warning(s)")
        else:
            err.print(f"[red]invalid[/]: {len(report.errors)} error(s), "
                      f"{len(report.warnings)} warning(s)")
    if not report.valid:
        raise typer.Exit(EXIT_NO)


@app.command()
def status(
    snapshot: SnapshotArg,
    level: LevelOpt = None,
    threshold: ThresholdOpt = None,
    high_mode: HighModeOpt = HighMode.AVERAGE,
    json: JsonOpt = False,
) -> None:
    """Per-host CPU/memory load, the threshold and the rules broken now."""
    cluster = load_or_exit(snapshot, json)
    st = cluster_status(cluster, level, threshold, high_mode)
    if json:
        print_json(st.to_dict())
        return
    d = st.to_dict()
    out.print(f"Cluster [bold]{cluster.name}[/]: {cluster.n_hosts} hosts, {cluster.n_vms} VMs")
    out.print(f"Threshold: {st.threshold.rule}")
    t = Table()
    for c in ("host", "state", "fault domain", "CPU model", "VMs", "CPU %", "memory %", ""):
        t.add_column(c)
    for h in d["hosts"]:
        t.add_row(h["name"], h["state"], h["fault_domain"], h["cpu_model"],
                  str(h["running_vms"]), f"{h['cpu_pct']:.1f}", f"{h['memory_pct']:.1f}",
                  "[red]over[/]" if h["over_threshold"] else "")
    out.print(t)
    out.print(f"Hosts over the threshold: {d['hosts_over_threshold']}")
    if st.violations:
        out.print(f"Rules and limits broken now ({len(st.violations)}):")
        for v in st.violations:
            out.print(f"  [{'red' if v.hard else 'yellow'}]{v.kind}[/]: {v.message}")
    else:
        out.print("No rule or limit is broken now.")
    if st.islands:
        out.print(f"VMs with no other host reachable without downtime ({len(st.islands)}):")
        for i in st.islands[:50]:
            out.print(f"  {i['vm']} on {i['host']}: {i['reason']}")
        if len(st.islands) > 50:
            out.print(f"  ... and {len(st.islands) - 50} more (see --json)")
