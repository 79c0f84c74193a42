"""Benchmark of the batch evaluator (run by hand, not collected by pytest).

    python tests/benchmarks/bench_evaluator.py [--k 1000] [--vms 8000] [--hosts 64]
        [--repeat 7] [--json]

Evaluates K placements of a generated cluster (two resources, the cluster's rules, four
thresholds) with :func:`planner.evaluate.evaluate` and, in the same run, with a
straightforward pandas groupby computing the same load metrics (not the rule checks: less
work than the evaluator does).  Prints medians; ``--json`` prints one line
with ``placements_per_s``, ``pandas_placements_per_s``, ``vm_placement_evals_per_s``, the
speed-up and where the time goes.  Targets: >= 1e9 VM-placement evaluations per second and
>= 50x pandas.  Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

import planner.evaluate as ev
import planner.evaluate_numpy as evn
from planner.cluster import Cluster, HostState
from planner.generate import GeneratorOptions, generate_cluster
from planner.loadmodel import Threshold, threshold_limits

#: CPU seconds (all threads of this process) of the last :func:`median_seconds` call.
LAST_CPU: list[float] = [0.0]


def median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs (after one warm-up run); the median
    CPU time is left in ``LAST_CPU[0]`` (it shows contention from other processes: on an
    idle machine CPU time <= threads x wall time, with waiting it is much lower)."""
    fn()
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    LAST_CPU[0] = statistics.median(cpu)
    return statistics.median(times)


def pandas_evaluate(
    cluster: Cluster, batch: np.ndarray, thresholds: Sequence[Threshold]
) -> dict[str, np.ndarray]:
    """The straightforward way: a long table (placement, host, cpu, memory), a groupby sum,
    then the same load metrics the evaluator gives (per threshold: hosts over it and load
    above it; highest load, spread, deviation, capacity).  No rule checks: they would only
    make this slower."""
    k_count, v_count = batch.shape
    h_count = cluster.n_hosts
    df = pd.DataFrame(
        {
            "k": np.repeat(np.arange(k_count), v_count),
            "host": batch.ravel(),
            "cpu": np.tile(cluster.vm_cpu_load_milli, k_count),
            "mem": np.tile(cluster.vm_mem_load_mb, k_count),
        }
    )
    sums = df.groupby(["k", "host"], sort=True)[["cpu", "mem"]].sum()
    full = pd.MultiIndex.from_product([range(k_count), range(h_count)], names=["k", "host"])
    sums = sums.reindex(full, fill_value=0)
    vm_cpu = sums["cpu"].to_numpy().reshape(k_count, h_count)
    vm_mem = sums["mem"].to_numpy().reshape(k_count, h_count)
    cpu_pct = 100.0 * (vm_cpu + cluster.host_cpu_base_milli) / cluster.host_cpu_capacity_milli
    mem_pct = 100.0 * (vm_mem + cluster.host_memory_reserve_mb) / cluster.host_memory_mb
    out: dict[str, np.ndarray] = {
        "max_cpu": cpu_pct.max(axis=1),
        "max_mem": mem_pct.max(axis=1),
        "std_cpu": cpu_pct.std(axis=1),
        "std_mem": mem_pct.std(axis=1),
        "spread_cpu": np.ptp(cpu_pct, axis=1),
        "spread_mem": np.ptp(mem_pct, axis=1),
        "cap": (
            (vm_cpu > cluster.host_cpu_free_milli) | (vm_mem > cluster.host_memory_free_mb)
        ).sum(axis=1),
    }
    for t, th in enumerate(thresholds):
        lim_c, lim_m = threshold_limits(cluster, th)
        out[f"over{t}"] = ((vm_cpu > lim_c) | (vm_mem > lim_m)).sum(axis=1)
        out[f"excess_cpu{t}"] = np.maximum(vm_cpu - lim_c, 0).sum(axis=1)
        out[f"excess_mem{t}"] = np.maximum(vm_mem - lim_m, 0).sum(axis=1)
    return out


def main() -> None:
    """Build the batch, time both implementations, print the numbers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=1000, help="placements per batch")
    ap.add_argument("--vms", type=int, default=8000)
    ap.add_argument("--hosts", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--pandas-repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON line")
    a = ap.parse_args()

    cluster = generate_cluster(GeneratorOptions(hosts=a.hosts, vms=a.vms, seed=a.seed))
    rng = np.random.default_rng(a.seed)
    # Neighbours of the current placement, as a search would produce: 5 % of the VMs moved.
    batch = np.repeat(cluster.vm_host.astype(np.int32)[None, :], a.k, axis=0)
    moved = rng.random(batch.shape) < 0.05
    batch[moved] = rng.integers(0, a.hosts, int(moved.sum()), dtype=np.int32)
    thresholds = ev.default_thresholds(cluster)
    n_evals = a.k * a.vms

    def run(engine: ev.Engine) -> Callable[[], Any]:
        return lambda: ev.evaluate(cluster, batch, thresholds=thresholds, engine=engine)

    engine = "numba" if ev.HAVE_NUMBA else "numpy"
    lims = [threshold_limits(cluster, t) for t in thresholds]
    lim_c = np.array([c for c, _ in lims], dtype=np.int64)
    lim_m = np.array([m for _, m in lims], dtype=np.int64)
    up = cluster.host_up
    counted = cluster.host_state != HostState.DOWN
    stats_fn = ev._load_stats_numba if engine == "numba" else evn.load_stats_numpy
    vm_cpu, vm_mem = ev.host_sums(cluster, batch, engine)  # type: ignore[arg-type]
    compact = batch.astype(np.int16)  # host indices fit 16 bits: half the bytes to stream
    # The compact batch format: with at most 255 hosts (Hyper-V allows 64) a placement fits
    # one byte per VM, a quarter of the bytes of int32 to stream through the kernel.
    tiny = batch.astype(np.uint8) if a.hosts <= 255 else compact

    def checks() -> None:
        if engine == "numba":
            # The checks run inside the same compiled pass as the sums (row in cache).
            ev._numba_pass(cluster, batch, with_checks=True)
            return
        counts = {kind: np.zeros(a.k, dtype=np.int64) for kind in ev.VIOLATION_KINDS}
        evn.owner_counts(cluster, batch, counts)
        evn.rule_counts(cluster, batch, counts)

    steps: dict[str, Callable[[], Any]] = {
        "full": run(engine),  # type: ignore[arg-type]
        "full_int16": lambda: ev.evaluate(cluster, compact, thresholds=thresholds, engine=engine),  # type: ignore[arg-type]
        "full_uint8": lambda: ev.evaluate(cluster, tiny, thresholds=thresholds, engine=engine),  # type: ignore[arg-type]
        "host_sums": lambda: ev.host_sums(cluster, batch, engine),  # type: ignore[arg-type]
        "sums_and_checks": checks,
        "load_stats": lambda: stats_fn(cluster, vm_cpu, vm_mem, lim_c, lim_m, counted, up, counted),
    }
    for fn in steps.values():
        fn()  # warm-up (compilation)
    load_before = os.getloadavg()[0]
    # Interleaved rounds: every step sees the same machine load.
    wall: dict[str, list[float]] = {k: [] for k in steps}
    cpu_t: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(a.repeat):
        for name, fn in steps.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu_t[name].append(time.process_time() - c0)
    med = {k: statistics.median(v) for k, v in wall.items()}
    t_full = med["full"]
    cpu_full = statistics.median(cpu_t["full"])
    t_sums, t_stats = med["host_sums"], med["load_stats"]
    t_checks = (
        max(med["sums_and_checks"] - t_sums, 0.0) if engine == "numba" else med["sums_and_checks"]
    )
    t_numpy = median_seconds(run("numpy"), max(1, a.repeat // 2))

    t_pandas = median_seconds(lambda: pandas_evaluate(cluster, batch, thresholds), a.pandas_repeat)
    # Same answers where they overlap (every host is Up in a generated cluster).
    e = ev.evaluate(cluster, batch, thresholds=thresholds, engine=engine)  # type: ignore[arg-type]
    pd_out = pandas_evaluate(cluster, batch, thresholds)
    e8 = ev.evaluate(cluster, tiny, thresholds=thresholds, engine=engine)  # type: ignore[arg-type]
    uint8_same = bool(
        np.array_equal(e8.cpu_milli, e.cpu_milli)
        and np.array_equal(e8.memory_used_mb, e.memory_used_mb)
        and np.array_equal(e8.hard_violations, e.hard_violations)
    )
    agree = bool(
        np.allclose(pd_out["max_cpu"], e.max_cpu_pct)
        and np.allclose(pd_out["std_mem"], e.std_memory_pct)
        and all(
            (pd_out[f"over{t}"] == e.hosts_over[t]).all()
            and (pd_out[f"excess_cpu{t}"] == e.excess_cpu_milli[t]).all()
            for t in range(len(thresholds))
        )
    )

    split = {
        "host_sums": round(t_sums, 5),
        "load_stats": round(t_stats, 5),
        "rule_and_owner_checks": round(t_checks, 5),
        "rest": round(max(t_full - t_sums - t_stats - t_checks, 0.0), 5),
    }
    restricted = int((~cluster.vm_possible.all(axis=1)).sum())
    rule_members = sum(len(r.members) for r in cluster.enabled_rules)
    out = {
        "k": a.k,
        "vms": a.vms,
        "hosts": a.hosts,
        "resources": 2,
        "thresholds": len(thresholds),
        "engine": engine,
        "numba_threads": (__import__("numba").get_num_threads() if ev.HAVE_NUMBA else None),
        "seconds": round(t_full, 5),
        "placements_per_s": round(a.k / t_full, 1),
        "vm_placement_evals_per_s": round(n_evals / t_full, 0),
        "vm_placement_evals_per_s_int16": round(n_evals / med["full_int16"], 0),
        "vm_placement_evals_per_s_uint8": round(n_evals / med["full_uint8"], 0),
        "placements_per_s_uint8": round(a.k / med["full_uint8"], 1),
        "uint8_results_identical": uint8_same,
        "cpu_seconds": round(cpu_full, 5),
        "vm_placement_evals_per_cpu_s": round(n_evals / cpu_full, 0) if cpu_full else None,
        "load_average_1min": round(load_before, 2),
        "cores": os.cpu_count(),
        "numpy_engine_placements_per_s": round(a.k / t_numpy, 1),
        "pandas_seconds": round(t_pandas, 4),
        "pandas_placements_per_s": round(a.k / t_pandas, 1),
        "speedup_vs_pandas": round(t_pandas / t_full, 1),
        "speedup_vs_pandas_uint8": round(t_pandas / med["full_uint8"], 1),
        "speedup_vs_numpy_engine": round(t_numpy / t_full, 1),
        "pandas_agrees": agree,
        "time_split_seconds": split,
        "enabled_rules": len(cluster.enabled_rules),
        "rule_members": rule_members,
        "restricted_owner_vms": restricted,
    }
    if a.json:
        print(json.dumps(out))
        return
    print(
        f"{a.k} placements x {a.vms} VMs x {a.hosts} hosts, 2 resources, "
        f"{len(thresholds)} thresholds, {out['enabled_rules']} enabled rules "
        f"({rule_members} members), {restricted} VMs with restricted owners"
    )
    print(
        f"evaluate ({engine}): {t_full * 1e3:.2f} ms per batch = "
        f"{out['placements_per_s']:,.0f} placements/s = {n_evals / t_full:.3g} "
        f"VM-placement evaluations/s (target >= 1e9); {cpu_full * 1e3:.2f} ms CPU; "
        f"load average {load_before:.2f} on {os.cpu_count()} cores"
    )
    print(
        f"evaluate ({engine}, int16 placements): {med['full_int16'] * 1e3:.2f} ms per batch "
        f"= {n_evals / med['full_int16']:.3g} VM-placement evaluations/s"
    )
    print(
        f"evaluate ({engine}, uint8 placements): {med['full_uint8'] * 1e3:.2f} ms per batch "
        f"= {n_evals / med['full_uint8']:.3g} VM-placement evaluations/s, "
        f"{out['speedup_vs_pandas_uint8']}x pandas; same results as int32: {uint8_same}"
    )
    print(
        f"evaluate (numpy engine): {t_numpy * 1e3:.1f} ms per batch "
        f"({out['speedup_vs_numpy_engine']}x slower)"
    )
    print(
        f"pandas groupby: {t_pandas * 1e3:.0f} ms per batch = "
        f"{out['pandas_placements_per_s']:,.0f} placements/s; evaluator is "
        f"{out['speedup_vs_pandas']}x faster (target >= 50x); answers agree: {agree}"
    )
    print("where the time goes: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in split.items()))


if __name__ == "__main__":
    main()
