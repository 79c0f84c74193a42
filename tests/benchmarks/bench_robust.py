#!/usr/bin/env python3
"""Benchmark: a robust plan (``hvplan plan --load p95``) on a month of 5-minute history for
64 nodes / 8,000 VMs, within the default time limit (issue 12).

Generates the snapshot of ``planner.generate`` (seed 1, a fifth of the nodes hot) with a
``vm_history.parquet`` of synthetic samples (``bench_history.write_snapshot_with_history``),
then runs ``hvplan plan SNAP --out OUT --json`` in a fresh process and reports: the wall time
of the command (file loading and writing included), its peak resident memory, the status, the
per-tier ``[value, bound, status]``, the critical samples the plan was judged at, and the summary's
``history`` block (node-samples over the threshold and over capacity before, after, and for
a ``--load latest`` plan).  Numbers, not pass/fail.

Usage: ``python tests/benchmarks/bench_robust.py [--days 30] [--vms 8000] [--hosts 64]
[--load p95] [--time-limit S]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_history import write_snapshot_with_history  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--vms", type=int, default=8000)
    ap.add_argument("--hosts", type=int, default=64)
    ap.add_argument("--load", default="p95")
    ap.add_argument("--time-limit", type=float, default=None, help="default: the profile's")
    a = ap.parse_args()
    from planner.generate import GeneratorOptions, generate_cluster

    c = generate_cluster(GeneratorOptions(hosts=a.hosts, vms=a.vms, seed=1))
    with tempfile.TemporaryDirectory() as tmp:
        d, out = Path(tmp) / "snap", Path(tmp) / "plan"
        t = time.perf_counter()
        write_snapshot_with_history(c, d, a.days)
        gen = time.perf_counter() - t
        cmd = [sys.executable, "-c", "from planner.cli import main; main()"]
        cmd += ["plan", str(d), "--out", str(out)]
        cmd += ["--load", a.load, "--json"]
        if a.time_limit is not None:
            cmd += ["--time-limit", str(a.time_limit)]
        load_before = os.getloadavg()
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        res: dict[str, object] = {
            "hosts": a.hosts,
            "vms": a.vms,
            "days": a.days,
            "load": a.load,
            "exit_code": proc.returncode,
            "wall_seconds": round(wall, 2),
            "peak_rss_mb": round(peak),
            "generate_seconds": round(gen, 1),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
        if proc.returncode != 0:
            res["stderr"] = proc.stderr[-2000:]
        else:
            s = json.loads((out / "summary.json").read_text())
            p = s.get("parameters", {})
            res.update(
                status=s.get("status"),
                gap=s.get("gap"),
                gap_tier=s.get("gap_tier"),
                solve_seconds=s.get("solve_seconds"),
                tiers={t["name"]: [t["value"], t["bound"], t["status"]] for t in s["tiers"]},
                moves=s.get("moves"),
                memory_moved_mb=s.get("memory_moved_mb"),
                downtime_moves=s.get("downtime_moves"),
                timings=s.get("timings"),
                hosts_over_threshold_after=s.get("hosts_over_threshold_after"),
                critical_samples=p.get("load_samples"),
                history=s.get("history"),
            )
        print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
