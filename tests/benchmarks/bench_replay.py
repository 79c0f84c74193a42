#!/usr/bin/env python3
"""Benchmark: replay one week (2,016 samples) for 64 nodes / 8,000 VMs, hvplan plus the seven
native variants, and the load evaluation inside it.

* ``replay_seconds``: :func:`planner.replay.replay` with a given plan placement (no solve),
  file loading excluded -- the native simulations plus the judging of all 8 timelines.
* ``evaluation``: :func:`planner.history.loads.sample_loads` on the 8 timelines (their real
  moves), in VM-samples per second (timelines x samples x VMs / s), for the numba and NumPy
  engines, and a pandas groupby computing the same per-node sums for one timeline.

``replay_seconds`` is the median of ``--repeat`` runs (all of them in ``replay_runs``, with
their CPU seconds), after a warm-up that compiles (or loads from numba's disk cache) every
kernel the replay uses.  Reports numbers, not pass/fail.  Usage:
``python tests/benchmarks/bench_replay.py [--hot-fraction 0.2] [--days 7] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=64)
    ap.add_argument("--vms", type=int, default=8000)
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--hot-fraction", type=float, default=0.2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from planner.evaluate import evaluate
    from planner.generate import GeneratorOptions, generate_cluster
    from planner.history.loads import Timeline, sample_loads
    from planner.history.synthetic import synthetic_history
    from planner.replay import ReplayOptions, replay

    c = generate_cluster(
        GeneratorOptions(hosts=a.hosts, vms=a.vms, seed=1, hot_fraction=a.hot_fraction)
    )
    t_n = int(a.days * 288)
    h = synthetic_history(c, t_n)
    c = c.replace(history=h)
    plan = c.vm_host.copy()  # a stand-in plan: the judging cost does not depend on it
    # Warm-up: the kernels the replay runs (the judging's evaluate and the timelines).
    sample_loads(c, h.slice(0, 64), [Timeline.constant(plan)], engine="numba")
    evaluate(c, np.stack([plan, plan]), engine="numba")
    load_before = os.getloadavg()
    runs = []
    for _ in range(max(1, a.repeat)):
        t, t_cpu = time.perf_counter(), time.process_time()
        res = replay(c, plan_placement=plan, options=ReplayOptions(period_hours=0))
        runs.append((time.perf_counter() - t, time.process_time() - t_cpu))
    t_replay = statistics.median(w for w, _ in runs)
    tls = [s.timeline for s in res.strategies if s.name != "current"]
    cells = len(tls) * h.n_samples * h.n_vms
    out = {
        "hosts": a.hosts,
        "vms": a.vms,
        "samples": t_n,
        "strategies": len(tls),
        "replay_seconds": round(t_replay, 3),
        "replay_runs": [{"seconds": round(w, 3), "cpu_seconds": round(u, 3)} for w, u in runs],
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average": os.getloadavg(),
    }
    for engine in ("numba", "numpy"):
        best = float("inf")
        for _ in range(3 if engine == "numba" else 1):
            t = time.perf_counter()
            sample_loads(c, h, tls, engine=engine)  # type: ignore[arg-type]
            best = min(best, time.perf_counter() - t)
        out[f"{engine}_seconds"] = round(best, 4)
        out[f"{engine}_vm_samples_per_s"] = float(f"{cells / best:.3g}")
    # pandas: one timeline (the constant hvplan placement), long format, groupby sum.
    t = time.perf_counter()
    df = pd.DataFrame(
        {
            "t": np.repeat(np.arange(t_n), h.n_vms),
            "host": np.tile(plan, t_n),
            "cpu": h.vm_cpu_milli.reshape(-1),
            "mem": h.vm_mem_mb.reshape(-1),
        }
    )
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    df.groupby(["t", "host"])[["cpu", "mem"]].sum()
    t_pd = time.perf_counter() - t
    out["pandas_groupby_seconds_one_timeline"] = round(t_pd, 3)
    out["pandas_frame_build_seconds"] = round(t_build, 3)
    out["pandas_vm_samples_per_s"] = float(f"{h.n_samples * h.n_vms / t_pd:.3g}")
    out["numba_over_pandas"] = round(
        out["numba_vm_samples_per_s"] / out["pandas_vm_samples_per_s"], 1
    )
    out["strategy_seconds_note"] = "replay_seconds includes the native simulations"
    out["migrations"] = {s.name: s.metrics["migrations"] for s in res.strategies}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
