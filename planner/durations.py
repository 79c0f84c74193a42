"""Duration model of VM moves: per move, per wave (makespan) and for a whole plan.

Microsoft does not publish how long a move takes; this is an explicit, documented model whose
every number is a field of :class:`DurationModel` (change one with
``dataclasses.replace(DEFAULT_DURATION_MODEL, efficiency=0.6)``).

**Bandwidth.**  Live migration uses the cluster networks that have a
``live_migration_order`` (and a role other than None), in that order; the first one is used
(Hyper-V falls back to the next only when it fails), so its ``bandwidth_gbps`` is the node's
live-migration link.  Without such a network the model assumes ``default_bandwidth_gbps``
(10 Gbps).  The effective transfer rate of a node, in MB/s, is::

    rate = bandwidth_gbps * 1e9 / 8 / 2**20 * efficiency * compression_ratio

``efficiency`` (default 0.8) is what TCP/SMB and the link really deliver;
``compression_ratio`` (default 1.0: the TCP/IP or SMB performance option; about 1.5-2 with
the default *Compression* option on CPU-rich hosts) is the data reduction.  Moves that run at
the same time share the link of each node they touch: a move whose source takes part in *a*
moves of the wave and whose target takes part in *b* gets ``rate / max(a, b)``.

**Live migration** (Running and Paused VMs): iterative pre-copy.  Pass 1 copies the whole
assigned memory *M*; each next pass copies what was dirtied during the previous one, at the
VM's dirty rate ``d = M / 1024 * dirty_mb_per_s_per_gb * activity``, where ``activity`` is the
VM's CPU use (``cpu demand / vcpus``) but at least ``min_activity`` (default 0.1).  The
dirty rate per GB defaults to 8 MB/s.  Pre-copy stops when the remaining dirty memory is at
most ``stop_copy_mb`` (default 256 MB) or after ``max_precopy_passes`` (default 5, as Hyper-V
on Windows Server 2012 R2 and later); the rest is copied while the VM is paused, followed by
the switch-over (``switchover_seconds``, default 1 s).  Every move also pays
``setup_seconds`` (default 2 s: configuration transfer, cluster group move).  When the dirty
rate is at least the transfer rate, pre-copy cannot converge and the model charges the full
``max_precopy_passes`` of memory-sized passes.

**Quick migration** (Off and Saved VMs): there is no live state to copy (an Off VM has none;
a Saved VM's state stays on shared storage), so a Quick move takes ``quick_seconds`` (default
3 s).  Should a consuming VM ever move Quick, it is saved and restored from storage at
``save_restore_mb_per_s`` (default 2000 MB/s each way).

**Shutdown moves** (cross-vendor or feature-set moves of VMs that allow downtime): guest
shutdown (``shutdown_seconds``, default 60 s), the ownership move (``quick_seconds``) and
boot (``boot_seconds``, default 90 s).

**Start moves** (a running VM listed on a Down node, started on its target): the ownership
move (``quick_seconds``) and boot (``boot_seconds``); nothing is copied.  They do not share a
node's live-migration link.

**Waves and plan.**  A wave lasts as long as its slowest move (its makespan); the plan lasts
the sum of its waves plus ``wave_overhead_seconds`` per wave (default 5 s: the runbook's
pre-flight checks and polling between waves).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.cluster import CPU_UNITS, Cluster, MoveKind, NetworkRole

#: Bytes-to-MB conversion used for link speeds (MB are 2**20 bytes, as memory sizes).
_MB = 2**20


@dataclass(frozen=True)
class DurationModel:
    """Parameters of the move-duration model (see the module docstring for the formulas).

    All times in seconds, rates in MB/s, memory in MB.
    """

    default_bandwidth_gbps: float = 10.0
    efficiency: float = 0.8
    compression_ratio: float = 1.0
    dirty_mb_per_s_per_gb: float = 8.0
    min_activity: float = 0.1
    stop_copy_mb: float = 256.0
    max_precopy_passes: int = 5
    switchover_seconds: float = 1.0
    setup_seconds: float = 2.0
    quick_seconds: float = 3.0
    save_restore_mb_per_s: float = 2000.0
    shutdown_seconds: float = 60.0
    boot_seconds: float = 90.0
    wave_overhead_seconds: float = 5.0

    def __post_init__(self) -> None:
        positive = (
            "default_bandwidth_gbps",
            "efficiency",
            "compression_ratio",
            "save_restore_mb_per_s",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"DurationModel.{name} must be > 0")
        if self.max_precopy_passes < 1:
            raise ValueError("DurationModel.max_precopy_passes must be >= 1")
        others = (
            "dirty_mb_per_s_per_gb",
            "min_activity",
            "stop_copy_mb",
            "switchover_seconds",
            "setup_seconds",
            "quick_seconds",
            "shutdown_seconds",
            "boot_seconds",
            "wave_overhead_seconds",
        )
        for name in others:
            if getattr(self, name) < 0:
                raise ValueError(f"DurationModel.{name} must be >= 0")


#: The documented defaults.
DEFAULT_DURATION_MODEL = DurationModel()


def live_migration_bandwidth_gbps(
    cluster: Cluster, model: DurationModel = DEFAULT_DURATION_MODEL
) -> float:
    """Link speed used for live migration: the first network in ``live_migration_order``
    (role other than None), else ``model.default_bandwidth_gbps``."""
    usable = [
        n
        for n in cluster.networks
        if n.live_migration_order is not None and n.role != NetworkRole.NONE
    ]
    if not usable:
        return model.default_bandwidth_gbps
    # Ties in the order keep file order (a stable sort), so the result is deterministic.
    usable.sort(key=lambda n: n.live_migration_order)  # type: ignore[arg-type,return-value]
    return float(usable[0].bandwidth_gbps)


def node_rate_mb_s(cluster: Cluster, model: DurationModel = DEFAULT_DURATION_MODEL) -> float:
    """Effective live-migration transfer rate of one node, in MB/s, before sharing."""
    gbps = live_migration_bandwidth_gbps(cluster, model)
    return gbps * 1e9 / 8 / _MB * model.efficiency * model.compression_ratio


def live_seconds(
    memory_mb: float,
    activity: float,
    rate_mb_s: float,
    model: DurationModel = DEFAULT_DURATION_MODEL,
) -> float:
    """Duration of one live migration of ``memory_mb`` at ``rate_mb_s`` (pre-copy passes,
    stop-and-copy, switch-over and setup)."""
    if memory_mb <= 0:
        return model.setup_seconds + model.switchover_seconds
    dirty = memory_mb / 1024 * model.dirty_mb_per_s_per_gb * max(activity, model.min_activity)
    to_copy = float(memory_mb)
    total = 0.0
    for _ in range(model.max_precopy_passes):
        t = to_copy / rate_mb_s
        total += t
        # Memory dirtied while this pass ran must be sent again, but never more than the VM
        # has: a pass cannot find more dirty pages than there are pages.
        to_copy = min(dirty * t, float(memory_mb))
        if to_copy <= model.stop_copy_mb:
            break
    blackout = to_copy / rate_mb_s
    return model.setup_seconds + total + blackout + model.switchover_seconds


def move_seconds(
    cluster: Cluster,
    vm: int,
    kind: MoveKind,
    share: int = 1,
    model: DurationModel = DEFAULT_DURATION_MODEL,
    rate_mb_s: float | None = None,
) -> float:
    """Estimated duration of moving VM ``vm`` with ``kind`` while ``share`` moves share the
    busier node's link (``share >= 1``).  ``rate_mb_s`` defaults to :func:`node_rate_mb_s`."""
    rate = node_rate_mb_s(cluster, model) if rate_mb_s is None else rate_mb_s
    rate /= max(1, int(share))
    mem = float(cluster.vm_memory_mb[vm])
    consumes = bool(cluster.vm_consumes[vm])
    if kind == MoveKind.LIVE:
        vcpus = int(cluster.vm_vcpus[vm])
        activity = float(cluster.vm_cpu_milli[vm]) / (vcpus * CPU_UNITS) if vcpus else 0.0
        return live_seconds(mem, min(activity, 1.0), rate, model)
    if kind == MoveKind.QUICK:
        if not consumes:
            return model.quick_seconds
        return model.quick_seconds + 2 * mem / model.save_restore_mb_per_s
    if kind == MoveKind.SHUTDOWN:
        return model.shutdown_seconds + model.quick_seconds + model.boot_seconds
    if kind == MoveKind.START:
        return model.quick_seconds + model.boot_seconds
    raise ValueError(f"no duration for move kind {kind!r}")


def plan_seconds(
    wave_makespans: list[float] | tuple[float, ...], model: DurationModel = DEFAULT_DURATION_MODEL
) -> float:
    """Total duration: the waves one after another, plus the per-wave overhead."""
    return float(sum(wave_makespans)) + model.wave_overhead_seconds * len(wave_makespans)


__all__ = [
    "DEFAULT_DURATION_MODEL",
    "DurationModel",
    "live_migration_bandwidth_gbps",
    "live_seconds",
    "move_seconds",
    "node_rate_mb_s",
    "plan_seconds",
]
