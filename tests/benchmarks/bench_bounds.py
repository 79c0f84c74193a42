"""Tier bounds of :mod:`planner.bounds_extra` against ``optimizer.compute_bounds`` (not
collected by pytest).

For each snapshot: the optimizer's full-problem bounds (``compute_bounds`` and what the
summary reports through its tier-bound rule), the new bounds with the assumption each needs,
and -- given a plan's tier values (``--values FILE``: a matrix JSON such as
``data/benchmarks/matrix_baseline.json``) -- how much of each tier's gap the new bound closes:
``(new - reported) / (value - reported)``.

Usage::

    python tests/benchmarks/bench_bounds.py [--shared DIR] [--level medium]
        [--values data/benchmarks/matrix_baseline.json] [--json FILE] [SNAPSHOT ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

SHARED = ("b16-skew", "b32-mixed", "b64-mild", "b64-heavy", "b64-rules", "b128-big")


def bounds_of(snap: Path, level: str) -> dict[str, Any]:
    """Old and new bounds for one snapshot."""
    from planner import bounds_extra as bx
    from planner.cpsat.model import SolverParams
    from planner.loadmodel import resolve_threshold, threshold_limits
    from planner.optimizer import _resolve_profile, build_domain, compute_bounds
    from planner.snapshot import read_snapshot
    from planner.verify import balance_hosts

    cluster, report = read_snapshot(snap)
    if cluster is None:
        raise SystemExit(f"{snap}: {report.errors[:3]}")
    prof = _resolve_profile(None)
    thr = resolve_threshold(cluster, level, None, "average")
    dom = build_domain(cluster, (), prof)
    cpu_lim, mem_lim = threshold_limits(cluster, thr)
    enforce = prof.enforce_anti_affinity(cluster.settings.enforced_anti_affinity)
    t0 = time.perf_counter()
    old = compute_bounds(
        cluster,
        dom,
        cpu_lim,
        mem_lim,
        enforce,
        SolverParams(30.0, 1, 0, True, False),
        time.monotonic() + 30,
    )
    t_old = time.perf_counter() - t0
    bal = balance_hosts(cluster, ())
    t0 = time.perf_counter()
    aa_cap = 0 if enforce else bx.aa_pairs_lower_bound(cluster, dom.allowed, cpu_lim, mem_lim)
    aa_thr = (
        0
        if enforce
        else bx.aa_pairs_lower_bound(cluster, dom.allowed, cpu_lim, mem_lim, excess_zero=True)
    )
    mig = bx.migration_lower_bound(cluster, dom.allowed, cpu_lim, mem_lim, dom.move_cost)
    mig_comb = bx.migration_lower_bound(
        cluster, dom.allowed, cpu_lim, mem_lim, dom.move_cost, node_bounds=old.cover_cost
    )
    bal_any = bx.balance_lower_bound(cluster, dom.allowed, cpu_lim, mem_lim, bal)
    t_new = time.perf_counter() - t0
    return {
        "snapshot": snap.name,
        "old": {
            "excess": old.excess,
            "anti_affinity": old.anti_affinity,
            "migration_if_excess_0": old.migration,
            "migration_mandatory": old.migration_mandatory,
            "balance_if_migration_at_bound": old.balance,
            "seconds": round(t_old, 2),
        },
        "new": {
            "anti_affinity_any_plan": aa_cap,
            "anti_affinity_if_excess_0": aa_thr,
            "migration_if_excess_0": mig,
            "migration_if_excess_0_with_cpsat_covers": mig_comb,
            "balance_any_plan": bal_any,
            "seconds": round(t_new, 2),
        },
        "_ctx": (cluster, dom, cpu_lim, mem_lim, bal),
    }


def closes(value: int | None, reported: int | None, new: int | None) -> float | None:
    """Share of the gap ``value - reported`` that ``new`` closes (None when no gap)."""
    if value is None or reported is None or new is None or value <= reported:
        return None
    return round(max(0, min(new, value) - reported) / (value - reported), 4)


def main(argv: list[str] | None = None) -> int:
    """Print and optionally write the comparison."""
    from planner import bounds_extra as bx

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("snapshots", nargs="*", type=Path)
    ap.add_argument("--shared", type=Path, default=Path("/work/shared/bench"))
    ap.add_argument("--level", default="medium")
    ap.add_argument("--values", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    snaps = a.snapshots or [a.shared / n for n in SHARED]
    values: dict[str, dict[str, Any]] = {}
    if a.values:
        for r in json.loads(a.values.read_text())["runs"]:
            values[r["case"]] = {t["name"]: (t["value"], t["bound"]) for t in r["tiers"]}
    out = []
    for snap in snaps:
        rec = bounds_of(snap, a.level)
        cluster, dom, cpu_lim, mem_lim, bal = rec.pop("_ctx")
        v = values.get(snap.name)
        if v:
            mig_value = v["migration"][0]
            rec["new"]["balance_if_migration_at_most_value"] = bx.balance_lower_bound(
                cluster, dom.allowed, cpu_lim, mem_lim, bal, dom.move_cost, mig_value
            )
            rec["plan"] = {k: x[0] for k, x in v.items()}
            rec["reported_bound"] = {k: x[1] for k, x in v.items()}
            n = rec["new"]
            rec["gap_closed"] = {
                "anti_affinity": closes(
                    v["anti_affinity"][0], v["anti_affinity"][1], n["anti_affinity_any_plan"]
                ),
                "migration": closes(
                    mig_value, v["migration"][1], n["migration_if_excess_0_with_cpsat_covers"]
                ),
                "balance": closes(
                    v["balance"][0],
                    v["balance"][1],
                    max(n["balance_any_plan"], n["balance_if_migration_at_most_value"]),
                ),
            }
        out.append(rec)
        print(json.dumps(rec), flush=True)
    if a.json:
        a.json.write_text(json.dumps({"level": a.level, "clusters": out}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
