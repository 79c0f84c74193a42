"""Many snapshots x what-if variants on ``dask.distributed``.

Each snapshot is read and validated on a worker (and stays there); then one task per
snapshot and variant (growth factor x added hosts) runs every failure scenario, plus one
maintenance task and one summary task (growth limit, fewest added hosts, CPU generations)
per snapshot, and for a snapshot with a load history one over-time task (N+1 .. N+K at
every sample of the window and the growth limit at the ``load`` quantile, for the current
placement and for hvplan's plan over the history; :mod:`planner.capacity.overtime`).
Results come back as plain dicts and are sorted into a fixed order, so the same input and
seed always give the same table, whatever the number of workers.

Clients (:mod:`planner.capacity.daskclient`): an embedded ``LocalCluster`` by default, or
an existing scheduler at ``tcp://host:port``, or a ``Client`` passed in.  The worker tasks
are in :mod:`planner.capacity.tasks`, the files in :mod:`planner.capacity.outputs`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.capacity import tasks
from planner.capacity.daskclient import (
    CONNECT_TIMEOUT_S,
    WORKER_TIMEOUT_S,
    BatchError,
    dask_client,
    is_connection_error,
)
from planner.capacity.failures import FailureOptions
from planner.capacity.outputs import COLUMNS, table, write_outputs
from planner.diagnostics import Report
from planner.loadmodel import HighMode


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
    load:
        With a load history: the statistic (``latest``, ``mean``, ``p95``, ``p99``,
        ``max``; default ``p95``) of the growth limit over time and of hvplan's plan.
    plan_time_limit_s:
        With a load history: seconds for hvplan's plan over the history (its
        ``level`` / ``threshold_pct``), judged over the window next to the current
        placement; 0: the current placement only.
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
    load: str | None = None
    plan_time_limit_s: float = 20.0


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
    over_time_rows: list[dict[str, Any]] = field(default_factory=list)
    reports: dict[str, Report] = field(default_factory=dict)  # valid snapshots' reports

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
        if is_connection_error(e):
            text = " ".join(str(e).split()) or type(e).__name__
            lost = "connection" in text.casefold() or "scheduler" in text.casefold()
            raise BatchError(
                "lost the connection to the Dask scheduler during the batch; nothing was written"
                if lost
                else f"the Dask cluster failed during the batch ({text}); nothing was written"
            ) from e
        raise


# ----------------------------------------------------------------------------- driver
@dataclass
class _Collected:
    """What came back from the workers, by snapshot index."""

    chunks: list[tuple[int, int, list[dict[str, Any]]]] = field(default_factory=list)
    summaries: dict[int, dict[str, Any]] = field(default_factory=dict)
    maint: dict[int, dict[str, Any]] = field(default_factory=dict)
    over_time: dict[int, dict[str, Any]] = field(default_factory=dict)


def _run_batch(
    paths: Sequence[str | Path],
    options: BatchOptions,
    client: Any,
    on_progress: Callable[[int, int], None] | None,
) -> BatchResult:
    t0 = time.perf_counter()
    labels = snapshot_labels(paths)
    loads = [client.submit(tasks.load, os.fspath(p), pure=False) for p in paths]
    reports = client.gather([client.submit(tasks.report_of, f, pure=False) for f in loads])
    invalid = {labels[i]: r for i, r in enumerate(reports) if not r.valid}
    workers = len(client.scheduler_info().get("workers", {}))
    if invalid:
        client.cancel(loads)
        empty = pd.DataFrame(columns=list(COLUMNS))
        return BatchResult(invalid, empty, [], time.perf_counter() - t0, len(loads), workers)
    tagged, total_scenarios = _submit(client, loads, labels, options)
    got = _collect(tagged, total_scenarios, on_progress)
    got.chunks.sort(key=lambda t: (t[0], t[1]))
    rows = [r for _, _, rs in got.chunks for r in rs]
    _window_columns(rows, labels, got.over_time)
    tab = table(rows)
    snaps = [_snapshot_summary(i, labels[i], tab, got) for i in range(len(paths))]
    client.cancel(loads)
    ot_rows = [r for i in sorted(got.over_time) for r in got.over_time[i]["rows"]]
    return BatchResult(
        {},
        tab,
        snaps,
        time.perf_counter() - t0,
        len(tagged) + 2 * len(loads),
        workers,
        ot_rows,
        {labels[i]: r for i, r in enumerate(reports)},
    )


def _submit(
    client: Any, loads: list[Any], labels: list[str], options: BatchOptions
) -> tuple[dict[Any, tuple[str, int, int]], int]:
    """Submit every task; returns ``{future: (kind, snapshot, order)}`` and the number of
    failure scenarios they will run."""
    model = options.add_host[0] if options.add_host else None
    added_counts = [0] + (
        [options.add_host[1]] if options.add_host and options.add_host[1] > 0 else []
    )
    counts = client.gather(
        [client.submit(tasks.count_task, lf, options.failure, pure=False) for lf in loads]
    )
    history = client.gather([client.submit(tasks.has_history, lf, pure=False) for lf in loads])
    n_variants = len(options.growth) * len(added_counts)
    total_scenarios = sum(int(n) * n_variants for n in counts)
    tagged: dict[Any, tuple[str, int, int]] = {}
    for i, lf in enumerate(loads):
        j = 0
        for g in options.growth:
            for a in added_counts:
                f = client.submit(
                    tasks.failover_task,
                    lf,
                    labels[i],
                    float(g),
                    a,
                    model,
                    options.failure,
                    pure=False,
                )
                tagged[f] = ("rows", i, j)
                j += 1
        if options.maintenance:
            f = client.submit(tasks.maintenance_task, lf, labels[i], options, pure=False)
            tagged[f] = ("maint", i, j)
        f = client.submit(tasks.summary_task, lf, labels[i], options, pure=False)
        tagged[f] = ("summary", i, j + 1)
        if history[i]:
            f = client.submit(tasks.over_time_task, lf, labels[i], options, pure=False)
            tagged[f] = ("over_time", i, j + 2)
    return tagged, total_scenarios


def _collect(
    tagged: dict[Any, tuple[str, int, int]],
    total_scenarios: int,
    on_progress: Callable[[int, int], None] | None,
) -> _Collected:
    """Gather the results as they finish, reporting progress in scenarios."""
    from dask.distributed import as_completed

    got = _Collected()
    done = 0
    if on_progress is not None:
        on_progress(0, total_scenarios)
    for fut in as_completed(list(tagged)):
        kind, i, j = tagged[fut]
        res = fut.result()
        if kind == "rows":
            got.chunks.append((i, j, res))
            done += len(res)
        elif kind == "maint":
            rows, md = res
            got.chunks.append((i, j, rows))
            got.maint[i] = md
            total_scenarios += len(rows)
            done += len(rows)
        elif kind == "over_time":
            got.over_time[i] = res
        else:
            got.summaries[i] = res
        total_scenarios = max(total_scenarios, done)
        if on_progress is not None:
            on_progress(done, total_scenarios)
    return got


def _window_columns(
    rows: list[dict[str, Any]], labels: list[str], over_time: dict[int, dict[str, Any]]
) -> None:
    """Fill the ``window_*`` columns of today's N+k rows of snapshots with a history."""
    by_label = {labels[i]: ot for i, ot in over_time.items()}
    for r in rows:
        ot = by_label.get(r["snapshot"])
        if ot is None or r.get("growth") != 1.0 or r.get("added_hosts") != 0:
            continue
        cur = ot["scenarios"].get("current", {})
        if r["scenario"] not in cur:
            continue
        r["window_samples"] = ot["samples"]
        r["window_survivable_samples"] = cur[r["scenario"]]
        r["window_survivable_samples_hvplan"] = ot["scenarios"].get("hvplan", {}).get(r["scenario"])


def _snapshot_summary(i: int, label: str, tab: pd.DataFrame, got: _Collected) -> dict[str, Any]:
    """A snapshot's entry of ``summary.json``: its summary task, N+1 today, maintenance and
    capacity over time."""
    s = dict(got.summaries.get(i, {"snapshot": label}))
    sub = tab[
        (tab["snapshot"] == label)
        & (tab["kind"] == "N+1")
        & (tab["growth"] == 1.0)
        & (tab["added_hosts"] == 0)
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
    if i in got.maint:
        s["maintenance"] = got.maint[i]
    if i in got.over_time:
        s["over_time"] = got.over_time[i]["summary"]
    return s


__all__ = [
    "COLUMNS",
    "CONNECT_TIMEOUT_S",
    "WORKER_TIMEOUT_S",
    "BatchError",
    "BatchOptions",
    "BatchResult",
    "dask_client",
    "run_batch",
    "snapshot_labels",
    "write_outputs",
]
