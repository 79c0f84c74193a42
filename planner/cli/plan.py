"""``hvplan plan`` (optimal migration plan) and ``hvplan verify`` (independent check)."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cli.choices import (
    HighModeChoice,
    LevelOpt,
    LoadChoice,
    MinimiseChoice,
    ProgressOpt,
    ThresholdOpt,
)
from planner.cli.common import (
    EXIT_NO,
    EXIT_USAGE,
    STALE_HOURS,
    age_text,
    check_out_dir,
    check_seed,
    err,
    fail,
    load_snapshot,
    out,
    print_json,
    progress_display,
    published_dir,
    published_file,
    safe,
    snapshot_age,
    warnings_json,
)

if TYPE_CHECKING:
    from planner.cluster import Cluster

SnapshotArg = Annotated[
    Path, typer.Argument(help="Snapshot directory of CSV files.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force", help="Replace an earlier output in --out (only once the new one is complete)."
    ),
]

#: Words for each objective tier when a plan is not proven best: (with a bound, without).
_TIER_WORDS = {
    "rules": ("{d} broken rule(s) may be avoidable", "broken rules may be avoidable"),
    "excess": (
        "the load above the threshold may be reducible by {pct}",
        "the load above the threshold may be reducible",
    ),
    "anti_affinity": (
        "{d} anti-affinity pair(s) sharing a node may be avoidable",
        "anti-affinity pairs sharing a node may be avoidable",
    ),
    "migration": (
        "the migration cost is at most {pct} above the least possible",
        "the migration cost may still be lowered",
    ),
    "balance": (
        "the highest node load is at most {pct} above the lowest possible",
        "the highest node load may still be lowered",
    ),
}


OutOpt = Annotated[
    Path, typer.Option("--out", help="Directory for the plan files.", show_default=False)
]
HighModeOpt = Annotated[
    HighModeChoice,
    typer.Option(
        "--high-mode",
        case_sensitive=False,
        help="Reading of High: average (+5 points) or absolute (60 %).",
    ),
]
HeadroomOpt = Annotated[
    float | None,
    typer.Option(
        "--headroom",
        min=0.0,
        max=100.0,
        metavar="PCT",
        help="Aim this many points below the threshold (hot nodes do not end exactly at it).",
    ),
]
DrainOpt = Annotated[
    list[str] | None,
    typer.Option("--drain", metavar="HOST", help="Node to empty (repeatable)."),
]
MaxMovesOpt = Annotated[
    int | None,
    typer.Option(
        "--max-moves",
        min=0,
        metavar="N",
        help="Hard budget on the number of VMs that change node.",
    ),
]
MinimiseOpt = Annotated[
    MinimiseChoice,
    typer.Option(
        "--minimise",
        "--minimize",
        case_sensitive=False,
        help="What the migration step minimises: memory moved, number of moves, or "
        "estimated duration.",
    ),
]
StrictRulesOpt = Annotated[
    bool,
    typer.Option(
        "--strict-rules", help="Every affinity rule must hold, or the problem is infeasible."
    ),
]
LoadOpt = Annotated[
    LoadChoice | None,
    typer.Option(
        "--load",
        case_sensitive=False,
        help="With a load history: the statistic the "
        "threshold is judged at (default p95; without history the vms.csv values).",
    ),
]
TimeLimitOpt = Annotated[
    float | None,
    typer.Option(
        "--time-limit",
        min=0.1,
        metavar="S",
        help="Solver time limit in seconds (default: profile).",
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option(
        "--seed", callback=check_seed, metavar="N", help="Solver random seed (0 to 2147483647)."
    ),
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, help="Solver workers (default: profile).")
]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model", metavar="PROFILE", help="Profile: rebalance, drain, strict or a PATH.toml."
    ),
]
ExportModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--export-model",
        metavar="FILE",
        help="Write the CP-SAT model proto (text) to this file.",
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Also show the solver's view: every objective tier with its "
        "bound and how it was settled.",
    ),
]


def plan(
    snapshot: SnapshotArg,
    out_dir: OutOpt,
    level: LevelOpt = None,
    high_mode: HighModeOpt = HighModeChoice.AVERAGE,
    threshold: ThresholdOpt = None,
    headroom: HeadroomOpt = None,
    drain: DrainOpt = None,
    max_moves: MaxMovesOpt = None,
    minimise: MinimiseOpt = MinimiseChoice.MEMORY,
    strict_rules: StrictRulesOpt = False,
    load: LoadOpt = None,
    time_limit: TimeLimitOpt = None,
    seed: SeedOpt = 0,
    workers: WorkersOpt = None,
    model: ModelOpt = "rebalance",
    export_model: ExportModelOpt = None,
    force: ForceOpt = False,
    verbose: VerboseOpt = False,
    progress: ProgressOpt = None,
    json: JsonOpt = False,
) -> None:
    """Compute an optimal, verified migration plan and write plan.csv, placement.csv,
    summary.json, plan.ps1 and rollback.ps1 into --out.

    An existing non-empty --out is replaced only with --force, and only once the new plan
    is complete: an interrupted run (Ctrl-C) leaves the earlier plan untouched.
    """
    started = time.monotonic()  # the time limit counts from here (snapshot reading included)
    from planner.optimizer import PlanOptions
    from planner.profiles import load_profile

    check_out_dir(out_dir)
    _check_export_model(export_model)
    cluster, loaded = load_snapshot(snapshot, json)
    drained = drained_nodes(cluster, drain or [])
    prof, rep = load_profile(model)
    if prof is None:
        fail("--model: " + "; ".join(str(p) for p in rep.errors))
    wanted: dict[str, Any] = {
        "level": level.value if level else None,
        "threshold_pct": threshold,
        "high_mode": high_mode.value,
        "drain": tuple(drained),
        "max_moves": max_moves,
        "time_limit_s": time_limit,
        "seed": seed,
        "workers": workers,
        "profile": prof,
        "headroom_pct": headroom,
        "minimise": minimise.value,
        "strict_rules": strict_rules,
    }
    load_stat = _load_statistic(cluster, None if load is None else load.value)
    _drop_unsupported(wanted, {f.name for f in dataclasses.fields(PlanOptions)})
    _age_note(cluster)
    model_file = (
        contextlib.nullcontext(None)
        if export_model is None
        else published_file(export_model, force, "the model")
    )
    with (
        published_dir(out_dir, force, "the plan") as tmp,
        progress_display(json, progress) as prog,
        model_file as mtmp,
    ):
        opts = PlanOptions(**wanted, export_model=mtmp)
        summary = _solve_and_write(cluster, opts, tmp, json, prog, load_stat, started)
    _report(cluster, summary, out_dir, json, verbose, max_moves, loaded)


def _check_export_model(export_model: Path | None) -> None:
    """``--export-model`` names a file in an existing directory (else exit 1 or 2)."""
    if export_model is None:
        return
    if not export_model.resolve().parent.is_dir():
        fail(
            f"--export-model {export_model}: directory {export_model.resolve().parent} "
            "does not exist"
        )
    if export_model.is_dir():
        fail(f"--export-model {export_model}: is a directory; give a file name", EXIT_USAGE)


def _load_statistic(cluster: Cluster, load: str | None) -> str | None:
    """The statistic the plan is judged at: ``--load`` or p95 with a load history; None
    (with a note for a ``--load`` other than latest) without one."""
    if getattr(cluster, "history", None) is not None:
        return load or "p95"
    if load not in (None, "latest"):
        err.print(
            "note: the snapshot has no load history (vm_history.csv); --load "
            f"{load} is not used and the vms.csv values are planned"
        )
    return None


def _drop_unsupported(wanted: dict[str, Any], fields: set[str]) -> None:
    """Remove the options this build's optimizer does not take (warning when one is set)."""
    defaults = {"headroom_pct": None, "minimise": "memory", "strict_rules": False}
    for name, value in list(wanted.items()):
        if name not in fields:
            if value != defaults.get(name):
                err.print(
                    f"[yellow]hvplan: --{name.split('_')[0].replace('_', '-')} is not "
                    "supported by this build's optimizer yet; it is ignored[/]"
                )
            del wanted[name]


def drained_nodes(cluster: Cluster, names: list[str]) -> list[int]:
    """The node indices of ``--drain`` names (any case); exits 1 naming an unknown node."""
    drained: list[int] = []
    for name in names:
        h = cluster.host_index.get(name.casefold())
        if h is None:
            fail(
                f"--drain {name!r}: no such node in the snapshot (nodes: "
                f"{', '.join(cluster.host_names[:20])}"
                f"{' ...' if cluster.n_hosts > 20 else ''})"
            )
        drained.append(h)
    return drained


def _age_note(cluster: Cluster) -> None:
    """Say how old the snapshot is; warn when it is older than :data:`STALE_HOURS`."""
    collected = getattr(cluster.settings, "collected_utc", None)
    hours = snapshot_age(collected)
    if hours is None:
        return
    if hours > STALE_HOURS:
        err.print(
            f"[yellow]hvplan: warning: the snapshot was collected {age_text(hours)} ago "
            f"({safe(collected)}); the cluster may have changed since — collect a new "
            "one before running the plan[/]"
        )
    else:
        err.print(f"snapshot collected {age_text(hours)} ago ({safe(collected)})")


def _solve_and_write(
    cluster: Cluster,
    opts: Any,
    tmp: Path,
    json: bool,
    prog: Any,
    load: str | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """Optimise, sequence, verify and write into ``tmp``; exit 1 without a plan.

    With ``load`` (a snapshot with a load history) the plan is judged over the history at
    that statistic (:func:`planner.robustplan.plan_with_history_to_directory`)."""
    from planner.optimizer import SolveStatus
    from planner.pipeline import plan_to_directory

    prog.stage(
        "optimising the placement"
        if load is None
        else f"optimising the placement over the load history ({load})",
        time_left=opts.time_limit_s,
    )
    if load is not None:
        from planner.robustplan import plan_with_history_to_directory

        res, wo = plan_with_history_to_directory(cluster, opts, load, tmp)
    else:
        # The library reports its own stages once plan_to_directory takes a progress
        # reporter.
        extra = (
            {"progress": prog}
            if "progress" in inspect.signature(plan_to_directory).parameters
            else {}
        )
        res, wo = plan_to_directory(cluster, opts, tmp, started=started, **extra)
    if wo is None:
        doc: dict[str, Any] = {
            "status": res.status.value,
            "explanation": res.explanation,
            "solve_seconds": round(res.solve_seconds, 3),
            "threshold_pct": res.threshold.to_dict(),
        }
        if json:
            print_json(doc)
        what = "infeasible" if res.status == SolveStatus.INFEASIBLE else "no plan found"
        err.print(f"[red]hvplan: {what}; nothing was written.[/]")
        for line in res.explanation:
            err.print(f"  - {safe(line)}")
        raise typer.Exit(EXIT_NO)
    if not wo.ok:
        if json:
            print_json({"status": "UNKNOWN", "error": wo.message, "violations": wo.violations})
        err.print(f"[red]hvplan: {safe(wo.message)}; nothing was written.[/]")
        for v in wo.violations[:30]:
            err.print(f"  - {v['kind']}: {safe(v['message'])}")
        raise typer.Exit(EXIT_NO)
    return wo.summary


def tier_words(tiers: list[dict[str, Any]]) -> list[str]:
    """What a plan that is not proven best may still gain, tier by tier, in words."""
    lines = []
    for t in tiers:
        obj, bound = t.get("objective", t.get("value")), t.get("bound")
        if obj is None or bound is None or obj <= bound:
            continue
        pct = f"{100 * (obj - bound) / bound:.1f} %" if bound > 0 else ""
        with_bound, without = _TIER_WORDS.get(
            t["name"], ("{name}: {pct} above its bound", "{name}: not proven best")
        )
        words = with_bound if bound > 0 or "{pct}" not in with_bound else without
        lines.append(words.format(d=obj - bound, pct=pct, name=t["name"]))
    return lines


def _report(
    cluster: Cluster,
    s: dict[str, Any],
    out_dir: Path,
    json: bool,
    verbose: bool,
    max_moves: int | None,
    loaded: Any,
) -> None:
    """The plan's result: JSON, or a few lines in an administrator's words."""
    over_after = int(s["hosts_over_threshold_after"])
    budget = (
        f"the move budget of {max_moves} leaves {over_after} node(s) over the threshold"
        if max_moves is not None and over_after > 0
        else None
    )
    if json:
        doc = dict(s)
        doc["warnings"] = warnings_json(loaded)
        if budget:
            doc["budget_note"] = budget
        print_json(doc)
        return
    out.print(
        f"Cluster [bold]{safe(cluster.name)}[/]: {cluster.n_hosts} nodes, "
        f"{cluster.n_vms} VMs; threshold {safe(s.get('threshold_rule', ''))}"
    )
    dt = s["downtime_moves"]
    out.print(
        f"Plan: {s['moves']} move(s)"
        + (f" ({dt} with downtime)" if dt else "")
        + f", {s['memory_moved_mb']:,} MB of memory moved, {s['waves']} wave(s), "
        f"about {_duration(float(s['estimated_seconds']))}"
    )
    out.print(
        f"Nodes over the threshold: {s['hosts_over_threshold_before']} -> {over_after}; "
        f"highest CPU {s['max_cpu_pct_before']:.1f} % -> {s['max_cpu_pct_after']:.1f} %, "
        f"highest memory {s['max_memory_pct_before']:.1f} % -> "
        f"{s['max_memory_pct_after']:.1f} %"
    )
    _history_lines(s.get("history"))
    from planner.solve.result import headline

    out.print(safe(headline(s)))
    for r in s.get("rules_left_broken", []) or []:
        out.print(f"  rule {safe(r.get('rule'))} stays broken: {safe(r.get('reason'))}")
    if budget:
        out.print(f"[yellow]Note: {budget}.[/] Raise --max-moves to bring them under it.")
    native = _native_note(cluster, s, out_dir)
    if native:
        out.print(f"[yellow]Note: {safe(native)}.[/]")
    cut = wall_clock_note(s.get("parameters") or {})
    if cut:
        out.print(f"[yellow]Note: {safe(cut)}.[/]")
    if verbose:
        out.print(
            f"Solver: status {s['status']}, method {safe(s.get('method'))}, profile "
            f"{safe(s.get('profile'))}, seed {s.get('seed')}"
        )
        for t in s.get("tiers", []):
            out.print(
                f"  tier {t['name']}: {t.get('objective')} (bound {t.get('bound')}, "
                f"{t.get('status')}{', ' + safe(t['note']) if t.get('note') else ''})"
            )
    out.print(f"Plan written to {safe(out_dir)}")


def wall_clock_note(parameters: dict[str, Any]) -> str | None:
    """Why the plan may differ between runs: the wall clock cut a stage before its
    deterministic budget was spent (``None`` when it did not)."""
    if not parameters.get("wall_clock_cut"):
        return None
    stages = ", ".join(parameters.get("wall_clock_cut_stages") or []) or "the search"
    return (
        f"the wall clock ended the {stages} before its deterministic budget (a busy "
        "machine, or a search that works slowly on this cluster), so another run may give a "
        "different plan; a quieter machine, or a profile with a smaller "
        "deterministic_time_per_second, gives the same plan every time"
    )


def _native_note(cluster: Cluster, s: dict[str, Any], out_dir: Path) -> str | None:
    """The native balancer's verdict on the written plan (issue 11 item 5): a plan for a
    higher threshold than the cluster's own level leaves nodes it will move VMs off."""
    from planner.loadmodel import Threshold, native_balancer_note
    from planner.planrows import read_placement_csv

    placement, problems = read_placement_csv(cluster, out_dir / "placement.csv")
    thr = s.get("threshold_pct") or {}
    if placement is None or problems or "cpu" not in thr:
        return None
    planned = Threshold(float(thr["cpu"]), float(thr["memory"]), "custom", "")
    return native_balancer_note(cluster, placement, planned)


def _history_lines(h: dict[str, Any] | None) -> None:
    """How the plan does over the load history's window (SPEC §2 ``--load``)."""
    if not h:
        return
    b, a = h["before"], h["after"]
    out.print(
        f"Over the load history ({h['window'].get('samples')} samples, judged at "
        f"{h['statistic']}): node-samples over the threshold "
        f"{b['node_samples_over_threshold']:,} -> {a['node_samples_over_threshold']:,},"
        f" over capacity {b['node_samples_over_capacity']:,} -> "
        f"{a['node_samples_over_capacity']:,}"
    )
    lp = h.get("latest_plan")
    if lp:
        out.print(
            f"  a plan on --load latest: {lp['moves']} move(s), "
            f"{lp['node_samples_over_threshold']:,} node-samples over the threshold, "
            f"{lp['node_samples_over_capacity']:,} over capacity"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def verify(
    snapshot: SnapshotArg,
    plan_dir: Annotated[
        Path, typer.Argument(help="Directory written by hvplan plan.", show_default=False)
    ],
    json: JsonOpt = False,
) -> None:
    """Check a plan against a snapshot, independently of the optimizer (exit 1 if not ok)."""
    from planner.verify import verify_plan

    cluster, _ = load_snapshot(snapshot, json)
    if not plan_dir.is_dir():
        if json:
            print_json(
                {
                    "ok": False,
                    "violations": [
                        {
                            "kind": "plan_file",
                            "step": None,
                            "vm": None,
                            "host": None,
                            "message": f"{plan_dir} is not a plan directory",
                        }
                    ],
                }
            )
        fail(f"{plan_dir} is not a directory")
    rep = verify_plan(cluster, plan_dir)
    if json:
        print_json(rep.to_dict())
    elif rep.ok:
        out.print("[green]ok[/]: the plan is consistent, feasible and its objective recomputes")
    else:
        _show_violations(rep.violations)
    if not rep.ok:
        raise typer.Exit(EXIT_NO)


def _show_violations(violations: list[dict[str, Any]]) -> None:
    """Every violation, one line each; a plan made from another snapshot in one line."""
    other = [v for v in violations if v["kind"] == "snapshot"]
    if other:
        err.print(f"[red]hvplan: {safe(other[0]['message'])}[/]")
        return
    err.print(f"[red]{len(violations)} violation(s):[/]")
    for v in violations:
        where = ", ".join(
            str(x)
            for x in (f"step {v['step']}" if v["step"] is not None else None, v["vm"], v["host"])
            if x
        )
        err.print(
            f"  - {v['kind']}{' (' + safe(where) + ')' if where else ''}: {safe(v['message'])}"
        )
