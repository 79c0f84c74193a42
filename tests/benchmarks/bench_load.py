"""Benchmark: load + validate a 64-host / 8,000-VM snapshot.

Builds the snapshot directly with numpy and :func:`planner.snapshot.write_snapshot` (a fixed
seed, so every run measures the same files), then times :func:`read_snapshot` several times
and reports the median, the spread and the peak memory of one load (``tracemalloc``, Python
allocations including numpy buffers).  It prints numbers and asserts nothing about time.

Run from the repository root::

    python tests/benchmarks/bench_load.py            # human-readable
    python tests/benchmarks/bench_load.py --json     # one JSON line
    python tests/benchmarks/bench_load.py --runs 9 --profile   # plus a cProfile top 15
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from planner.catalog import default_catalog
from planner.cluster import (
    CPU_UNITS,
    Cluster,
    ClusterSettings,
    Network,
    NetworkRole,
    Rule,
    RuleType,
    Vendor,
)
from planner.snapshot import read_snapshot, write_snapshot

TARGET_SECONDS = 1.0


def build_cluster(
    n_hosts: int = 64, n_vms: int = 8000, seed: int = 7, n_rules: int = 200
) -> Cluster:
    """A realistic, valid large cluster: two vendors, four fault domains, VMs that fit."""
    rng = np.random.default_rng(seed)
    cat = default_catalog()
    intel = ["Cascadelake-Server", "Icelake-Server", "SapphireRapids"]
    amd = ["EPYC-Milan", "EPYC-Genoa"]
    vendor = np.where(np.arange(n_hosts) < n_hosts * 3 // 4, Vendor.INTEL, Vendor.AMD)
    models = tuple(str(rng.choice(intel if v == Vendor.INTEL else amd)) for v in vendor)
    universe = sorted(set().union(*(m.features for m in cat.models)))
    fidx = {f: i for i, f in enumerate(universe)}
    hf = np.zeros((n_hosts, len(universe)), dtype=bool)
    for h, model_name in enumerate(models):
        model = cat.get(model_name)
        assert model is not None
        hf[h, [fidx[f] for f in model.features]] = True
    base = np.zeros((len(Vendor), len(universe)), dtype=bool)
    for vd in Vendor:
        base[vd, [fidx[f] for f in cat.baseline(vd)]] = True
    lp = rng.choice([64, 96, 128], size=n_hosts).astype(np.int64)
    mem = rng.choice([1024, 1536, 2048], size=n_hosts).astype(np.int64) * 1024
    reserve = np.full(n_hosts, 8192, dtype=np.int64)

    # VMs: round-robin placement keeps every host well inside its capacity.
    vm_host = (np.arange(n_vms) % n_hosts).astype(np.int32)
    vcpus = rng.choice([1, 2, 4, 8], size=n_vms, p=[0.3, 0.4, 0.2, 0.1]).astype(np.int64)
    vm_mem = rng.choice([1024, 2048, 4096, 8192], size=n_vms).astype(np.int64)
    usage_pct = rng.integers(0, 60, size=n_vms)
    cpu_milli = vcpus * usage_pct * (CPU_UNITS // 100)
    state = rng.choice([0, 1, 2, 3], size=n_vms, p=[0.85, 0.1, 0.03, 0.02]).astype(np.int8)
    possible = np.ones((n_vms, n_hosts), dtype=bool)
    restricted = rng.random(n_vms) < 0.05
    for v in np.flatnonzero(restricted):
        # A few VMs restricted to their own fault domain's half of the cluster.
        possible[v] = (np.arange(n_hosts) % 2) == (vm_host[v] % 2)
    vm_names = tuple(f"vm-{i:05d}" for i in range(n_vms))
    host_names = tuple(f"HV{i:02d}" for i in range(n_hosts))
    aa_names = ("SQL", "DC", "Web")
    vm_aa = tuple((i % 3,) if i < 3 * n_hosts else () for i in range(n_vms))
    # Rules that the round-robin placement satisfies (VM i is on host i % n_hosts, in fault
    # domain host % 4): any overlap between rules stays consistent.
    rules = []
    span = max(n_vms - 2 * n_hosts, 1)
    for r in range(n_rules):
        b = (r * 7) % span
        kind = r % 4
        if kind == 0:
            rules.append(Rule(f"spread-{r}", RuleType.DIFFERENT_NODE, True, (b, b + 1, b + 2)))
        elif kind == 1:
            rules.append(Rule(f"together-{r}", RuleType.SAME_NODE, True, (b, b + n_hosts)))
        elif kind == 2:
            rules.append(Rule(f"rack-{r}", RuleType.SAME_FAULT_DOMAIN, True, (b, b + 4)))
        else:
            rules.append(Rule(f"racks-{r}", RuleType.DIFFERENT_FAULT_DOMAIN, True, (b, b + 1)))
    return Cluster(
        name="bench64",
        settings=ClusterSettings(),
        host_names=host_names,
        host_state=np.zeros(n_hosts, dtype=np.int8),
        host_fault_domain=(np.arange(n_hosts) % 4).astype(np.int32),
        fault_domains=("Rack1", "Rack2", "Rack3", "Rack4"),
        host_vendor=vendor.astype(np.int8),
        host_cpu_model=models,
        host_lp=lp,
        host_memory_mb=mem,
        host_memory_reserve_mb=reserve,
        host_cpu_base_milli=lp * 30,  # 3 % base load
        host_max_migrations=np.full(n_hosts, 2, dtype=np.int64),
        features=tuple(universe),
        host_features=hf,
        vendor_baseline=base,
        vm_names=vm_names,
        vm_host=vm_host,
        vm_state=state,
        vm_priority=rng.choice([0, 1000, 2000, 3000], size=n_vms).astype(np.int16),
        vm_vcpus=vcpus,
        vm_memory_mb=vm_mem,
        vm_cpu_milli=cpu_milli,
        vm_config_version_x10=rng.choice([90, 100, 120], size=n_vms).astype(np.int32),
        vm_compat=rng.choice([0, 1, 2], size=n_vms).astype(np.int8),
        vm_possible=possible,
        vm_preferred=tuple((int(vm_host[v]),) if v % 7 == 0 else () for v in range(n_vms)),
        vm_aa_classes=vm_aa,
        aa_class_names=aa_names,
        vm_allow_downtime=rng.random(n_vms) < 0.2,
        vm_pinned=rng.random(n_vms) < 0.01,
        rules=tuple(rules),
        networks=(
            Network("Management", NetworkRole.CLUSTER_AND_CLIENT, None, 10.0),
            Network("LM1", NetworkRole.CLUSTER, 1, 25.0),
            Network("LM2", NetworkRole.CLUSTER, 2, 25.0),
        ),
    )


def main() -> None:
    """Build the snapshot, time the loads, print the numbers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=64)
    ap.add_argument("--vms", type=int, default=8000)
    ap.add_argument("--rules", type=int, default=200, help="affinity rules (default 200)")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--profile", action="store_true", help="print a cProfile top 15")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "bench64"
        write_snapshot(build_cluster(args.hosts, args.vms, n_rules=args.rules), d)
        size = sum(f.stat().st_size for f in d.iterdir())
        cluster, report = read_snapshot(d)  # warm-up (imports, catalog cache)
        if cluster is None:
            raise SystemExit(
                "benchmark snapshot is invalid:\n" + "\n".join(str(p) for p in report.errors[:10])
            )
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            cluster, report = read_snapshot(d)
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        read_snapshot(d)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            read_snapshot(d)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(15)

    # Whole-process peak resident memory (Linux reports KiB): includes the interpreter,
    # numpy and the cluster the benchmark built, so it bounds the loader's footprint.
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med = statistics.median(times)
    result = {
        "hosts": args.hosts,
        "vms": args.vms,
        "rules": args.rules,
        "files_bytes": size,
        "runs": args.runs,
        "median_seconds": round(med, 4),
        "min_seconds": round(min(times), 4),
        "max_seconds": round(max(times), 4),
        "peak_traced_mb": round(peak / 2**20, 1),
        "process_peak_rss_mb": round(rss_mb, 1),
        "target_seconds": TARGET_SECONDS,
        "warnings": len(report.warnings),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"read_snapshot (load + validate) of {args.hosts} hosts / {args.vms} VMs / "
            f"{args.rules} rules ({size / 1024:.0f} KiB of CSV), {args.runs} runs:"
        )
        print(
            f"  median {med:.3f} s (min {min(times):.3f}, max {max(times):.3f}); "
            f"target {TARGET_SECONDS:.1f} s"
        )
        print(
            f"  peak traced memory of one load: {peak / 2**20:.1f} MiB "
            f"(whole process peak RSS {rss_mb:.0f} MiB)"
        )
        print(f"  warnings in the report: {len(report.warnings)}")


if __name__ == "__main__":
    main()
