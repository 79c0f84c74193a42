"""Reading and validating ``vm_history`` / ``host_history`` (SPEC §1) into a LoadHistory.

Both files are long tables, one row per entity per sample, as CSV or Parquet.  They are read
in batches of about a million rows with pyarrow and checked column-wise with NumPy (no Python
loop over rows), so a month of 5-minute samples for 8,000 VMs (69 million rows) loads in
seconds and the memory held is the ``int32`` result plus one batch.

Two passes over each file: the first reads only the timestamps and fixes the common grid
(its step is the most frequent distance between consecutive distinct times; times off that
grid are errors), the second converts and scatters every row into the ``(T, V)`` arrays.

The modules: :mod:`~planner.history.source` (which file, its columns, batches),
:mod:`~planner.history.cells` (column → arrays), :mod:`~planner.history.grid` (the common
grid), :mod:`~planner.history.scatter` (checks, placement, duplicates, gaps); this one ties
them together.

Problems go into the snapshot's :class:`~planner.diagnostics.Report` with file, row, column
and value.  Rows are numbered as a spreadsheet shows a CSV file (header = row 1); for
Parquet, ``row`` is the 1-based record number.  At most :data:`ROWS_SHOWN` rows are listed
per kind of problem, followed by one line counting the rest.

What is an error and what a warning
-----------------------------------
Errors: a missing required column, a bad or naive (no UTC offset) timestamp, a time off the
grid, a CPU % outside 0..100, a memory value that is not a positive number of MB, the same
entity twice at one time, more than :data:`MAX_SAMPLES` samples.  Warnings: rows naming a VM
or host that the snapshot does not have (ignored), a VM or host missing at some sample times
(it takes its nearest earlier value; before its first row, its first value), unknown columns,
both a CSV and a Parquet file present (the Parquet file is read).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from planner.cluster import CPU_UNITS, Cluster
from planner.diagnostics import Report
from planner.history.grid import MAX_SAMPLES, distinct_times, make_grid
from planner.history.model import LoadHistory
from planner.history.scatter import ROWS_SHOWN, Target, duplicates, fill_gaps, scatter
from planner.history.source import (
    BATCH_ROWS,
    HOST_SPEC,
    VM_SPEC,
    Source,
    Spec,
    check_columns,
    find_source,
)

#: Most VM-samples held (int32 x 2 resources: 8 GB); larger windows must be cut.
MAX_CELLS = 1_000_000_000


def load_history(directory: str | Path, cluster: Cluster, report: Report) -> LoadHistory | None:
    """Read ``vm_history.{csv,parquet}`` and ``host_history.{csv,parquet}`` of a snapshot.

    Parameters
    ----------
    directory:
        The snapshot directory.
    cluster:
        The snapshot's cluster (names, vCPUs, logical processors, defaults).
    report:
        The snapshot's report: every problem is appended to it.

    Returns
    -------
    LoadHistory or None
        ``None`` when neither file exists or when the files have errors (then in
        ``report``).  VMs and hosts without rows carry their snapshot values at every
        sample.
    """
    d = Path(directory)
    found = [
        (s, spec)
        for s, spec in (
            (find_source(d, VM_SPEC, report), VM_SPEC),
            (find_source(d, HOST_SPEC, report), HOST_SPEC),
        )
        if s is not None
    ]
    if not found:
        return None
    n_err = len(report.errors)
    found = [(s, spec) for s, spec in found if check_columns(s, spec, report)]
    if len(report.errors) > n_err:
        return None
    try:
        return _load(found, cluster, report, n_err)
    except (OSError, pa.ArrowException) as e:
        report.error(found[0][0].name, f"cannot read the file: {e}")
        return None


def _load(
    found: list[tuple[Source, Spec]], cluster: Cluster, report: Report, n_err: int
) -> LoadHistory | None:
    names = " and ".join(s.name for s, _ in found)
    times = np.unique(np.concatenate([distinct_times(s, report) for s, _ in found]))
    grid = make_grid(times, names, report)
    if grid is None:
        if len(report.errors) == n_err:
            report.error(names, "no valid timestamp in the history")
        return None
    v, h = cluster.n_vms, cluster.n_hosts
    if grid.n * max(v, 1) > MAX_CELLS:
        report.error(
            names,
            f"{grid.n} samples x {v} VMs is more than {MAX_CELLS} values; "
            "cut the window or use a coarser step",
        )
        return None
    vm_t = Target(
        VM_SPEC,
        cluster.vm_index,
        cluster.vm_vcpus.astype(np.float64) * (CPU_UNITS / 100),
        np.empty((grid.n, v), dtype=np.int32),
        np.zeros((grid.n, v), dtype=bool),
        np.empty((grid.n, v), dtype=np.int32),
        cluster.vm_memory_mb,
    )
    host_t = Target(
        HOST_SPEC,
        cluster.host_index,
        cluster.host_lp.astype(np.float64) * (CPU_UNITS / 100),
        np.empty((grid.n, h), dtype=np.int32),
        np.zeros((grid.n, h), dtype=bool),
    )
    for src, spec in found:
        tgt = vm_t if spec is VM_SPEC else host_t
        placed = scatter(src, tgt, grid, report)
        if len(report.errors) == n_err and placed > int(tgt.filled.sum()):
            duplicates(src, tgt, grid, report)
    if len(report.errors) > n_err:
        return None
    src_of = {spec.stem: s.name for s, spec in found}
    vm_has = fill_gaps(vm_t, src_of.get("vm_history", ""), cluster.vm_names, grid, report)
    host_has = fill_gaps(host_t, src_of.get("host_history", ""), cluster.host_names, grid, report)
    assert vm_t.mem is not None
    vm_t.value[:, ~vm_has] = cluster.vm_cpu_milli[~vm_has].astype(np.int32)
    vm_t.mem[:, ~vm_has] = cluster.vm_memory_mb[~vm_has].astype(np.int32)
    idle = ~cluster.vm_consumes
    vm_t.value[:, idle] = 0
    vm_t.mem[:, idle] = 0
    host_t.value[:, ~host_has] = cluster.host_cpu_base_milli[~host_has].astype(np.int32)
    ts = grid.t0 + grid.step * np.arange(grid.n, dtype=np.int64)
    return LoadHistory(
        ts,
        grid.step,
        vm_t.value,
        vm_t.mem,
        host_t.value,
        vm_has,
        host_has,
        tuple(s.name for s, _ in found),
    )


__all__ = ["BATCH_ROWS", "MAX_SAMPLES", "ROWS_SHOWN", "load_history"]
