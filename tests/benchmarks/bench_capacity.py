"""Benchmark: capacity planning speed.

Part 1, the N+1 screen at Hyper-V's scale limit: one generated 64-node / 8,000-VM cluster
(``planner.generate``, fixed seed), 64 single-node failure scenarios.  Times, as medians of
``--runs``: the vectorized restart simulation alone (engine build + one pass), and the whole
N+1 analysis (screen, bounds, exact CP-SAT checks where needed, outcome rows).  Optionally
the same for every node pair (N+2, 2,016 scenarios).

Part 1b (``--part exact``), the exact path at scale: growth limit of a pure-packing
64 x 8,000 cluster, then the N+1 analysis at and just past that limit, where the greedy
leaves scenarios to the CP-SAT check.

Part 2, the Dask batch: ``--snapshots`` generated snapshots written to a temporary directory,
each run at growth 1.0 (plain N+1) and three growth factors, on an embedded LocalCluster with
1 and then 2 worker processes (cluster start-up excluded from the timing; the same files, the
same tasks).  Reports the wall time, the speed-up 1 -> 2 workers measured in the same run,
and the throughput in scenarios per second.  The machine's other load shows in these numbers:
they are printed, never asserted.

Part 3 (``--part overtime``), capacity over a load history: N+1 judged at every sample of a
week (2,016 samples), vectorized over samples (:func:`planner.capacity.overtime.
survival_over_time`), on the real Bitbrains example (8 / 489) and on the generated 64 / 8,000
cluster with a synthetic week; against the one-sample analysis run sample by sample on
``--loop-samples`` evenly spaced samples (extrapolated to the week; the two agree on every
sample they share, which the benchmark checks).

Run from the repository root::

    python tests/benchmarks/bench_capacity.py                 # both parts
    python tests/benchmarks/bench_capacity.py --part screen --n2
    python tests/benchmarks/bench_capacity.py --part batch --snapshots 100 --runs 1
    python tests/benchmarks/bench_capacity.py --part overtime --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from planner.capacity import FailureOptions, analyze_failures
from planner.capacity.batch import BatchOptions, dask_client, run_batch
from planner.failover import RestartEngine, failed_matrix
from planner.generate import GeneratorOptions, generate_cluster
from planner.snapshot import write_snapshot

GROWTH = (1.0, 1.1, 1.2, 1.3)


def bench_screen(runs: int, n2: bool) -> dict[str, Any]:
    """N+1 (and optionally N+2) on a 64-node / 8,000-VM cluster."""
    c = generate_cluster(GeneratorOptions(hosts=64, vms=8000, seed=1))
    fm = np.eye(c.n_hosts, dtype=bool)
    sim, full = [], []
    res = None
    for _ in range(runs):
        t0 = time.perf_counter()
        eng = RestartEngine(c)
        res = eng.run(fm)
        sim.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rep = analyze_failures(c, FailureOptions(failures=1, fault_domains=False))
        full.append(time.perf_counter() - t0)
    assert res is not None
    out: dict[str, Any] = {
        "cluster": {
            "hosts": c.n_hosts,
            "vms": c.n_vms,
            "rules": len(c.rules),
            "anti_affinity_classes": len(c.aa_class_names),
        },
        "n1_scenarios": int(fm.shape[0]),
        "n1_restarting_vms": int(sum(len(m) for m in res.movers)),
        "n1_simulation_median_s": round(statistics.median(sim), 4),
        "n1_full_analysis_median_s": round(statistics.median(full), 4),
        "n1_runs": runs,
        "n1_settled_by": sorted({o.settled_by for o in rep.outcomes}),
        "n1_survivable": sum(o.survivable for o in rep.outcomes),
    }
    if n2:
        pairs = [(i, j) for i in range(c.n_hosts) for j in range(i + 1, c.n_hosts)]
        t0 = time.perf_counter()
        r2 = RestartEngine(c).run(failed_matrix(c.n_hosts, pairs))
        out["n2_scenarios"] = len(pairs)
        out["n2_simulation_s"] = round(time.perf_counter() - t0, 3)
        out["n2_screen_settled"] = int((r2.complete | r2.bound_infeasible).sum())
    return out


def bench_exact(time_limit: float) -> dict[str, Any]:
    """Where the exact check works: a 64 x 8,000 cluster without restricted owners or hot
    hosts (pure packing), at the growth just past its N+1 limit, where the greedy screen
    leaves some scenarios undecided."""
    import collections

    from planner.capacity import growth_limit, scale_demand

    c = generate_cluster(
        GeneratorOptions(
            hosts=64,
            vms=8000,
            seed=2,
            restricted_owners_fraction=0.0,
            hot_fraction=0.0,
            load_pct=60,
        )
    )
    opt = FailureOptions(fault_domains=False, exact_time_limit_s=time_limit)
    t0 = time.perf_counter()
    gl = growth_limit(c, opt)
    out: dict[str, Any] = {
        "growth_limit_s": round(time.perf_counter() - t0, 3),
        "growth_limit": gl.to_dict(),
    }
    rows = []
    base = gl.breaks_at or 1.0
    for g in (round(base, 2), round(base + 0.01, 2), round(base + 0.02, 2)):
        t0 = time.perf_counter()
        rep = analyze_failures(scale_demand(c, g), opt)
        rows.append(
            {
                "growth": g,
                "seconds": round(time.perf_counter() - t0, 3),
                "settled_by": dict(collections.Counter(o.settled_by for o in rep.outcomes)),
                "exact_seconds": round(sum(o.exact_seconds for o in rep.outcomes), 3),
            }
        )
    out["near_limit"] = rows
    return out


def _write_snapshots(d: Path, n: int, hosts: int, vms: int) -> list[Path]:
    paths = []
    for i in range(n):
        c = generate_cluster(GeneratorOptions(hosts=hosts, vms=vms, seed=1000 + i))
        paths.append(write_snapshot(c, d / f"snap{i:03d}"))
    return paths


def bench_batch(n: int, hosts: int, vms: int, runs: int, workers: list[int]) -> dict[str, Any]:
    """Snapshots x (N+1 at four growth factors) on 1 and 2 Dask worker processes."""
    opts = BatchOptions(
        growth=GROWTH, failure=FailureOptions(failures=1), growth_limit=False, generations=False
    )
    out: dict[str, Any] = {
        "snapshots": n,
        "hosts": hosts,
        "vms": vms,
        "growth": list(GROWTH),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = _write_snapshots(Path(tmp), n, hosts, vms)
        out["write_snapshots_s"] = round(time.perf_counter() - t0, 2)
        per: dict[int, dict[str, Any]] = {}
        for w in workers:
            with dask_client(workers=w, processes=True) as client:
                run_batch(paths[: min(2, n)], opts, client)  # warm-up: imports on workers
                times = []
                scen = 0
                for _ in range(runs):
                    t0 = time.perf_counter()
                    res = run_batch(paths, opts, client)
                    times.append(time.perf_counter() - t0)
                    scen = int(len(res.table))
            med = statistics.median(times)
            per[w] = {
                "median_s": round(med, 3),
                "runs": [round(t, 3) for t in times],
                "scenarios": scen,
                "scenarios_per_s": round(scen / med, 1),
            }
        out["workers"] = per
        if 1 in per and 2 in per:
            out["speedup_1_to_2"] = round(per[1]["median_s"] / per[2]["median_s"], 2)
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _overtime_case(c: Any, runs: int, loop_samples: int, n2: bool) -> dict[str, Any]:
    from planner.capacity.failures import failure_scenarios
    from planner.capacity.overtime import survival_over_time
    from planner.history.model import cluster_at

    h = c.history
    out: dict[str, Any] = {"hosts": c.n_hosts, "vms": c.n_vms, "samples": h.n_samples}
    times = []
    r = None
    for _ in range(runs):
        t0 = time.perf_counter()
        r = survival_over_time(c)
        times.append(time.perf_counter() - t0)
    assert r is not None
    out["n1_vectorized_s"] = round(statistics.median(times), 3)
    out["n1_survivable_fraction"] = round(r.fraction, 4)
    if n2:
        t0 = time.perf_counter()
        r2 = survival_over_time(c, failures=2)
        out["n2_vectorized_s"] = round(time.perf_counter() - t0, 3)
        out["n2_survivable_fraction"] = round(r2.fraction, 4)
    idx = np.linspace(0, h.n_samples - 1, loop_samples).astype(np.int64)
    opt = FailureOptions(exact=False, fault_domains=False)
    scen = [s for s in failure_scenarios(c, opt)[0] if len(s.hosts) == 1]
    t0 = time.perf_counter()
    loop_ok = [
        all(o.survivable for o in analyze_failures(cluster_at(c, h, int(t)), opt, scen).outcomes)
        for t in idx
    ]
    loop_s = time.perf_counter() - t0
    vec = survival_over_time(c, samples=idx)
    assert vec.survivable_samples == sum(loop_ok), "vectorized and sample-by-sample differ"
    out["loop_samples"] = int(loop_samples)
    out["loop_per_sample_s"] = round(loop_s / loop_samples, 4)
    out["loop_extrapolated_s"] = round(loop_s / loop_samples * h.n_samples, 1)
    out["speedup"] = round(out["loop_extrapolated_s"] / max(out["n1_vectorized_s"], 1e-9), 1)
    return out


def bench_overtime(runs: int, loop_samples: int, n2: bool) -> dict[str, Any]:
    """N+1 over a week: the Bitbrains example and a generated 64 / 8,000 cluster."""
    from planner.history.synthetic import synthetic_history
    from planner.snapshot import read_snapshot

    out: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    bb, _ = read_snapshot(Path(__file__).resolve().parents[2] / "data/examples/bitbrains8")
    assert bb is not None
    out["bitbrains8"] = _overtime_case(bb, runs, loop_samples, n2)
    g = generate_cluster(GeneratorOptions(hosts=64, vms=8000, seed=1))
    g = g.replace(history=synthetic_history(g, 2016, seed=1))
    out["generated_64x8000"] = _overtime_case(g, runs, max(4, loop_samples // 4), False)
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    """Parse options, run, print."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--part", choices=["screen", "exact", "batch", "overtime", "all"], default="all"
    )
    ap.add_argument("--loop-samples", type=int, default=40, help="overtime: loop reference")
    ap.add_argument("--time-limit", type=float, default=10.0, help="CP-SAT s per scenario")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n2", action="store_true", help="also time N+2 (2,016 scenarios)")
    ap.add_argument("--snapshots", type=int, default=100)
    ap.add_argument("--hosts", type=int, default=16)
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out: dict[str, Any] = {}
    if a.part in ("screen", "all"):
        out["screen"] = bench_screen(a.runs, a.n2)
    if a.part in ("exact", "all"):
        out["exact"] = bench_exact(a.time_limit)
    if a.part in ("batch", "all"):
        out["batch"] = bench_batch(
            a.snapshots, a.hosts, a.vms, a.runs, [int(w) for w in a.workers.split(",")]
        )
    if a.part in ("overtime", "all"):
        out["overtime"] = bench_overtime(a.runs, a.loop_samples, a.n2)
    print(json.dumps(out, indent=None if a.json else 2))


if __name__ == "__main__":
    main()
