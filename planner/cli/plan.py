"""``hvplan plan`` (optimal migration plan) and ``hvplan verify`` (independent check)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from planner.cli import app
from planner.cli.common import EXIT_NO, err, fail, load_or_exit, out, print_json
from planner.loadmodel import HighMode, Level
from planner.optimizer import PlanOptions, SolveStatus
from planner.planio import plan_to_directory
from planner.profiles import load_profile
from planner.verify import verify_plan

SnapshotArg = Annotated[Path, typer.Argument(help="Snapshot directory of CSV files.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


@app.command()
def plan(
    snapshot: SnapshotArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the plan files.")],
    level: Annotated[Level | None, typer.Option(
        "--level", help="Balancer level (default: the cluster's auto_balancer_level).")] = None,
    high_mode: Annotated[HighMode, typer.Option(
        "--high-mode", help="Reading of High: average (+5 points) or absolute (60 %).")
    ] = HighMode.AVERAGE,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=100.0, help="Threshold in percent; overrides --level.")
    ] = None,
    drain: Annotated[list[str] | None, typer.Option(
        "--drain", help="Node to empty (repeatable).")] = None,
    max_moves: Annotated[int | None, typer.Option(
        "--max-moves", min=0,
        help="Hard budget on the number of VMs that change node.")] = None,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=0.1, help="Solver time limit in seconds (default: profile).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Solver random seed.")] = 0,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Solver workers (default: profile).")] = None,
    model: Annotated[str, typer.Option(
        "--model", help="Profile: rebalance, drain, strict or a PATH.toml.")] = "rebalance",
    export_model: Annotated[Path | None, typer.Option(
        "--export-model", help="Write the CP-SAT model proto (text) to this file.")] = None,
    json: JsonOpt = False,
) -> None:
    """Compute an optimal, verified migration plan and write plan.csv, placement.csv,
    summary.json, plan.ps1 and rollback.ps1 into --out."""
    cluster = load_or_exit(snapshot, json)
    drained: list[int] = []
    for name in drain or []:
        h = cluster.host_index.get(name.casefold())
        if h is None:
            fail(f"--drain {name!r}: no such node in the snapshot (nodes: "
                 f"{', '.join(cluster.host_names[:20])}"
                 f"{' ...' if cluster.n_hosts > 20 else ''})")
        drained.append(h)
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out {out_dir}: exists and is not a directory")
    if export_model is not None and not export_model.resolve().parent.is_dir():
        fail(f"--export-model {export_model}: directory {export_model.resolve().parent} "
             "does not exist")
    prof, rep = load_profile(model)
    if prof is None:
        fail("--model: " + "; ".join(str(p) for p in rep.errors))
    opts = PlanOptions(level=level.value if level else None, threshold_pct=threshold,
                       high_mode=high_mode.value, drain=tuple(drained), max_moves=max_moves,
                       time_limit_s=time_limit, seed=seed, workers=workers, profile=prof,
                       export_model=export_model)
    res, wo = plan_to_directory(cluster, opts, out_dir)
    if wo is None:
        doc: dict[str, Any] = {"status": res.status.value, "explanation": res.explanation,
                               "solve_seconds": round(res.solve_seconds, 3),
                               "threshold_pct": res.threshold.to_dict()}
        if json:
            print_json(doc)
        what = "infeasible" if res.status == SolveStatus.INFEASIBLE else "no plan found"
        err.print(f"[red]hvplan: {what}; nothing was written.[/]")
        for line in res.explanation:
            err.print(f"  - {line}")
        raise typer.Exit(EXIT_NO)
    if not wo.ok:
        if json:
            print_json({"status": "UNKNOWN", "error": wo.message, "violations": wo.violations})
        err.print(f"[red]hvplan: {wo.message}; nothing was written.[/]")
        for v in wo.violations[:30]:
            err.print(f"  - {v['kind']}: {v['message']}")
        raise typer.Exit(EXIT_NO)
    s = wo.summary
    if json:
        print_json(s)
        return
    out.print(f"Cluster [bold]{cluster.name}[/]: {cluster.n_hosts} hosts, {cluster.n_vms} VMs; "
              f"threshold {res.threshold.rule}")
    gap = "" if not s["gap"] else f", gap {100 * s['gap']:.2f} %"
    out.print(f"Status: [bold]{s['status']}[/]{gap} in {s['solve_seconds']:.2f} s "
              f"({s['method']}, profile {s['profile']}, seed {s['seed']})")
    out.print(f"Moves: {s['moves']} ({s['downtime_moves']} with downtime), "
              f"memory moved {s['memory_moved_mb']} MB, {s['waves']} wave(s), "
              f"about {s['estimated_seconds']:.0f} s")
    out.print(f"Max CPU: {s['max_cpu_pct_before']:.1f} % -> {s['max_cpu_pct_after']:.1f} %; "
              f"max memory: {s['max_memory_pct_before']:.1f} % -> "
              f"{s['max_memory_pct_after']:.1f} %; hosts over the threshold: "
              f"{s['hosts_over_threshold_before']} -> {s['hosts_over_threshold_after']}")
    for t in s["tiers"]:
        out.print(f"  tier {t['name']}: {t['objective']} (bound {t['bound']}, {t['status']})")
    out.print(f"Plan written to {out_dir}")


@app.command()
def verify(
    snapshot: SnapshotArg,
    plan_dir: Annotated[Path, typer.Argument(help="Directory written by hvplan plan.")],
    json: JsonOpt = False,
) -> None:
    """Check a plan against a snapshot, independently of the optimizer (exit 1 if not ok)."""
    cluster = load_or_exit(snapshot, json)
    if not plan_dir.is_dir():
        if json:
            print_json({"ok": False, "violations": [
                {"kind": "file", "step": None, "vm": None, "host": None,
                 "message": f"{plan_dir} is not a plan directory"}]})
        fail(f"{plan_dir} is not a directory")
    rep = verify_plan(cluster, plan_dir)
    if json:
        print_json(rep.to_dict())
    elif rep.ok:
        out.print("[green]ok[/]: the plan is consistent, feasible and its objective recomputes")
    else:
        err.print(f"[red]{len(rep.violations)} violation(s):[/]")
        for v in rep.violations:
            where = ", ".join(str(x) for x in (
                f"step {v['step']}" if v["step"] is not None else None, v["vm"], v["host"])
                if x)
            err.print(f"  - {v['kind']}{' (' + where + ')' if where else ''}: {v['message']}")
    if not rep.ok:
        raise typer.Exit(EXIT_NO)
