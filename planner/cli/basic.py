"""``hvplan validate`` and ``hvplan status``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from planner.cli.choices import HighModeChoice, LevelOpt, ThresholdOpt
from planner.cli.common import (
    EXIT_NO,
    err,
    load_snapshot,
    out,
    print_json,
    safe,
    show_problems,
    show_table,
    warnings_json,
)
from planner.textsafe import term_safe

SnapshotArg = Annotated[
    Path, typer.Argument(help="Snapshot directory of CSV files.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
HighModeOpt = Annotated[
    HighModeChoice,
    typer.Option(
        "--high-mode",
        case_sensitive=False,
        help="Reading of the High level: average (Up hosts' average + 5 points) or absolute "
        "(60 %).",
    ),
]

#: Islands listed in the text output; the JSON has all of them.
MAX_ISLANDS_SHOWN = 50


def _over_label(h: dict[str, object]) -> str:
    """``over (CPU, memory)`` for a host above the threshold, else empty."""
    if not h["over_threshold"]:
        return ""
    which = [n for n, k in (("CPU", "over_cpu"), ("memory", "over_memory")) if h[k]]
    return f"over ({', '.join(which)})"


def validate(snapshot: SnapshotArg, json: JsonOpt = False) -> None:
    """Check a snapshot and list every problem and warning (exit 1 when invalid).

    Problems go to stderr (one per line with file, row, column and value; a table on a
    terminal); the verdict goes to stdout when valid, stderr when not.
    """
    from planner.snapshot import read_snapshot

    cluster, report = read_snapshot(snapshot)
    if json:
        print_json(report.to_dict())
    else:
        show_problems(report)
        if report.valid and cluster is not None:
            out.print(
                f"[green]valid[/]: {cluster.n_hosts} hosts, {cluster.n_vms} VMs, "
                f"{len(cluster.rules)} rules, {len(report.warnings)} warning(s)"
            )
        else:
            err.print(
                f"[red]invalid[/]: {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
            )
    if not report.valid:
        raise typer.Exit(EXIT_NO)


def status(
    snapshot: SnapshotArg,
    level: LevelOpt = None,
    threshold: ThresholdOpt = None,
    high_mode: HighModeOpt = HighModeChoice.AVERAGE,
    json: JsonOpt = False,
) -> None:
    """Per-host CPU/memory load, the threshold and the rules broken now."""
    from planner.loadmodel import HighMode, Level
    from planner.status import cluster_status

    cluster, loaded = load_snapshot(snapshot, json, disabled_rules=True)
    st = cluster_status(
        cluster, None if level is None else Level(level.value), threshold, HighMode(high_mode.value)
    )
    d = st.to_dict()
    if json:
        d["warnings"] = warnings_json(loaded)
        print_json(d)
        return
    out.print(
        f"Cluster [bold]{safe(cluster.name)}[/]: {cluster.n_hosts} hosts, "
        f"{cluster.n_vms} VMs ({int(cluster.vm_consumes.sum())} running)"
    )
    out.print(f"Threshold: {safe(st.threshold.rule)}")
    for note in st.notes:
        out.print(f"Note: {safe(note)}")
    if st.alternative is not None:
        alt = d["threshold_alternative"]
        out.print(
            f"  (other reading of High, not used: {safe(st.alternative.rule)}; "
            f"{alt['hosts_over_threshold']} host(s) over it; choose with --high-mode)"
        )
    rows = [
        [
            term_safe(h["name"]),
            h["state"],
            term_safe(h["fault_domain"]),
            term_safe(h["cpu_model"]),
            str(h["running_vms"]),
            str(h["vms"]),
            f"{h['cpu_pct']:.1f}",
            f"{h['memory_pct']:.1f}",
            Text(_over_label(h), style="red"),
        ]
        for h in d["hosts"]
    ]
    show_table(
        out,
        [
            "host",
            "state",
            "fault domain",
            "CPU model",
            "running VMs",
            "all VMs",
            "CPU %",
            "memory %",
            "over",
        ],
        rows,
        right=("running VMs", "all VMs", "CPU %", "memory %"),
    )
    out.print(
        "(running VMs: Running or Paused VMs, the ones that use CPU and memory; all VMs "
        "also counts Off and Saved ones. Paused: keeps its VMs, receives none; Down: "
        "its running VMs must be started elsewhere)"
    )
    out.print(f"Hosts over the threshold: {d['hosts_over_threshold']}")
    if st.violations:
        out.print(
            f"Rules and limits broken now ({len(st.violations)}, {d['hard_violations']} hard):"
        )
        for v in st.violations:
            tag = "[red]hard[/]" if v.hard else "[yellow]soft[/]"
            out.print(f"  {tag} {v.kind}: {safe(v.message)}")
    else:
        out.print("No rule or limit is broken now.")
    if st.islands:
        out.print(
            f"Compatibility islands: VMs with no other host reachable without downtime "
            f"({len(st.islands)}):"
        )
        for i in st.islands[:MAX_ISLANDS_SHOWN]:
            out.print(f"  {safe(i['vm'])} on {safe(i['host'])}: {safe(i['reason'])}")
        if len(st.islands) > MAX_ISLANDS_SHOWN:
            out.print(f"  ... and {len(st.islands) - MAX_ISLANDS_SHOWN} more (see --json)")
    else:
        out.print("No compatibility islands: every VM can reach another host without downtime.")
