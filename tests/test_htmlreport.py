"""``hvplan report``: plan input, the self-contained page, escaping, determinism, rendering."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.cluster import Cluster, MoveKind
from planner.htmlreport import (
    PlanMove,
    build_report,
    read_plan,
    wave_starts,
    write_report,
)
from planner.loadmodel import Threshold
from planner.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[1]
SMALL4 = ROOT / "data" / "examples" / "small4"

# Three moves off the hot node HV01 of small4, in two waves.
PLAN_CSV = """step,wave,vm,source,target,migration_type,memory_mb,est_seconds,reason
1,1,APP01,HV01,HV03,Live,16384,20,HV01 above the CPU threshold
2,1,APP04,HV01,HV04,Live,12288,15,HV01 above the CPU threshold
3,2,SQL02,HV01,HV02,Live,65536,70,anti-affinity class SQL
"""


def write_plan(d: Path, plan_csv: str = PLAN_CSV, placement: bool = True) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "plan.csv").write_text(plan_csv, encoding="utf-8")
    if placement:
        cluster = load_snapshot(SMALL4)
        final = {
            n: cluster.host_names[h] for n, h in zip(cluster.vm_names, cluster.vm_host, strict=True)
        }
        final.update({"APP01": "HV03", "APP04": "HV04", "SQL02": "HV02"})
        (d / "placement.csv").write_text(
            "vm,host\n" + "".join(f"{v},{h}\n" for v, h in final.items()), encoding="utf-8"
        )
    (d / "summary.json").write_text(
        '{"status": "OPTIMAL", "gap": 0.0, "threshold_pct": {"cpu": 80, "memory": 80}}',
        encoding="utf-8",
    )
    return d


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


# ----------------------------------------------------------------------------- plan input
def test_read_plan_maps_names_case_insensitively(tmp_path: Path) -> None:
    cluster = load_snapshot(SMALL4)
    plan, report = read_plan(
        cluster, write_plan(tmp_path / "p", PLAN_CSV.lower().replace("step,wave", "step,wave"))
    )
    assert report.valid, report.to_dict()
    assert plan is not None
    assert [cluster.vm_names[m.vm] for m in plan.moves] == ["APP01", "APP04", "SQL02"]
    assert plan.moves[2].migration_type == "Live" and plan.moves[2].wave == 2
    assert cluster.host_names[int(plan.placement[cluster.vm_index["sql02"]])] == "HV02"
    assert plan.summary["status"] == "OPTIMAL"


def test_read_plan_without_placement_applies_the_moves(tmp_path: Path) -> None:
    cluster = load_snapshot(SMALL4)
    plan, report = read_plan(cluster, write_plan(tmp_path / "p", placement=False))
    assert plan is not None and report.valid
    expected = cluster.vm_host.copy()
    for vm, host in (("app01", "hv03"), ("app04", "hv04"), ("sql02", "hv02")):
        expected[cluster.vm_index[vm]] = cluster.host_index[host]
    assert np.array_equal(plan.placement, expected)


def test_read_plan_reports_every_bad_cell(tmp_path: Path) -> None:
    cluster = load_snapshot(SMALL4)
    bad = PLAN_CSV.replace("1,1,APP01,HV01,HV03,Live", "1,1,NOPE,HV01,HV09,Teleport").replace(
        "15,HV01", "-3,HV01"
    )
    plan, report = read_plan(cluster, write_plan(tmp_path / "p", bad, placement=False))
    assert plan is None
    got = {(p.file, p.row, p.column, p.value) for p in report.errors}
    assert got == {
        ("plan.csv", 2, "vm", "NOPE"),
        ("plan.csv", 2, "target", "HV09"),
        ("plan.csv", 2, "migration_type", "Teleport"),
        ("plan.csv", 3, "est_seconds", "-3"),
    }


def test_read_plan_missing_directory_and_files(tmp_path: Path) -> None:
    cluster = load_snapshot(SMALL4)
    plan, report = read_plan(cluster, tmp_path / "absent")
    assert plan is None and "does not exist" in report.errors[0].message
    (tmp_path / "empty").mkdir()
    plan, report = read_plan(cluster, tmp_path / "empty")
    assert plan is None and "neither plan.csv nor placement.csv" in report.errors[0].message


def test_wave_starts_run_waves_back_to_back() -> None:
    # Wave 1 lasts as long as its longest move (20 s), so wave 2 starts at 20 and wave 5
    # (the next one present) at 20 + 70 = 90.
    moves = [
        PlanMove(1, 1, 0, 0, 1, MoveKind.LIVE, 1, 20.0, ""),
        PlanMove(2, 1, 1, 0, 1, MoveKind.LIVE, 1, 15.0, ""),
        PlanMove(3, 2, 2, 0, 1, MoveKind.LIVE, 1, 70.0, ""),
        PlanMove(4, 5, 3, 0, 1, MoveKind.QUICK, 1, 5.0, ""),
    ]
    assert wave_starts(moves) == {1: 0.0, 2: 20.0, 5: 90.0}


# ----------------------------------------------------------------------------- the page
def test_report_with_plan_shows_before_and_after(tmp_path: Path) -> None:
    cluster = load_snapshot(SMALL4)
    plan, _ = read_plan(cluster, write_plan(tmp_path / "p"))
    page = build_report(cluster, plan, compare=False, capacity=False)
    html = page.html
    for anchor in ("summary", "loads", "moves", "rules", "islands"):
        assert f'id="{anchor}"' in html
    assert "CPU % after" in html and "memory % after" in html
    # HV01 after (SQL01, APP02, WEB01 stay): 3 % base + 100 * (8 * 0.95 + 4 * 0.75 + 2 * 0.5)
    # / 32 = 39.25 % CPU, shown to one decimal (39.25 is exact in binary: half-even -> 39.2).
    hv01 = re.search(r"<tr[^>]*><td>HV01</td>(.*?)</tr>", html)
    assert hv01 is not None and "<td>85.5</td>" in hv01.group(1)
    assert "<td>39.2</td>" in hv01.group(1)
    assert "<td>APP01</td><td>HV01</td><td>HV03</td><td>Live</td>" in html
    # Moving SQL02 away resolves the soft anti-affinity pair that status reports now.
    after = html[html.index("broken after the plan") :]
    assert "anti-affinity class" not in after
    pngs = images(html)
    assert len(pngs) == 2 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)


def test_report_is_self_contained_and_deterministic(tmp_path: Path) -> None:
    cluster = load_snapshot(SMALL4)
    plan, _ = read_plan(cluster, write_plan(tmp_path / "p"))
    a = build_report(cluster, plan, compare=False, capacity=False).html
    b = build_report(cluster, plan, compare=False, capacity=False).html
    assert a == b
    assert not re.search(r'(src|href)="(?!data:|#)', a)
    assert "<link" not in a and "@import" not in a and "url(" not in a


def test_names_from_the_files_are_escaped(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(SMALL4, snap)
    hostile_vm = '<script>alert("x")</script>'
    hostile_host = "HV$1$ & <img src=x>"
    for f in ("vms.csv", "affinity_rules.csv", "hosts.csv"):
        text = (snap / f).read_text(encoding="utf-8")
        text = text.replace("APP01", '"' + hostile_vm.replace('"', '""') + '"')
        text = text.replace("HV03", hostile_host)
        (snap / f).write_text(text, encoding="utf-8")
    cluster = load_snapshot(snap)
    plan_csv = PLAN_CSV.replace("APP01", '"' + hostile_vm.replace('"', '""') + '"').replace(
        "HV03", hostile_host
    )
    plan, report = read_plan(cluster, write_plan(tmp_path / "p", plan_csv, placement=False))
    assert plan is not None, report.to_dict()
    html = build_report(cluster, plan, compare=False, capacity=False).html
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "HV$1$ &amp; &lt;img src=x&gt;" in html


def test_optional_section_failure_becomes_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import planner.reportsections as rs

    def broken(module: str) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(rs, "optional", broken)
    page = build_report(load_snapshot(SMALL4), None, compare=True, capacity=True)
    assert len(page.notes) == 2 and all("boom" in n for n in page.notes)
    assert page.html.count("could not be computed") == 2


# ----------------------------------------------------------------------------- the command
def test_cli_report_writes_the_page(tmp_path: Path) -> None:
    runner = CliRunner()
    plan_dir = write_plan(tmp_path / "p")
    r = runner.invoke(
        app,
        [
            "report",
            str(SMALL4),
            "--plan",
            str(plan_dir),
            "--out",
            str(tmp_path / "out"),
            "--no-compare",
            "--no-capacity",
        ],
    )
    assert r.exit_code == 0, r.output
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Moves and waves" in page


def test_cli_report_bad_plan_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    plan_dir = write_plan(tmp_path / "p", PLAN_CSV.replace("APP04", "GHOST"))
    r = runner.invoke(
        app,
        [
            "report",
            str(SMALL4),
            "--plan",
            str(plan_dir),
            "--out",
            str(tmp_path / "out"),
            "--no-compare",
            "--no-capacity",
        ],
    )
    assert r.exit_code == 1
    assert "GHOST" in r.output and "plan.csv" in r.output
    assert not (tmp_path / "out").exists()
    r = runner.invoke(app, ["report", str(tmp_path / "nosnap"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "Traceback" not in r.output


# ----------------------------------------------------------------------------- rendering
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on this machine")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    from matplotlib.image import imread

    cluster = load_snapshot(SMALL4)
    plan, _ = read_plan(cluster, write_plan(tmp_path / "p"))
    path = write_report(
        build_report(cluster, plan, compare=False, capacity=False), tmp_path / "out"
    )
    shot = tmp_path / "shot.png"
    chromium = _chromium()
    assert chromium is not None
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            path.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    pixels = imread(str(shot))[..., :3]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    # Not blank: many distinct colours (text, bars, header) and real contrast.
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50
    assert float(pixels.std()) > 0.05
    # The dark header band and the chart's blue bars are both on screen.
    assert (np.abs(pixels - np.array([0x1A, 0x36, 0x5D]) / 255).sum(axis=2) < 0.05).any()
    assert (np.abs(pixels - np.array([0x2B, 0x6C, 0xB0]) / 255).sum(axis=2) < 0.05).any()


def test_capacity_section_lists_each_single_node_failure() -> None:
    pytest.importorskip("planner.capacity")
    cluster = load_snapshot(SMALL4)
    page = build_report(cluster, None, compare=False, capacity=True)
    assert page.notes == ()
    section = page.html[page.html.index('id="capacity"') :]
    assert "of 4 single-node failures are survivable" in section
    for h in cluster.host_names:
        assert f"<td>{h}</td>" in section


def test_compare_section_has_one_row_per_strategy() -> None:
    compare = pytest.importorskip("planner.compare")
    cluster = load_snapshot(SMALL4)
    page = build_report(cluster, None, compare=True, capacity=False)
    assert page.notes == ()
    section = page.html[page.html.index('id="compare"') :]
    names = [r.name for r in compare.compare(cluster).rows]
    assert names[0] == "hvplan" and len(names) > 1
    for n in names:
        assert f"<td>{n}</td>" in section
    assert '<tr class="good"><td>hvplan</td>' in section


def test_report_reads_the_plan_that_hvplan_plan_writes(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["plan", str(SMALL4), "--out", str(tmp_path / "plan")])
    if r.exit_code == 2 and "No such command" in r.output:
        pytest.skip("hvplan plan is not available")
    assert r.exit_code == 0, r.output
    cluster = load_snapshot(SMALL4)
    plan, report = read_plan(cluster, tmp_path / "plan")
    assert plan is not None, report.to_dict()
    rows = (tmp_path / "plan" / "plan.csv").read_text(encoding="utf-8").strip().splitlines()
    assert len(plan.moves) == len(rows) - 1 >= 1
    page = build_report(cluster, plan, compare=False, capacity=False).html
    for m in plan.moves:
        assert f"<td>{cluster.vm_names[m.vm]}</td>" in page
    # Every node is at or under the plan's threshold after it, as hvplan plan promised.
    assert "hosts over the threshold after</span>" in page
    assert re.search(r"<b>0</b><span>hosts over the threshold after</span>", page)


def test_drained_hosts_from_the_summary(tmp_path: Path) -> None:
    cluster = load_snapshot(SMALL4)
    d = write_plan(tmp_path / "p")
    # The plan leaves DC01, FILE01 and WEB02 on HV02: with HV02 drained they break the drain.
    (d / "summary.json").write_text('{"drained": ["hv02"]}', encoding="utf-8")
    plan, report = read_plan(cluster, d)
    assert plan is not None and plan.drained == (cluster.host_index["hv02"],)
    html = build_report(cluster, plan, compare=False, capacity=False).html
    assert "<td>Up (drained)</td>" in html
    after = html[html.index("broken after the plan") :]
    for vm in ("DC01", "FILE01", "WEB02"):
        assert f"VM {vm} is on HV02, which is drained" in after
    (d / "summary.json").write_text('{"drained": ["HV77"]}', encoding="utf-8")
    plan, report = read_plan(cluster, d)
    assert plan is None
    assert [(p.file, p.column, p.value) for p in report.errors] == [
        ("summary.json", "drained", "HV77")
    ]


def test_snapshot_warnings_and_temporary_hops_are_shown(tmp_path: Path) -> None:
    # A hop of SQL02 through HV03 before it lands on HV02 (the `temporary` column of plan.csv).
    plan_csv = PLAN_CSV.replace("reason\n", "reason,temporary\n").replace(
        "3,2,SQL02,HV01,HV02,Live,65536,70,anti-affinity class SQL\n",
        "3,2,SQL02,HV01,HV03,Live,65536,70,breaks a deadlock,True\n"
        "4,3,SQL02,HV03,HV02,Live,65536,70,anti-affinity class SQL,False\n",
    )
    plan_dir = write_plan(tmp_path / "p", plan_csv, placement=False)
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "report",
            str(SMALL4),
            "--plan",
            str(plan_dir),
            "--out",
            str(tmp_path / "out"),
            "--no-compare",
            "--no-capacity",
        ],
    )
    assert r.exit_code == 0, r.output
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    warnings = page[page.index('id="warnings"') :]
    assert "rule is disabled" in warnings and "<td>affinity_rules.csv</td>" in warnings
    assert page.count("(temporary hop)") == 1
    assert "<td>breaks a deadlock (temporary hop)</td>" in page


# ----------------------------------------------------------------------------- a plan's report
def _plan_with_cli(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "plan"
    r = CliRunner().invoke(app, ["plan", str(SMALL4), "--out", str(out), *args])
    assert r.exit_code == 0, r.output
    return out


def _section_rows(page: str, anchor: str) -> list[list[str]]:
    """The table rows (cell texts) of one section, read with an HTML parser."""
    start = page.index(f'id="{anchor}"')
    end = page.find("<section", start)
    p = _Cells()
    p.feed(page[start : end if end > 0 else len(page)])
    return p.rows


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_report_about_a_plan_compares_that_plan_at_its_level(tmp_path: Path) -> None:
    pytest.importorskip("planner.compare")
    from planner.compare import CompareOptions, compare

    # small4 balances at Low (its cluster.csv): 1 move.  At High (the Up nodes' average + 5
    # points) the plan needs 5 moves; the report, given no --level, must show those 5.
    plan_dir = _plan_with_cli(tmp_path, "--level", "high")
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    cluster = load_snapshot(SMALL4)
    plan, _ = read_plan(cluster, plan_dir)
    assert plan is not None
    page = build_report(cluster, plan, compare=True, capacity=False).html
    rows = {r[0]: r for r in _section_rows(page, "compare") if r}
    moved = int((plan.placement != cluster.vm_host).sum())
    assert int(rows["hvplan"][1]) == moved == summary["moves"] == 5
    assert int(rows["hvplan"][2]) == summary["memory_moved_mb"]
    # The native rows are those of a comparison at the plan's level, not at the default.
    at_high = compare(cluster, CompareOptions(level="high", include_optimizer=False))
    for r in at_high.rows:
        assert int(rows[r.name][1]) == r.moves and int(rows[r.name][2]) == r.memory_moved_mb
    assert "not a new solve" in page and html.escape(summary["threshold_rule"]) in page
    # The summary shows the plan's parameters and the plan's threshold, with no note.
    assert "The plan's parameters" in page
    assert re.search(r"<td>level</td><td>high</td>", page)


def test_given_level_that_a_plan_overrides_is_named(tmp_path: Path) -> None:
    plan_dir = _plan_with_cli(tmp_path, "--level", "high")
    cluster = load_snapshot(SMALL4)
    plan, _ = read_plan(cluster, plan_dir)
    page = build_report(cluster, plan, level="low", compare=False, capacity=False)
    assert any("plan's own threshold" in n for n in page.notes)
    assert "High (average reading)" in page.html


def test_report_announces_a_plan_that_verify_rejects(tmp_path: Path) -> None:
    plan_dir = _plan_with_cli(tmp_path)
    cluster = load_snapshot(SMALL4)
    plan, _ = read_plan(cluster, plan_dir)
    good = build_report(cluster, plan, compare=False, capacity=False)
    assert 'role="alert"' not in good.html and good.notes == ()
    # Tamper with placement.csv: one VM the plan does not move now ends elsewhere.
    text = (plan_dir / "placement.csv").read_text(encoding="utf-8")
    (plan_dir / "placement.csv").write_text(
        text.replace("DC01,HV02", "DC01,HV03"), encoding="utf-8"
    )
    plan, _ = read_plan(cluster, plan_dir)
    bad = build_report(cluster, plan, compare=False, capacity=False)
    main = bad.html[bad.html.index("<main>") :]
    assert main.index('role="alert"') < main.index('id="summary"')
    assert "hvplan verify REJECTS this plan" in bad.html and "DC01" in main
    assert any("verify rejects" in n for n in bad.notes)


def test_report_dates_come_from_the_files_not_the_clock(tmp_path: Path) -> None:
    cluster = load_snapshot(SMALL4)
    d = write_plan(tmp_path / "p")
    (d / "summary.json").write_text(
        json.dumps(
            {
                "status": "OPTIMAL",
                "threshold_pct": {"cpu": 80, "memory": 80},
                "created_utc": "2026-11-30T08:15:00Z",
                "collected_utc": "2026-11-30T08:00:00Z",
                "parameters": {"level": "low", "minimise": "memory", "seed": 0},
            }
        ),
        encoding="utf-8",
    )
    plan, _ = read_plan(cluster, d)
    a = build_report(cluster, plan, compare=False, capacity=False).html
    header = a[a.index("<header>") : a.index("</header>")]
    assert "created 2026-11-30T08:15:00Z" in header
    assert "collected 2026-11-30T08:00:00Z" in header
    assert re.search(r"<td>minimise</td><td>memory</td>", a)
    assert a == build_report(cluster, plan, compare=False, capacity=False).html
    plain = build_report(cluster, None, compare=False, capacity=False).html
    assert "collection time not recorded" in plain


def test_n_plus_1_before_and_after_the_plan(tmp_path: Path) -> None:
    capacity = pytest.importorskip("planner.capacity")
    plan_dir = _plan_with_cli(tmp_path, "--level", "high")
    cluster = load_snapshot(SMALL4)
    plan, _ = read_plan(cluster, plan_dir)
    assert plan is not None
    page = build_report(cluster, plan, compare=False, capacity=True).html
    assert "N+1 failover summary: now and after the plan" in page
    rows = [r for r in _section_rows(page, "capacity") if r]
    assert [r[0] for r in rows] == list(cluster.host_names)
    opts = capacity.FailureOptions(failures=1, fault_domains=False, exact_time_limit_s=5.0)
    after = cluster.replace(vm_host=plan.placement)
    for r, o_now, o_after in zip(
        rows,
        capacity.analyze_failures(cluster, opts).outcomes,
        capacity.analyze_failures(after, opts).outcomes,
        strict=True,
    ):
        now_row, after_row = o_now.to_row(), o_after.to_row()
        worst_now = max(float(now_row["max_cpu_pct_after"]), float(now_row["max_memory_pct_after"]))
        worst_after = max(
            float(after_row["max_cpu_pct_after"]), float(after_row["max_memory_pct_after"])
        )
        assert r[3] == f"{worst_now:.1f}" and r[4] == f"{worst_after:.1f}"
        assert r[5] == ("yes" if now_row["survivable"] else "NO")
        assert r[6] == ("yes" if after_row["survivable"] else "NO")


# ----------------------------------------------------------------------------- charts
def test_wave_labels_are_thinned_so_they_never_overlap() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Annotation

    from planner.reportcharts import thin_labels, timeline_chart

    assert thin_labels([0, 1, 2, 10, 10.5, 30], 5) == [0, 3, 5]
    cluster = load_snapshot(SMALL4)
    # 30 waves: one long first wave, then 29 short ones crowded at the end.
    moves = [PlanMove(1, 1, 0, 0, 1, MoveKind.LIVE, 1, 600.0, "")] + [
        PlanMove(w, w, w % cluster.n_vms, 0, 1, MoveKind.LIVE, 1, 4.0, "") for w in range(2, 31)
    ]
    fig = timeline_chart(cluster, moves)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    labels = [a for a in fig.findobj(Annotation) if a.get_text().startswith("wave ")]
    assert 2 <= len(labels) < 30 and labels[0].get_text() == "wave 1"
    boxes = sorted((a.get_window_extent(canvas.get_renderer()) for a in labels), key=lambda b: b.x0)
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:], strict=False))


def test_load_chart_labels_hosts_on_both_panels_and_the_100_pct_line() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from planner.reportcharts import load_chart

    cluster = load_snapshot(SMALL4)
    st = (np.full(4, 50.0), np.full(4, 40.0))
    fig = load_chart(cluster, st, st, Threshold(80.0, 80.0, "low", "Low: 80 %"))
    FigureCanvasAgg(fig).draw()
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == list(cluster.host_names)
        assert any(t.get_text() == "100 % (capacity)" for t in ax.texts)
        legend = ax.get_legend()
        assert legend is not None
        # The legend sits above the plotting area: it covers no bar.
        assert legend.get_window_extent().y0 >= ax.get_window_extent().y1 - 1


# ----------------------------------------------------------------------------- hostile names
HOSTILE_HOSTS = ("HV$\\x$01", "$^_{}$ \\frac", '=HYPERLINK("x")', "<blink>H4</blink>\x1b[2J")
HOSTILE_VMS = (
    "$\\frac{a}{b}$",
    "vm\x1b]0;t\x07",
    "a_b^c{d}\\",
    "<script>alert(1)</script>",
    "'quoted' & \"dq\"",
    "tab\there\nnl",
    "@SUM(1)",
    "x\u202ey$",
    "+1",
    "-2",
    "SQL@@WAVES@@",
    "`$(whoami)`",
    "\\",
    "$",
    "$$",
    "{}",
)


def hostile_cluster() -> Cluster:
    c = load_snapshot(SMALL4)
    vms = tuple(HOSTILE_VMS[i] if i < len(HOSTILE_VMS) else n for i, n in enumerate(c.vm_names))
    return c.replace(host_names=HOSTILE_HOSTS, vm_names=vms)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_hostile_names_through_the_report(tmp_path: Path) -> None:
    from planner.reportplan import PlanData
    from planner.textsafe import term_safe

    cluster = hostile_cluster()
    moves = (
        PlanMove(1, 1, 0, 0, 3, MoveKind.LIVE, int(cluster.vm_memory_mb[0]), 30.0, "HV$1$ <x>"),
        PlanMove(2, 2, 1, 0, 2, MoveKind.LIVE, int(cluster.vm_memory_mb[1]), 20.0, "$\\x$"),
    )
    placement = cluster.vm_host.astype(np.int64).copy()
    placement[0], placement[1] = 3, 2
    plan = PlanData(
        tmp_path / "p$\\x$",
        moves,
        placement,
        {
            "status": "FEASIBLE",
            "threshold_pct": {"cpu": 80, "memory": 80},
            "parameters": {"level": "low", "note": "<i>$x$</i>"},
        },
    )
    page = build_report(cluster, plan, compare=True, capacity=True)
    assert page.notes == () or all("verif" in n for n in page.notes), page.notes
    p = _Page()
    p.feed(page.html)
    p.close()
    tags = {t for t, _ in p.tags}
    assert not tags & {"script", "blink", "i", "x"}
    assert all(
        a.get("src", "").startswith("data:image/png;base64,") for t, a in p.tags if t == "img"
    )
    text = "".join(p.text)
    for name in HOSTILE_HOSTS + HOSTILE_VMS[:2]:
        assert term_safe(name) in text
    assert "\x1b" not in page.html and "\u202e" not in page.html
    assert len(images(page.html)) == 4  # loads, timeline, compare, N+1: none failed


# ----------------------------------------------------------------------------- replay
def test_a_snapshot_with_history_gets_the_replay_with_the_plan_as_hvplan(tmp_path: Path) -> None:
    pytest.importorskip("planner.replay")
    from planner.history.model import constant_history

    base = load_snapshot(SMALL4)
    history = constant_history(base, np.arange(12, dtype=np.int64) * 300 + 1_700_000_000, 300)
    cluster = base.replace(history=history)
    plan, _ = read_plan(cluster, write_plan(tmp_path / "p"))
    assert plan is not None
    page = build_report(cluster, plan, compare=True, capacity=False)
    assert not [n for n in page.notes if "replay" in n], page.notes
    rows = {r[0]: r for r in _section_rows(page.html, "replay") if r}
    # The plan's three moves (APP01, APP04, SQL02: 16384 + 12288 + 65536 MB) at the start.
    assert rows["hvplan"][1] == "3" and rows["hvplan"][2] == str(16384 + 12288 + 65536)
    assert rows["current"][1] == "0"
    assert "12 samples every 5 min" in page.html
    # Without a history there is no replay section.
    assert 'id="replay"' not in build_report(base, plan, compare=True, capacity=False).html


def test_start_moves_are_read_and_counted_as_downtime(tmp_path: Path) -> None:
    cluster = load_snapshot(SMALL4)
    plan, report = read_plan(
        cluster,
        write_plan(
            tmp_path / "p",
            PLAN_CSV.replace("SQL02,HV01,HV02,Live", "SQL02,HV01,HV02,start"),
            placement=False,
        ),
    )
    assert plan is not None, report.to_dict()
    assert plan.moves[2].migration_type == "Start"
    page = build_report(cluster, plan, compare=False, capacity=False).html
    assert re.search(r"<b>1</b><span>downtime moves</span>", page)
