"""Many snapshots x what-if variants on ``dask.distributed``.

Each snapshot is read and validated on a worker (and stays there); then one task per
snapshot and variant (growth factor x added hosts) runs every failure scenario, plus one
maintenance task and one summary task (growth limit, fewest added hosts, CPU generations)
per snapshot.  Results come back as plain dicts and are sorted into a fixed order, so the
same input and seed always give the same table, whatever the number of workers.

Clients: an embedded ``LocalCluster`` (worker processes, one thread each, quiet logs) by
default, or an existing scheduler at ``tcp://host:port``, or a ``Client`` passed in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.capacity.failures import FailureOptions, analyze_failures, failure_scenarios
from planner.capacity.generations import add_generation, retire_oldest
from planner.capacity.whatif import (
    add_hosts,
    growth_limit,
    min_additional_hosts,
    rolling_maintenance,
    scale_demand,
)
from planner.cluster import Cluster
from planner.diagnostics import Report
from planner.loadmodel import HighMode
from planner.snapshot import read_snapshot

#: Columns of ``scenarios.csv`` / ``scenarios.parquet`` in order, with their pandas dtype.
COLUMNS: dict[str, str] = {
    "snapshot": "string",
    "scenario": "string",
    "kind": "string",
    "failed_hosts": "string",
    "growth": "float64",
    "added_hosts": "Int64",
    "vms_to_restart": "Int64",
    "vms_not_restarted": "Int64",
    "not_restarted_high": "Int64",
    "not_restarted_medium": "Int64",
    "not_restarted_low": "Int64",
    "noautostart_off": "Int64",
    "max_cpu_pct_after": "float64",
    "max_memory_pct_after": "float64",
    "hosts_over_threshold_after": "Int64",
    "hosts_over_capacity_after": "Int64",
    "survivable": "boolean",
    "settled_by": "string",
    "proven": "boolean",
    "moves": "Int64",
    "live_moves": "Int64",
    "quick_moves": "Int64",
    "downtime_moves": "Int64",
    "memory_moved_mb": "Int64",
    "not_restarted_vms": "string",
    "min_not_restarted": "Int64",
    "min_not_restarted_high": "Int64",
    "min_not_restarted_medium": "Int64",
    "min_not_restarted_low": "Int64",
    "min_loss_proven": "boolean",
}


@dataclass(frozen=True)
class BatchOptions:
    """What to compute for every snapshot.

    Attributes
    ----------
    failure:
        Scenario choice and exact-check settings (``failures`` = K for N+1 .. N+K).
    growth:
        Demand factors to run the scenarios at (1.0 = today).
    add_host:
        ``(model, count)``: also run the scenarios with ``count`` added hosts of ``model``,
        search the fewest such hosts that make the cluster N+1-safe, and report what the model
        does to the CommonClusterFeatureSet.
    maintenance:
        Also drain each node in turn under the threshold (``level`` / ``threshold_pct``).
    maintenance_engine:
        ``restart`` (only the drained node's VMs move, as the cluster's own drain does) or
        ``optimizer`` (the optimizer's plan, which may also move other VMs).
    growth_limit:
        Find the growth at which N+1 safety breaks (bisection).
    generations:
        Report retiring each vendor's oldest CPU model.
    """

    failure: FailureOptions = field(default_factory=FailureOptions)
    growth: tuple[float, ...] = (1.0,)
    add_host: tuple[str, int] | None = None
    maintenance: bool = False
    maintenance_engine: str = "restart"
    level: str | None = None
    threshold_pct: float | None = None
    high_mode: str = HighMode.AVERAGE.value
    growth_limit: bool = True
    generations: bool = True


@dataclass
class BatchResult:
    """Outcome of :func:`run_batch`.  When some snapshot is invalid, ``invalid`` maps its
    name to the validation report and nothing else is computed."""

    invalid: dict[str, Report]
    table: pd.DataFrame
    snapshots: list[dict[str, Any]]
    elapsed_seconds: float = 0.0
    tasks: int = 0
    workers: int = 0

    @property
    def valid(self) -> bool:
        """True when every snapshot was valid."""
        return not self.invalid

    def summary(self) -> dict[str, Any]:
        """JSON summary (also written to ``summary.json``)."""
        t = self.table
        fo = t[t["kind"] != "maintenance"] if len(t) else t
        n = len(fo)
        return {
            "snapshots": self.snapshots,
            "scenarios": int(n),
            "survivable": int(fo["survivable"].sum()) if n else 0,
            "not_survivable": int((~fo["survivable"].astype(bool)).sum()) if n else 0,
            "unproven": int((~fo["proven"].astype(bool)).sum()) if n else 0,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "scenarios_per_second": round(n / self.elapsed_seconds, 2)
            if self.elapsed_seconds > 0
            else None,
            "tasks": self.tasks,
            "workers": self.workers,
        }


# ----------------------------------------------------------------------------- worker tasks
def _load(path: str) -> tuple[Cluster | None, Report]:
    return read_snapshot(path)


def _report_of(loaded: tuple[Cluster | None, Report]) -> Report:
    return loaded[1]


def _variant_cluster(cluster: Cluster, growth: float, added: int, model: str | None) -> Cluster:
    c = cluster if growth == 1.0 else scale_demand(cluster, growth)
    if added and model:
        c = add_hosts(c, model, added)
    return c


def _failover_task(
    loaded: tuple[Cluster | None, Report],
    label: str,
    growth: float,
    added: int,
    model: str | None,
    opt: FailureOptions,
) -> list[dict[str, Any]]:
    cluster = loaded[0]
    assert cluster is not None
    c = _variant_cluster(cluster, growth, added, model)
    rep = analyze_failures(c, opt)
    rows = []
    for o in rep.outcomes:
        r = o.to_row()
        r.update(snapshot=label, growth=growth, added_hosts=added)
        rows.append(r)
    return rows


def _maintenance_task(
    loaded: tuple[Cluster | None, Report], label: str, opts: BatchOptions
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cluster = loaded[0]
    assert cluster is not None
    rep = rolling_maintenance(
        cluster,
        opts.level,
        opts.threshold_pct,
        opts.high_mode,
        opts.failure,
        opts.maintenance_engine,
    )
    rows = []
    for d in rep.drains:
        r = d.to_row()
        r.update(snapshot=label, growth=1.0, added_hosts=0)
        rows.append(r)
    return rows, rep.to_dict()


def _summary_task(
    loaded: tuple[Cluster | None, Report], label: str, opts: BatchOptions
) -> dict[str, Any]:
    cluster = loaded[0]
    assert cluster is not None
    out: dict[str, Any] = {
        "snapshot": label,
        "hosts": cluster.n_hosts,
        "vms": cluster.n_vms,
        "scenario_choice": failure_scenarios(cluster, opts.failure)[1],
    }
    if opts.growth_limit:
        out["growth_limit"] = growth_limit(cluster, opts.failure).to_dict()
    if opts.add_host is not None:
        model, _ = opts.add_host
        per_growth = {}
        for g in sorted(set((1.0, *opts.growth))):
            r = min_additional_hosts(scale_demand(cluster, g), model, opts.failure)
            per_growth[f"{g:g}"] = r.to_dict()
        out["min_additional_hosts"] = per_growth
        out["add_generation"] = add_generation(cluster, model, 1, options=opts.failure).to_dict()
    if opts.generations:
        out["retire_oldest"] = retire_oldest(cluster, options=opts.failure).to_dict()
    return out


def _count_task(loaded: tuple[Cluster | None, Report], opt: FailureOptions) -> int:
    cluster = loaded[0]
    assert cluster is not None
    return len(failure_scenarios(cluster, opt)[0])


# ----------------------------------------------------------------------------- driver
class BatchError(Exception):
    """The Dask cluster failed the batch (no workers, scheduler gone): a message for the
    user, not a bug."""


#: Seconds to wait for the scheduler to answer and for a first worker.
CONNECT_TIMEOUT_S = 10.0
WORKER_TIMEOUT_S = 30.0


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Silence distributed's loggers while hvplan uses Dask: a lost scheduler, a
    reconnect attempt or the shutdown after an interruption log tracebacks that are not
    the user's concern (the batch reports each failure as one message)."""
    # Not restored afterwards: the client's finaliser still logs at interpreter exit.
    prefixes = ("distributed", "tornado", "asyncio")
    for name in [*prefixes, *logging.root.manager.loggerDict]:
        if name.split(".")[0] in prefixes:
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    yield


@contextmanager
def _sigint_ignored_in_children() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (an ignored signal stays ignored across
    exec): a Ctrl-C in the terminal then reaches only hvplan itself, which shuts the
    workers down, instead of every worker printing its own traceback."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextmanager
def dask_client(
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
    worker_timeout_s: float = WORKER_TIMEOUT_S,
) -> Iterator[Any]:
    """A ``dask.distributed`` client: to ``scheduler`` when given, else to an embedded
    ``LocalCluster`` of ``workers`` single-threaded workers (quiet logs, no dashboard).

    Raises :class:`BatchError` when the scheduler does not answer within
    :data:`CONNECT_TIMEOUT_S` or has no worker within ``worker_timeout_s``.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with _quiet_dask():
            try:
                client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
            except (OSError, TimeoutError, ValueError) as e:
                raise BatchError(
                    f"cannot reach the Dask scheduler {scheduler}: "
                    f"{e or type(e).__name__} (waited up to "
                    f"{CONNECT_TIMEOUT_S:g} s)"
                ) from None
            try:
                try:
                    client.wait_for_workers(1, timeout=worker_timeout_s)
                except (TimeoutError, OSError) as e:
                    raise BatchError(
                        f"the Dask scheduler {scheduler} has no worker after "
                        f"{worker_timeout_s:g} s (start workers with 'dask worker "
                        f"{scheduler}', or set --worker-timeout)"
                    ) from e
                yield client
            finally:
                with contextlib.suppress(Exception):
                    client.close(timeout=2)
        return
    kwargs: dict[str, Any] = {}
    if processes:
        # One BLAS thread per worker process: the workers already use the cores.
        kwargs["env"] = {
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    # This version of distributed starts the dashboard even when asked not to; a random
    # port at least never collides with another cluster on the machine.
    with _quiet_dask():
        with _sigint_ignored_in_children():
            cluster = LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=processes,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                **kwargs,
            )
        client = Client(cluster)
        try:
            yield client
        finally:
            # Shutting down after an interruption may time out; it must not replace the
            # interruption (or the result) with an error of its own.
            with contextlib.suppress(Exception):
                client.close(timeout=2)
            with contextlib.suppress(Exception):
                cluster.close(timeout=2)


def snapshot_labels(paths: Sequence[str | Path]) -> list[str]:
    """Names for the ``snapshot`` column: the directory name, or the path when two
    snapshots share a name."""
    names = [Path(p).name or str(p) for p in paths]
    if len(set(n.casefold() for n in names)) == len(names):
        return names
    return [str(p) for p in paths]


def run_batch(
    paths: Sequence[str | Path],
    options: BatchOptions,
    client: Any,
    on_progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Run every snapshot x variant on ``client`` (a ``dask.distributed.Client``).

    ``on_progress(done, total)`` is called as tasks finish, counting scenarios (failure
    scenarios and maintenance drains; ``total`` is known once the snapshots are read).
    Invalid snapshots stop the run before any scenario is computed.  A lost scheduler or
    worker connection raises :class:`BatchError`.
    """
    try:
        return _run_batch(paths, options, client, on_progress)
    except BatchError:
        raise
    except Exception as e:
        if _is_connection_error(e):
            text = " ".join(str(e).split()) or type(e).__name__
            lost = "connection" in text.casefold() or "scheduler" in text.casefold()
            raise BatchError(
                "lost the connection to the Dask scheduler during the batch; nothing was written"
                if lost
                else f"the Dask cluster failed during the batch ({text}); nothing was written"
            ) from e
        raise


def _is_connection_error(e: BaseException) -> bool:
    """A failure of the Dask cluster (connection, scheduler, cancelled work), not of the
    analysis."""
    import asyncio
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError

    return isinstance(
        e, OSError | TimeoutError | CommClosedError | CancelledError | asyncio.CancelledError
    ) or type(e).__name__ in ("FutureCancelledError", "KilledWorker", "CommClosedError")


def _run_batch(
    paths: Sequence[str | Path],
    options: BatchOptions,
    client: Any,
    on_progress: Callable[[int, int], None] | None,
) -> BatchResult:
    from dask.distributed import as_completed

    t0 = time.perf_counter()
    labels = snapshot_labels(paths)
    loads = [client.submit(_load, os.fspath(p), pure=False) for p in paths]
    reports = client.gather([client.submit(_report_of, f, pure=False) for f in loads])
    invalid = {labels[i]: r for i, r in enumerate(reports) if not r.valid}
    workers = len(client.scheduler_info().get("workers", {}))
    if invalid:
        client.cancel(loads)
        return BatchResult(
            invalid,
            pd.DataFrame(columns=list(COLUMNS)),
            [],
            time.perf_counter() - t0,
            len(loads),
            workers,
        )
    model = options.add_host[0] if options.add_host else None
    added_counts = [0] + (
        [options.add_host[1]] if options.add_host and options.add_host[1] > 0 else []
    )
    counts = client.gather(
        [client.submit(_count_task, lf, options.failure, pure=False) for lf in loads]
    )
    n_variants = len(options.growth) * len(added_counts)
    total_scenarios = sum(int(n) * n_variants for n in counts)
    tagged: dict[Any, tuple[str, int, int]] = {}
    for i, lf in enumerate(loads):
        j = 0
        for g in options.growth:
            for a in added_counts:
                f = client.submit(
                    _failover_task, lf, labels[i], float(g), a, model, options.failure, pure=False
                )
                tagged[f] = ("rows", i, j)
                j += 1
        if options.maintenance:
            tagged[client.submit(_maintenance_task, lf, labels[i], options, pure=False)] = (
                "maint",
                i,
                j,
            )
        tagged[client.submit(_summary_task, lf, labels[i], options, pure=False)] = (
            "summary",
            i,
            j + 1,
        )
    total = len(tagged)
    chunks: list[tuple[int, int, list[dict[str, Any]]]] = []
    summaries: dict[int, dict[str, Any]] = {}
    maint: dict[int, dict[str, Any]] = {}
    done = 0
    if on_progress is not None:
        on_progress(0, total_scenarios)
    for fut in as_completed(list(tagged)):
        kind, i, j = tagged[fut]
        res = fut.result()
        if kind == "rows":
            chunks.append((i, j, res))
            done += len(res)
        elif kind == "maint":
            rows, md = res
            chunks.append((i, j, rows))
            maint[i] = md
            total_scenarios += len(rows)
            done += len(rows)
        else:
            summaries[i] = res
        total_scenarios = max(total_scenarios, done)
        if on_progress is not None:
            on_progress(done, total_scenarios)
    chunks.sort(key=lambda t: (t[0], t[1]))
    rows = [r for _, _, rs in chunks for r in rs]
    table = _table(rows)
    snaps = []
    for i in range(len(paths)):
        s = dict(summaries.get(i, {"snapshot": labels[i]}))
        sub = table[
            (table["snapshot"] == labels[i])
            & (table["kind"] == "N+1")
            & (table["growth"] == 1.0)
            & (table["added_hosts"] == 0)
        ]
        s["n1_safe"] = bool(sub["survivable"].all()) if len(sub) else None
        s["n1_proven"] = bool(sub["proven"].all()) if len(sub) else None
        if len(sub):
            # Worst single failure today: most VMs left out, then the highest load after.
            key = sub["vms_not_restarted"].astype("int64") * 1000 + sub[
                ["max_cpu_pct_after", "max_memory_pct_after"]
            ].max(axis=1)
            w = sub.iloc[int(np.argmax(key.to_numpy()))]
            s["worst_n1"] = {
                "scenario": str(w["scenario"]),
                "vms_not_restarted": int(w["vms_not_restarted"]),
                "max_cpu_pct_after": float(w["max_cpu_pct_after"]),
                "max_memory_pct_after": float(w["max_memory_pct_after"]),
            }
        if i in maint:
            s["maintenance"] = maint[i]
        snaps.append(s)
    client.cancel(loads)
    return BatchResult({}, table, snaps, time.perf_counter() - t0, total + 2 * len(loads), workers)


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for c, dt in COLUMNS.items():
        df[c] = df[c].astype(dt)  # type: ignore[call-overload]
    return df


def write_outputs(result: BatchResult, out_dir: str | Path) -> list[Path]:
    """Write ``scenarios.csv``, ``scenarios.parquet`` and ``summary.json`` into
    ``out_dir``, each first to a temporary file and then renamed into place."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    targets: list[tuple[str, Callable[[Path], None]]] = [
        (
            "scenarios.csv",
            lambda p: _csv_safe(result.table).to_csv(p, index=False, lineterminator="\n"),
        ),
        ("scenarios.parquet", lambda p: result.table.to_parquet(p, index=False)),
        ("summary.json", lambda p: _write_json(p, result.summary())),
    ]
    for name, write in targets:
        final = d / name
        tmp = d / f".{name}.tmp-{os.getpid()}"
        try:
            write(tmp)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        written.append(final)
    return written


def _csv_safe(table: Any) -> Any:
    """``table`` with every text cell through :func:`planner.textsafe.csv_cell` (the
    spreadsheet-formula defence: snapshot and host names come from the user's files)."""
    from planner.textsafe import csv_cell

    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith("str"):
            out[col] = out[col].map(lambda v: csv_cell(v) if isinstance(v, str) else v)
    return out


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


__all__ = [
    "COLUMNS",
    "BatchError",
    "BatchOptions",
    "BatchResult",
    "dask_client",
    "run_batch",
    "snapshot_labels",
    "write_outputs",
]
