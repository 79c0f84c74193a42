"""The cluster model's SPEC §3 semantics, one feasible/infeasible pair per rule.

Each cluster is tiny and hand-built; the comment above each assertion is the derivation.
Hosts are 16 LP / 65,536 MB / 4,096 MB reserve (61,440 MB for VMs) unless said otherwise.
"""

from __future__ import annotations

import numpy as np

from planner.cluster import (
    HostState,
    MoveKind,
    Network,
    NetworkRole,
    Vendor,
    VmState,
)
from tests.strategies import HostSpec, VmSpec, make_cluster


def _kind(c, vm: int, host: int) -> MoveKind:  # type: ignore[no-untyped-def]
    return MoveKind(int(c.vm_move_kind[vm, host]))


# ------------------------------------------------------------------------- Paused nodes
def test_paused_node_keeps_its_vms_but_receives_none() -> None:
    # H1 Paused runs A; H2 Up runs B.  A may stay on H1 (Suspend-ClusterNode without
    # -Drain keeps VMs) and may move to H2; B may not move onto the Paused H1.
    c = make_cluster(
        [HostSpec("H1", state=HostState.PAUSED), HostSpec("H2")],
        [VmSpec("A", "H1"), VmSpec("B", "H2")],
    )
    assert c.vm_allowed.tolist() == [[True, True], [False, True]]
    assert c.vm_may_stay.tolist() == [True, True]


# ------------------------------------------------------------------------- Down nodes
def test_down_node_running_vms_are_started_off_and_saved_ones_stay() -> None:
    # H1 Down lists R (Running), P (Paused), O (Off), S (Saved); H2 is Up and AMD (another
    # vendor: no live or quick move could reach it).  R and P are not running on H1: they
    # are Started on H2 (a cold boot, the vendor does not matter) and may not stay; O and S
    # cannot move from a Down node and stay listed there.
    c = make_cluster(
        [HostSpec("H1", state=HostState.DOWN), HostSpec("H2", vendor=Vendor.AMD)],
        [
            VmSpec("R", "H1"),
            VmSpec("P", "H1", state=VmState.PAUSED),
            VmSpec("O", "H1", state=VmState.OFF),
            VmSpec("S", "H1", state=VmState.SAVED),
        ],
    )
    assert [_kind(c, v, 1) for v in range(4)] == [
        MoveKind.START,
        MoveKind.START,
        MoveKind.FORBIDDEN,
        MoveKind.FORBIDDEN,
    ]
    assert c.vm_allowed.tolist() == [[False, True], [False, True], [True, False], [True, False]]


def test_start_needs_boot_memory() -> None:
    # R runs with 4,096 MB assigned, Dynamic Memory, startup 8,192 MB: started elsewhere it
    # needs max(4,096, 8,192) = 8,192 MB.  Off VMs consume nothing, so their boot memory is 0.
    c = make_cluster(
        [HostSpec("H1", state=HostState.DOWN), HostSpec("H2")],
        [
            VmSpec(
                "R",
                "H1",
                memory_mb=4096,
                dynamic_memory=True,
                memory_startup_mb=8192,
                memory_minimum_mb=2048,
                memory_maximum_mb=16384,
            ),
            VmSpec("O", "H2", state=VmState.OFF, memory_startup_mb=8192),
        ],
    )
    assert c.vm_boot_memory_mb.tolist() == [8192, 0]
    assert c.vm_mem_load_mb.tolist() == [4096, 0]
    # Static memory: the boot memory is the assigned memory.
    s = make_cluster([HostSpec("H1")], [VmSpec("A", "H1", memory_mb=4096)])
    assert s.vm_boot_memory_mb.tolist() == [4096]


# ------------------------------------------------------------------------- config versions
def test_config_version_excludes_an_older_node() -> None:
    # H2 runs versions up to 9.0 (Windows Server 2019), H3 up to 12.0, H1 any.  A is 10.0:
    # it may go to H3, not to H2; B is 9.0: both.
    c = make_cluster(
        [
            HostSpec("H1"),
            HostSpec("H2", max_config_version_x10=90),
            HostSpec("H3", max_config_version_x10=120),
        ],
        [VmSpec("A", "H1", config_version_x10=100), VmSpec("B", "H1", config_version_x10=90)],
    )
    assert c.vm_allowed.tolist() == [[True, False, True], [True, True, True]]
    # A VM whose own node no longer admits its version must leave it.
    d = make_cluster(
        [HostSpec("H1", max_config_version_x10=90), HostSpec("H2")],
        [VmSpec("A", "H1", config_version_x10=100)],
    )
    assert d.vm_allowed.tolist() == [[False, True]]


# ------------------------------------------------------------------------- live migration
def _lm_cluster(networks: tuple[Network, ...], downtime: bool):  # type: ignore[no-untyped-def]
    return make_cluster(
        [HostSpec("H1"), HostSpec("H2")],
        [VmSpec("A", "H1", allow_downtime=downtime), VmSpec("S", "H1", state=VmState.SAVED)],
        networks=networks,
    )


def test_no_live_migration_network_makes_live_moves_impossible() -> None:
    lm = (Network("Mgmt", NetworkRole.CLUSTER_AND_CLIENT), Network("LM", NetworkRole.CLUSTER, 1))
    none = (Network("Mgmt", NetworkRole.CLUSTER_AND_CLIENT), Network("iSCSI", NetworkRole.NONE))
    # With a live-migration network: A moves Live to the identical H2.
    c = _lm_cluster(lm, downtime=False)
    assert c.live_migration_possible and _kind(c, 0, 1) == MoveKind.LIVE
    # Without one: A moves only with downtime (Shutdown) when it allows it, else not at all;
    # the Saved S still moves Quick (saved state goes through storage, not the network).
    c = _lm_cluster(none, downtime=True)
    assert not c.live_migration_possible and _kind(c, 0, 1) == MoveKind.SHUTDOWN
    assert _kind(c, 1, 1) == MoveKind.QUICK
    c = _lm_cluster(none, downtime=False)
    assert _kind(c, 0, 1) == MoveKind.FORBIDDEN and not c.vm_allowed[0, 1]
    assert c.vm_allowed[0, 0]  # staying is still fine
    # No networks.csv at all: assumed possible.
    assert _lm_cluster((), downtime=False).live_migration_possible


def test_optional_arrays_default_and_are_checked() -> None:
    c = make_cluster([HostSpec("H1"), HostSpec("H2")], [VmSpec("A", "H1", memory_mb=2048)])
    assert c.host_max_running_vms.tolist() == [1024, 1024]
    assert c.host_max_config_version_x10.tolist() == [-1, -1]
    assert c.vm_memory_startup_mb.tolist() == [2048] and not c.vm_dynamic_memory.any()
    assert c.snapshot_sha256 is None
    try:
        c.replace(host_max_running_vms=np.array([1, 2, 3]))
    except ValueError as e:
        assert "host_max_running_vms" in str(e)
    else:  # pragma: no cover
        raise AssertionError("a wrong length must be refused")
