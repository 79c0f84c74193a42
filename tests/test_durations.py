"""Tests of the move-duration model (planner.durations) and its use in sequences."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planner.cluster import MoveKind, Network, NetworkRole, VmState
from planner.durations import (
    DEFAULT_DURATION_MODEL,
    DurationModel,
    live_migration_bandwidth_gbps,
    live_seconds,
    move_seconds,
    node_rate_mb_s,
    plan_seconds,
)
from planner.sequencing import SequenceOptions, build_sequence
from tests.strategies import HostSpec, VmSpec, make_cluster

NO_DIRTY = DurationModel(dirty_mb_per_s_per_gb=0.0)


def nets(*items: tuple[str, NetworkRole, int | None, float]) -> tuple[Network, ...]:
    return tuple(Network(n, r, o, b) for n, r, o, b in items)


def test_bandwidth_follows_the_live_migration_order() -> None:
    c = make_cluster(
        [HostSpec("H1")],
        networks=nets(
            ("Mgmt", NetworkRole.CLUSTER_AND_CLIENT, None, 1.0),
            ("LM2", NetworkRole.CLUSTER, 2, 10.0),
            ("LM1", NetworkRole.CLUSTER, 1, 25.0),
        ),
    )
    assert live_migration_bandwidth_gbps(c) == 25.0


def test_networks_not_used_for_live_migration_are_ignored() -> None:
    c = make_cluster(
        [HostSpec("H1")],
        networks=nets(
            ("Storage", NetworkRole.NONE, 1, 100.0), ("Mgmt", NetworkRole.CLUSTER, None, 1.0)
        ),
    )
    assert live_migration_bandwidth_gbps(c) == DEFAULT_DURATION_MODEL.default_bandwidth_gbps
    assert live_migration_bandwidth_gbps(c, DurationModel(default_bandwidth_gbps=4)) == 4


def test_node_rate_formula() -> None:
    # 10 Gbps = 1e10 / 8 / 2**20 = 1192.09 MB/s; times efficiency 0.5 and compression 2.
    c = make_cluster([HostSpec("H1")])
    model = DurationModel(efficiency=0.5, compression_ratio=2.0)
    assert node_rate_mb_s(c, model) == pytest.approx(1e10 / 8 / 2**20)


def test_live_migration_without_dirty_pages() -> None:
    # 2,048 MB at 1,024 MB/s with nothing dirtied: one 2 s pass, no stop-and-copy,
    # plus 2 s setup and 1 s switch-over = 5 s.
    assert live_seconds(2048, 0.5, 1024.0, NO_DIRTY) == pytest.approx(5.0)


def test_precopy_passes_shrink_geometrically() -> None:
    # 8 GB VM, fully busy, dirty rate 8 GB * 8 MB/s/GB = 64 MB/s, link 1,024 MB/s:
    # pass 1 = 8 s (512 MB dirtied), pass 2 = 0.5 s (32 MB <= 256 MB stop-copy threshold),
    # stop-and-copy 32 MB = 1/32 s; + 2 s setup + 1 s switch-over.
    expected = 8 + 0.5 + 32 / 1024 + 2 + 1
    assert live_seconds(8192, 1.0, 1024.0) == pytest.approx(expected)


def test_non_converging_precopy_is_capped() -> None:
    # Dirty rate above the link: every pass resends the whole memory, five passes, then the
    # whole memory again while paused.
    model = DurationModel(dirty_mb_per_s_per_gb=4096.0)
    assert live_seconds(1024, 1.0, 1024.0, model) == pytest.approx(2 + 5 * 1 + 1 + 1)


def test_busier_and_bigger_vms_take_longer() -> None:
    assert live_seconds(16384, 0.9, 1000.0) > live_seconds(16384, 0.1, 1000.0)
    assert live_seconds(32768, 0.5, 1000.0) > live_seconds(16384, 0.5, 1000.0)


def test_move_kinds() -> None:
    c = make_cluster(
        [HostSpec("H1"), HostSpec("H2")],
        [
            VmSpec("RUN", "H1", memory_mb=8192, vcpus=4, cpu_milli=2000),
            VmSpec("OFF", "H1", memory_mb=8192, state=VmState.OFF),
        ],
    )
    m = DEFAULT_DURATION_MODEL
    assert move_seconds(c, 1, MoveKind.QUICK) == m.quick_seconds
    assert move_seconds(c, 0, MoveKind.SHUTDOWN) == (
        m.shutdown_seconds + m.quick_seconds + m.boot_seconds
    )
    rate = node_rate_mb_s(c)
    assert move_seconds(c, 0, MoveKind.LIVE) == pytest.approx(live_seconds(8192, 0.5, rate))
    # Two moves sharing a node's link each get half of it.
    assert move_seconds(c, 0, MoveKind.LIVE, share=2) == pytest.approx(
        live_seconds(8192, 0.5, rate / 2)
    )
    with pytest.raises(ValueError):
        move_seconds(c, 0, MoveKind.FORBIDDEN)


def test_plan_seconds_adds_waves_and_overhead() -> None:
    model = DurationModel(wave_overhead_seconds=5)
    assert plan_seconds([10.0, 20.0], model) == 40.0


@pytest.mark.parametrize("field", ["efficiency", "compression_ratio", "default_bandwidth_gbps"])
def test_invalid_parameters_are_refused(field: str) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(DEFAULT_DURATION_MODEL, **{field: 0})


def test_sequence_durations_use_the_model() -> None:
    # Two 8 GB VMs leave H1 in one wave: they share H1's link.  The wave lasts as long as
    # the slower move; the plan adds the per-wave overhead.
    c = make_cluster(
        [HostSpec("H1"), HostSpec("H2"), HostSpec("H3")],
        [
            VmSpec("A", "H1", memory_mb=8192, vcpus=2, cpu_milli=2000),
            VmSpec("B", "H1", memory_mb=8192, vcpus=2, cpu_milli=200),
        ],
        networks=nets(("LM", NetworkRole.CLUSTER, 1, 25.0)),
    )
    model = DurationModel(compression_ratio=1.5, wave_overhead_seconds=3)
    res = build_sequence(c, np.array([1, 2]), options=SequenceOptions(durations=model))
    assert res.ok and res.waves == 1
    rate = 25e9 / 8 / 2**20 * model.efficiency * 1.5
    a = live_seconds(8192, 1.0, rate / 2, model)
    b = live_seconds(8192, 0.1, rate / 2, model)
    assert [m.est_seconds for m in res.moves] == pytest.approx([a, b])
    assert res.wave_seconds == pytest.approx((max(a, b),))
    assert res.estimated_seconds == pytest.approx(max(a, b) + 3)
