"""Capacity over a load history (planner.capacity.overtime): N+k judged at every sample,
vectorized over samples, against hand-derived answers and against the one-sample analysis
(planner.capacity.failures on planner.history.model.cluster_at) run sample by sample.

Toys follow tests/failover/test_engine.py: a host of 64,000 MB with a 4,000 MB reserve has
60,000 MB for VMs; CPU is small, so memory decides.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.capacity.failures import FailureOptions, analyze_failures, failure_scenarios
from planner.capacity.overtime import (
    capacity_over_time,
    growth_limit_at,
    quantile_sample,
    survival_over_time,
)
from planner.cluster import Cluster
from planner.history.model import LoadHistory, LoadStatistic, cluster_at
from tests.strategies import HostSpec, VmSpec, clusters, make_cluster

MEM, RES = 64000, 4000


def host(name: str) -> HostSpec:
    return HostSpec(name, logical_processors=16, memory_mb=MEM, memory_reserve_mb=RES)


def vm(name: str, on: str, mem: int) -> VmSpec:
    return VmSpec(name, on, memory_mb=mem, cpu_milli=100)


def history(c: Cluster, mem: np.ndarray, cpu: np.ndarray | None = None) -> LoadHistory:
    """A 5-minute history with the given per-sample VM memory (T, V)."""
    t = mem.shape[0]
    return LoadHistory(
        np.arange(t, dtype=np.int64) * 300 + 1_700_000_000,
        300,
        np.tile(c.vm_cpu_load_milli.astype(np.int32), (t, 1)) if cpu is None else cpu,
        mem.astype(np.int32),
        np.tile(c.host_cpu_base_milli.astype(np.int32), (t, 1)),
        np.ones(c.n_vms, bool),
        np.zeros(c.n_hosts, bool),
    )


# D's memory over six samples; A, B and C hold 20,000 MB throughout.
D_MEM = [20000, 35000, 45000, 45000, 38000, 20000]


def four_vms() -> tuple[Cluster, LoadHistory]:
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm("A", "H0", 20000), vm("B", "H1", 20000), vm("C", "H2", 20000), vm("D", "H0", 20000)],
    )
    mem = np.tile(np.array([20000, 20000, 20000, 0]), (6, 1))
    mem[:, 3] = D_MEM
    return c, history(c, mem)


def test_survival_over_time_hand_derived_current_and_plan() -> None:
    # Current placement: H0 = A + D (20,000 + d), H1 = B, H2 = C; 60,000 MB each.
    # * d = 20,000 (samples 0, 5): any failure's one or two 20,000 MB VMs fit on survivors
    #   with 40,000 MB free each -- survivable.
    # * d = 35,000 (sample 1) and 38,000 (sample 4): H0 = 55,000 / 58,000 <= 60,000.
    #   H0 failing: D (larger first) to H1 (40,000 free, the tie on headroom goes to the
    #   lower index), A to H2 -- both fit.  H1 failing: B to H2 (more headroom than H0's
    #   5,000 / 2,000).  H2 failing: C to H1.  Survivable.
    # * d = 45,000 (samples 2, 3): H0 = 65,000 > 60,000 before any failure, so H1's and
    #   H2's scenarios are lost (a survivor above 100 %), and H0's too: D needs 45,000 and
    #   no survivor has more than 40,000 free.
    # => N+1 holds at samples 0, 1, 4, 5: 4 of 6 (66.7 %); each scenario loses 2 samples.
    c, h = four_vms()
    cur = survival_over_time(c, h)
    assert (cur.samples, cur.survivable_samples, cur.unsettled_samples) == (6, 4, 0)
    assert cur.worst_scenarios == {"N+1:H0": 2, "N+1:H1": 2, "N+1:H2": 2}
    assert cur.scenario_survivable == {"N+1:H0": 4, "N+1:H1": 4, "N+1:H2": 4}
    assert cur.first_unsurvivable == "2023-11-14T22:23:20Z"  # sample 2 (t0 + 600 s)
    assert cur.sentence() == "survives any single failure in 66.7 % of the window's 6 samples"
    # A plan: A, B, C on H0 (60,000), H1 empty, D alone on H2.  H0 failing: A, B, C go to
    # the empty H1 (60,000 fits exactly) or, while it has room, H2; H1 failing restarts
    # nothing; H2 failing: D (at most 45,000) to the empty H1.  Survivable at every sample.
    plan = np.array([0, 0, 0, 2], dtype=np.int32)
    p = survival_over_time(c, h, plan)
    assert (p.survivable_samples, p.worst_scenarios) == (6, {})
    assert p.sentence() == "survives any single failure in 100 % of the window's 6 samples"
    rep = capacity_over_time(c.replace(history=h), "max", plan_placement=plan)
    assert rep.sentences() == [
        "hvplan's plan survives any single failure in 100 % of the window's 6 samples; "
        "in 66.7 % with the current placement"
    ]
    rows = {r["placement"]: r for r in rep.rows("toy")}
    assert rows["current"]["survivable_samples"] == 4 and rows["hvplan"]["samples"] == 6
    # The max sample of total memory is a d = 45,000 one; ties keep the sample order, so
    # the highest rank is the later one (sample 3): not N+1-safe there on the current
    # placement, safe on the plan.
    assert rep.growth_sample == 3
    assert rows["current"]["growth_safe_now"] is False and rows["hvplan"]["growth_safe_now"]


def test_survival_of_two_failures_and_samples_subset() -> None:
    # N+2 with three hosts: two of them fail, one survivor must hold all four VMs
    # (>= 80,000 MB > 60,000) -- never survivable.
    c, h = four_vms()
    two = survival_over_time(c, h, failures=2)
    assert (two.kind, two.survivable_samples, two.samples) == ("N+2", 0, 6)
    sub = survival_over_time(c, h, samples=np.array([0, 2]))
    assert (sub.samples, sub.survivable_samples) == (2, 1)
    with pytest.raises(ValueError, match="no load history"):
        survival_over_time(c)


def test_growth_limit_at_the_quantile_sample() -> None:
    c, h = four_vms()
    # Total memory per sample: 60,000 + d.  Nearest-rank p95 of six samples is the
    # ceil(0.95 * 6) = 6th smallest, the maximum: d = 45,000 at sample 3 (the later of the
    # tie); the mean total CPU is the same at every sample, so ``mean`` is sample 0.
    assert quantile_sample(c, h, LoadStatistic.MAX) == 3
    assert quantile_sample(c, h, LoadStatistic.MEAN) == 0
    assert quantile_sample(c, h, LoadStatistic.LATEST) == 5
    g, t = growth_limit_at(c, "p95", h)
    assert t == 3 and not g.safe_now
    g1, t1 = growth_limit_at(c.replace(history=h), LoadStatistic.LATEST)
    assert t1 == 5 and g1.safe_now


def _loop_reference(c: Cluster, h: LoadHistory, k: int) -> dict[str, int]:
    """Survivable samples per scenario, one :func:`analyze_failures` per sample."""
    opt = FailureOptions(failures=k, fault_domains=False, exact=False)
    scen = [s for s in failure_scenarios(c, opt)[0] if len(s.hosts) == k]
    out = {s.name: 0 for s in scen}
    for t in range(h.n_samples):
        for o in analyze_failures(cluster_at(c, h, t), opt, scen).outcomes:
            out[o.scenario] += o.survivable
    return out


@settings(max_examples=60, deadline=None)
@given(clusters(max_hosts=4, max_vms=10), st.data())
def test_vectorized_over_samples_equals_sample_by_sample(c: Cluster, data: st.DataObject) -> None:
    """For any valid cluster (rules, priorities, Dynamic Memory, node states) and a random
    history, the vectorized judgement equals the one-sample analysis at each sample."""
    t = data.draw(st.integers(1, 5))
    grow = st.lists(st.integers(0, 250), min_size=t * c.n_vms, max_size=t * c.n_vms)
    f_mem = np.array(data.draw(grow), dtype=np.int64).reshape(t, c.n_vms)
    f_cpu = np.array(data.draw(grow), dtype=np.int64).reshape(t, c.n_vms)
    mem = (c.vm_memory_mb[None, :] * f_mem) // 100
    cpu = (c.vm_cpu_milli[None, :] * f_cpu) // 100
    h = dataclasses.replace(
        history(c, np.maximum(mem, 1), cpu.astype(np.int32)),
        host_cpu_base_milli=np.tile(c.host_cpu_base_milli.astype(np.int32), (t, 1)),
    )
    for k in (1, 2):
        if k > c.n_hosts:
            break
        got = survival_over_time(c, h, failures=k)
        assert got.scenario_survivable == _loop_reference(c, h, k)
