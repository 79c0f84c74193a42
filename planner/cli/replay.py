"""``hvplan replay``: the load history replayed for hvplan's plan and the native balancers."""

from __future__ import annotations

import csv
import io
import json as jsonlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cli.choices import HighModeChoice, LevelOpt, LoadChoice, ThresholdOpt
from planner.cli.common import (
    OutDir,
    err,
    fail,
    load_snapshot,
    out,
    print_json,
    safe,
    show_notes,
    show_problems,
    show_table,
    with_warnings,
)
from planner.textsafe import csv_row, term_safe

if TYPE_CHECKING:
    from planner.cluster import Cluster
    from planner.history.model import LoadStatistic
    from planner.replay import ReplayResult

#: Files ``--out`` writes.
REPLAY_FILES = ("replay.json", "replay.csv", "replay_moves.csv", "replay.png")


def read_placement(cluster: Cluster, plan_dir: Path, json_mode: bool = False) -> Any:
    """The plan's final placement, read with the one plan reader
    (:func:`planner.planrows.read_plan_files`: placement.csv, else the snapshot with the
    moves of plan.csv applied); exits 1 listing every problem (file, row, column, value)."""
    import numpy as np

    from planner.planrows import read_plan_files

    files = read_plan_files(cluster, plan_dir, complete=False)
    if not files.ok:
        if json_mode:
            print_json(files.report.to_dict())
        show_problems(files.report)
        fail(
            f"{plan_dir} is not a plan hvplan can replay for this snapshot "
            f"({len(files.report.errors)} error(s))"
        )
    return files.final_placement(cluster).astype(np.int32)


def _plan(
    cluster: Cluster,
    stat: LoadStatistic,
    level: str | None,
    threshold: float | None,
    high_mode: str,
    time_limit: float,
) -> tuple[Any, str]:
    """hvplan's plan over the history (:func:`planner.robustplan.plan_with_history`)."""
    from planner.problem import PlanOptions
    from planner.robustplan import plan_with_history

    res = plan_with_history(
        cluster,
        PlanOptions(
            level=level, threshold_pct=threshold, high_mode=high_mode, time_limit_s=time_limit
        ),
        stat,
    )
    hist = res.summary.get("history", {}) if res.summary else {}
    after = hist.get("after", {})
    note = (
        f"hvplan's plan on --load {stat.value}: {res.status}, "
        f"{hist.get('moves', 0)} move(s); over the window "
        f"{after.get('node_samples_over_threshold', '?')} node-samples over the "
        f"threshold, {after.get('node_samples_over_capacity', '?')} over capacity"
    )
    return res.placement, note


def replay_cmd(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory with a load history.")],
    plan_dir: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            file_okay=False,
            help="Plan directory (placement.csv); default: hvplan "
            "plans the snapshot itself on --load.",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            file_okay=False,
            help="Write replay.json, replay.csv, replay_moves.csv and replay.png here.",
        ),
    ] = None,
    period: Annotated[
        float,
        typer.Option(
            "--period", min=0.0, help="Re-planning period in hours (0: no re-planned strategy)."
        ),
    ] = 24.0,
    load: Annotated[
        LoadChoice,
        typer.Option(
            "--load", case_sensitive=False, help="What hvplan's plans judge the threshold at."
        ),
    ] = LoadChoice.P95,
    level: LevelOpt = None,
    threshold: ThresholdOpt = None,
    high_mode: Annotated[
        HighModeChoice,
        typer.Option("--high-mode", case_sensitive=False, help="Reading of the High level."),
    ] = HighModeChoice.AVERAGE,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            min=0.1,
            help="Seconds for hvplan's plan (each re-plan gets a quarter of it).",
        ),
    ] = 20.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an earlier replay.")] = False,
    json: Annotated[
        bool, typer.Option("--json", help="Machine-readable output on stdout.")
    ] = False,
) -> None:
    """Replay the snapshot's load history: the current placement, hvplan's plan (once and
    re-planned), Node Fairness in the cluster's mode and SCVMM Dynamic Optimization."""
    from planner.history.model import parse_statistic
    from planner.replay import ReplayOptions, replay

    target = OutDir.check(out_dir, force, "the replay")
    stat = parse_statistic(load.value)
    cluster, loaded = load_snapshot(snapshot, json)
    if cluster.history is None:
        fail(
            f"{snapshot} has no load history (vm_history.csv/.parquet or "
            "host_history.csv/.parquet): nothing to replay"
        )
    lv = None if level is None else level.value
    if plan_dir is not None:
        placement = read_placement(cluster, plan_dir, json)
    else:
        placement, note = _plan(cluster, stat, lv, threshold, high_mode.value, time_limit)
        err.print(safe(note), markup=False, highlight=False)

    def replanner(c: Cluster) -> Any:
        return _plan(c, stat, lv, threshold, high_mode.value, max(time_limit / 4, 1.0))[0]

    res = replay(
        cluster,
        plan_placement=placement,
        options=ReplayOptions(
            level=lv, threshold_pct=threshold, high_mode=high_mode.value, period_hours=period
        ),
        replanner=replanner if period > 0 else None,
    )
    if out_dir is not None:
        with target.publish() as tmp:
            _write(res, tmp)
        err.print(f"wrote {', '.join(REPLAY_FILES)} to {safe(out_dir)}", markup=False)
    if json:
        print_json(with_warnings(res.to_dict(), loaded))
    else:
        _print_text(res)
    show_notes(res.notes)


def _write(res: ReplayResult, out_dir: Path) -> None:
    from planner.replaychart import write_replay_chart

    (out_dir / "replay.json").write_text(
        jsonlib.dumps(res.to_dict(), indent=2) + "\n", encoding="utf-8"
    )
    rows = [s.to_dict() for s in res.strategies]
    for name, data in (("replay.csv", rows), ("replay_moves.csv", res.moves_rows())):
        buf = io.StringIO()
        keys = list(data[0]) if data else ["strategy"]
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(keys)
        for r in data:
            w.writerow(csv_row(r[k] for k in keys))
        (out_dir / name).write_text(buf.getvalue(), encoding="utf-8")
    write_replay_chart(res, out_dir / "replay.png")


def _print_text(res: ReplayResult) -> None:
    w = res.history.window()
    out.print(
        f"Cluster {safe(res.cluster.name)}: replay of {w['samples']} samples of "
        f"{w['step_seconds']} s, {w['start']} to {w['end']}",
        markup=False,
    )
    out.print(f"Threshold: {safe(res.threshold.rule)}", markup=False)
    cols = [
        "strategy",
        "migrations",
        "moved MB",
        "node-samples > thr",
        "node-samples > 100 %",
        "max CPU %",
        "max mem %",
        "rules",
    ]
    rows = []
    for s in res.strategies:
        m = s.metrics
        rows.append(
            [
                term_safe(s.name),
                str(m["migrations"]),
                f"{m['memory_moved_mb']:,}",
                str(m["node_samples_over_threshold"]),
                str(m["node_samples_over_capacity"]),
                f"{m['max_cpu_pct']:.1f}",
                f"{m['max_memory_pct']:.1f}",
                str(m["rule_violations"]),
            ]
        )
    show_table(out, cols, rows, right=cols[1:])
    for s in res.strategies:
        out.print(f"  {term_safe(s.name)}: {term_safe(s.description)}", markup=False)
