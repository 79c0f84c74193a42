"""Immutable, integer-valued problem data for one cluster snapshot.

Everything the optimizer, the evaluator, the sequencer and the capacity planner share lives
here.  Entities refer to each other by integer index; names exist only for the edges (files,
reports).  Floats from the CSV files are converted once, at the input edge, into fixed units:

* CPU in *milli logical processors* (``CPU_UNITS`` per logical processor): a VM with 4 vCPUs
  at 25 % demands 1,000 milli-LP.
* Memory in MB.
* Percentages that must stay exact (thresholds) are kept as floats only in reports.

Derived lookups (compatibility matrix, allowed hosts, rule members) are computed once, lazily,
and cached on the instance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from planner.groups import components

if TYPE_CHECKING:  # the history package imports this module
    from planner.history.model import LoadHistory

#: Fixed-point CPU unit: milli logical processors.
CPU_UNITS = 1000


class HostState(IntEnum):
    """Cluster node state.

    ``UP`` receives and keeps VMs; ``PAUSED`` (``Suspend-ClusterNode`` without ``-Drain``)
    keeps its VMs running but receives nothing; ``DOWN`` receives nothing and the VMs listed
    on it are not running there (they can only be started elsewhere, never migrated).
    """

    UP = 0
    PAUSED = 1
    DOWN = 2


HOST_STATE_NAMES = {HostState.UP: "Up", HostState.PAUSED: "Paused", HostState.DOWN: "Down"}


class VmState(IntEnum):
    """VM state; only RUNNING and PAUSED consume CPU and memory."""

    RUNNING = 0
    OFF = 1
    SAVED = 2
    PAUSED = 3


VM_STATE_NAMES = {
    VmState.RUNNING: "Running",
    VmState.OFF: "Off",
    VmState.SAVED: "Saved",
    VmState.PAUSED: "Paused",
}

#: Failover priority values of ``Get-ClusterGroup`` and their names.
PRIORITY_NAMES = {3000: "High", 2000: "Medium", 1000: "Low", 0: "NoAutoStart"}


class Vendor(IntEnum):
    """CPU vendor; live migration never crosses vendors."""

    INTEL = 0
    AMD = 1
    HYGON = 2


VENDOR_CPUID = {
    Vendor.INTEL: "GenuineIntel",
    Vendor.AMD: "AuthenticAMD",
    Vendor.HYGON: "HygonGenuine",
}


class CompatMode(IntEnum):
    """Processor compatibility mode of a VM."""

    NONE = 0
    MINIMUM = 1  # MinimumFeatureSet
    COMMON = 2  # CommonClusterFeatureSet (config version >= 10, else falls back to MINIMUM)


COMPAT_NAMES = {
    CompatMode.NONE: "None",
    CompatMode.MINIMUM: "MinimumFeatureSet",
    CompatMode.COMMON: "CommonClusterFeatureSet",
}


class RuleType(IntEnum):
    """Affinity rule types with the numeric values of ``Get-ClusterAffinityRule``."""

    SAME_FAULT_DOMAIN = 1
    SAME_NODE = 2
    DIFFERENT_FAULT_DOMAIN = 3
    DIFFERENT_NODE = 4


RULE_TYPE_NAMES = {
    RuleType.SAME_FAULT_DOMAIN: "SameFaultDomain",
    RuleType.SAME_NODE: "SameNode",
    RuleType.DIFFERENT_FAULT_DOMAIN: "DifferentFaultDomain",
    RuleType.DIFFERENT_NODE: "DifferentNode",
}


class NetworkRole(IntEnum):
    """Cluster network role."""

    NONE = 0
    CLUSTER = 1
    CLUSTER_AND_CLIENT = 3


NETWORK_ROLE_NAMES = {
    NetworkRole.NONE: "None",
    NetworkRole.CLUSTER: "Cluster",
    NetworkRole.CLUSTER_AND_CLIENT: "ClusterAndClient",
}


class MoveKind(IntEnum):
    """How a VM can reach a host; ``FORBIDDEN`` means it cannot.

    ``START`` is the cold boot of a VM listed on a Down node on its target (it is not running
    anywhere, so vendor and CPU features do not constrain it; it needs its boot memory).
    """

    FORBIDDEN = -1
    LIVE = 0
    QUICK = 1
    SHUTDOWN = 2
    START = 3


MOVE_KIND_NAMES = {
    MoveKind.LIVE: "Live",
    MoveKind.QUICK: "Quick",
    MoveKind.SHUTDOWN: "Shutdown",
    MoveKind.START: "Start",
}

#: Hyper-V's limit of running VMs per node (Windows Server 2022 and 2025).
DEFAULT_MAX_RUNNING_VMS = 1024
#: ``host_max_config_version_x10`` value meaning "runs every configuration version".
ANY_CONFIG_VERSION = -1

#: Configuration version from which CommonClusterFeatureSet is honoured, in tenths.
COMMON_FEATURE_SET_MIN_VERSION_X10 = 100

#: Default host memory reserve (MB) when ``memory_reserve_mb`` is not given: 4 GiB for the
#: root partition and cluster services, but never more than a quarter of the host.
DEFAULT_MEMORY_RESERVE_MB = 4096


def default_memory_reserve_mb(memory_mb: int) -> int:
    """Return the documented default memory reserve for a host with ``memory_mb`` MB."""
    return min(DEFAULT_MEMORY_RESERVE_MB, memory_mb // 4)


#: ``AutoBalancerMode`` values (cluster.csv ``auto_balancer_mode``) and their names.
AUTO_BALANCER_MODE_NAMES = {0: "Disabled", 1: "LoadBalanceOnNodeJoin", 2: "LoadBalanceAlways"}
#: ``AutoBalancerLevel`` values (cluster.csv ``auto_balancer_level``) and their names.
AUTO_BALANCER_LEVEL_NAMES = {1: "Low", 2: "Medium", 3: "High"}


@dataclass(frozen=True)
class ClusterSettings:
    """Cluster-wide properties (``cluster.csv``)."""

    auto_balancer_mode: int = 2
    auto_balancer_level: int = 1
    maximum_parallel_migrations: int | None = None
    enforced_anti_affinity: bool = False
    #: When the snapshot was taken, ISO 8601 normalised to UTC (``2026-12-01T08:30:00Z``).
    collected_utc: str | None = None


@dataclass(frozen=True)
class Rule:
    """One affinity rule; ``members`` are VM indices.

    ``other_members`` are the names in the rule's groups that are not VMs (a Cluster Shared
    Volume, another cluster group): kept and reported, they never constrain a plan.
    """

    name: str
    rule_type: RuleType
    enabled: bool
    members: tuple[int, ...]
    other_members: tuple[str, ...] = ()

    @property
    def type_name(self) -> str:
        """The rule type as PowerShell shows it."""
        return RULE_TYPE_NAMES[self.rule_type]


@dataclass(frozen=True)
class Network:
    """One cluster network."""

    name: str
    role: NetworkRole = NetworkRole.CLUSTER_AND_CLIENT
    live_migration_order: int | None = None
    bandwidth_gbps: float = 10.0


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _unset() -> np.ndarray:
    """Default of an optional per-host or per-VM array: filled in by ``__post_init__``."""
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Cluster:
    """A cluster snapshot as immutable arrays indexed by host and VM number.

    Build one with :func:`planner.snapshot.load_snapshot` (from CSV) or directly (tests,
    generator); change one only through :meth:`replace`.
    """

    name: str
    settings: ClusterSettings
    # --- hosts (length H) -------------------------------------------------------------
    host_names: tuple[str, ...]
    host_state: np.ndarray  # int8 HostState
    host_fault_domain: np.ndarray  # int32 index into fault_domains
    fault_domains: tuple[str, ...]
    host_vendor: np.ndarray  # int8 Vendor
    host_cpu_model: tuple[str, ...]
    host_lp: np.ndarray  # int64 logical processors
    host_memory_mb: np.ndarray  # int64 physical memory
    host_memory_reserve_mb: np.ndarray  # int64
    host_cpu_base_milli: np.ndarray  # int64 non-VM CPU use, milli-LP
    host_max_migrations: np.ndarray  # int64 per-host live-migration limit (as configured)
    features: tuple[str, ...]  # feature universe (column order of host_features)
    host_features: np.ndarray  # bool (H, F)
    vendor_baseline: np.ndarray  # bool (len(Vendor), F): MinimumFeatureSet per vendor
    # --- VMs (length V) ---------------------------------------------------------------
    vm_names: tuple[str, ...]
    vm_host: np.ndarray  # int32 current host
    vm_state: np.ndarray  # int8 VmState
    vm_priority: np.ndarray  # int16 0/1000/2000/3000
    vm_vcpus: np.ndarray  # int64
    vm_memory_mb: np.ndarray  # int64
    vm_cpu_milli: np.ndarray  # int64 CPU demand when running, milli-LP
    vm_config_version_x10: np.ndarray  # int32 configuration version * 10
    vm_compat: np.ndarray  # int8 CompatMode
    vm_possible: np.ndarray  # bool (V, H) possible owners
    vm_preferred: tuple[tuple[int, ...], ...]  # ordered preferred owners per VM
    vm_aa_classes: tuple[tuple[int, ...], ...]  # anti-affinity class indices per VM
    aa_class_names: tuple[str, ...]
    vm_allow_downtime: np.ndarray  # bool
    vm_pinned: np.ndarray  # bool
    # --- rules and networks -------------------------------------------------------------
    rules: tuple[Rule, ...] = ()
    networks: tuple[Network, ...] = ()
    # --- optional per-host / per-VM data (defaults filled in by __post_init__) ----------
    #: int32 highest VM configuration version * 10 the node runs; -1 = any version.
    host_max_config_version_x10: np.ndarray = field(default_factory=_unset)
    #: int64 running (consuming) VMs the node may hold in any placement (Hyper-V: 1,024).
    host_max_running_vms: np.ndarray = field(default_factory=_unset)
    vm_dynamic_memory: np.ndarray = field(default_factory=_unset)  # bool
    #: int64 memory a VM boots with (default ``vm_memory_mb``), and its Dynamic Memory range.
    vm_memory_startup_mb: np.ndarray = field(default_factory=_unset)
    vm_memory_minimum_mb: np.ndarray = field(default_factory=_unset)
    vm_memory_maximum_mb: np.ndarray = field(default_factory=_unset)
    source: Path | None = field(default=None, compare=False)
    #: Load over time (``vm_history`` / ``host_history``), when the snapshot has one.
    history: LoadHistory | None = field(default=None, compare=False)
    #: sha256 over the snapshot's files as read (set by the loader; None when built in memory).
    snapshot_sha256: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        h, v = self.n_hosts, self.n_vms
        defaults: dict[str, tuple[int, Callable[[], np.ndarray], type]] = {
            "host_max_config_version_x10": (h, lambda: np.full(h, ANY_CONFIG_VERSION), np.int32),
            "host_max_running_vms": (h, lambda: np.full(h, DEFAULT_MAX_RUNNING_VMS), np.int64),
            "vm_dynamic_memory": (v, lambda: np.zeros(v, dtype=bool), np.bool_),
            "vm_memory_startup_mb": (v, lambda: self.vm_memory_mb, np.int64),
            "vm_memory_minimum_mb": (v, lambda: self.vm_memory_mb, np.int64),
            "vm_memory_maximum_mb": (v, lambda: self.vm_memory_mb, np.int64),
        }
        for name, (n, make, dtype) in defaults.items():
            a = np.asarray(getattr(self, name))
            if a.size == 0 and n > 0:
                a = make()
            if a.shape != (n,):
                raise ValueError(f"{name} has shape {a.shape}, expected {(n,)}")
            object.__setattr__(self, name, a.astype(dtype, copy=False))
        for f in dataclasses.fields(self):
            x = getattr(self, f.name)
            if isinstance(x, np.ndarray):
                object.__setattr__(self, f.name, _frozen(x))
        if self.vm_possible.shape != (v, h):
            raise ValueError(f"vm_possible has shape {self.vm_possible.shape}, expected {(v, h)}")
        if self.host_features.shape != (h, len(self.features)):
            raise ValueError("host_features shape does not match hosts x features")
        if v and (self.vm_host.min() < 0 or self.vm_host.max() >= h):
            raise ValueError("vm_host refers to an unknown host index")

    # ---------------------------------------------------------------- basic sizes
    @property
    def n_hosts(self) -> int:
        """Number of hosts."""
        return len(self.host_names)

    @property
    def n_vms(self) -> int:
        """Number of VMs."""
        return len(self.vm_names)

    def replace(self, **changes: object) -> Cluster:
        """Return a copy with some fields changed (derived lookups are recomputed)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- name lookups
    @cached_property
    def host_index(self) -> dict[str, int]:
        """Case-insensitive host name → index."""
        return {n.casefold(): i for i, n in enumerate(self.host_names)}

    @cached_property
    def vm_index(self) -> dict[str, int]:
        """Case-insensitive VM name → index."""
        return {n.casefold(): i for i, n in enumerate(self.vm_names)}

    # ---------------------------------------------------------------- capacities
    @cached_property
    def host_cpu_capacity_milli(self) -> np.ndarray:
        """Total CPU of each host in milli-LP (100 %)."""
        return _frozen(self.host_lp * CPU_UNITS)

    @cached_property
    def host_cpu_free_milli(self) -> np.ndarray:
        """CPU available to VMs (capacity minus the non-VM base load)."""
        return _frozen(self.host_cpu_capacity_milli - self.host_cpu_base_milli)

    @cached_property
    def host_memory_free_mb(self) -> np.ndarray:
        """Memory available to VMs (physical minus reserve)."""
        return _frozen(self.host_memory_mb - self.host_memory_reserve_mb)

    @cached_property
    def host_up(self) -> np.ndarray:
        """Hosts that may receive VMs (state Up)."""
        return _frozen(self.host_state == HostState.UP)

    @cached_property
    def host_keeps(self) -> np.ndarray:
        """Hosts whose VMs may stay (Up or Paused: a Paused node keeps its VMs running)."""
        return _frozen(self.host_state != HostState.DOWN)

    @cached_property
    def live_migration_possible(self) -> bool:
        """False when the snapshot lists networks and none is usable for live migration (a
        ``live_migration_order`` and a role other than None).  No networks at all: assumed
        possible (the snapshot then says nothing about the networks)."""
        if not self.networks:
            return True
        return any(
            n.live_migration_order is not None and n.role != NetworkRole.NONE for n in self.networks
        )

    @cached_property
    def host_migration_limit(self) -> np.ndarray:
        """Effective simultaneous live migrations per node (cluster override applied)."""
        mpm = self.settings.maximum_parallel_migrations
        if mpm is not None:
            return _frozen(np.full(self.n_hosts, mpm, dtype=np.int64))
        return _frozen(self.host_max_migrations.astype(np.int64))

    # ---------------------------------------------------------------- VM demand
    @cached_property
    def vm_consumes(self) -> np.ndarray:
        """VMs that consume CPU and memory (Running or Paused)."""
        return _frozen(np.isin(self.vm_state, (VmState.RUNNING, VmState.PAUSED)))

    @cached_property
    def vm_cpu_load_milli(self) -> np.ndarray:
        """CPU load each VM puts on its host (0 when not consuming)."""
        return _frozen(np.where(self.vm_consumes, self.vm_cpu_milli, 0).astype(np.int64))

    @cached_property
    def vm_mem_load_mb(self) -> np.ndarray:
        """Memory load each VM puts on its host (0 when not consuming)."""
        return _frozen(np.where(self.vm_consumes, self.vm_memory_mb, 0).astype(np.int64))

    @cached_property
    def vm_boot_memory_mb(self) -> np.ndarray:
        """Memory a consuming VM occupies on a host it reaches by a Start or Shutdown move
        (or a restart after a failure): ``max(memory_mb, memory_startup_mb)``; 0 when the
        VM does not consume.  Live and Quick moves, and staying, use :attr:`vm_mem_load_mb`."""
        boot = np.maximum(self.vm_memory_mb, self.vm_memory_startup_mb)
        return _frozen(np.where(self.vm_consumes, boot, 0).astype(np.int64))

    @cached_property
    def vm_on_down_host(self) -> np.ndarray:
        """VMs listed on a Down node (not running there, whatever their state says)."""
        return _frozen(self.host_state[self.vm_host] == HostState.DOWN)

    @cached_property
    def vm_version_admitted(self) -> np.ndarray:
        """bool (V, H): the host's OS runs the VM's configuration version."""
        mx = self.host_max_config_version_x10
        return _frozen((mx[None, :] < 0) | (self.vm_config_version_x10[:, None] <= mx[None, :]))

    @cached_property
    def vm_live_state(self) -> np.ndarray:
        """VMs whose state cannot cross vendors or feature sets (Running, Paused, Saved)."""
        return _frozen(self.vm_state != VmState.OFF)

    # ---------------------------------------------------------------- compatibility
    @cached_property
    def vm_vendor(self) -> np.ndarray:
        """Vendor of the CPU each VM currently runs on."""
        return _frozen(self.host_vendor[self.vm_host])

    @cached_property
    def vendor_common_features(self) -> np.ndarray:
        """CommonClusterFeatureSet per vendor: intersection over that vendor's hosts."""
        out = np.zeros((len(Vendor), len(self.features)), dtype=bool)
        for vd in Vendor:
            mask = self.host_vendor == vd
            if mask.any():
                out[vd] = self.host_features[mask].all(axis=0)
        return _frozen(out)

    @cached_property
    def vm_effective_compat(self) -> np.ndarray:
        """Compatibility mode actually in force (COMMON below version 10 → MINIMUM)."""
        mode = self.vm_compat.astype(np.int8).copy()
        low = (mode == CompatMode.COMMON) & (
            self.vm_config_version_x10 < COMMON_FEATURE_SET_MIN_VERSION_X10
        )
        mode[low] = CompatMode.MINIMUM
        return _frozen(mode)

    @cached_property
    def vm_presented_features(self) -> np.ndarray:
        """Feature set each VM sees (bool V x F), per SPEC §3."""
        mode = self.vm_effective_compat
        out = self.host_features[self.vm_host].copy()
        mn = mode == CompatMode.MINIMUM
        out[mn] = self.vendor_baseline[self.vm_vendor[mn]]
        cm = mode == CompatMode.COMMON
        out[cm] = self.vendor_common_features[self.vm_vendor[cm]]
        return _frozen(out)

    @cached_property
    def vm_feature_compatible(self) -> np.ndarray:
        """bool (V, H): same vendor and presented features contained in the host's."""
        pres = self.vm_presented_features
        # A VM fits a host when it needs no feature the host lacks.  Group identical presented
        # sets so the check costs (distinct sets x H x F), not (V x H x F).
        if self.n_vms == 0:
            return _frozen(np.zeros((0, self.n_hosts), dtype=bool))
        vendor_onehot = self.vm_vendor[:, None] == np.arange(len(Vendor))
        packed = np.packbits(np.concatenate([pres, vendor_onehot], axis=1), axis=1)
        uniq, inverse = np.unique(packed, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        nf = len(self.features)
        bits = np.unpackbits(uniq, axis=1)[:, : nf + len(Vendor)].astype(bool)
        feat, vend = bits[:, :nf], bits[:, nf:]
        missing = feat.astype(np.int32) @ (~self.host_features).T.astype(np.int32)
        same_vendor = vend @ (self.host_vendor[None, :] == np.arange(len(Vendor))[:, None])
        ok_u = (missing == 0) & same_vendor.astype(bool)
        return _frozen(ok_u[inverse])

    @cached_property
    def vm_move_kind(self) -> np.ndarray:
        """int8 (V, H) :class:`MoveKind` for moving each VM to each host (ignoring capacity,
        owners and the target's state: see :attr:`vm_allowed`), per SPEC §3.

        On an Up or Paused node: Running and Paused VMs move Live to compatible hosts (same
        vendor, presented features offered) when the cluster can live-migrate at all, and
        Shutdown otherwise (only with ``allow_downtime``); Saved VMs move Quick to
        compatible hosts only (saved state cannot cross vendors or feature sets); Off VMs
        move Quick anywhere.  On a Down node: Running and Paused VMs are Started on any
        host; Off and Saved VMs cannot move (they stay listed there).  The current host is
        marked with the kind the VM would use, but staying is never a move.
        """
        compat = self.vm_feature_compatible
        state = self.vm_state[:, None]
        down = self.vm_on_down_host[:, None]
        running = (state == VmState.RUNNING) | (state == VmState.PAUSED)
        downtime = self.vm_allow_downtime[:, None]
        live = compat & self.live_migration_possible
        kind = np.full((self.n_vms, self.n_hosts), MoveKind.FORBIDDEN, dtype=np.int8)
        kind[running & live] = MoveKind.LIVE
        kind[running & ~live & downtime] = MoveKind.SHUTDOWN
        kind[(state == VmState.SAVED) & compat] = MoveKind.QUICK
        kind[np.broadcast_to(state == VmState.OFF, kind.shape)] = MoveKind.QUICK
        kind[np.broadcast_to(down, kind.shape)] = MoveKind.FORBIDDEN
        kind[np.broadcast_to(down & running, kind.shape)] = MoveKind.START
        return _frozen(kind)

    @cached_property
    def vm_allowed(self) -> np.ndarray:
        """bool (V, H): hosts a VM may end on.

        Another host: a possible owner, reachable by the VM's move kind, admitting the VM's
        configuration version, and Up (drained nodes are the planning problem's business).
        The current host: when it is a possible owner that admits the version and is Up or
        Paused (a Paused node keeps its VMs).  VMs listed on a Down node: Running and Paused
        ones must be started elsewhere (never allowed to stay); Off and Saved ones stay.
        """
        v_idx = np.arange(self.n_vms)
        cur = self.vm_host
        ok = self.vm_possible & self.vm_version_admitted
        allowed = (self.vm_move_kind != MoveKind.FORBIDDEN) & ok & self.host_up[None, :]
        stay = ok[v_idx, cur] & self.host_keeps[cur]
        stay |= self.vm_on_down_host & ~self.vm_consumes
        allowed[v_idx, cur] = stay
        return _frozen(allowed)

    @cached_property
    def vm_may_stay(self) -> np.ndarray:
        """bool V: the VM may end on its current host (``vm_allowed`` there)."""
        return _frozen(self.vm_allowed[np.arange(self.n_vms), self.vm_host])

    @cached_property
    def vm_live_targets(self) -> np.ndarray:
        """Number of other hosts each VM may end on without downtime (Live or Quick)."""
        kind = self.vm_move_kind
        ok = ((kind == MoveKind.LIVE) | (kind == MoveKind.QUICK)) & self.vm_allowed
        ok[np.arange(self.n_vms), self.vm_host] = False
        return _frozen(ok.sum(axis=1))

    # ---------------------------------------------------------------- rules
    @cached_property
    def enabled_rules(self) -> tuple[Rule, ...]:
        """Enabled affinity rules."""
        return tuple(r for r in self.rules if r.enabled)

    @cached_property
    def same_node_groups(self) -> dict[int, tuple[int, ...]]:
        """VM → the VMs it must share a node with (itself included, ascending), through
        enabled SameNode rules taken transitively; only members of such rules appear."""
        return components(
            self.n_vms,
            (r.members for r in self.enabled_rules if r.rule_type == RuleType.SAME_NODE),
        )

    @cached_property
    def aa_class_members(self) -> tuple[tuple[int, ...], ...]:
        """VM indices per legacy anti-affinity class."""
        members: list[list[int]] = [[] for _ in self.aa_class_names]
        for v, classes in enumerate(self.vm_aa_classes):
            for c in classes:
                members[c].append(v)
        return tuple(tuple(m) for m in members)

    # ---------------------------------------------------------------- convenience
    def host_load_milli(self, placement: np.ndarray | None = None) -> np.ndarray:
        """CPU load per host in milli-LP (base + VMs) for a placement (default: current)."""
        p = self.vm_host if placement is None else placement
        return self.host_cpu_base_milli + np.bincount(
            p, weights=self.vm_cpu_load_milli, minlength=self.n_hosts
        ).astype(np.int64)

    def host_mem_used_mb(self, placement: np.ndarray | None = None) -> np.ndarray:
        """Memory use per host in MB (reserve + VMs) for a placement (default: current)."""
        p = self.vm_host if placement is None else placement
        return self.host_memory_reserve_mb + np.bincount(
            p, weights=self.vm_mem_load_mb, minlength=self.n_hosts
        ).astype(np.int64)
