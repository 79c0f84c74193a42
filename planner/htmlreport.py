"""One self-contained HTML page about a cluster and, optionally, a plan for it.

The page has no external assets: charts are PNG images drawn with matplotlib's Agg backend
and embedded as base64 ``data:`` URIs, styles are inline.  Every name that comes from the
user's files is escaped (:mod:`planner.htmlparts` for the page, :func:`planner.charts.
chart_text` for the charts).  The same inputs give the same bytes: the dates shown are the
snapshot's ``collected_utc`` and the plan's ``created_utc``, never the clock.

A report about a plan is about that plan everywhere: the threshold, the comparison with the
native balancers (the plan itself is the ``hvplan`` row, the natives run at the plan's level)
and the N+1 summary (before and after the plan) use the options recorded in the plan's
``summary.json``; a plan that ``hvplan verify`` rejects is announced at the top of the page.

Sections: summary (with the plan's parameters), per-node CPU and memory before / after with
the threshold, the moves and waves as a timeline, rule status now and after, compatibility
islands, snapshot warnings, the comparison (:mod:`planner.compare`) and the N+1 failover
summary (:mod:`planner.capacity`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner import __version__
from planner.checks import Violation, placement_violations
from planner.cluster import Cluster, HostState
from planner.diagnostics import Problem
from planner.htmlparts import CSS, alert, cards, esc, note, section, table
from planner.loadmodel import HighMode, Level, Threshold, host_loads, resolve_threshold
from planner.reportcharts import (
    MAX_MOVES_SHOWN,
    load_chart,
    png_img,
    timeline_chart,
    wave_starts,
)
from planner.reportplan import (
    DOWNTIME_TYPES,
    PlanData,
    PlanMove,
    PlanSettings,
    plan_settings,
    read_plan,
)
from planner.reportsections import (
    MAX_VIOLATIONS_SHOWN,
    ReportOptions,
    capacity_section,
    compare_section,
    replay_section,
    verification,
)
from planner.status import StatusReport, cluster_status
from planner.violation import RuleTable

#: Name of the page written into the output directory.
REPORT_FILE = "report.html"
#: Rows of other long tables (violations, islands).
MAX_ROWS_SHOWN = 200


@dataclass(frozen=True)
class HtmlReport:
    """A built page and the notes about sections that could not be filled."""

    html: str
    notes: tuple[str, ...]


def _fmt_pct(x: float) -> str:
    return f"{x:.1f}"


def _plan_threshold(plan: PlanData | None, default: Threshold) -> Threshold:
    """The threshold the plan was made for (``summary.json``), else ``default``."""
    if plan is None:
        return default
    t = plan.summary.get("threshold_pct")
    if isinstance(t, dict):
        try:
            cpu, mem = float(t["cpu"]), float(t["memory"])
        except (KeyError, TypeError, ValueError):
            return default
        rule = plan.summary.get("threshold_rule")
        return Threshold(
            cpu,
            mem,
            default.level,
            str(rule) if rule else (f"the plan's threshold (CPU {cpu:.1f} %, memory {mem:.1f} %)"),
        )
    return default


def report_options(
    cluster: Cluster,
    plan: PlanData | None,
    level: Level | str | None,
    threshold_pct: float | None,
    high_mode: HighMode | str,
    notes: list[str],
) -> ReportOptions:
    """The options the page is judged by: the plan's (from ``summary.json``) when it records
    them, else the ones given.  A given ``level``/``threshold_pct`` that a plan overrides is
    named in ``notes``."""
    given = ReportOptions(level, threshold_pct, high_mode)
    if plan is None:
        return given
    s = plan_settings(plan.summary)
    if s.threshold_pct is not None:
        opts = ReportOptions(None, s.threshold_pct, s.high_mode)
    elif s.level is not None:
        opts = ReportOptions(s.level, None, s.high_mode)
    else:
        # An older summary with only the resolved numbers: keep them when they are one value.
        t = _plan_threshold(plan, resolve_threshold(cluster, level, threshold_pct, high_mode))
        own = resolve_threshold(cluster, level, threshold_pct, high_mode)
        same = abs(t.cpu_pct - own.cpu_pct) < 1e-6 and abs(t.memory_pct - own.memory_pct) < 1e-6
        opts = (
            given
            if same or t.cpu_pct != t.memory_pct
            else ReportOptions(None, t.cpu_pct, high_mode)
        )
    if (level is not None or threshold_pct is not None) and (level, threshold_pct) != (
        opts.level,
        opts.threshold_pct,
    ):
        notes.append(
            "the report follows the plan's own threshold; the --level / --threshold "
            "given were not used"
        )
    return opts


def _header(cluster: Cluster, plan: PlanData | None, settings: PlanSettings | None) -> str:
    collected = getattr(cluster.settings, "collected_utc", None) or (
        settings.collected_utc if settings is not None else None
    )
    facts = [
        f"{cluster.n_hosts} nodes, {cluster.n_vms} VMs",
        f"snapshot collected {collected}"
        if collected
        else "snapshot collection time not recorded (no collected_utc in cluster.csv)",
    ]
    if plan is not None:
        facts.append(
            f"plan {plan.directory.name}"
            + (
                f", created {settings.created_utc}"
                if settings and settings.created_utc
                else ", creation time not recorded"
            )
        )
    return (
        f"<header><h1>Cluster {esc(cluster.name)}</h1><p>"
        + " &middot; ".join(esc(f) for f in facts)
        + "</p></header>"
    )


def _summary(
    cluster: Cluster,
    plan: PlanData | None,
    st: StatusReport,
    after: tuple[np.ndarray, np.ndarray] | None,
    over_after: np.ndarray | None,
    settings: PlanSettings | None,
) -> str:
    """Key figures, the threshold, and the plan's parameters."""
    cpu_now, mem_now, over_now, thr = st.cpu_pct, st.memory_pct, st.over, st.threshold
    items: list[tuple[str, object]] = [
        ("hosts", cluster.n_hosts),
        ("VMs", cluster.n_vms),
        ("running VMs", int(cluster.vm_consumes.sum())),
        ("threshold CPU / memory", f"{thr.cpu_pct:.0f} % / {thr.memory_pct:.0f} %"),
        ("hosts over the threshold now", int(over_now.sum())),
        (
            "highest CPU / memory now",
            f"{float(cpu_now.max()):.1f} % / {float(mem_now.max()):.1f} %",
        ),
    ]
    if plan is not None and after is not None and over_after is not None:
        moved_mb = sum(m.memory_mb for m in plan.moves)
        est = plan.summary.get("estimated_seconds")
        if not isinstance(est, int | float):
            starts = wave_starts(plan.moves)
            est = max(starts[m.wave] + m.est_seconds for m in plan.moves) if plan.moves else 0.0
        items += [
            ("moves", len(plan.moves)),
            ("waves", len({m.wave for m in plan.moves})),
            ("memory moved", f"{moved_mb / 1024:.1f} GiB"),
            ("downtime moves", sum(m.migration_type in DOWNTIME_TYPES for m in plan.moves)),
            ("estimated duration", f"{float(est) / 60:.1f} min"),
            ("hosts over the threshold after", int(over_after.sum())),
            (
                "highest CPU / memory after",
                f"{float(after[0].max()):.1f} % / {float(after[1].max()):.1f} %",
            ),
        ]
        status = plan.summary.get("status")
        if status is not None:
            gap = plan.summary.get("gap")
            items.append(
                (
                    "solver status",
                    f"{status}"
                    + (f" (gap {float(gap):.2%})" if isinstance(gap, int | float) and gap else ""),
                )
            )
    body = cards(items) + note(f"Threshold: {thr.rule}.")
    if plan is not None and settings is not None:
        body += note(
            f"Plan: {plan.directory.name}; 'now' and 'after' are both judged by the "
            f"plan's threshold, {thr.rule}."
        )
        body += "<h3>The plan's parameters</h3>" + (
            table(["option", "value"], [list(p) for p in settings.shown])
            if settings.shown
            else note("summary.json records no parameters: hvplan's defaults are assumed.")
        )
    return body


def _loads(
    cluster: Cluster,
    plan: PlanData | None,
    st: StatusReport,
    after: tuple[np.ndarray, np.ndarray] | None,
    over_after: np.ndarray | None,
) -> str:
    before = (st.cpu_pct, st.memory_pct)
    fig = load_chart(cluster, before, after, st.threshold)
    host_rows, host_cls = [], []
    for h in range(cluster.n_hosts):
        state = HostState(cluster.host_state[h]).name.title()
        if plan is not None and h in plan.drained:
            state += " (drained)"
        row: list[object] = [
            cluster.host_names[h],
            state,
            cluster.fault_domains[cluster.host_fault_domain[h]],
            cluster.host_cpu_model[h] or "(vendor baseline)",
            int(cluster.host_lp[h]),
            int(cluster.host_memory_mb[h]),
            _fmt_pct(before[0][h]),
            _fmt_pct(before[1][h]),
        ]
        bad = bool(st.over[h])
        if after is not None and over_after is not None:
            row += [_fmt_pct(after[0][h]), _fmt_pct(after[1][h])]
            bad = bool(over_after[h])
        host_rows.append(row)
        host_cls.append("bad" if bad else "")
    headers = [
        "host",
        "state",
        "fault domain",
        "CPU model",
        "logical processors",
        "memory MB",
        "CPU % now",
        "memory % now",
    ]
    if after is not None:
        headers += ["CPU % after", "memory % after"]
    return png_img(fig, "CPU and memory per node, before and after, with the threshold") + table(
        headers, host_rows, host_cls
    )


def _moves(cluster: Cluster, plan: PlanData) -> str:
    if not plan.moves:
        return note("The plan has no moves: the cluster already meets its goals.")
    shown = sorted(plan.moves, key=lambda m: (m.wave, m.step))[:MAX_MOVES_SHOWN]
    body = png_img(timeline_chart(cluster, plan.moves), "The moves as a timeline, by wave")
    body += table(
        ["step", "wave", "VM", "from", "to", "type", "memory MB", "est. s", "reason"],
        [
            [
                m.step,
                m.wave,
                cluster.vm_names[m.vm],
                cluster.host_names[m.source],
                cluster.host_names[m.target],
                m.migration_type,
                m.memory_mb,
                f"{m.est_seconds:.0f}",
                m.reason + (" (temporary hop)" if m.temporary else ""),
            ]
            for m in shown
        ],
    )
    if len(plan.moves) > len(shown):
        body += note(f"{len(plan.moves) - len(shown)} more moves are in plan.csv.")
    return body


def _violation_rows(vs: Sequence[Violation]) -> list[list[object]]:
    return [[v.kind, "hard" if v.hard else "soft", v.message] for v in vs[:MAX_ROWS_SHOWN]]


def _rules_of(vs: Sequence[Violation]) -> set[int]:
    """Indices of the affinity rules ``vs`` name."""
    return {v.rule.index for v in vs if v.rule is not None and v.rule.table is RuleTable.AFFINITY}


def _rules_section(
    cluster: Cluster, placement_after: np.ndarray | None, drained: Sequence[int] = ()
) -> str:
    now = placement_violations(cluster)
    after = (
        placement_violations(cluster, placement_after, drained)
        if placement_after is not None
        else None
    )
    broken_now = _rules_of(now)
    broken_after = _rules_of(after) if after is not None else set()
    rows, classes = [], []
    for i, r in enumerate(cluster.rules):
        row: list[object] = [
            r.name,
            r.type_name,
            "yes" if r.enabled else "no (reported only)",
            len(r.members),
            "broken" if i in broken_now else "kept",
        ]
        bad = i in broken_now
        if after is not None:
            row.append("broken" if i in broken_after else "kept")
            bad = i in broken_after
        rows.append(row)
        classes.append("bad" if bad and r.enabled else "")
    headers = ["rule", "type", "enabled", "members", "now"] + (
        ["after the plan"] if after is not None else []
    )
    parts = [
        table(headers, rows, classes)
        if rows
        else note("The snapshot has no affinity rules (affinity_rules.csv).")
    ]
    aa = len(cluster.aa_class_names)
    if aa:
        mode = "hard (enforced)" if cluster.settings.enforced_anti_affinity else "soft"
        parts.append(note(f"{aa} legacy anti-affinity class(es), {mode}."))
    parts.append("<h3>Rules and limits broken now</h3>")
    parts.append(table(["kind", "", "message"], _violation_rows(now)) if now else note("None."))
    if after is not None:
        parts.append("<h3>Rules and limits broken after the plan</h3>")
        parts.append(
            table(["kind", "", "message"], _violation_rows(after))
            if after
            else note("None: the final placement keeps every rule and limit.")
        )
    return "".join(parts)


def _islands(st: StatusReport) -> str:
    islands = st.islands
    if not islands:
        return note("Every VM can reach at least one other node without downtime.")
    body = note(f"{len(islands)} VM(s) cannot reach any other node without downtime.")
    body += table(
        ["VM", "host", "reason"],
        [[i["vm"], i["host"], i["reason"]] for i in islands[:MAX_ROWS_SHOWN]],
    )
    if len(islands) > MAX_ROWS_SHOWN:
        body += note(f"... and {len(islands) - MAX_ROWS_SHOWN} more.")
    return body


def _warnings(warnings: Sequence[Problem]) -> str:
    body = table(
        ["file", "row", "column", "value", "message"],
        [
            [
                p.file,
                "" if p.row is None else p.row,
                p.column or "",
                "" if p.value is None else p.value,
                p.message,
            ]
            for p in warnings[:MAX_ROWS_SHOWN]
        ],
    )
    if len(warnings) > MAX_ROWS_SHOWN:
        body += note(f"... and {len(warnings) - MAX_ROWS_SHOWN} more.")
    return body


def _verify_box(cluster: Cluster, plan: PlanData, notes: list[str]) -> str:
    """The red box at the top for a plan that ``hvplan verify`` rejects."""
    try:
        outcome = verification(cluster, plan)
    except Exception as e:  # noqa: BLE001 - a verifier crash is itself a reason for alarm
        outcome = (False, [f"the verifier could not run: {type(e).__name__}: {e}"])
    if outcome is None:
        notes.append("this hvplan has no verifier: the plan shown is not checked")
        return ""
    ok, messages = outcome
    if ok:
        return ""
    notes.append(f"hvplan verify rejects this plan ({len(messages)} problem(s))")
    shown = messages[:MAX_VIOLATIONS_SHOWN]
    if len(messages) > len(shown):
        shown.append(f"... and {len(messages) - len(shown)} more (hvplan verify lists them all)")
    return alert(
        f"hvplan verify REJECTS this plan ({len(messages)} problem(s)): do not run "
        f"it. The figures below describe files that are not a valid plan for this "
        f"snapshot.",
        shown,
    )


def build_report(
    cluster: Cluster,
    plan: PlanData | None = None,
    *,
    level: Level | str | None = None,
    threshold_pct: float | None = None,
    high_mode: HighMode | str = HighMode.AVERAGE,
    compare: bool = True,
    capacity: bool = True,
    warnings: Sequence[Problem] = (),
) -> HtmlReport:
    """Build the report page for ``cluster`` (and ``plan`` when given).

    With a plan, every section is judged by the plan's own options (``summary.json``): the
    given ``level``/``threshold_pct``/``high_mode`` apply only without a plan, or when the
    plan records none.  ``compare`` and ``capacity`` add the sections computed by
    :mod:`planner.compare` and :mod:`planner.capacity`; they are skipped, with a note, when
    those modules are absent or fail.  ``warnings`` (the loader's warnings about the
    snapshot) get a section of their own.
    """
    notes: list[str] = []
    opts = report_options(cluster, plan, level, threshold_pct, high_mode, notes)
    settings = plan_settings(plan.summary) if plan is not None else None
    st = cluster_status(cluster, opts.level, opts.threshold_pct, opts.high_mode)
    thr = _plan_threshold(plan, st.threshold)
    after: tuple[np.ndarray, np.ndarray] | None = None
    over_after = None
    if plan is not None:
        la = host_loads(cluster, plan.placement)
        after = (la.cpu_pct, la.memory_pct)
        over_after = la.over(thr) & (cluster.host_state != HostState.DOWN)
        # 'now' is judged by the plan's threshold too, so that before / after compare.
        over_now = ((st.cpu_pct > thr.cpu_pct + 1e-9) | (st.memory_pct > thr.memory_pct + 1e-9)) & (
            cluster.host_state != HostState.DOWN
        )
        st = dataclasses.replace(st, threshold=thr, over=over_now)
    box = _verify_box(cluster, plan, notes) if plan is not None else ""
    sections: list[tuple[str, str, str]] = [
        ("summary", "Summary", _summary(cluster, plan, st, after, over_after, settings)),
        ("loads", "Per-node CPU and memory", _loads(cluster, plan, st, after, over_after)),
    ]
    if plan is not None:
        sections.append(("moves", "Moves and waves", _moves(cluster, plan)))
    sections.append(
        (
            "rules",
            "Rule status",
            _rules_section(
                cluster,
                plan.placement if plan is not None else None,
                plan.drained if plan is not None else (),
            ),
        )
    )
    sections.append(("islands", "Compatibility islands", _islands(st)))
    if warnings:
        sections.append(("warnings", "Snapshot warnings", _warnings(warnings)))
    if compare:
        sections.append(
            (
                "compare",
                "hvplan against the native balancers",
                _guarded("compare", notes, lambda: compare_section(cluster, opts, plan, thr)),
            )
        )
    if compare and getattr(cluster, "history", None) is not None:
        sections.append(
            (
                "replay",
                "The load history replayed",
                _guarded("replay", notes, lambda: replay_section(cluster, opts, plan)),
            )
        )
    if capacity:
        title = "N+1 failover summary" + (": now and after the plan" if plan else "")
        sections.append(
            (
                "capacity",
                title,
                _guarded("capacity", notes, lambda: capacity_section(cluster, plan)),
            )
        )
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>hvplan report: {esc(cluster.name)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body>"
        + _header(cluster, plan, settings)
        + f"<nav>{nav}</nav><main>"
        + box
        + "".join(section(a, t, b) for a, t, b in sections)
        + f"</main><footer>hvplan {esc(__version__)}</footer></body></html>\n"
    )
    return HtmlReport(page, tuple(notes))


def _guarded(name: str, notes: list[str], make: Callable[[], str]) -> str:
    """Run an optional section; a failure becomes a note on the page and in ``notes``."""
    try:
        return make()
    except Exception as e:  # noqa: BLE001 - an optional section must not sink the report
        msg = f"the {name} section could not be computed: {type(e).__name__}: {e}"
        notes.append(msg)
        return note(msg[0].upper() + msg[1:])


def write_report(page: HtmlReport, directory: str | Path) -> Path:
    """Write the page as ``report.html`` in ``directory`` (created when missing)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / REPORT_FILE
    path.write_text(page.html, encoding="utf-8")
    return path


__all__ = [
    "REPORT_FILE",
    "HtmlReport",
    "PlanData",
    "PlanMove",
    "build_report",
    "read_plan",
    "report_options",
    "wave_starts",
    "write_report",
]
