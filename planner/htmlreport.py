"""One self-contained HTML page about a cluster and, optionally, a plan for it.

The page has no external assets: charts are PNG images drawn with matplotlib's Agg backend
and embedded as base64 ``data:`` URIs, styles are inline.  Every name that comes from the
user's files is escaped (``html.escape`` for the page, ``$`` escaped for matplotlib, whose
labels would otherwise read ``$...$`` as mathematics).  The same inputs give the same bytes:
no timestamps, no random identifiers.

Sections: summary, per-node CPU and memory before / after with the threshold, the moves and
waves as a timeline, rule status now and after, compatibility islands, and, when the modules
that compute them are installed, the comparison with the native balancers
(:mod:`planner.compare`) and the N+1 failover summary (:mod:`planner.capacity`).
"""

from __future__ import annotations

import base64
import csv
import html
import importlib
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from planner import __version__
from planner.checks import Violation, placement_violations
from planner.cluster import Cluster, HostState
from planner.diagnostics import Problem, Report
from planner.loadmodel import HighMode, Level, Threshold, host_loads
from planner.status import cluster_status

#: Name of the page written into the output directory.
REPORT_FILE = "report.html"
#: Moves drawn in the timeline and listed in the table; the rest are counted, not shown.
MAX_MOVES_SHOWN = 400
#: Rows of other long tables (violations, islands).
MAX_ROWS_SHOWN = 200

_MIGRATION_COLORS = {"Live": "#2b6cb0", "Quick": "#dd8a1d", "Shutdown": "#c53030"}
_BEFORE_COLOR = "#a0aec0"
_AFTER_COLOR = "#2b6cb0"


# ----------------------------------------------------------------------------- plan input
@dataclass(frozen=True)
class PlanMove:
    """One row of ``plan.csv`` (SPEC §5) with VM and hosts as indices."""

    step: int
    wave: int
    vm: int
    source: int
    target: int
    migration_type: str
    memory_mb: int
    est_seconds: float
    reason: str
    temporary: bool = False


@dataclass(frozen=True)
class PlanData:
    """What the report shows of a plan directory."""

    directory: Path
    moves: tuple[PlanMove, ...]
    placement: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)
    drained: tuple[int, ...] = ()


_MIGRATION_TYPES = {"live": "Live", "quick": "Quick", "shutdown": "Shutdown"}


def _read_csv(path: Path, report: Report) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header (case-folded) and ``(spreadsheet row, record)`` pairs; problems go to ``report``."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        report.error(path.name, f"not valid UTF-8 text ({e.reason} at byte {e.start})")
        return [], []
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        report.error(path.name, f"not a readable CSV file: {e}")
        return [], []
    if not rows:
        report.error(path.name, "file is empty; expected a header row")
        return [], []
    header = [h.strip().casefold() for h in rows[0]]
    records = []
    for i, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        records.append((i, {k: (r[j].strip() if j < len(r) else "")
                            for j, k in enumerate(header)}))
    return header, records


def read_plan(cluster: Cluster, directory: str | Path) -> tuple[PlanData | None, Report]:
    """Read ``plan.csv``, ``placement.csv`` and ``summary.json`` of a plan directory.

    Returns ``(plan, report)``; ``plan`` is ``None`` when the report has errors (a name that
    is not in the snapshot, a bad number, a missing column, ...).  Either ``plan.csv`` or
    ``placement.csv`` must exist; without ``placement.csv`` the final placement is the
    current one with the moves of ``plan.csv`` applied in step order.
    """
    d = Path(directory)
    report = Report()
    if not d.is_dir():
        report.error(str(d), "plan directory does not exist or is not a directory")
        return None, report
    plan_csv, placement_csv, summary_json = d / "plan.csv", d / "placement.csv", d / "summary.json"
    if not plan_csv.is_file() and not placement_csv.is_file():
        report.error(str(d), "neither plan.csv nor placement.csv is in the plan directory")
        return None, report
    moves: list[PlanMove] = []
    if plan_csv.is_file():
        moves = _read_moves(cluster, plan_csv, report)
    placement = cluster.vm_host.astype(np.int64).copy()
    if placement_csv.is_file():
        _read_placement(cluster, placement_csv, placement, report)
    else:
        for m in sorted(moves, key=lambda m: m.step):
            placement[m.vm] = m.target
    summary: dict[str, Any] = {}
    if summary_json.is_file():
        try:
            loaded = json.loads(summary_json.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            report.error(summary_json.name, f"not valid JSON: {e}")
        else:
            if isinstance(loaded, dict):
                summary = loaded
            else:
                report.error(summary_json.name, "expected a JSON object")
    drained: list[int] = []
    names = summary.get("drained") or []
    for name in names if isinstance(names, list) else [names]:
        h = _lookup({n.casefold(): i for i, n in enumerate(cluster.host_names)}, str(name))
        if h is None:
            report.error(summary_json.name, "drains a host that is not in the snapshot",
                         column="drained", value=name)
        elif h not in drained:
            drained.append(h)
    if not report.valid:
        return None, report
    return PlanData(d, tuple(moves), placement, summary, tuple(drained)), report


def _lookup(index: dict[str, int], name: str) -> int | None:
    return index.get(name.casefold())


def _read_moves(cluster: Cluster, path: Path, report: Report) -> list[PlanMove]:
    header, records = _read_csv(path, report)
    if not header:
        return []
    needed = ("step", "vm", "source", "target", "migration_type")
    missing = [c for c in needed if c not in header]
    for c in missing:
        report.error(path.name, "required column is missing", column=c)
    if missing:
        return []
    vm_idx = {n.casefold(): i for i, n in enumerate(cluster.vm_names)}
    host_idx = {n.casefold(): i for i, n in enumerate(cluster.host_names)}
    moves: list[PlanMove] = []
    for row, rec in records:
        ok = True

        def number(col: str, default: float | None, integer: bool, row: int = row,
                    rec: dict[str, str] = rec) -> float:
            nonlocal ok
            s = rec.get(col, "")
            if s == "" and default is not None:
                return default
            try:
                v = float(s)
                if not math.isfinite(v) or v < 0 or (integer and v != int(v)):
                    raise ValueError
            except ValueError:
                kind = "a whole number >= 0" if integer else "a number >= 0"
                report.error(path.name, f"expected {kind}", row=row, column=col, value=s)
                ok = False
                return 0.0
            return v

        step = int(number("step", None, True))
        wave = int(number("wave", float(step), True))
        mem = int(number("memory_mb", 0.0, True))
        est = number("est_seconds", 0.0, False)
        vm = _lookup(vm_idx, rec["vm"])
        if vm is None:
            report.error(path.name, "VM is not in the snapshot (was the plan made from "
                         "another snapshot?)", row=row, column="vm", value=rec["vm"])
            ok = False
        ends = []
        for col in ("source", "target"):
            h = _lookup(host_idx, rec[col])
            if h is None:
                report.error(path.name, "host is not in the snapshot", row=row, column=col,
                             value=rec[col])
                ok = False
            ends.append(h)
        mtype = _MIGRATION_TYPES.get(rec["migration_type"].casefold())
        if mtype is None:
            report.error(path.name, "expected Live, Quick or Shutdown", row=row,
                         column="migration_type", value=rec["migration_type"])
            ok = False
        temporary = rec.get("temporary", "").casefold() in ("true", "1", "yes")
        if ok and vm is not None and ends[0] is not None and ends[1] is not None \
                and mtype is not None:
            moves.append(PlanMove(step, wave, vm, ends[0], ends[1], mtype, mem, est,
                                  rec.get("reason", ""), temporary))
    return moves


def _read_placement(cluster: Cluster, path: Path, placement: np.ndarray,
                    report: Report) -> None:
    header, records = _read_csv(path, report)
    if not header:
        return
    for c in ("vm", "host"):
        if c not in header:
            report.error(path.name, "required column is missing", column=c)
    if "vm" not in header or "host" not in header:
        return
    vm_idx = {n.casefold(): i for i, n in enumerate(cluster.vm_names)}
    host_idx = {n.casefold(): i for i, n in enumerate(cluster.host_names)}
    for row, rec in records:
        vm = _lookup(vm_idx, rec["vm"])
        h = _lookup(host_idx, rec["host"])
        if vm is None:
            report.error(path.name, "VM is not in the snapshot (was the plan made from "
                         "another snapshot?)", row=row, column="vm", value=rec["vm"])
        if h is None:
            report.error(path.name, "host is not in the snapshot", row=row, column="host",
                         value=rec["host"])
        if vm is not None and h is not None:
            placement[vm] = h


# ----------------------------------------------------------------------------- charts
def _label(s: str) -> str:
    """A name as matplotlib text: ``$`` would start mathematics."""
    return s.replace("\\", "\\\\").replace("$", r"\$")


def _png(fig: Figure, alt: str) -> str:
    """The figure as an ``<img>`` with a base64 PNG (no metadata, so the bytes repeat)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="chart" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def load_chart(cluster: Cluster, before: tuple[np.ndarray, np.ndarray],
               after: tuple[np.ndarray, np.ndarray] | None, threshold: Threshold) -> Figure:
    """Per-node CPU % and memory % bars, now and (when given) after the plan."""
    n = cluster.n_hosts
    width = min(18.0, max(7.0, 0.28 * n + 3))
    fig = Figure(figsize=(width, 6.4), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    x = np.arange(n)
    bw = 0.4 if after is not None else 0.7
    for ax, k, title, thr in ((axes[0], 0, "CPU %", threshold.cpu_pct),
                              (axes[1], 1, "Memory %", threshold.memory_pct)):
        if after is None:
            ax.bar(x, before[k], bw, color=_AFTER_COLOR, label="now")
        else:
            ax.bar(x - bw / 2, before[k], bw, color=_BEFORE_COLOR, label="before")
            ax.bar(x + bw / 2, after[k], bw, color=_AFTER_COLOR, label="after")
        ax.axhline(thr, color="#c53030", linestyle="--", linewidth=1.2,
                   label=f"threshold {thr:.1f} %")
        ax.axhline(100.0, color="#1a202c", linewidth=0.8)
        top = max(105.0, float(np.max(before[k])) + 5,
                  float(np.max(after[k])) + 5 if after is not None else 0.0)
        ax.set_ylim(0, top)
        ax.set_ylabel(title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, ncols=4,
                  frameon=False)
    axes[1].set_xticks(x)
    axes[1].set_xticklabels([_label(h) for h in cluster.host_names],
                            rotation=90 if n > 12 else 0, fontsize=8 if n > 24 else 9)
    return fig


def wave_starts(moves: Sequence[PlanMove]) -> dict[int, float]:
    """Start time (s) of each wave: the waves run one after another and a wave lasts as long
    as its longest move."""
    longest: dict[int, float] = {}
    for m in moves:
        longest[m.wave] = max(longest.get(m.wave, 0.0), m.est_seconds)
    t, out = 0.0, {}
    for w in sorted(longest):
        out[w] = t
        t += longest[w]
    return out


def timeline_chart(cluster: Cluster, moves: Sequence[PlanMove]) -> Figure:
    """The moves as bars on a time axis, one row per move, grouped by wave."""
    shown = sorted(moves, key=lambda m: (m.wave, m.step))[:MAX_MOVES_SHOWN]
    starts = wave_starts(shown)
    timed = any(m.est_seconds > 0 for m in shown)
    rows = len(shown)
    fig = Figure(figsize=(11, min(14.0, max(2.4, 0.22 * rows + 1.4))), layout="constrained")
    ax = fig.subplots()
    wave_rank = {w: float(i) for i, w in enumerate(sorted(starts))}
    if timed:
        lefts = [starts[m.wave] for m in shown]
        lengths = [max(m.est_seconds, 0.5) for m in shown]
    else:  # no durations: one unit per wave
        lefts = [wave_rank[m.wave] for m in shown]
        lengths = [0.9] * rows
    # One call for every bar: per-bar calls dominate the time on plans of hundreds of moves.
    bars = ax.barh(np.arange(rows), lengths, left=lefts, height=0.7,
                   color=[_MIGRATION_COLORS.get(m.migration_type, "#718096") for m in shown])
    for bar, m in zip(bars, shown, strict=True):
        if m.temporary:  # a hop through a third node that breaks a deadlock
            bar.set_hatch("///")
            bar.set_edgecolor("white")
    if rows <= 40:
        ax.set_yticks(range(rows))
        ax.set_yticklabels([_label(f"{cluster.vm_names[m.vm]}: {cluster.host_names[m.source]}"
                                   f" \u2192 {cluster.host_names[m.target]}") for m in shown],
                           fontsize=8)
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{rows} moves")
    ax.invert_yaxis()
    for w, t in starts.items():
        pos = t if timed else wave_rank[w]
        ax.axvline(pos, color="#718096", linewidth=0.6, alpha=0.6)
        if len(starts) <= 30:
            ax.annotate(f"wave {w}", xy=(pos, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(2, 2), textcoords="offset points", fontsize=7,
                        color="#4a5568")
    ax.set_xlabel("estimated seconds from the start (without the pauses between waves)"
                  if timed else "wave")
    present = sorted({m.migration_type for m in shown})
    handles = [Patch(color=_MIGRATION_COLORS.get(t, "#718096"), label=t) for t in present]
    if any(m.temporary for m in shown):
        handles.append(Patch(facecolor="#718096", hatch="///", edgecolor="white",
                             label="temporary hop"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


# ----------------------------------------------------------------------------- HTML helpers
def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]],
           classes: Sequence[str] | None = None) -> str:
    """An HTML table; every cell is escaped.  ``classes`` gives an optional row class."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{_e(classes[i])}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{_e(anchor)}"><h2>{_e(title)}</h2>{body}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1a202c;
background:#f7fafc}
header{background:#1a365d;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;opacity:.85}
nav{padding:8px 28px;background:#e2e8f0;font-size:14px}
nav a{margin-right:14px;color:#1a365d}
main{padding:8px 28px 40px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:12px 18px;
margin:16px 0}
h2{font-size:19px;margin:4px 0 10px;color:#1a365d}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #cbd5e0;border-radius:6px;padding:8px 14px;min-width:140px;
background:#f7fafc}
.card b{display:block;font-size:20px}
.card span{font-size:12px;color:#4a5568}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #e2e8f0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#edf2f7}
tr.bad td{background:#fff5f5}
tr.good td{background:#f0fff4}
img.chart{max-width:100%;height:auto;display:block;margin:6px 0}
.note{color:#4a5568;font-size:13px}
li{font-size:14px}
footer{color:#718096;font-size:12px;padding:0 28px 20px}
"""


# ----------------------------------------------------------------------------- the page
@dataclass(frozen=True)
class HtmlReport:
    """A built page and the notes about sections that could not be filled."""

    html: str
    notes: tuple[str, ...]


def _fmt_pct(x: float) -> str:
    return f"{x:.1f}"


def _cards(items: Sequence[tuple[str, object]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for k, v in items
    ) + "</div>"


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
        return Threshold(cpu, mem, default.level, f"the plan's threshold (CPU {cpu:.1f} %, "
                         f"memory {mem:.1f} %)")
    return default


def _violation_rows(vs: Sequence[Violation]) -> list[list[object]]:
    return [[v.kind, "hard" if v.hard else "soft", v.message] for v in vs[:MAX_ROWS_SHOWN]]


def _rules_section(cluster: Cluster, placement_after: np.ndarray | None,
                   drained: Sequence[int] = ()) -> str:
    now = placement_violations(cluster)
    after = (placement_violations(cluster, placement_after, drained)
             if placement_after is not None else None)
    broken_now = {v.rule for v in now if v.rule}
    broken_after = {v.rule for v in after if v.rule} if after is not None else set()
    rows, classes = [], []
    for r in cluster.rules:
        status_now = "broken" if r.name in broken_now else "kept"
        row: list[object] = [r.name, r.type_name, "yes" if r.enabled else "no (reported only)",
                             len(r.members), status_now]
        bad = r.name in broken_now
        if after is not None:
            row.append("broken" if r.name in broken_after else "kept")
            bad = r.name in broken_after
        rows.append(row)
        classes.append("bad" if bad and r.enabled else "")
    headers = ["rule", "type", "enabled", "members", "now"] + (
        ["after the plan"] if after is not None else [])
    parts = []
    if rows:
        parts.append(_table(headers, rows, classes))
    else:
        parts.append(_note("The snapshot has no affinity rules (affinity_rules.csv)."))
    aa = len(cluster.aa_class_names)
    if aa:
        mode = "hard (enforced)" if cluster.settings.enforced_anti_affinity else "soft"
        parts.append(_note(f"{aa} legacy anti-affinity class(es), {mode}."))
    parts.append("<h3>Rules and limits broken now</h3>")
    parts.append(_table(["kind", "", "message"], _violation_rows(now)) if now
                 else _note("None."))
    if after is not None:
        parts.append("<h3>Rules and limits broken after the plan</h3>")
        parts.append(_table(["kind", "", "message"], _violation_rows(after)) if after
                     else _note("None: the final placement keeps every rule and limit."))
    return "".join(parts)


def _optional(module: str) -> Any | None:
    """Import an optional part of hvplan; ``None`` when it is not there."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


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

    ``compare`` and ``capacity`` add the sections computed by :mod:`planner.compare` and
    :mod:`planner.capacity`; they are skipped, with a note, when those modules are absent or
    fail.  ``warnings`` (the loader's warnings about the snapshot) get a section of their own.
    """
    notes: list[str] = []
    st = cluster_status(cluster, level, threshold_pct, high_mode)
    thr = st.threshold
    before = (st.cpu_pct, st.memory_pct)
    after: tuple[np.ndarray, np.ndarray] | None = None
    thr_after = _plan_threshold(plan, thr)
    over_after = None
    if plan is not None:
        la = host_loads(cluster, plan.placement)
        after = (la.cpu_pct, la.memory_pct)
        over_after = la.over(thr_after) & (cluster.host_state != HostState.DOWN)
    sections: list[tuple[str, str, str]] = []

    # Summary
    cards: list[tuple[str, object]] = [
        ("hosts", cluster.n_hosts), ("VMs", cluster.n_vms),
        ("running VMs", int(cluster.vm_consumes.sum())),
        ("threshold CPU / memory", f"{thr.cpu_pct:.0f} % / {thr.memory_pct:.0f} %"),
        ("hosts over the threshold now", int(st.over.sum())),
        ("highest CPU / memory now",
         f"{float(st.cpu_pct.max()):.1f} % / {float(st.memory_pct.max()):.1f} %"),
    ]
    if plan is not None and after is not None and over_after is not None:
        moved_mb = sum(m.memory_mb for m in plan.moves)
        waves = len({m.wave for m in plan.moves})
        est = plan.summary.get("estimated_seconds")
        if not isinstance(est, int | float):
            starts = wave_starts(plan.moves)
            est = (max(starts[m.wave] + m.est_seconds for m in plan.moves)
                   if plan.moves else 0.0)
        cards += [
            ("moves", len(plan.moves)), ("waves", waves),
            ("memory moved", f"{moved_mb / 1024:.1f} GiB"),
            ("downtime moves", sum(m.migration_type == "Shutdown" for m in plan.moves)),
            ("estimated duration", f"{float(est) / 60:.1f} min"),
            ("hosts over the threshold after", int(over_after.sum())),
            ("highest CPU / memory after",
             f"{float(after[0].max()):.1f} % / {float(after[1].max()):.1f} %"),
        ]
        status = plan.summary.get("status")
        if status is not None:
            gap = plan.summary.get("gap")
            cards.append(("solver status", f"{status}" + (
                f" (gap {float(gap):.2%})" if isinstance(gap, int | float) and gap else "")))
    summary_body = _cards(cards) + _note(f"Threshold: {thr.rule}.")
    if plan is not None:
        summary_body += _note(f"Plan: {plan.directory.name}; the 'after' bars use "
                              f"{thr_after.rule}.")
    sections.append(("summary", "Summary", summary_body))

    # Loads
    fig = load_chart(cluster, before, after, thr_after if plan is not None else thr)
    host_rows, host_cls = [], []
    for h in range(cluster.n_hosts):
        state = HostState(cluster.host_state[h]).name.title()
        if plan is not None and h in plan.drained:
            state += " (drained)"
        row: list[object] = [cluster.host_names[h], state,
                             cluster.fault_domains[cluster.host_fault_domain[h]],
                             cluster.host_cpu_model[h] or "(vendor baseline)",
                             int(cluster.host_lp[h]), int(cluster.host_memory_mb[h]),
                             _fmt_pct(before[0][h]), _fmt_pct(before[1][h])]
        bad = bool(st.over[h])
        if after is not None and over_after is not None:
            row += [_fmt_pct(after[0][h]), _fmt_pct(after[1][h])]
            bad = bool(over_after[h])
        host_rows.append(row)
        host_cls.append("bad" if bad else "")
    headers = ["host", "state", "fault domain", "CPU model", "logical processors", "memory MB",
               "CPU % now", "memory % now"]
    if after is not None:
        headers += ["CPU % after", "memory % after"]
    sections.append(("loads", "Per-node CPU and memory",
                     _png(fig, "CPU and memory per node, before and after, with the threshold")
                     + _table(headers, host_rows, host_cls)))

    # Moves and waves
    if plan is not None:
        if plan.moves:
            shown = sorted(plan.moves, key=lambda m: (m.wave, m.step))[:MAX_MOVES_SHOWN]
            body = _png(timeline_chart(cluster, plan.moves), "The moves as a timeline, by wave")
            body += _table(
                ["step", "wave", "VM", "from", "to", "type", "memory MB", "est. s", "reason"],
                [[m.step, m.wave, cluster.vm_names[m.vm], cluster.host_names[m.source],
                  cluster.host_names[m.target], m.migration_type, m.memory_mb,
                  f"{m.est_seconds:.0f}",
                  m.reason + (" (temporary hop)" if m.temporary else "")] for m in shown])
            if len(plan.moves) > len(shown):
                body += _note(f"{len(plan.moves) - len(shown)} more moves are in plan.csv.")
        else:
            body = _note("The plan has no moves: the cluster already meets its goals.")
        sections.append(("moves", "Moves and waves", body))

    # Rules
    sections.append(("rules", "Rule status", _rules_section(
        cluster, plan.placement if plan is not None else None,
        plan.drained if plan is not None else ())))

    # Compatibility islands
    if st.islands:
        body = _note(f"{len(st.islands)} VM(s) cannot reach any other node without downtime.")
        body += _table(["VM", "host", "reason"],
                       [[i["vm"], i["host"], i["reason"]] for i in st.islands[:MAX_ROWS_SHOWN]])
        if len(st.islands) > MAX_ROWS_SHOWN:
            body += _note(f"... and {len(st.islands) - MAX_ROWS_SHOWN} more.")
    else:
        body = _note("Every VM can reach at least one other node without downtime.")
    sections.append(("islands", "Compatibility islands", body))

    if warnings:
        body = _table(["file", "row", "column", "value", "message"],
                      [[p.file, "" if p.row is None else p.row, p.column or "",
                        "" if p.value is None else p.value, p.message]
                       for p in warnings[:MAX_ROWS_SHOWN]])
        if len(warnings) > MAX_ROWS_SHOWN:
            body += _note(f"... and {len(warnings) - MAX_ROWS_SHOWN} more.")
        sections.append(("warnings", "Snapshot warnings", body))
    if compare:
        sections.append(("compare", "hvplan against the native balancers",
                         _guarded("compare", notes, lambda: _compare_section(
                             cluster, level, threshold_pct, high_mode))))
    if capacity:
        sections.append(("capacity", "N+1 failover summary",
                         _guarded("capacity", notes, lambda: _capacity_section(cluster))))

    nav = "".join(f'<a href="#{_e(a)}">{_e(t)}</a>' for a, t, _ in sections)
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>hvplan report: {_e(cluster.name)}</title>"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>Cluster {_e(cluster.name)}</h1>"
        f"<p>{cluster.n_hosts} nodes, {cluster.n_vms} VMs"
        + (f" &middot; plan {_e(plan.directory.name)}" if plan is not None else "")
        + f"</p></header><nav>{nav}</nav><main>"
        + "".join(_section(a, t, b) for a, t, b in sections)
        + f"</main><footer>hvplan {_e(__version__)}</footer></body></html>\n"
    )
    return HtmlReport(page, tuple(notes))


def _guarded(name: str, notes: list[str], make: Callable[[], str]) -> str:
    """Run an optional section; a failure becomes a note on the page and in ``notes``."""
    try:
        return make()
    except Exception as e:  # noqa: BLE001 - an optional section must not sink the report
        msg = f"the {name} section could not be computed: {type(e).__name__}: {e}"
        notes.append(msg)
        return _note(msg[0].upper() + msg[1:])


def _compare_section(cluster: Cluster, level: Level | str | None,
                     threshold_pct: float | None, high_mode: HighMode | str) -> str:
    mod = _optional("planner.compare")
    if mod is None:
        return _note("Not available: this hvplan has no planner.compare module.")
    result = mod.compare(cluster, mod.CompareOptions(level=level, threshold_pct=threshold_pct,
                                                     high_mode=high_mode))
    rows = result.to_dict()["strategies"]
    sentences = "".join(f"<li>{_e(line)}</li>" for line in mod.summary_lines(result))
    cols = ["name", "moves", "memory_moved_mb", "downtime_moves",
            "hosts_over_threshold_after", "max_cpu_pct_after", "max_memory_pct_after",
            "rule_violations_after", "anti_affinity_pairs_after"]
    table_rows = []
    for r in rows:
        table_rows.append([_cell(r.get(c)) for c in cols])
    body = _table(["strategy", "moves", "memory moved MB", "downtime moves",
                   "hosts over after", "max CPU % after", "max memory % after",
                   "rule violations after", "anti-affinity pairs after"], table_rows,
                  ["good" if r.get("name") == "hvplan" else "" for r in rows])
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    names = [_label(str(r.get("name"))) for r in rows]
    y = np.arange(len(rows))
    ax1.barh(y, [float(r.get("memory_moved_mb") or 0) / 1024 for r in rows], color=_AFTER_COLOR)
    ax1.set_yticks(y)
    ax1.set_yticklabels(names, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("memory moved (GiB)")
    ax2.barh(y, [float(r.get("max_cpu_pct_after") or 0) for r in rows], color=_BEFORE_COLOR,
             label="max CPU %")
    ax2.barh(y, [float(r.get("max_memory_pct_after") or 0) for r in rows], height=0.35,
             color="#2c7a7b", label="max memory %")
    ax2.set_yticks(y)
    ax2.set_yticklabels([])
    ax2.invert_yaxis()
    ax2.set_xlabel("highest load after (%)")
    ax2.legend(fontsize=8, loc="lower right")
    chart = _png(fig, "Memory moved and highest load after, per strategy")
    return (f"<ul>{sentences}</ul>" if sentences else "") + chart + body + _note(
        "Every strategy starts from the current placement; the native balancers are "
        "deterministic simulations (which VMs they pick is not published, so each choice is a "
        "named variant).")


def _capacity_section(cluster: Cluster) -> str:
    mod = _optional("planner.capacity")
    if mod is None:
        return _note("Not available: this hvplan has no planner.capacity module.")
    opts = mod.FailureOptions(failures=1, fault_domains=False, exact_time_limit_s=5.0)
    rows = [o.to_row() for o in mod.analyze_failures(cluster, opts).outcomes]
    if not rows:
        return _note("No node can fail (every node is already Down).")
    survivable = sum(bool(r["survivable"]) for r in rows)
    body = _note(f"{survivable} of {len(rows)} single-node failures are survivable: every "
                 "VM that should restart finds room on the remaining nodes.")
    fig = Figure(figsize=(min(18.0, max(7.0, 0.28 * len(rows) + 3)), 3.2),
                 layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [float(r["max_cpu_pct_after"]) for r in rows], 0.4, color=_BEFORE_COLOR,
           label="highest CPU % after")
    ax.bar(x + 0.2, [float(r["max_memory_pct_after"]) for r in rows], 0.4,
           color=_AFTER_COLOR, label="highest memory % after")
    ax.axhline(100.0, color="#c53030", linewidth=1.0)
    ax.set_xticks(x)
    ax.set_xticklabels([_label(str(r["failed_hosts"])) for r in rows],
                       rotation=90 if len(rows) > 12 else 0, fontsize=8)
    ax.set_xlabel("failed node")
    ax.set_ylabel("%")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, ncols=2,
              frameon=False)
    body += _png(fig, "Highest CPU and memory after each single-node failure")
    body += _table(["failed node", "VMs to restart", "not restarted (High / Medium / Low)",
                    "highest CPU % after", "highest memory % after", "survivable",
                    "settled by"],
                   [[r["failed_hosts"], r["vms_to_restart"],
                     f"{r['not_restarted_high']} / {r['not_restarted_medium']} / "
                     f"{r['not_restarted_low']}",
                     _cell(float(r["max_cpu_pct_after"])),
                     _cell(float(r["max_memory_pct_after"])),
                     "yes" if r["survivable"] else "NO", r["settled_by"]] for r in rows],
                   ["" if r["survivable"] else "bad" for r in rows])
    return body


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.1f}"
    if isinstance(v, list | tuple):
        return "; ".join(str(x) for x in v)
    return str(v)


def write_report(page: HtmlReport, directory: str | Path) -> Path:
    """Write the page as ``report.html`` in ``directory`` (created when missing)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / REPORT_FILE
    path.write_text(page.html, encoding="utf-8")
    return path
