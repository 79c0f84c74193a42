"""Benchmark of the rebalancing optimizer on generated clusters (not collected by pytest).

Cases (``planner.generate.generate_cluster``, Medium threshold 70 %):

* ``16x1000``: 16 nodes, 1,000 VMs, a fifth of the nodes above 85 %;
* ``64x8000``: 64 nodes, 8,000 VMs, a fifth of the nodes above 85 %;
* ``64x8000-heavy``: 64 nodes, 8,000 VMs, half of the nodes above 85 %.

Each repetition runs in a fresh process so that its peak resident memory (``ru_maxrss``) is
its own.  Printed per case: status, gap, solve time (median of the repetitions), the method
that produced the plan, the models built (sizes of the CP-SAT models, variables and
constraints) and the peak memory.  Numbers only, no pass/fail.

Usage::

    python tests/benchmarks/bench_optimizer.py [--repeat 3] [--time-limit 60] [--json]
        [--case 16x1000 ...] [--seed 1] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import sys
import time
from typing import Any

CASES: dict[str, dict[str, Any]] = {
    "16x1000": {"hosts": 16, "vms": 1000, "hot_fraction": 0.2},
    "64x8000": {"hosts": 64, "vms": 8000, "hot_fraction": 0.2},
    "64x8000-heavy": {"hosts": 64, "vms": 8000, "hot_fraction": 0.5},
}


def _run(
    case: str, seed: int, time_limit: float, solver_seed: int, workers: int | None
) -> dict[str, Any]:
    from planner.generate import GeneratorOptions, generate_cluster
    from planner.loadmodel import host_loads, resolve_threshold
    from planner.optimizer import PlanOptions, optimize

    cluster = generate_cluster(GeneratorOptions(seed=seed, **CASES[case]))
    thr = resolve_threshold(cluster, "medium")
    over_before = int(host_loads(cluster).over(thr).sum())
    t0 = time.perf_counter()
    res = optimize(
        cluster,
        PlanOptions(level="medium", time_limit_s=time_limit, seed=solver_seed, workers=workers),
    )
    wall = time.perf_counter() - t0
    return {
        "status": res.status.value,
        "gap": res.gap,
        "seconds": wall,
        "method": res.method,
        "objective": res.objective,
        "bound": res.bound,
        "moves": int(len(res.moves)),
        "hosts_over_before": over_before,
        "model_size": res.model_size,
        "timings": res.timings,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the cases and print the numbers (``--json`` for machines)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1, help="generator seed")
    ap.add_argument("--solver-seed", type=int, default=0)
    ap.add_argument(
        "--workers", type=int, default=None, help="CP-SAT workers (default: the profile's)"
    )
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    out: list[dict[str, Any]] = []
    for case in a.case or list(CASES):
        runs = []
        for _ in range(a.repeat):
            with ctx.Pool(1) as pool:
                runs.append(
                    pool.apply(_run, (case, a.seed, a.time_limit, a.solver_seed, a.workers))
                )
        last = runs[-1]
        row = {
            "case": case,
            **CASES[case],
            "generator_seed": a.seed,
            "hosts_over_before": last["hosts_over_before"],
            "statuses": [r["status"] for r in runs],
            "gap_max": max((r["gap"] or 0.0) for r in runs),
            "seconds_median": statistics.median(r["seconds"] for r in runs),
            "seconds_all": [round(r["seconds"], 3) for r in runs],
            "method": last["method"],
            "objective": last["objective"],
            "bound": last["bound"],
            "vms_moved": last["moves"],
            "model_size": last["model_size"],
            "timings": last["timings"],
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
            "same_objective_all_runs": all(r["objective"] == last["objective"] for r in runs),
        }
        out.append(row)
        if not a.json:
            ms = row["model_size"]
            print(
                f"{case:>14}: {row['statuses'][-1]:<8} gap {row['gap_max']:.4%}  "
                f"median {row['seconds_median']:.2f} s {row['seconds_all']}  "
                f"peak {row['peak_rss_mb_max']:.0f} MB  hot hosts {row['hosts_over_before']}"
                f"  moved {row['vms_moved']}  via {row['method']}"
            )
            print(f"{'':>16}objective {row['objective']}  bound {row['bound']}")
            print(f"{'':>16}models {ms}  timings {row['timings']}")
            sys.stdout.flush()
    if a.json:
        print(json.dumps({"cases": out}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
