"""Replay of a load history: strategies, metrics, the cluster's balancer mode, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.cluster import ClusterSettings
from planner.history.loads import Timeline, sample_loads
from planner.history.model import LoadHistory, LoadStatistic
from planner.history.robust import judge, robust_plan, surrogate_solver
from planner.history.synthetic import synthetic_history
from planner.loadmodel import resolve_threshold
from planner.native import cluster_variants
from planner.replay import ReplayOptions, replay
from planner.snapshot import load_snapshot

DATA = Path(__file__).resolve().parents[1] / "data" / "examples"
SPEC_KEYS = {
    "name",
    "migrations",
    "memory_moved_mb",
    "node_samples_over_threshold",
    "node_samples_over_capacity",
    "max_cpu_pct",
    "max_memory_pct",
}


def _two_node_history() -> tuple[object, LoadHistory]:
    """Two VMs whose peaks alternate: A busy at even samples, B at odd ones."""
    c = load_snapshot(DATA / "small4")
    t, v = 4, c.n_vms
    cpu = np.tile(c.vm_cpu_load_milli.astype(np.int32), (t, 1))
    mem = np.tile(c.vm_mem_load_mb.astype(np.int32), (t, 1))
    base = np.tile(c.host_cpu_base_milli.astype(np.int32), (t, 1))
    h = LoadHistory(
        np.arange(t, dtype=np.int64) * 300,
        300,
        cpu,
        mem,
        base,
        np.ones(v, bool),
        np.zeros(c.n_hosts, bool),
    )
    return c, h


def test_current_strategy_counts_node_samples() -> None:
    # small4 as it is: HV01 carries SQL01+SQL02 (8 vCPUs at 95 % and 90 %, 32 LP, base 3 %):
    # 3 + 100 * (7.6 + 7.2 + ...) / 32 -- over 80 % at each of the 4 identical samples.
    c, h = _two_node_history()
    res = replay(c, h, options=ReplayOptions(native=False))
    cur = res.strategy("current")
    loads = sample_loads(c, h, [Timeline.constant(c.vm_host)])
    pct = 100 * loads.cpu_milli[0] / c.host_cpu_capacity_milli
    mem = 100 * loads.memory_used_mb[0] / c.host_memory_mb
    expected = int(((pct > 80) | (mem > 80)).sum())
    assert cur.metrics["node_samples_over_threshold"] == expected
    assert cur.metrics["migrations"] == 0
    assert set(res.to_dict()["window"]) == {"start", "end", "samples", "step_seconds"}


def test_plan_row_counts_its_moves_once() -> None:
    c, h = _two_node_history()
    p = c.vm_host.copy()
    p[0] = (p[0] + 1) % c.n_hosts
    res = replay(c, h, plan_placement=p, options=ReplayOptions(native=False))
    hv = res.strategy("hvplan")
    assert hv.metrics["migrations"] == 1
    assert hv.metrics["memory_moved_mb"] == int(c.vm_memory_mb[0])


def test_mode_zero_and_one_simulate_no_node_fairness() -> None:
    c = load_snapshot(DATA / "small4")
    for mode in (0, 1):
        cm = c.replace(settings=ClusterSettings(auto_balancer_mode=mode))
        variants, note = cluster_variants(cm)
        assert note is not None and f"AutoBalancerMode {mode}" in note
        assert all(v.name().startswith("dynamic-optimization") for v in variants)
        h = synthetic_history(cm, 12)
        res = replay(cm, h)
        assert not any(s.name.startswith("node-fairness") for s in res.strategies)
        assert any("moves nothing" in n for n in res.notes)
    variants, note = cluster_variants(c)
    assert note is None and any(v.name().startswith("node-fairness") for v in variants)


def test_native_balancer_acts_on_the_sample_loads() -> None:
    c = load_snapshot(DATA / "small4")
    h = synthetic_history(c, 48, seed=4)
    res = replay(c, h)
    nf = res.strategy("node-fairness/largest-memory")
    # Moves happen at pass samples (every 30 min = 6 samples) and hold from the next one.
    assert all((t - 1) % 6 == 0 for t, *_ in nf.moves)
    assert nf.metrics["migrations"] == len(nf.moves) > 0
    assert (
        nf.metrics["node_samples_over_threshold"]
        < res.strategy("current").metrics["node_samples_over_threshold"]
    )


def test_robust_plan_beats_latest_over_the_window() -> None:
    c = load_snapshot(DATA / "small4")
    h = synthetic_history(c, 288, seed=5)
    c = c.replace(history=h)
    thr = resolve_threshold(c)
    res = robust_plan(c, h, LoadStatistic.P95, thr, surrogate_solver(LoadStatistic.P95), 20)
    assert res.placement is not None
    latest = surrogate_solver(LoadStatistic.LATEST)(c, {-1: None}, 5, None)
    assert latest is not None
    j_robust, j_latest = judge(c, h, [res.placement, latest], thr, LoadStatistic.P95)
    assert j_robust["node_samples_over_capacity"] == 0
    assert (
        j_robust["nodes_over_threshold_at_statistic"]
        <= j_latest["nodes_over_threshold_at_statistic"]
    )


@pytest.mark.slow
def test_cli_replay_on_the_bitbrains_example(tmp_path: Path) -> None:
    snap = tmp_path / "bb"
    shutil.copytree(DATA / "bitbrains8", snap)
    plan = tmp_path / "plan"
    plan.mkdir()
    c = load_snapshot(snap)
    (plan / "placement.csv").write_text(
        "vm,host\n"
        + "".join(f"{v},{c.host_names[c.vm_host[i]]}\n" for i, v in enumerate(c.vm_names)),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app,
        ["replay", str(snap), "--plan", str(plan), "--period", "0", "--json", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["window"]["samples"] == 2016 and doc["window"]["step_seconds"] == 300
    names = [s["name"] for s in doc["strategies"]]
    assert names[:2] == ["current", "hvplan"]
    assert all(set(s) >= SPEC_KEYS for s in doc["strategies"])
    assert (out / "replay.png").stat().st_size > 1000
    # A plan that leaves everything in place behaves as the current placement.
    assert (
        doc["strategies"][0]["node_samples_over_threshold"]
        == doc["strategies"][1]["node_samples_over_threshold"]
    )


def test_cli_replay_without_history_exits_1() -> None:
    r = CliRunner().invoke(app, ["replay", str(DATA / "small4"), "--period", "0"])
    assert r.exit_code == 1
    assert "no load history" in r.output


def test_plan_with_history_reports_the_window() -> None:
    from planner.problem import PlanOptions
    from planner.robustplan import plan_with_history

    c = load_snapshot(DATA / "small4")
    c = c.replace(history=synthetic_history(c, 288, seed=5))
    p = plan_with_history(c, PlanOptions(time_limit_s=10), "p95")
    assert p.ok
    hist = p.summary["history"]
    assert hist["statistic"] == "p95" and hist["window"]["samples"] == 288
    for part in ("before", "after", "latest_plan"):
        assert {"node_samples_over_threshold", "node_samples_over_capacity"} <= set(hist[part])
    # The plan holds capacity at every sample and is no worse than today at p95.
    assert hist["after"]["node_samples_over_capacity"] == 0
    assert (
        hist["after"]["nodes_over_threshold_at_statistic"]
        <= hist["before"]["nodes_over_threshold_at_statistic"]
    )
