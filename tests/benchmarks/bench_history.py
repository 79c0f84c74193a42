#!/usr/bin/env python3
"""Benchmark: load a month of 5-minute samples for 8,000 VMs (69 million rows) from Parquet.

Generates a 64-node / 8,000-VM snapshot (``planner.generate``) and its ``vm_history.parquet``
(8,640 samples, written day by day) in a temporary directory, then reads the snapshot in a
fresh process and reports the wall time of ``read_snapshot`` and the process's peak
resident memory (``ru_maxrss``).  Targets (issue 12): <= 10 s, <= 3 GB.

Usage: ``python tests/benchmarks/bench_history.py [--days 30] [--vms 8000] [--hosts 64]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from planner.cluster import Cluster

CHILD = r"""
import json, resource, sys, time
t = time.perf_counter()
from planner.snapshot import read_snapshot
t_imp = time.perf_counter() - t
t = time.perf_counter()
c, r = read_snapshot(sys.argv[1])
dt = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
h = c.history
print(json.dumps({"load_seconds": dt, "import_seconds": t_imp,
                  "process_cpu_seconds": ru.ru_utime + ru.ru_stime,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "samples": h.n_samples, "vms": h.n_vms,
                  "errors": len(r.errors), "warnings": len(r.warnings)}))
"""


def write_snapshot_with_history(c: Cluster, d: Path, days: int) -> int:
    """Write ``c`` to ``d`` with a ``vm_history.parquet`` of ``days`` days of synthetic
    5-minute samples (written day by day); returns the Parquet file's size in bytes."""
    from planner.history.synthetic import DEFAULT_START, synthetic_history
    from planner.snapshot import write_snapshot

    d.mkdir(parents=True)
    write_snapshot(c, d)
    names = pa.array(list(c.vm_names))
    run = np.flatnonzero(c.vm_consumes)
    scale = c.vm_vcpus[run] * 10.0
    writer = None
    for day in range(days):
        h = synthetic_history(c, 288, seed=day, start=DEFAULT_START + 86_400 * day)
        n = 288 * len(run)
        tab = pa.table(
            {
                "timestamp": np.repeat(h.timestamps, len(run)),
                "vm": pa.DictionaryArray.from_arrays(np.tile(run.astype(np.int32), 288), names),
                "cpu_usage_pct": (h.vm_cpu_milli[:, run] / scale).astype(np.float32).reshape(n),
                "memory_mb": h.vm_mem_mb[:, run].reshape(n),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(d / "vm_history.parquet", tab.schema, compression="zstd")
        writer.write_table(tab, row_group_size=1 << 20)
    assert writer is not None
    writer.close()
    return (d / "vm_history.parquet").stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--vms", type=int, default=8000)
    ap.add_argument("--hosts", type=int, default=64)
    a = ap.parse_args()
    from planner.generate import GeneratorOptions, generate_cluster

    c = generate_cluster(GeneratorOptions(hosts=a.hosts, vms=a.vms, seed=1))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "snap"
        t = time.perf_counter()
        size = write_snapshot_with_history(c, d, a.days)
        gen = time.perf_counter() - t
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(d)], check=True, capture_output=True, text=True
        )
        res = json.loads(out.stdout)
        res.update(
            rows=a.days * 288 * int(c.vm_consumes.sum()), parquet_bytes=size, generate_seconds=gen
        )
        print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
