"""Benchmark: sequencing a 2,000-move plan on a 64-node / 8,000-VM cluster.

The cluster comes from :func:`planner.generate.generate_cluster` (64 hosts, 8,000 VMs, a fifth
of the hosts hot, fixed seed).  Two kinds of plan are sequenced:

* **random**: 2,000 VMs moved to random allowed hosts, keeping the final placement within
  capacity and every enabled rule (a stress case: moves in every direction, so cycles and
  full nodes are common);
* **optimizer** (unless ``--no-optimizer``): the plan of :func:`planner.optimizer.optimize`
  at the Medium level, i.e. what ``hvplan plan`` would sequence.

For each it prints the median time of :func:`build_sequence` over ``--runs`` runs, the
number of waves against the migration-limit lower bound, temporary hops, the estimated
duration and the time of the independent verification.  The random plan is also sequenced
with a cluster-wide limit of one migration per node and with no spare room at all on the
nodes it touches; *swaps* has pairs of full nodes trade VMs (every pair a deadlock that
needs a temporary hop); *drain* empties one node of 1,000 VMs (the most waves per move, the
worst case for the per-wave scan).  It asserts nothing about time.

Run from the repository root::

    python tests/benchmarks/bench_sequencing.py            # human-readable
    python tests/benchmarks/bench_sequencing.py --json     # one JSON document
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np

from planner.cluster import Cluster, ClusterSettings, RuleType
from planner.generate import GeneratorOptions, generate_cluster
from planner.sequencing import SequenceResult, build_sequence
from planner.verify_sequence import verify_sequence


def random_target(c: Cluster, n_moves: int, seed: int, fill: float = 0.95) -> np.ndarray:
    """A target with ``n_moves`` moved VMs that keeps capacity and every enabled rule.

    Rule members and pinned VMs stay (moving them needs the optimizer's care); every other
    VM may go to any allowed host where the final load stays within ``fill`` of capacity.
    """
    rng = np.random.default_rng(seed)
    t = c.vm_host.astype(np.int64).copy()
    in_rule = np.zeros(c.n_vms, dtype=bool)
    for r in c.enabled_rules:
        in_rule[list(r.members)] = True
    for members in c.aa_class_members:
        in_rule[list(members)] = True
    cpu = c.host_load_milli(t) - c.host_cpu_base_milli
    mem = c.host_mem_used_mb(t) - c.host_memory_reserve_mb
    cpu_cap, mem_cap = c.host_cpu_free_milli, c.host_memory_free_mb
    moved = 0
    for v in rng.permutation(c.n_vms):
        if moved == n_moves:
            break
        if in_rule[v] or c.vm_pinned[v]:
            continue
        hosts = np.flatnonzero(c.vm_allowed[v])
        hosts = hosts[hosts != t[v]]
        fits = (cpu[hosts] + c.vm_cpu_load_milli[v] <= fill * cpu_cap[hosts]) & (
            mem[hosts] + c.vm_mem_load_mb[v] <= fill * mem_cap[hosts]
        )
        hosts = hosts[fits]
        if hosts.size == 0:
            continue
        h = int(rng.choice(hosts))
        s = int(t[v])
        cpu[s] -= c.vm_cpu_load_milli[v]
        mem[s] -= c.vm_mem_load_mb[v]
        cpu[h] += c.vm_cpu_load_milli[v]
        mem[h] += c.vm_mem_load_mb[v]
        t[v] = h
        moved += 1
    return t


def tighten(c: Cluster, t: np.ndarray, hosts: np.ndarray) -> Cluster:
    """The cluster with no spare room on ``hosts``: their capacity for VMs becomes the
    larger of their VM load now and in ``t`` (reserve and base load raised to match)."""
    mem_need = np.maximum(c.host_mem_used_mb(), c.host_mem_used_mb(t)) - c.host_memory_reserve_mb
    cpu_need = np.maximum(c.host_load_milli(), c.host_load_milli(t)) - c.host_cpu_base_milli
    reserve = c.host_memory_reserve_mb.copy()
    base = c.host_cpu_base_milli.copy()
    reserve[hosts] = c.host_memory_mb[hosts] - mem_need[hosts]
    base[hosts] = c.host_cpu_capacity_milli[hosts] - cpu_need[hosts]
    return c.replace(host_memory_reserve_mb=reserve, host_cpu_base_milli=base)


def swap_target(c: Cluster, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``pairs`` disjoint pairs of hosts trade their largest movable running VM.

    Returns the target and the hosts involved; with :func:`tighten` on those hosts every
    pair is a deadlock (neither node has room for the other's VM first).
    """
    rng = np.random.default_rng(seed)
    t = c.vm_host.astype(np.int64).copy()
    in_rule = np.zeros(c.n_vms, dtype=bool)
    for r in c.enabled_rules:
        in_rule[list(r.members)] = True
    for members in c.aa_class_members:
        in_rule[list(members)] = True
    movable = ~in_rule & ~c.vm_pinned & c.vm_consumes
    order = rng.permutation(c.n_hosts)
    used: list[int] = []
    done = 0
    for i in range(0, len(order) - 1, 2):
        if done == pairs:
            break
        h1, h2 = int(order[i]), int(order[i + 1])
        best: tuple[int, int, int] | None = None
        for v in np.flatnonzero(movable & (c.vm_host == h1)):
            if c.vm_move_kind[v, h2] != 0 or not c.vm_allowed[v, h2]:
                continue
            for w in np.flatnonzero(movable & (c.vm_host == h2)):
                if c.vm_move_kind[w, h1] != 0 or not c.vm_allowed[w, h1]:
                    continue
                size = int(min(c.vm_memory_mb[v], c.vm_memory_mb[w]))
                if best is None or size > best[0]:
                    best = (size, int(v), int(w))
        if best is None:
            continue
        _, a, b = best
        t[a], t[b] = h2, h1
        used += [h1, h2]
        done += 1
    return t, np.array(used, dtype=np.int64)


def drain_star(n_vms: int, limit: int | None) -> tuple[Cluster, np.ndarray, tuple[int, ...]]:
    """The worst case for wave scanning: ``n_vms`` small VMs drained from one node to seven
    others, so the drained node's limit makes ``n_vms / limit`` waves."""
    hosts = 8
    c = generate_cluster(
        GeneratorOptions(
            hosts=hosts,
            vms=n_vms,
            seed=0,
            hot_fraction=0.0,
            load_pct=20.0,
            hot_load_pct=85.0,
            rule_density=0.0,
            pinned_fraction=0.0,
            restricted_owners_fraction=0.0,
            vendors="intel",
            generations=("Icelake-Server",),
        )
    )
    c = c.replace(
        vm_host=np.zeros(c.n_vms, dtype=np.int32),
        host_memory_mb=np.full(hosts, 1 << 24, dtype=np.int64),
        host_lp=np.full(hosts, 2048, dtype=np.int64),
        settings=ClusterSettings(maximum_parallel_migrations=limit),
    )
    t = 1 + np.arange(c.n_vms, dtype=np.int64) % (hosts - 1)
    return c, t, (0,)


def measure(
    c: Cluster,
    t: np.ndarray,
    runs: int,
    drained: tuple[int, ...] = (),
    reasons: dict[int, str] | None = None,
) -> dict[str, Any]:
    """Median sequencing time and the sequence's figures."""
    times = []
    res: SequenceResult | None = None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = build_sequence(c, t, drained, reasons)
        times.append(time.perf_counter() - t0)
    assert res is not None
    t0 = time.perf_counter()
    violations = verify_sequence(c, res.moves, t, drained) if res.ok else []
    verify_s = time.perf_counter() - t0
    planned = int((t != c.vm_host).sum())
    return {
        "planned_moves": planned,
        "ok": res.ok,
        "message": res.message if not res.ok else "",
        "median_seconds": round(statistics.median(times), 4),
        "min_seconds": round(min(times), 4),
        "max_seconds": round(max(times), 4),
        "runs": runs,
        "moves": len(res.moves),
        "waves": res.waves,
        "lower_bound_waves": res.lower_bound_waves,
        "extra_hops": res.extra_hops,
        "estimated_seconds": round(res.estimated_seconds, 1),
        "estimated_hours": round(res.estimated_seconds / 3600, 2),
        "verify_seconds": round(verify_s, 4),
        "violations": len(violations),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=64)
    ap.add_argument("--vms", type=int, default=8000)
    ap.add_argument("--moves", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=24, help="host pairs in the swap scenario")
    ap.add_argument("--no-optimizer", action="store_true")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    t0 = time.perf_counter()
    c = generate_cluster(GeneratorOptions(hosts=a.hosts, vms=a.vms, seed=a.seed))
    gen_s = time.perf_counter() - t0
    out: dict[str, Any] = {
        "cluster": {
            "hosts": c.n_hosts,
            "vms": c.n_vms,
            "seed": a.seed,
            "same_node_rules": sum(r.rule_type == RuleType.SAME_NODE for r in c.enabled_rules),
            "apart_rules": sum(
                r.rule_type in (RuleType.DIFFERENT_NODE, RuleType.DIFFERENT_FAULT_DOMAIN)
                for r in c.enabled_rules
            ),
            "migration_limit": int(c.host_migration_limit.max()),
            "generate_seconds": round(gen_s, 2),
        },
    }
    t = random_target(c, a.moves, a.seed)
    out["random"] = measure(c, t, a.runs)
    one = c.replace(settings=ClusterSettings(maximum_parallel_migrations=1))
    out["random_limit_1"] = measure(one, t, max(1, a.runs // 2))
    # No spare room at all on the nodes the random plan touches: the tightest it can be.
    moved_hosts = np.unique(np.concatenate([c.vm_host[t != c.vm_host], t[t != c.vm_host]]))
    out["random_no_slack"] = measure(tighten(c, t, moved_hosts), t, a.runs)
    st, hosts = swap_target(c, a.pairs, a.seed)
    out["swaps"] = measure(tighten(c, st, hosts), st, a.runs)
    out["swaps"]["pairs"] = int(len(hosts) // 2)
    mixed = t.copy()
    swapped = st != c.vm_host
    mixed[swapped] = st[swapped]
    mixed_hosts = np.unique(np.concatenate([hosts, moved_hosts]))
    out["random_plus_swaps"] = measure(tighten(c, mixed, hosts), mixed, a.runs)
    del mixed_hosts
    for lim in (None, 1):
        sc, stt, drained = drain_star(1000, lim)
        out[f"drain_1000_limit_{lim or 'host'}"] = measure(sc, stt, a.runs, drained)
    if not a.no_optimizer:
        from planner.optimizer import PlanOptions, optimize

        t0 = time.perf_counter()
        opt = optimize(c, PlanOptions(level="medium", time_limit_s=a.time_limit, seed=0))
        solve_s = time.perf_counter() - t0
        if opt.ok and opt.placement is not None:
            out["optimizer"] = measure(c, opt.placement, a.runs, opt.drained, opt.reasons)
            out["optimizer"]["solve_seconds"] = round(solve_s, 2)
            out["optimizer"]["status"] = str(opt.status.value)
        else:
            out["optimizer"] = {"ok": False, "status": str(opt.status.value)}

    if a.json:
        print(json.dumps(out, indent=2))
        return
    cl = out["cluster"]
    print(
        f"cluster: {cl['hosts']} hosts, {cl['vms']} VMs (seed {a.seed}), migration limit "
        f"{cl['migration_limit']}; generated in {cl['generate_seconds']} s"
    )
    for key in (
        "random",
        "random_limit_1",
        "random_no_slack",
        "swaps",
        "random_plus_swaps",
        "drain_1000_limit_host",
        "drain_1000_limit_1",
        "optimizer",
    ):
        r = out.get(key)
        if r is None:
            continue
        if "median_seconds" not in r:
            print(f"{key}: optimizer gave no plan ({r.get('status')})")
            continue
        print(
            f"{key}: {r['planned_moves']} planned moves -> ok={r['ok']} "
            f"{r['moves']} moves in {r['waves']} waves (lower bound "
            f"{r['lower_bound_waves']}), {r['extra_hops']} temporary hops; "
            f"sequencing median {r['median_seconds']} s over {r['runs']} runs "
            f"(min {r['min_seconds']}, max {r['max_seconds']}); estimated duration "
            f"{r['estimated_seconds']} s ({r['estimated_hours']} h); verify "
            f"{r['verify_seconds']} s, {r['violations']} violations"
            + (f"; {r['message']}" if r["message"] else "")
        )


if __name__ == "__main__":
    main()
