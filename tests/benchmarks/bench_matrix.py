"""Benchmark matrix of ``hvplan plan`` through the CLI only (not collected by pytest).

Cases: the six shared production-shaped clusters (``--shared``, default
``/work/shared/bench``) plus generated ones across skew, rule density, vendors, CPU
generations and sizes (16 / 1,000 to 128 / 16,000).  Generated snapshots are written once by
``--generator`` (an ``hvplan`` that has the generator options, default the one next to this
Python) into ``--workdir`` and reused, so two releases are measured on identical input.

Each case runs ``hvplan plan SNAPSHOT --out DIR --level L --time-limit T --json`` in a fresh
process under ``/usr/bin/time -f "%e %M"`` (wall seconds, peak RSS) and reads only
``summary.json``: the per-tier values and bounds from the ``tiers`` list (``value`` or
``objective``, ``bound``) or, for older releases, from the ``objectives``/``bounds`` dicts.
Per case: status, per-tier value / bound / absolute and relative gap, the deciding tier (first
one not proven), time to the first plan under the threshold (when the summary exposes it, else
``null``: the whole run is ``wall_seconds``), time to proof (wall seconds when OPTIMAL), moves,
memory moved, downtime moves, peak RSS, and the load average before the run (the machine may
be shared: times are noisy).  Numbers only, no pass/fail.

Usage::

    python tests/benchmarks/bench_matrix.py [--hvplan PATH] [--quick] [--time-limit 60]
        [--level medium] [--workers N] [--case NAME ...] [--json FILE] [--label TEXT]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SHARED = ("b16-skew", "b32-mixed", "b64-mild", "b64-heavy", "b64-rules", "b128-big")
TIERS = ("rules", "excess", "anti_affinity", "migration", "balance")

#: Generated cases: ``hvplan generate`` options (the level is the plan's, not the cluster's).
#: Axes: skew (hot fraction and --skew), rule density, vendors, CPU generations, size.
GENERATED: dict[str, list[str]] = {
    "g16-skew": [
        "--hosts",
        "16",
        "--vms",
        "1000",
        "--hot-fraction",
        "0.35",
        "--skew",
        "0.8",
        "--load-pct",
        "55",
        "--hot-load-pct",
        "75",
        "--cpu-generations",
        "2",
        "--fault-domains",
        "2",
    ],
    "g16-rules": [
        "--hosts",
        "16",
        "--vms",
        "1000",
        "--rule-density",
        "0.3",
        "--broken-rule-fraction",
        "0.05",
        "--hot-load-pct",
        "75",
        "--cpu-generations",
        "3",
    ],
    "g32-mixed": [
        "--hosts",
        "32",
        "--vms",
        "4000",
        "--vendors",
        "mixed",
        "--hot-load-pct",
        "75",
        "--cpu-generations",
        "2",
        "--fault-domains",
        "2",
    ],
    "g32-dense": [
        "--hosts",
        "32",
        "--vms",
        "4000",
        "--rule-density",
        "0.3",
        "--hot-fraction",
        "0.4",
        "--skew",
        "0.5",
        "--load-pct",
        "55",
        "--hot-load-pct",
        "75",
    ],
    "g64-mild": [
        "--hosts",
        "64",
        "--vms",
        "8000",
        "--vendors",
        "mixed",
        "--hot-fraction",
        "0.3",
        "--hot-load-pct",
        "75",
        "--cpu-generations",
        "2",
        "--aa-class-size",
        "2",
        "--fault-domains",
        "2",
    ],
    "g64-heavy": [
        "--hosts",
        "64",
        "--vms",
        "8000",
        "--hot-fraction",
        "0.45",
        "--skew",
        "0.8",
        "--load-pct",
        "58",
        "--hot-load-pct",
        "75",
        "--aa-class-size",
        "2",
    ],
    "g64-rules": [
        "--hosts",
        "64",
        "--vms",
        "8000",
        "--rule-density",
        "0.3",
        "--hot-load-pct",
        "75",
        "--cpu-generations",
        "3",
        "--restricted-owners-fraction",
        "0.05",
        "--fault-domains",
        "2",
    ],
    "g64-amd1": [
        "--hosts",
        "64",
        "--vms",
        "8000",
        "--vendors",
        "amd",
        "--cpu-generations",
        "1",
        "--hot-load-pct",
        "75",
        "--compat-minimum",
        "0.4",
    ],
    "g128-big": [
        "--hosts",
        "128",
        "--vms",
        "16000",
        "--vendors",
        "mixed",
        "--hot-load-pct",
        "75",
        "--cpu-generations",
        "3",
    ],
}
#: The default matrix: the six shared clusters and these generated ones (about 12 runs).
DEFAULT_GENERATED = ("g16-skew", "g16-rules", "g32-dense", "g64-heavy", "g64-rules", "g128-big")
QUICK = ("b16-skew", "b64-mild", "g16-skew", "g64-heavy")


def tiers_of(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-tier value, bound, absolute and relative gap from either summary format."""
    rows: list[dict[str, Any]] = []
    if isinstance(summary.get("tiers"), list) and summary["tiers"]:
        for t in summary["tiers"]:
            value = t.get("value", t.get("objective"))
            rows.append(
                {
                    "name": t.get("name"),
                    "value": value,
                    "bound": t.get("bound"),
                    "status": t.get("status"),
                }
            )
    else:
        obj = summary.get("objectives") or {}
        bnd = summary.get("bounds") or {}
        rows = [
            {"name": n, "value": obj.get(n), "bound": bnd.get(n), "status": None}
            for n in TIERS
            if n in obj
        ]
    for r in rows:
        v, b = r["value"], r["bound"]
        if isinstance(v, int | float) and isinstance(b, int | float):
            r["abs_gap"] = v - b
            r["rel_gap"] = round((v - b) / v, 6) if v else 0.0
        else:
            r["abs_gap"] = r["rel_gap"] = None
    return rows


def deciding_tier(rows: list[dict[str, Any]]) -> str | None:
    """First tier (lexicographic order) whose value is not proven by its bound."""
    for r in rows:
        if r["abs_gap"] is None or r["abs_gap"] > 0:
            return str(r["name"])
    return None


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        cur: Any = d
        for part in k.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is not None:
            return cur
    return None


def parse_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run that the matrix reports, from ``summary.json`` alone."""
    rows = tiers_of(summary)
    hot = summary.get("hosts_over_threshold") or {}
    return {
        "status": summary.get("status"),
        "tiers": rows,
        "deciding_tier": deciding_tier(rows),
        "gap": summary.get("gap"),
        "gap_tier": summary.get("gap_tier"),
        "moves": summary.get("moves"),
        "memory_moved_mb": summary.get("memory_moved_mb"),
        "downtime_moves": summary.get("downtime_moves"),
        "hosts_over_before": hot.get("before", summary.get("hosts_over_threshold_before")),
        "hosts_over_after": hot.get("after", summary.get("hosts_over_threshold_after")),
        "solve_seconds": summary.get("solve_seconds"),
        "first_plan_under_threshold_seconds": _first(
            summary,
            "first_plan_under_threshold_seconds",
            "time_to_first_plan_seconds",
            "timings.first_under_threshold",
            "timings.first_plan",
        ),
        "method": summary.get("method"),
        "hvplan_version": summary.get("hvplan_version"),
    }


def generate(name: str, workdir: Path, generator: str) -> Path:
    """Write (once) the generated snapshot ``name``; return its directory."""
    snap = workdir / "snapshots" / name
    if (snap / "vms.csv").exists():
        return snap
    snap.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        generator,
        "generate",
        *GENERATED[name],
        "--seed",
        "1",
        "--name",
        name,
        "--out",
        str(snap),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        shutil.rmtree(snap, ignore_errors=True)
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()[:500]}")
    return snap


def run_case(
    name: str,
    snap: Path,
    hvplan: str,
    level: str,
    time_limit: float,
    workers: int | None,
    workdir: Path,
) -> dict[str, Any]:
    """One ``hvplan plan`` run under /usr/bin/time; the parsed summary and the costs."""
    out = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir)) / "plan"
    timing = out.parent / "time.txt"
    cmd = [
        hvplan,
        "plan",
        str(snap),
        "--out",
        str(out),
        "--level",
        level,
        "--time-limit",
        f"{time_limit:g}",
        "--json",
    ]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    load = os.getloadavg()
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", "-o", str(timing), *cmd],
        capture_output=True,
        text=True,
        check=False,
    )
    rec: dict[str, Any] = {
        "case": name,
        "snapshot": str(snap),
        "exit_code": r.returncode,
        "load_average_before": [round(x, 2) for x in load],
        "time_limit_s": time_limit,
        "level": level,
        "workers": workers,
    }
    try:
        wall, rss_kb = timing.read_text().split()[-2:]
        rec["wall_seconds"] = float(wall)
        rec["peak_rss_mb"] = round(int(rss_kb) / 1024, 1)
    except (OSError, ValueError):
        rec["wall_seconds"] = rec["peak_rss_mb"] = None
    summary_path = out / "summary.json"
    if summary_path.exists():
        rec.update(parse_summary(json.loads(summary_path.read_text())))
    else:
        rec["status"] = "NO PLAN"
        rec["stderr"] = r.stderr.strip()[-500:]
    rec["time_to_proof_seconds"] = rec["wall_seconds"] if rec.get("status") == "OPTIMAL" else None
    shutil.rmtree(out.parent, ignore_errors=True)
    return rec


def _fmt_gap(rec: dict[str, Any]) -> str:
    t = rec.get("deciding_tier")
    if t is None:
        return "proven" if rec.get("tiers") else "-"
    row = next((r for r in rec.get("tiers", []) if r["name"] == t), None)
    if row is None or row["abs_gap"] is None:
        return f"{t} ?"
    return f"{t} {row['abs_gap']:g} ({100 * row['rel_gap']:.1f} %)"


def _fmt_s(x: Any) -> str:
    return f"{x:>7.1f}" if isinstance(x, int | float) else f"{'-':>7}"


def print_table(records: list[dict[str, Any]]) -> None:
    """A fixed-width table of the matrix on stdout."""
    head = (
        f"{'case':<11} {'status':<9} {'open tier: abs (rel) gap':<30} {'wall s':>7} "
        f"{'1st<thr':>7} {'moves':>6} {'memory MB':>10} {'down':>4} {'over':>7} {'RSS MB':>7} "
        f"{'load':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in records:
        over = f"{r.get('hosts_over_before')}->{r.get('hosts_over_after')}"
        first = _fmt_s(r.get("first_plan_under_threshold_seconds"))
        print(
            f"{r['case']:<11} {str(r.get('status')):<9} {_fmt_gap(r):<30} "
            f"{r.get('wall_seconds') or 0:>7.1f} {first} "
            f"{r.get('moves') or 0:>6} "
            f"{r.get('memory_moved_mb') or 0:>10} {r.get('downtime_moves') or 0:>4} "
            f"{over:>7} {r.get('peak_rss_mb') or 0:>7.0f} "
            f"{r['load_average_before'][0]:>5.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the matrix; print a table; write JSON when ``--json`` is given."""
    here = Path(sys.executable).parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--hvplan",
        action="append",
        default=None,
        help="hvplan executable to run, or NAME=PATH; repeat it to compare "
        "releases case by case in one sitting (default: next to this Python)",
    )
    ap.add_argument(
        "--generator",
        default=str(here / "hvplan"),
        help="hvplan with the generator options (writes the generated cases)",
    )
    ap.add_argument("--shared", default="/work/shared/bench", type=Path)
    ap.add_argument("--workdir", default=Path(tempfile.gettempdir()) / "hvplan-matrix", type=Path)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--level", default="medium")
    ap.add_argument(
        "--workers",
        type=int,
        action="append",
        default=None,
        help="solver workers; repeat it (--workers 1 --workers 2) to run each case with "
        "each count back to back",
    )
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--case", action="append", default=None, help="run only these cases")
    ap.add_argument("--json", type=Path, default=None, help="write the records here")
    ap.add_argument("--label", default="", help="what was measured (release, commit)")
    a = ap.parse_args(argv)
    cases = a.case or (list(QUICK) if a.quick else [*SHARED, *DEFAULT_GENERATED])
    a.workdir.mkdir(parents=True, exist_ok=True)
    releases = [
        (h.split("=", 1) if "=" in h else (h, h)) for h in (a.hvplan or [str(here / "hvplan")])
    ]
    records = []
    for name in cases:
        snap = a.shared / name if name in SHARED else generate(name, a.workdir, a.generator)
        # Interleaved: each case sees the releases (and worker counts) back to back.
        for (label, exe), workers in itertools.product(releases, a.workers or [None]):
            rec = run_case(name, snap, exe, a.level, a.time_limit, workers, a.workdir)
            rec["release"] = label
            records.append(rec)
            print(
                f"# {name} [{label}, workers {workers}]: {rec.get('status')} in "
                f"{rec.get('wall_seconds')} s",
                file=sys.stderr,
                flush=True,
            )
    for (label, _), workers in itertools.product(releases, a.workers or [None]):
        if len(releases) > 1 or len(a.workers or []) > 1:
            print(f"\n== {label}, workers {workers}")
        print_table([r for r in records if r["release"] == label and r["workers"] == workers])
    if a.json:
        doc = {
            "label": a.label,
            "hvplan": dict(releases),
            "measured_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cpus": os.cpu_count(),
            "time_limit_s": a.time_limit,
            "level": a.level,
            "note": "wall times on a machine shared with other jobs: see "
            "load_average_before; noisy",
            "runs": records,
        }
        a.json.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
