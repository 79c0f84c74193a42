"""The report's sections that run other parts of hvplan: the comparison with the native
balancers, the N+1 failover summary (now and after the plan) and the plan's verification.

Each takes the options the page is judged by (:class:`ReportOptions`: with a plan, the plan's
own options), so that every section of a report about a plan is about that plan.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.cluster import Cluster, HostState
from planner.htmlparts import cell, esc, note, table
from planner.loadmodel import HighMode, Level, Threshold
from planner.reportcharts import compare_chart, failover_chart, png_img
from planner.reportplan import DOWNTIME_TYPES, PlanData

#: Violations listed in the verification box; the rest are counted.
MAX_VIOLATIONS_SHOWN = 12


@dataclass(frozen=True)
class ReportOptions:
    """The options every section is judged by: the plan's when there is a plan."""

    level: Level | str | None = None
    threshold_pct: float | None = None
    high_mode: HighMode | str = HighMode.AVERAGE


def optional(module: str) -> Any | None:
    """Import an optional part of hvplan; ``None`` when it is not there."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


# ----------------------------------------------------------------------------- verification
def verification(cluster: Cluster, plan: PlanData) -> tuple[bool, list[str]] | None:
    """``(ok, messages)`` of ``hvplan verify`` on the plan directory; ``None`` when this
    hvplan has no verifier."""
    mod = optional("planner.verify")
    if mod is None or not hasattr(mod, "verify_plan"):
        return None
    rep = mod.verify_plan(cluster, plan.directory)
    messages = [str(v.get("message", v)) if isinstance(v, dict) else str(v) for v in rep.violations]
    return bool(rep.ok), messages


# ----------------------------------------------------------------------------- comparison
def compare_section(
    cluster: Cluster, opts: ReportOptions, plan: PlanData | None, thr: Threshold
) -> str:
    """hvplan against the native balancers; with a plan, the plan is the ``hvplan`` row."""
    mod = optional("planner.compare")
    if mod is None:
        return note("Not available: this hvplan has no planner.compare module.")
    given = None
    if plan is not None:
        status = str(plan.summary.get("status") or "")
        est = plan.summary.get("estimated_seconds")
        given = mod.GivenPlan(
            placement=np.asarray(plan.placement, dtype=np.int64),
            status=status if status in ("OPTIMAL", "FEASIBLE") else "FEASIBLE",
            description=f"the plan in {plan.directory.name}",
            downtime_moves=sum(m.migration_type in DOWNTIME_TYPES for m in plan.moves),
            estimated_seconds=float(est) if isinstance(est, int | float) else 0.0,
            waves=len({m.wave for m in plan.moves}),
        )
    result = mod.compare(
        cluster,
        mod.CompareOptions(
            level=opts.level, threshold_pct=opts.threshold_pct, high_mode=opts.high_mode, plan=given
        ),
    )
    rows = result.to_dict()["strategies"]
    sentences = "".join(f"<li>{esc(line)}</li>" for line in mod.summary_lines(result))
    cols = [
        "name",
        "moves",
        "memory_moved_mb",
        "downtime_moves",
        "hosts_over_threshold_after",
        "max_cpu_pct_after",
        "max_memory_pct_after",
        "rule_violations_after",
        "anti_affinity_pairs_after",
    ]
    body = table(
        [
            "strategy",
            "moves",
            "memory moved MB",
            "downtime moves",
            "hosts over after",
            "max CPU % after",
            "max memory % after",
            "rule violations after",
            "anti-affinity pairs after",
        ],
        [[cell(r.get(c)) for c in cols] for r in rows],
        ["good" if r.get("name") == "hvplan" else "" for r in rows],
    )
    if plan is not None:
        intro = note(
            f"The hvplan row is the plan in {plan.directory.name} (not a new solve); "
            f"every strategy is judged by the plan's threshold, {thr.rule}."
        )
    else:
        intro = note(
            f"The hvplan row is a plan solved now with the default options, "
            f"judged like the native balancers by {thr.rule}."
        )
    extra = ""
    if plan is not None and plan.drained:
        extra = note(
            "The plan drains "
            + ", ".join(cluster.host_names[h] for h in plan.drained)
            + "; the native balancers' simulations do not drain (they only "
            "rebalance), so their rows are not a drain."
        )
    chart = png_img(compare_chart(rows, thr), "Memory moved and highest load after, per strategy")
    return (
        intro
        + (f"<ul>{sentences}</ul>" if sentences else "")
        + chart
        + body
        + extra
        + note(
            "Every strategy starts from the current placement; the native balancers are "
            "deterministic simulations (which VMs they pick is not published, so each choice is a "
            "named variant)."
        )
    )


# ----------------------------------------------------------------------------- N+1
def _after_cluster(cluster: Cluster, plan: PlanData) -> Cluster:
    """The cluster as the plan leaves it: VMs on their targets, drained nodes Paused (they
    receive nothing, so no VM restarts on them after a failure)."""
    state = cluster.host_state.copy()
    for h in plan.drained:
        if state[h] == HostState.UP:
            state[h] = HostState.PAUSED
    return cluster.replace(
        vm_host=np.asarray(plan.placement, dtype=cluster.vm_host.dtype), host_state=state
    )


def _failure_rows(mod: Any, cluster: Cluster) -> dict[str, dict[str, Any]]:
    opts = mod.FailureOptions(failures=1, fault_domains=False, exact_time_limit_s=5.0)
    return {
        str(r["failed_hosts"]): r
        for r in (o.to_row() for o in mod.analyze_failures(cluster, opts).outcomes)
    }


def _worst(r: dict[str, Any] | None) -> float:
    if r is None:
        return 0.0
    return max(float(r["max_cpu_pct_after"]), float(r["max_memory_pct_after"]))


def _not_restarted(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    return f"{r['not_restarted_high']} / {r['not_restarted_medium']} / {r['not_restarted_low']}"


def capacity_section(cluster: Cluster, plan: PlanData | None) -> str:
    """Every single-node failure, with the current placement and (with a plan) after it."""
    mod = optional("planner.capacity")
    if mod is None:
        return note("Not available: this hvplan has no planner.capacity module.")
    now = _failure_rows(mod, cluster)
    after = _failure_rows(mod, _after_cluster(cluster, plan)) if plan is not None else None
    labels = list(now) + [k for k in (after or {}) if k not in now]
    if not labels:
        return note("No node can fail (every node is already Down).")

    def ok(r: dict[str, Any] | None) -> str:
        return "-" if r is None else "yes" if r["survivable"] else "NO"

    n_ok = sum(bool(r["survivable"]) for r in now.values())
    body = note(
        f"Now (current placement): {n_ok} of {len(now)} single-node failures are "
        "survivable: every VM that should restart finds room on the remaining nodes."
    )
    if after is not None:
        a_ok = sum(bool(r["survivable"]) for r in after.values())
        body += note(
            f"After the plan: {a_ok} of {len(after)} are survivable (drained nodes "
            "receive nothing and are not failed)."
        )
    fig = failover_chart(
        labels,
        [_worst(now.get(k)) for k in labels],
        None if after is None else [_worst(after.get(k)) for k in labels],
    )
    body += png_img(
        fig,
        "Highest load after each single-node failure"
        + (", now and after the plan" if after is not None else ""),
    )
    if after is None:
        rows = [
            [
                k,
                r["vms_to_restart"],
                _not_restarted(r),
                cell(float(r["max_cpu_pct_after"])),
                cell(float(r["max_memory_pct_after"])),
                ok(r),
            ]
            for k, r in now.items()
        ]
        body += table(
            [
                "failed node",
                "VMs to restart",
                "not restarted (High / Medium / Low)",
                "highest CPU % after",
                "highest memory % after",
                "survivable",
            ],
            rows,
            ["" if r["survivable"] else "bad" for r in now.values()],
        )
        return body
    rows, cls = [], []
    for k in labels:
        a, b = now.get(k), after.get(k)
        rows.append(
            [
                k,
                _not_restarted(a),
                _not_restarted(b),
                "-" if a is None else cell(_worst(a)),
                "-" if b is None else cell(_worst(b)),
                ok(a),
                ok(b),
            ]
        )
        cls.append("bad" if b is not None and not b["survivable"] else "")
    body += table(
        [
            "failed node",
            "not restarted now (H / M / L)",
            "not restarted after the plan (H / M / L)",
            "highest load % now",
            "highest load % after the plan",
            "survivable now",
            "survivable after the plan",
        ],
        rows,
        cls,
    )
    return body


# ----------------------------------------------------------------------------- replay
_REPLAY_COLUMNS = (
    ("name", "strategy"),
    ("migrations", "migrations"),
    ("memory_moved_mb", "memory moved MB"),
    ("node_samples_over_threshold", "node-samples over the threshold"),
    ("node_samples_over_capacity", "node-samples over 100 %"),
    ("max_cpu_pct", "highest CPU %"),
    ("max_memory_pct", "highest memory %"),
)


def replay_section(cluster: Cluster, opts: ReportOptions, plan: PlanData | None) -> str:
    """The load history replayed (:mod:`planner.replay`): the current placement, the plan
    (when given) applied at the start, and the native balancers acting over the window."""
    mod = optional("planner.replay")
    chart_mod = optional("planner.replaychart")
    if mod is None or chart_mod is None:
        return note("Not available: this hvplan has no planner.replay module.")
    result = mod.replay(
        cluster,
        plan_placement=None if plan is None else np.asarray(plan.placement, dtype=np.int64),
        options=mod.ReplayOptions(
            level=opts.level,
            threshold_pct=opts.threshold_pct,
            high_mode=opts.high_mode,
            period_hours=0.0,
        ),
    )
    doc = result.to_dict()
    w = doc["window"]
    step = w.get("step_seconds")
    every = (
        f"{step // 60} min" if isinstance(step, int) and step % 60 == 0 and step else f"{step} s"
    )
    body = note(
        f"The snapshot's load history, {w.get('samples')} samples every "
        f"{every} from {w.get('start')} to {w.get('end')}, replayed "
        f"for each strategy and judged by {result.threshold.rule}. "
        + (
            "The hvplan row is the plan applied at the start and left in place. "
            if plan is not None
            else "Without --plan there is no hvplan row. "
        )
        + "hvplan replay also re-plans every day (--period)."
    )
    body += png_img(
        chart_mod.replay_figure(result),
        "Highest node load of each strategy over the window, with its migrations",
    )
    rows = [[cell(s.get(k)) for k, _ in _REPLAY_COLUMNS] for s in doc["strategies"]]
    body += table(
        [h for _, h in _REPLAY_COLUMNS],
        rows,
        ["good" if s.get("name") == "hvplan" else "" for s in doc["strategies"]],
    )
    for n in doc.get("notes") or []:
        body += note(str(n))
    return body


__all__ = [
    "ReportOptions",
    "capacity_section",
    "compare_section",
    "optional",
    "replay_section",
    "verification",
]
