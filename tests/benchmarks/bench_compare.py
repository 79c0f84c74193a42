"""Benchmark of ``hvplan compare`` on a generated 64-node / 8,000-VM cluster (run by hand).

    python tests/benchmarks/bench_compare.py [--hosts 64] [--vms 8000] [--seed 0]
        [--time-limit 20] [--json]

Prints the wall time of the whole comparison (optimizer included), the time of each
strategy and its outcome.  Target: under 30 s in total.  Not collected by pytest; asserts
nothing about time.
"""

from __future__ import annotations

import argparse
import json
import time

from planner.compare import CompareOptions, compare
from planner.generate import GeneratorOptions, generate_cluster


def main() -> None:
    """Generate the cluster, run the comparison, print the numbers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=64)
    ap.add_argument("--vms", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--json", action="store_true", help="one JSON line")
    a = ap.parse_args()
    t0 = time.perf_counter()
    cluster = generate_cluster(GeneratorOptions(hosts=a.hosts, vms=a.vms, seed=a.seed))
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = compare(cluster, CompareOptions(time_limit_s=a.time_limit, seed=a.seed))
    total = time.perf_counter() - t0
    rows = [
        {
            "name": r.name,
            "status": r.status,
            "run_seconds": round(r.run_seconds, 3),
            "moves": r.moves,
            "memory_moved_mb": r.memory_moved_mb,
            "hosts_over_threshold_after": r.metrics["hosts_over_threshold_after"],
            "passes": r.passes,
        }
        for r in res.rows
    ]
    out = {
        "hosts": a.hosts,
        "vms": a.vms,
        "seed": a.seed,
        "generate_seconds": round(gen_s, 3),
        "compare_seconds": round(total, 3),
        "target_seconds": 30,
        "hosts_over_before": res.before()["hosts_over_threshold_after"],
        "strategies": rows,
    }
    if a.json:
        print(json.dumps(out))
        return
    print(
        f"{a.hosts} hosts / {a.vms} VMs (seed {a.seed}); generated in {gen_s:.2f} s; "
        f"{out['hosts_over_before']} host(s) over the threshold before"
    )
    print(f"compare: {total:.2f} s in total (target < 30 s)")
    for r in rows:
        print(
            f"  {r['name']:<42} {r['run_seconds']:>8.3f} s  {r['status']:<10} "
            f"moves {r['moves']:>4}  moved {r['memory_moved_mb']:>10,} MB  "
            f"over after {r['hosts_over_threshold_after']}"
        )


if __name__ == "__main__":
    main()
