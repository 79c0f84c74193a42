"""Tests of the batch evaluator: a naive reference on random inputs, agreement with the load
model and the placement checks, both engines, chunking, and API misuse."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import planner.evaluate_numpy as evaluate_numpy
from planner.checks import placement_violations
from planner.cluster import Cluster, HostState, RuleType
from planner.evaluate import HAVE_NUMBA, VIOLATION_KINDS, default_thresholds, evaluate
from planner.loadmodel import Threshold, excess_units, host_loads
from tests.strategies import HostSpec, RuleSpec, VmSpec, clusters, make_cluster

ENGINES = ["numpy"] + (["numba"] if HAVE_NUMBA else [])


# ----------------------------------------------------------------------------- reference
def naive(cluster: Cluster, placement: np.ndarray, thr: Threshold) -> dict[str, object]:
    """Plain-Python reference for one placement: loops over VMs, hosts and rule members."""
    h_count = cluster.n_hosts
    cpu = [int(cluster.host_cpu_base_milli[h]) for h in range(h_count)]
    mem = [int(cluster.host_memory_reserve_mb[h]) for h in range(h_count)]
    vm_cpu = [0] * h_count
    vm_mem = [0] * h_count
    for v in range(cluster.n_vms):
        h = int(placement[v])
        vm_cpu[h] += int(cluster.vm_cpu_load_milli[v])
        vm_mem[h] += int(cluster.vm_mem_load_mb[v])
    cpu = [cpu[h] + vm_cpu[h] for h in range(h_count)]
    mem = [mem[h] + vm_mem[h] for h in range(h_count)]
    cpu_pct = [100.0 * cpu[h] / int(cluster.host_cpu_capacity_milli[h]) for h in range(h_count)]
    mem_pct = [100.0 * mem[h] / int(cluster.host_memory_mb[h]) for h in range(h_count)]
    over = 0
    ex_c = ex_m = 0
    for h in range(h_count):
        # Excess in integer units: load above floor(threshold share of capacity).
        lim_c = int(np.floor(thr.cpu_pct * int(cluster.host_cpu_capacity_milli[h]) / 100 + 1e-9))
        lim_m = int(np.floor(thr.memory_pct * int(cluster.host_memory_mb[h]) / 100 + 1e-9))
        ex_c += max(cpu[h] - lim_c, 0)
        ex_m += max(mem[h] - lim_m, 0)
        if cluster.host_state[h] != HostState.DOWN and (
            cpu_pct[h] > thr.cpu_pct + 1e-9 or mem_pct[h] > thr.memory_pct + 1e-9
        ):
            over += 1
    counts = Counter({k: 0 for k in VIOLATION_KINDS})
    for h in range(h_count):
        counts["capacity_cpu"] += vm_cpu[h] > int(cluster.host_cpu_free_milli[h])
        counts["capacity_memory"] += vm_mem[h] > int(cluster.host_memory_free_mb[h])
    for v in range(cluster.n_vms):
        h = int(placement[v])
        counts["possible_owners"] += not cluster.vm_possible[v, h]
        stays = h == int(cluster.vm_host[v])
        counts["pinned"] += bool(cluster.vm_pinned[v]) and not stays
        counts["host_not_up"] += cluster.host_state[h] != HostState.UP and not (
            cluster.vm_pinned[v] and stays
        )
    fd = cluster.host_fault_domain
    for r in cluster.rules:
        running = [v for v in r.members if cluster.vm_consumes[v]]  # SPEC §3: running only
        if not r.enabled or len(running) < 2:
            continue
        hs = [int(placement[v]) for v in running]
        if r.rule_type == RuleType.SAME_NODE:
            counts["same_node"] += len(set(hs)) > 1
        elif r.rule_type == RuleType.SAME_FAULT_DOMAIN:
            counts["same_fault_domain"] += len({int(fd[h]) for h in hs}) > 1
        elif r.rule_type == RuleType.DIFFERENT_NODE:
            counts["different_node"] += sum(1 for n in Counter(hs).values() if n > 1)
        else:
            doms = Counter(int(fd[h]) for h in hs)
            counts["different_fault_domain"] += sum(1 for n in doms.values() if n > 1)
    for members in cluster.aa_class_members:
        for a, b in itertools.combinations(members, 2):
            counts["anti_affinity"] += placement[a] == placement[b]
    up = [h for h in range(h_count) if cluster.host_state[h] == HostState.UP]
    live = [h for h in range(h_count) if cluster.host_state[h] != HostState.DOWN]
    cu = [cpu_pct[h] for h in up]
    mu = [mem_pct[h] for h in up]
    return {
        "cpu_pct": cpu_pct,
        "mem_pct": mem_pct,
        "over": over,
        "ex_c": ex_c,
        "ex_m": ex_m,
        "max_c": max(cpu_pct[h] for h in live),
        "max_m": max(mem_pct[h] for h in live),
        "spread_c": max(cu) - min(cu),
        "spread_m": max(mu) - min(mu),
        "std_c": float(np.std(cu)),
        "std_m": float(np.std(mu)),
        "counts": counts,
    }


@st.composite
def cluster_and_batch(draw: st.DrawFn) -> tuple[Cluster, np.ndarray]:
    """A random valid cluster and a batch of random (possibly bad) placements on it."""
    c = draw(clusters(max_hosts=5, max_vms=12, max_rules=4))
    k = draw(st.integers(1, 4))
    rows = [c.vm_host.astype(np.int64)]
    for _ in range(k - 1):
        rows.append(
            np.array(
                draw(st.lists(st.integers(0, c.n_hosts - 1), min_size=c.n_vms, max_size=c.n_vms)),
                dtype=np.int64,
            )
        )
    return c, np.stack(rows)


@given(cluster_and_batch(), st.sampled_from(ENGINES))
def test_matches_naive_reference(data: tuple[Cluster, np.ndarray], engine: str) -> None:
    cluster, batch = data
    if not (cluster.host_state != HostState.DOWN).any():
        return  # no host to report on (the reference's max would be undefined)
    thr = default_thresholds(cluster)
    e = evaluate(cluster, batch, thresholds=thr, engine=engine)  # type: ignore[arg-type]
    for k in range(batch.shape[0]):
        for t, th in enumerate(thr):
            ref = naive(cluster, batch[k], th)
            assert e.hosts_over[t, k] == ref["over"]
            assert e.excess_cpu_milli[t, k] == ref["ex_c"]
            assert e.excess_memory_mb[t, k] == ref["ex_m"]
        np.testing.assert_allclose(e.cpu_pct[k], ref["cpu_pct"], rtol=1e-12)
        np.testing.assert_allclose(e.memory_pct[k], ref["mem_pct"], rtol=1e-12)
        assert e.max_cpu_pct[k] == pytest.approx(ref["max_c"])
        assert e.max_memory_pct[k] == pytest.approx(ref["max_m"])
        assert e.spread_cpu_pct[k] == pytest.approx(ref["spread_c"], abs=1e-9)
        assert e.spread_memory_pct[k] == pytest.approx(ref["spread_m"], abs=1e-9)
        assert e.std_cpu_pct[k] == pytest.approx(ref["std_c"], abs=1e-9)
        assert e.std_memory_pct[k] == pytest.approx(ref["std_m"], abs=1e-9)
        counts = ref["counts"]
        assert isinstance(counts, Counter)
        assert {kind: int(e.violations[kind][k]) for kind in VIOLATION_KINDS} == dict(counts)


@given(cluster_and_batch())
def test_agrees_with_loadmodel_and_checks(data: tuple[Cluster, np.ndarray]) -> None:
    cluster, batch = data
    thr = default_thresholds(cluster)
    e = evaluate(cluster, batch, thresholds=thr)
    for k in range(batch.shape[0]):
        loads = host_loads(cluster, batch[k])
        np.testing.assert_allclose(e.cpu_pct[k], loads.cpu_pct, rtol=1e-12)
        np.testing.assert_allclose(e.memory_pct[k], loads.memory_pct, rtol=1e-12)
        for t, th in enumerate(thr):
            over = loads.over(th) & (cluster.host_state != HostState.DOWN)
            assert e.hosts_over[t, k] == over.sum()
            xc, xm = excess_units(cluster, th, batch[k])
            assert e.excess_cpu_milli[t, k] == xc.sum()
            assert e.excess_memory_mb[t, k] == xm.sum()
        found = placement_violations(cluster, batch[k])
        by_kind = Counter(v.kind for v in found)
        assert {
            kind: int(e.violations[kind][k])
            for kind in VIOLATION_KINDS
            if e.violations[kind][k] or by_kind[kind]
        } == {kind: n for kind, n in by_kind.items() if n}
        assert e.hard_violations[k] == sum(1 for v in found if v.hard)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_engines_agree_on_a_large_batch() -> None:
    rng = np.random.default_rng(7)
    hosts = [
        HostSpec(
            f"h{i}",
            logical_processors=32,
            memory_mb=262144,
            state=HostState.PAUSED if i == 3 else HostState.UP,
        )
        for i in range(9)
    ]
    vms = [
        VmSpec(
            f"v{j}",
            host=int(rng.integers(9)),
            memory_mb=int(rng.integers(512, 9000)),
            cpu_milli=int(rng.integers(0, 2000)),
            possible_owners=(0, 1, 2) if j % 7 == 0 else None,
            anti_affinity_classes=("a",) if j < 4 else (),
            pinned=j % 11 == 0,
        )
        for j in range(301)
    ]  # odd V exercises the kernel's tail
    rules = [
        RuleSpec("dn", RuleType.DIFFERENT_NODE, (1, 2, 3)),
        RuleSpec("sn", RuleType.SAME_NODE, (4, 5)),
    ]
    c = make_cluster(hosts, vms, rules)
    batch = rng.integers(0, 9, (37, 301))  # int64, as the other tests: one compilation
    a = evaluate(c, batch, drained=[5], engine="numpy")
    b = evaluate(c, batch, drained=[5], engine="numba")
    for kind in ("pinned", "host_not_up", "drained", "possible_owners", "anti_affinity"):
        assert a.violations[kind].sum() > 0  # the batch exercises every check
    np.testing.assert_array_equal(a.cpu_milli, b.cpu_milli)
    np.testing.assert_array_equal(a.memory_used_mb, b.memory_used_mb)
    np.testing.assert_array_equal(a.hosts_over, b.hosts_over)
    np.testing.assert_array_equal(a.excess_memory_mb, b.excess_memory_mb)
    np.testing.assert_allclose(a.std_cpu_pct, b.std_cpu_pct, atol=1e-9)
    np.testing.assert_allclose(a.spread_memory_pct, b.spread_memory_pct, atol=1e-9)
    for kind in VIOLATION_KINDS:
        np.testing.assert_array_equal(a.violations[kind], b.violations[kind])


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_unpacked_kernel_when_totals_are_too_large_to_pack() -> None:
    # Total VM memory above 2**31 MB: the packed kernel would overflow, so the
    # two-accumulator kernel runs and must agree with NumPy.
    hosts = [HostSpec(f"h{i}", memory_mb=4 << 30, memory_reserve_mb=0) for i in range(3)]
    vms = [VmSpec(f"v{j}", host=j % 3, memory_mb=1 << 30) for j in range(5)]
    c = make_cluster(hosts, vms)
    batch = np.array([[0, 1, 2, 0, 1], [2, 2, 2, 2, 2]])
    a = evaluate(c, batch, engine="numpy")
    b = evaluate(c, batch, engine="numba")
    np.testing.assert_array_equal(a.memory_used_mb, b.memory_used_mb)
    assert b.memory_used_mb[1, 2] == 5 << 30


def test_hand_made_toy() -> None:
    # Two 10-LP hosts, 100 GB each with 10 GB reserve.  VMs: 6 LP + 40 GB, 2 LP + 20 GB.
    # All on h0: CPU 80 %, memory (60+10)/100 = 70 %; at Medium (70 %) h0 is over by
    # 1,000 milli-LP CPU and 0 MB memory; split: 60 % / 50 % and 20 % / 30 %.
    hosts = [
        HostSpec("h0", logical_processors=10, memory_mb=100_000, memory_reserve_mb=10_000),
        HostSpec("h1", logical_processors=10, memory_mb=100_000, memory_reserve_mb=10_000),
    ]
    vms = [
        VmSpec("a", 0, memory_mb=40_000, cpu_milli=6000),
        VmSpec("b", 0, memory_mb=20_000, cpu_milli=2000),
    ]
    c = make_cluster(hosts, vms)
    medium = Threshold(70.0, 70.0, "medium", "Medium: 70 %")
    e = evaluate(c, np.array([[0, 0], [0, 1]]), thresholds=[medium])
    np.testing.assert_allclose(e.cpu_pct, [[80, 0], [60, 20]])
    np.testing.assert_allclose(e.memory_pct, [[70, 10], [50, 30]])
    assert e.hosts_over[0].tolist() == [1, 0]
    assert e.excess_cpu_milli[0].tolist() == [1000, 0]
    assert e.excess_memory_mb[0].tolist() == [0, 0]
    np.testing.assert_allclose(e.spread_cpu_pct, [80, 40])
    np.testing.assert_allclose(e.std_memory_pct, [30, 10])
    assert e.row(0)["hosts_over_threshold"] == 1


def test_chunked_rows_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    hosts = [HostSpec(f"h{i}", fault_domain=f"fd{i % 2}") for i in range(4)]
    vms = [
        VmSpec(
            f"v{j}",
            host=j % 4,
            possible_owners=(0, 1) if j == 0 else None,
            pinned=j == 1,
            anti_affinity_classes=("x",) if j in (2, 3) else (),
        )
        for j in range(10)
    ]
    rules = [
        RuleSpec("dfd", RuleType.DIFFERENT_FAULT_DOMAIN, (4, 5)),
        RuleSpec("sfd", RuleType.SAME_FAULT_DOMAIN, (6, 7)),
    ]
    c = make_cluster(hosts, vms, rules)
    batch = rng.integers(0, 4, (25, 10))
    whole = evaluate(c, batch, engine="numpy")
    monkeypatch.setattr(evaluate_numpy, "CHUNK_ELEMENTS", 7)  # a chunk of 1 row per step
    chunked = evaluate(c, batch, engine="numpy")
    np.testing.assert_array_equal(whole.cpu_milli, chunked.cpu_milli)
    for kind in VIOLATION_KINDS:
        np.testing.assert_array_equal(whole.violations[kind], chunked.violations[kind])
    assert whole.violations["possible_owners"].sum() > 0  # the batch does break rules
    assert whole.violations["pinned"].sum() > 0


def test_drained_hosts_are_counted() -> None:
    c = make_cluster([HostSpec("a"), HostSpec("b")], [VmSpec("v", 0), VmSpec("w", 1)])
    e = evaluate(c, np.array([[0, 1], [1, 1]]), drained=[0])
    assert e.violations["drained"].tolist() == [1, 0]
    assert e.hard_violations.tolist() == [1, 0]


@pytest.mark.parametrize("engine", ENGINES)
def test_api_misuse_raises(engine: str) -> None:
    c = make_cluster([HostSpec("a"), HostSpec("b")], [VmSpec("v", 0), VmSpec("w", 1)])
    with pytest.raises(ValueError, match="shape"):
        evaluate(c, np.zeros((2, 3), dtype=int), engine=engine)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="integer"):
        evaluate(c, np.zeros((2, 2)), engine=engine)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        evaluate(c, np.array([[0, 2]]), engine=engine)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        evaluate(c, np.array([[-1, 0]]), engine=engine)  # type: ignore[arg-type]


def test_single_placement_is_a_batch_of_one() -> None:
    c = make_cluster([HostSpec("a"), HostSpec("b")], [VmSpec("v", 0), VmSpec("w", 1)])
    e = evaluate(c, c.vm_host)
    assert e.n_placements == 1
    np.testing.assert_allclose(e.cpu_pct[0], host_loads(c).cpu_pct)


def test_crowded_rules_count_like_the_checks() -> None:
    # DifferentNode over 5 VMs with 3 on h0 and 2 on h1: two shared nodes, so two records
    # (not four pairs); the anti-affinity class of the same 5 VMs has 3 + 1 = 4 pairs.
    hosts = [HostSpec(f"h{i}") for i in range(3)]
    vms = [VmSpec(f"v{j}", host=j % 3, anti_affinity_classes=("c",)) for j in range(5)]
    c = make_cluster(hosts, vms, [RuleSpec("dn", RuleType.DIFFERENT_NODE, (0, 1, 2, 3, 4))])
    p = np.array([0, 0, 0, 1, 1])
    e = evaluate(c, p)
    assert e.violations["different_node"].tolist() == [2]
    assert e.violations["anti_affinity"].tolist() == [4]
    assert Counter(v.kind for v in placement_violations(c, p))["different_node"] == 2


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_many_hosts_and_large_groups_take_the_array_paths() -> None:
    # More than 64 hosts (no bit masks) and an anti-affinity class of more than 16 members
    # (no pairwise loop): the compiled checks must still agree with NumPy and the checks.
    rng = np.random.default_rng(11)
    hosts = [HostSpec(f"h{i}", fault_domain=f"fd{i % 5}") for i in range(70)]
    vms = [
        VmSpec(
            f"v{j}",
            host=j % 70,
            memory_mb=512,
            cpu_milli=100,
            anti_affinity_classes=("big",) if j < 20 else ("small",) if j < 24 else (),
        )
        for j in range(150)
    ]
    rules = [
        RuleSpec("dn", RuleType.DIFFERENT_NODE, tuple(range(30, 60))),
        RuleSpec("dfd", RuleType.DIFFERENT_FAULT_DOMAIN, tuple(range(60, 66))),
        RuleSpec("sn", RuleType.SAME_NODE, (70, 71, 72)),
    ]
    c = make_cluster(hosts, vms, rules)
    # Crowd the batch onto a few hosts so that every rule and class is broken somewhere.
    batch = rng.integers(0, 6, (12, 150))
    a = evaluate(c, batch, engine="numpy")
    b = evaluate(c, batch, engine="numba")
    for kind in VIOLATION_KINDS:
        np.testing.assert_array_equal(a.violations[kind], b.violations[kind])
    assert b.violations["different_node"].min() > 0 and b.violations["anti_affinity"].min() > 0
    for k in range(3):
        by_kind = Counter(v.kind for v in placement_violations(c, batch[k]))
        assert b.violations["different_node"][k] == by_kind["different_node"]
        assert b.violations["different_fault_domain"][k] == by_kind["different_fault_domain"]
        assert b.violations["anti_affinity"][k] == by_kind["anti_affinity"]
