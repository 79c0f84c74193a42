"""``hvplan capacity``: batch what-if capacity planning on Dask."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlparse

import typer
from rich.text import Text

from planner.cli.choices import (
    SEED_MAX,
    HighModeChoice,
    LevelChoice,
    LoadChoice,
    MaintenanceEngine,
    ProgressOpt,
)
from planner.cli.common import (
    EXIT_NO,
    EXIT_USAGE,
    OutDir,
    err,
    fail,
    out,
    print_json,
    progress_display,
    safe,
    show_notes,
    show_problems,
    show_table,
    with_warnings,
)
from planner.textsafe import term_safe

if TYPE_CHECKING:
    from planner.capacity.batch import BatchResult

#: URL schemes a Dask scheduler address may use.
SCHEDULER_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def _check_scheduler(value: str | None) -> str | None:
    """Callback: ``--scheduler`` must look like ``tcp://host:port`` (or ``host:port``)."""
    if value is None:
        return None
    v = value.strip()
    u = urlparse(v if "://" in v else "tcp://" + v)
    try:
        port = u.port
    except ValueError:
        port = None
    if (
        u.scheme not in SCHEDULER_SCHEMES
        or not u.hostname
        or (u.scheme != "inproc" and port is None)
        or any(c.isspace() for c in v)
    ):
        raise typer.BadParameter(
            f"{value!r} is not a Dask scheduler address; expected "
            "tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)"
        )
    return v


def _parse_add_host(spec: str) -> tuple[str, int]:
    """``MODEL:N`` → (catalog model name, N); a usage error when malformed or unknown."""
    model, sep, count = spec.rpartition(":")
    if not sep or not model.strip():
        fail(f"--add-host expects MODEL:N (for example Icelake-Server:2), got {spec!r}", EXIT_USAGE)
    try:
        n = int(count)
    except ValueError:
        fail(f"--add-host: the count after ':' must be an integer, got {count!r}", EXIT_USAGE)
    if n < 0:
        fail(f"--add-host: the count must be 0 or more, got {n}", EXIT_USAGE)
    from planner.catalog import default_catalog

    m = default_catalog().get(model)
    if m is None:
        fail(
            f"--add-host: unknown CPU model {model.strip()!r}; known models: "
            + ", ".join(default_catalog().names()),
            EXIT_USAGE,
        )
    return m.name, n


#: The options of ``hvplan capacity``, declared once (help texts as shown by ``--help``).
OutOpt = Annotated[
    Path,
    typer.Option(
        "--out",
        help="Directory for scenarios.csv, scenarios.parquet, over_time.csv (with a load "
        "history) and summary.json.",
    ),
]
FailuresOpt = Annotated[
    int,
    typer.Option(
        "--failures", min=1, max=8, metavar="K", help="Up to K simultaneous node failures."
    ),
]
GrowthOpt = Annotated[
    list[float] | None,
    typer.Option(
        "--growth",
        min=0.01,
        max=100.0,
        metavar="F",
        help="Demand growth factor to test (repeatable), e.g. 1.2 = +20 %.",
    ),
]
AddHostOpt = Annotated[
    str | None,
    typer.Option(
        "--add-host",
        metavar="MODEL:N",
        help="Also test N added hosts of a catalog CPU "
        "model and find the fewest that make the cluster N+1-safe.",
    ),
]
MaintenanceOpt = Annotated[
    bool, typer.Option("--maintenance", help="Drain each node in turn under the threshold.")
]
MaintenanceEngineOpt = Annotated[
    MaintenanceEngine,
    typer.Option(
        "--maintenance-engine",
        case_sensitive=False,
        help="restart: only the drained node's VMs move (as the cluster's drain does); "
        "optimizer: the optimizer's plan, which may move others.",
    ),
]
CapacityLevelOpt = Annotated[
    LevelChoice | None,
    typer.Option(
        "--level",
        case_sensitive=False,
        help="Balancer level for --maintenance and hvplan's plan over a load history "
        "(default: the cluster's).",
    ),
]
CapacityThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        min=0.0,
        max=100.0,
        help="Threshold percent for --maintenance and hvplan's plan; overrides --level.",
    ),
]
HighModeOpt = Annotated[
    HighModeChoice,
    typer.Option("--high-mode", case_sensitive=False, help="Reading of the High level."),
]
SurvivableThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--survivable-threshold",
        min=0.0,
        max=100.0,
        help="Survivable also requires every surviving host at or under this percent.",
    ),
]
MaxScenariosOpt = Annotated[
    int,
    typer.Option(
        "--max-scenarios",
        min=1,
        help="Per K >= 2, sample this many node combinations when there are more (seeded).",
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option("--seed", min=0, max=SEED_MAX, metavar="N", help="Sampling and solver seed."),
]
TimeLimitOpt = Annotated[
    float, typer.Option("--time-limit", min=0.1, help="CP-SAT seconds per undecided scenario.")
]
NoExactOpt = Annotated[
    bool, typer.Option("--no-exact", help="Screen only: skip the exact CP-SAT checks.")
]
ExactLossOpt = Annotated[
    bool,
    typer.Option(
        "--exact-loss",
        help="For scenarios that are not survivable, also compute with CP-SAT "
        "the fewest VMs any placement must leave out (by priority).",
    ),
]
NoGrowthLimitOpt = Annotated[
    bool,
    typer.Option("--no-growth-limit", help="Skip the search for the growth that breaks N+1."),
]
CapacityLoadOpt = Annotated[
    LoadChoice | None,
    typer.Option(
        "--load",
        case_sensitive=False,
        help="With a load history: the statistic of the growth limit over time and of "
        "hvplan's plan (default p95); N+k is judged at every sample.",
    ),
]
PlanTimeLimitOpt = Annotated[
    float,
    typer.Option(
        "--plan-time-limit",
        min=0.0,
        metavar="S",
        help="With a load history: seconds for hvplan's plan over the history, judged "
        "next to the current placement (0: the current placement only).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        callback=_check_scheduler,
        metavar="ADDRESS",
        help="Existing Dask scheduler, e.g. tcp://host:8786.",
    ),
]
WorkerTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--worker-timeout",
        min=0.1,
        metavar="S",
        help="With --scheduler: give up when it has no worker after S seconds.",
    ),
]
WorkersOpt = Annotated[
    int, typer.Option("--workers", min=1, help="Workers of the embedded LocalCluster.")
]
ThreadsOpt = Annotated[
    bool, typer.Option("--threads", help="Embedded cluster with threads instead of processes.")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace earlier results in --out.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Summary as JSON on stdout.")]


def capacity(
    snapshots: Annotated[list[Path], typer.Argument(help="One or more snapshot directories.")],
    out_dir: OutOpt,
    failures: FailuresOpt = 1,
    growth: GrowthOpt = None,
    add_host: AddHostOpt = None,
    maintenance: MaintenanceOpt = False,
    maintenance_engine: MaintenanceEngineOpt = MaintenanceEngine.RESTART,
    level: CapacityLevelOpt = None,
    threshold: CapacityThresholdOpt = None,
    high_mode: HighModeOpt = HighModeChoice.AVERAGE,
    survivable_threshold: SurvivableThresholdOpt = None,
    max_scenarios: MaxScenariosOpt = 2016,
    seed: SeedOpt = 0,
    time_limit: TimeLimitOpt = 10.0,
    no_exact: NoExactOpt = False,
    exact_loss: ExactLossOpt = False,
    no_growth_limit: NoGrowthLimitOpt = False,
    load: CapacityLoadOpt = None,
    plan_time_limit: PlanTimeLimitOpt = 20.0,
    scheduler: SchedulerOpt = None,
    worker_timeout: WorkerTimeoutOpt = 30.0,
    workers: WorkersOpt = 2,
    threads: ThreadsOpt = False,
    force: ForceOpt = False,
    progress: ProgressOpt = None,
    json: JsonOpt = False,
) -> None:
    """Batch what-if capacity planning: N+k failover, maintenance, growth, added hosts;
    with a load history also N+k at every sample of the window, for the current placement
    and hvplan's plan."""
    from planner.capacity.batch import BatchOptions
    from planner.capacity.failures import FailureOptions

    _check_snapshots(snapshots)
    target = OutDir.check(out_dir, force, "the results")
    add = _parse_add_host(add_host) if add_host else None
    opts = BatchOptions(
        failure=FailureOptions(
            failures=failures,
            max_scenarios_per_k=max_scenarios,
            seed=seed,
            threshold_pct=survivable_threshold,
            exact=not no_exact,
            exact_time_limit_s=time_limit,
            exact_loss=exact_loss,
        ),
        growth=tuple(dict.fromkeys(growth)) if growth else (1.0,),
        add_host=add,
        maintenance=maintenance,
        maintenance_engine=maintenance_engine.value,
        level=None if level is None else level.value,
        threshold_pct=threshold,
        high_mode=high_mode.value,
        growth_limit=not no_growth_limit,
        load=None if load is None else load.value,
        plan_time_limit_s=plan_time_limit,
    )
    dask = (scheduler, workers, not threads, worker_timeout)
    result, files = _run(snapshots, opts, target, dask, json, progress)
    if load is not None and not any("over_time" in s for s in result.snapshots):
        show_notes([f"no snapshot has a load history: --load {load.value} is not used"])
    summary = result.summary()
    summary["out"] = str(out_dir)
    summary["files"] = [p.name for p in files]
    if json:
        print_json(summary)
        return
    _show_summary(result, summary)


def _check_snapshots(snapshots: list[Path]) -> None:
    """Every snapshot argument must be a directory (exit 1 otherwise)."""
    for s in snapshots:
        if not s.is_dir():
            fail(
                f"{s}: snapshot directory does not exist"
                if not s.exists()
                else f"{s}: expected a snapshot directory of CSV files",
                EXIT_NO,
            )


def _run(
    snapshots: list[Path],
    opts: Any,
    target: OutDir,
    dask: tuple[str | None, int, bool, float],
    json: bool,
    progress: bool | None,
) -> tuple[BatchResult, list[Path]]:
    """Run the batch on Dask (``dask``: scheduler, workers, processes, worker timeout) and
    publish its files; exits 1 on a Dask failure or an invalid snapshot."""
    from planner.capacity.batch import BatchError, dask_client, run_batch, write_outputs

    scheduler, workers, processes, worker_timeout = dask
    with ExitStack() as stack:
        tmp = stack.enter_context(target.publish())
        prog = stack.enter_context(progress_display(json, progress, unit="scenarios"))
        prog.stage("starting Dask" if scheduler is None else "connecting to " + scheduler)
        try:
            client = stack.enter_context(
                dask_client(
                    scheduler, workers, processes=processes, worker_timeout_s=worker_timeout
                )
            )
        except BatchError as e:
            fail(str(e))
        except (OSError, RuntimeError, TimeoutError) as e:
            fail(f"cannot start the local Dask cluster: {e}")
        prog.stage("capacity scenarios")
        try:
            result = run_batch(snapshots, opts, client, prog.advance)
        except BatchError as e:
            fail(str(e))
        if not result.valid:
            _show_invalid(result, json)
            raise typer.Exit(EXIT_NO)
        _warnings(result)
        return result, write_outputs(result, tmp)
    raise AssertionError("unreachable")  # pragma: no cover


def _warnings(result: BatchResult) -> None:
    """Each snapshot's warnings on stderr (named when there are several snapshots) and in
    its entry of the summary, as every command that reads a snapshot does."""
    several = len(result.reports) > 1
    for entry in result.snapshots:
        rep = result.reports.get(entry.get("snapshot", ""))
        if rep is None:
            continue
        with_warnings(entry, rep)
        if rep.warnings:
            if several:
                err.print(f"{term_safe(entry['snapshot'])}:", markup=False, highlight=False)
            show_problems(rep, disabled_rules=False)


def _show_invalid(result: BatchResult, json_mode: bool) -> None:
    if json_mode:
        print_json(
            {"valid": False, "snapshots": {k: r.to_dict() for k, r in result.invalid.items()}}
        )
    for name, rep in result.invalid.items():
        show_problems(rep)
        err.print(f"[red]hvplan: {name} is not a valid snapshot ({len(rep.errors)} error(s))[/]")
    err.print("[red]hvplan: nothing was written.[/]")


def _yes(v: Any) -> str:
    if v is None:
        return "-"
    return "[green]yes[/]" if v else "[red]no[/]"


def _growth_text(gl: dict[str, Any] | None) -> str:
    if not gl:
        return "-"
    mark = "" if gl["proven"] else " (unproven)"
    if not gl["safe_now"]:
        if gl["max_safe"] is None:
            return "unsafe at any demand" + mark
        return f"unsafe now; safe at x{gl['max_safe']:g}" + mark
    if gl["breaks_at"] is None:
        return "beyond the search" + mark
    return f"x{gl['breaks_at']:g}" + mark


def _generation_lines(s: dict[str, Any]) -> list[str]:
    lines = []
    g = s.get("add_generation")
    if g:
        lost = len(g["features_lost"])
        lines.append(
            f"adding a {g['model']} node: the {g['vendor'].title()} CommonClusterFeatureSet "
            + (
                f"loses {lost} feature(s), {g['affected_vms']} VM(s) see it at next boot"
                if lost
                else "keeps every feature"
            )
            + f"; {g['not_live_target_until_reboot']} running VM(s) cannot live-migrate to it "
            f"until they reboot, {g['never_live_target']} cannot at all"
        )
    r = s.get("retire_oldest")
    if r and r["retired_hosts"]:
        gained = sum(len(v) for v in r["features_gained"].values())
        lines.append(
            f"retiring {', '.join(r['models'])} ({len(r['retired_hosts'])} node(s)): "
            f"{gained} feature(s) gained for {r['benefiting_vms']} VM(s); relocation "
            + ("fits" if r["relocation_feasible"] else "does not fit")
            + (
                ""
                if r["n1_safe_after"] is None
                else "; N+1-safe after"
                if r["n1_safe_after"]
                else "; not N+1-safe after"
            )
        )
    return lines


def over_time_lines(s: dict[str, Any]) -> list[str]:
    """A snapshot's capacity over its load history in words (none without a history)."""
    ot = s.get("over_time")
    if not ot:
        return []
    w = ot["window"]
    name = s.get("snapshot", "")
    lines = [
        f"{name}: over the load history, {w['samples']} samples of {w['step_seconds']} s "
        f"from {w['start']} to {w['end']}, each judged at its own loads:"
    ]
    plan = ot.get("plan")
    for line in ot["sentences"]:
        if plan and line.startswith("hvplan's plan"):
            moves = "no plan" if plan["moves"] is None else f"{plan['moves']} moves"
            line = line.replace(
                "hvplan's plan", f"hvplan's plan on --load {ot['load']} ({moves})", 1
            )
        lines.append(f"  {line}")
    if plan and plan["moves"] is None:
        lines.append(f"  hvplan found no plan over the history ({plan['status']})")
    growth = {
        k: _growth_text(p.get("growth_limit"))
        for k, p in ot["placements"].items()
        if p.get("growth_limit")
    }
    if growth:
        parts = [f"{_PLACEMENT[k]} {v}" for k, v in growth.items()]
        lines.append(
            f"  growth that breaks N+1 at the {ot['load']} sample of total demand "
            f"({ot['growth_sample_utc']}): " + "; ".join(parts)
        )
    return lines


_PLACEMENT = {"current": "current placement", "hvplan": "hvplan's plan"}


def _show_summary(result: BatchResult, summary: dict[str, Any]) -> None:
    cols = [
        "snapshot",
        "hosts",
        "VMs",
        "N+1 safe",
        "worst node loss",
        "not survivable",
        "growth breaks at",
        "fewest added hosts",
        "maintenance",
    ]
    rows: list[list[str | Text]] = []
    tab = result.table
    for s in result.snapshots:
        name = s.get("snapshot", "")
        sub = tab[(tab["snapshot"] == name) & (tab["kind"] != "maintenance")]
        bad = int((~sub["survivable"].astype(bool)).sum())
        gl = s.get("growth_limit")
        gtxt = _growth_text(gl)
        mh = s.get("min_additional_hosts", {}).get("1")
        htxt = (
            "-"
            if not mh
            else ("not enough" if mh["needed"] is None else f"{mh['needed']} x {mh['model']}")
        )
        m = s.get("maintenance")
        mtxt = (
            "-"
            if not m
            else (
                (
                    "all feasible"
                    if m["all_feasible"]
                    else "infeasible: " + ", ".join(m["infeasible"])
                )
                + f"; {m['total_moves']} moves; hardest {m['hardest']}"
            )
        )
        w = s.get("worst_n1")
        wtxt = (
            "-"
            if not w
            else (
                f"{w['scenario'].removeprefix('N+1:')}: "
                + (
                    f"{w['vms_not_restarted']} VM(s) left off"
                    if w["vms_not_restarted"]
                    else f"CPU {w['max_cpu_pct_after']:.0f} %, "
                    f"memory {w['max_memory_pct_after']:.0f} %"
                )
            )
        )
        rows.append(
            [
                term_safe(name),
                str(s.get("hosts", "")),
                str(s.get("vms", "")),
                Text.from_markup(_yes(s.get("n1_safe"))),
                term_safe(wtxt),
                f"{bad}/{len(sub)}",
                gtxt,
                term_safe(htxt),
                term_safe(mtxt),
            ]
        )
    show_table(out, cols, rows, title="Capacity")
    for s in result.snapshots:
        for line in _generation_lines(s):
            out.print(f"{safe(s.get('snapshot', ''))}: {safe(line)}")
    for s in result.snapshots:
        for line in over_time_lines(s):
            out.print(safe(line))
    out.print(
        f"{summary['scenarios']} scenarios, {summary['not_survivable']} not survivable, "
        f"{summary['unproven']} unproven; {summary['elapsed_seconds']:.2f} s on "
        f"{summary['workers']} worker(s) "
        f"({summary['scenarios_per_second'] or 0:.1f} scenarios/s)"
    )
    first, *rest = summary["files"]
    out.print(f"Results: {safe(summary['out'])}/{', '.join([first, *rest])}")
