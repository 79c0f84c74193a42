"""The load model of SPEC §2: host CPU % and memory %, thresholds by level, limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.cluster import Cluster, ClusterSettings, HostState, VmState
from planner.loadmodel import (
    HighMode,
    Level,
    Threshold,
    excess_units,
    host_loads,
    other_high_reading,
    parse_level,
    resolve_threshold,
    threshold_limits,
)
from planner.snapshot import load_snapshot
from tests.strategies import HostSpec, VmSpec, clusters, make_cluster, thresholds

# small4 (data/examples/small4): four hosts of 32 LP, 262,144 MB, reserve 8,192 MB, base 3 %.
# CPU demand (vcpus * usage) and memory of the Running VMs, per host:
#   HV01: SQL01 8*.95=7.6, SQL02 8*.90=7.2, APP01 6*.80=4.8, APP02 4*.75=3.0, WEB01 2*.50=1.0,
#         APP04 4*.70=2.8 -> 26.4 LP;  3 + 100*26.4/32 = 85.5 %
#         memory 65536*2 + 16384*2 + 8192 + 12288 = 184320; (184320+8192)/262144 = 73.4375 %
#   HV02: DC01 .2, FILE01 1.0, WEB02 .7 -> 1.9 LP; 3 + 5.9375 = 8.9375 %
#         memory 8192 + 32768 + 8192 = 49152; (49152+8192)/262144 = 21.875 %
#   HV03: APP03 1.6, DC02 .2, WEB03 .6 (BUILD01 is Off) -> 2.4 LP; 3 + 7.5 = 10.5 %
#         memory 16384 + 8192 + 8192 = 32768; 40960/262144 = 15.625 %
#   HV04: MON01 .4, BACKUP01 .6 (TEST01 is Saved) -> 1.0 LP; 3 + 3.125 = 6.125 %
#         memory 4096 + 16384 = 20480; 28672/262144 = 10.9375 %
SMALL4_CPU = [85.5, 8.9375, 10.5, 6.125]
SMALL4_MEM = [73.4375, 21.875, 15.625, 10.9375]
# High, average reading: mean + 5 points per resource.
#   CPU (85.5 + 8.9375 + 10.5 + 6.125) / 4 = 27.765625 -> 32.765625
#   memory (73.4375 + 21.875 + 15.625 + 10.9375) / 4 = 30.46875 -> 35.46875
SMALL4_HIGH = (32.765625, 35.46875)


def test_small4_loads_match_the_hand_computation(small4: Path) -> None:
    loads = host_loads(load_snapshot(small4))
    assert loads.cpu_pct.tolist() == pytest.approx(SMALL4_CPU, abs=1e-9)
    assert loads.memory_pct.tolist() == pytest.approx(SMALL4_MEM, abs=1e-9)


@pytest.mark.parametrize(
    ("level", "mode", "expected"),
    [
        (Level.LOW, HighMode.AVERAGE, (80.0, 80.0)),
        ("medium", HighMode.AVERAGE, (70.0, 70.0)),
        (3, HighMode.AVERAGE, SMALL4_HIGH),
        ("High", "absolute", (60.0, 60.0)),
    ],
)
def test_threshold_by_level(
    small4: Path, level: Level | str | int, mode: HighMode | str, expected: tuple[float, float]
) -> None:
    thr = resolve_threshold(load_snapshot(small4), level, None, mode)
    assert (thr.cpu_pct, thr.memory_pct) == pytest.approx(expected)


def test_threshold_rule_says_which_reading_of_high(small4: Path) -> None:
    c = load_snapshot(small4)
    avg = resolve_threshold(c, "high")
    absolute = resolve_threshold(c, "high", high_mode="absolute")
    assert avg.rule.startswith("High (average reading)") and "32.77" in avg.rule
    assert absolute.rule == "High (absolute reading): 60 %"
    alt = other_high_reading(c, avg)
    assert alt is not None and alt.rule == absolute.rule
    alt2 = other_high_reading(c, absolute)
    assert alt2 is not None and alt2.cpu_pct == pytest.approx(SMALL4_HIGH[0])
    assert other_high_reading(c, resolve_threshold(c, "low")) is None


def test_user_threshold_overrides_the_level(small4: Path) -> None:
    thr = resolve_threshold(load_snapshot(small4), "high", 75.0)
    assert (thr.cpu_pct, thr.memory_pct, thr.level) == (75.0, 75.0, "custom")
    assert thr.to_dict() == {"cpu": 75.0, "memory": 75.0}


def test_default_level_comes_from_the_cluster(small4: Path) -> None:
    c = load_snapshot(small4)
    assert resolve_threshold(c).level == "low"  # auto_balancer_level 1
    c2 = c.replace(settings=ClusterSettings(auto_balancer_level=2))
    assert resolve_threshold(c2).cpu_pct == 70.0


@pytest.mark.parametrize("bad", [4, "0", "extreme", ""])
def test_bad_level_is_a_value_error(bad: int | str) -> None:
    with pytest.raises(ValueError):
        parse_level(bad)


@pytest.mark.parametrize("bad", [-1.0, 100.5])
def test_bad_threshold_is_a_value_error(small4: Path, bad: float) -> None:
    with pytest.raises(ValueError):
        resolve_threshold(load_snapshot(small4), None, bad)


def toy() -> Cluster:
    """Two Up hosts and one Paused host with hand-picked loads.

    H1: 10 LP, 100,000 MB, reserve 4,000, base 1,000 milli (10 %); VMs a (2,000 milli,
        30,000 MB) and b (3,000 milli, 16,000 MB); c is Off (uses nothing).
        CPU 10 + 100*5/10 = 60 %; memory (46,000 + 4,000)/100,000 = 50 %.
    H2: 20 LP, 50,000 MB, reserve 0, base 0; VM d 4,000 milli, 10,000 MB -> 20 %, 20 %.
    H3 (Paused): 10 LP, 100,000 MB, reserve 0; VM e 9,000 milli, 90,000 MB -> 90 %, 90 %.
    """
    hosts = [
        HostSpec(
            "H1",
            logical_processors=10,
            memory_mb=100_000,
            memory_reserve_mb=4_000,
            cpu_base_milli=1_000,
        ),
        HostSpec("H2", logical_processors=20, memory_mb=50_000, memory_reserve_mb=0),
        HostSpec(
            "H3",
            logical_processors=10,
            memory_mb=100_000,
            memory_reserve_mb=0,
            state=HostState.PAUSED,
        ),
    ]
    vms = [
        VmSpec("a", "H1", vcpus=4, cpu_milli=2_000, memory_mb=30_000),
        VmSpec("b", "H1", vcpus=4, cpu_milli=3_000, memory_mb=16_000),
        VmSpec("c", "H1", vcpus=8, cpu_milli=8_000, memory_mb=50_000, state=VmState.OFF),
        VmSpec("d", "H2", vcpus=8, cpu_milli=4_000, memory_mb=10_000),
        VmSpec("e", "H3", vcpus=10, cpu_milli=9_000, memory_mb=90_000),
    ]
    return make_cluster(hosts, vms)


def test_toy_loads_and_high_average_uses_up_hosts_only() -> None:
    c = toy()
    loads = host_loads(c)
    assert loads.cpu_pct.tolist() == pytest.approx([60.0, 20.0, 90.0])
    assert loads.memory_pct.tolist() == pytest.approx([50.0, 20.0, 90.0])
    # Mean over the Up hosts H1, H2 only: CPU (60+20)/2 + 5 = 45, memory (50+20)/2 + 5 = 40.
    thr = resolve_threshold(c, "high")
    assert (thr.cpu_pct, thr.memory_pct) == pytest.approx((45.0, 40.0))
    assert loads.over(thr).tolist() == [True, False, True]


def test_over_is_strictly_above() -> None:
    c = toy()
    loads = host_loads(c)
    # H1 is exactly at 60 % CPU: not over a 60 % threshold, over a 59.99 % one.
    assert loads.over(Threshold(60.0, 100.0, "custom", "")).tolist() == [False, False, True]
    assert loads.over(Threshold(59.99, 100.0, "custom", "")).tolist() == [True, False, True]


def test_loads_of_another_placement() -> None:
    c = toy()
    # Move b (3,000 milli, 16,000 MB) to H2: H1 10 + 20 = 30 %, (30,000+4,000)/100,000 = 34 %;
    # H2 (4,000+3,000)/20,000 = 35 %, 26,000/50,000 = 52 %.
    p = c.vm_host.copy()
    p[1] = 1
    loads = host_loads(c, p)
    assert loads.cpu_pct.tolist() == pytest.approx([30.0, 35.0, 90.0])
    assert loads.memory_pct.tolist() == pytest.approx([34.0, 52.0, 90.0])


def test_threshold_limits_and_excess() -> None:
    c = toy()
    thr = Threshold(55.0, 45.0, "custom", "")
    cpu_lim, mem_lim = threshold_limits(c, thr)
    # H1: 55 % of 10,000 milli = 5,500 minus base 1,000 = 4,500; memory 45,000 - 4,000.
    # H2: 55 % of 20,000 = 11,000; 45 % of 50,000 = 22,500.  H3: 5,500; 45,000.
    assert cpu_lim.tolist() == [4_500, 11_000, 5_500]
    assert mem_lim.tolist() == [41_000, 22_500, 45_000]
    cpu_x, mem_x = excess_units(c, thr)
    # H1 VM load 5,000 milli / 46,000 MB -> 500 and 5,000 over; H3 9,000/90,000 -> 3,500/45,000.
    assert cpu_x.tolist() == [500, 0, 3_500]
    assert mem_x.tolist() == [5_000, 0, 45_000]
    assert cpu_x.dtype == np.int64 and mem_x.dtype == np.int64


@given(
    clusters(max_hosts=4, max_vms=10, with_networks=False),
    st.floats(0, 100, allow_nan=False),
    st.floats(0, 100, allow_nan=False),
)
def test_over_threshold_iff_excess_is_positive(c: Cluster, cpu_t: float, mem_t: float) -> None:
    # The percentage view (HostLoads.over) and the integer view the optimizer uses
    # (excess_units) must agree on every host.
    thr = Threshold(cpu_t, mem_t, "custom", "")
    cpu_x, mem_x = excess_units(c, thr)
    assert ((cpu_x > 0) | (mem_x > 0)).tolist() == host_loads(c).over(thr).tolist()


@given(st.data())
def test_thresholds_strategy_gives_thresholds_in_range(data: st.DataObject) -> None:
    c = data.draw(clusters(max_hosts=3, max_vms=6, with_networks=False))
    thr = data.draw(thresholds(c))
    assert thr.level in ("low", "medium", "high", "custom")
    # Fixed levels and user percentages stay in 0..100; the High average may exceed it.
    if thr.level != "high" or thr.rule.startswith("High (absolute"):
        assert 0.0 <= thr.cpu_pct <= 100.0 and thr.cpu_pct == thr.memory_pct
