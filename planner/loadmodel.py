"""The load model of SPEC §2: host CPU % and memory %, and the balancer thresholds.

Host CPU %: ``cpu_base_pct + 100 * sum(VM demand) / logical_processors``; host memory %:
``100 * (sum(VM memory) + memory_reserve_mb) / memory_mb``.  Only Running and Paused VMs
count.  A host is *over the threshold* when either resource is strictly above it.

Thresholds by balancer level: Low 80 %, Medium 70 %, High either the Up hosts' average plus
5 points (default, ``high_mode="average"``) or 60 % absolute (``high_mode="absolute"``).  The
average is the mean of the Up hosts' percentages in the placement the threshold is computed
for (the current one when planning), per resource.  ``threshold_pct`` overrides the level.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from planner.cluster import AUTO_BALANCER_LEVEL_NAMES, CPU_UNITS, Cluster, HostState


class Level(StrEnum):
    """Native balancer aggressiveness (``AutoBalancerLevel``)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class HighMode(StrEnum):
    """Which published reading of the High level to use."""

    AVERAGE = "average"  # Up hosts' average + 5 points
    ABSOLUTE = "absolute"  # 60 %


#: ``AutoBalancerLevel`` number → level, from the one name table of the cluster setting.
LEVEL_BY_NUMBER = {n: Level(name.lower()) for n, name in AUTO_BALANCER_LEVEL_NAMES.items()}
FIXED_LEVEL_PCT = {Level.LOW: 80.0, Level.MEDIUM: 70.0}
HIGH_ABSOLUTE_PCT = 60.0
HIGH_MARGIN_PCT = 5.0


@dataclass(frozen=True)
class Threshold:
    """Threshold in force, per resource, and how it was chosen."""

    cpu_pct: float
    memory_pct: float
    level: str  # "low", "medium", "high" or "custom"
    rule: str  # human-readable: "Low: 80 %", "High: Up hosts' average + 5 points", ...

    def to_dict(self) -> dict[str, float]:
        """``{"cpu": x, "memory": y}`` as in SPEC §6."""
        return {"cpu": round(self.cpu_pct, 4), "memory": round(self.memory_pct, 4)}


@dataclass(frozen=True)
class HostLoads:
    """Per-host loads in percent for one placement."""

    cpu_pct: np.ndarray
    memory_pct: np.ndarray

    def over(self, thr: Threshold) -> np.ndarray:
        """Boolean mask of hosts above the threshold in either resource."""
        return (self.cpu_pct > thr.cpu_pct + 1e-9) | (self.memory_pct > thr.memory_pct + 1e-9)


def host_loads(cluster: Cluster, placement: np.ndarray | None = None) -> HostLoads:
    """CPU % and memory % of every host for ``placement`` (default: the current one)."""
    cpu = 100.0 * cluster.host_load_milli(placement) / cluster.host_cpu_capacity_milli
    mem = 100.0 * cluster.host_mem_used_mb(placement) / cluster.host_memory_mb
    return HostLoads(cpu, mem)


def parse_level(level: Level | str | int) -> Level:
    """A balancer level from its name (any case) or its ``AutoBalancerLevel`` number."""
    if isinstance(level, Level):
        return level
    if isinstance(level, int) or (isinstance(level, str) and level.strip().isdigit()):
        try:
            return LEVEL_BY_NUMBER[int(level)]
        except KeyError:
            raise ValueError(f"balancer level must be 1, 2 or 3, not {level}") from None
    try:
        return Level(str(level).strip().lower())
    except ValueError:
        raise ValueError(f"balancer level must be low, medium or high, not {level!r}") from None


def other_high_reading(
    cluster: Cluster, thr: Threshold, placement: np.ndarray | None = None
) -> Threshold | None:
    """For a High threshold, the threshold under the *other* published reading of High
    (DOMAIN.md: 60 % absolute vs. the Up hosts' average + 5 points); ``None`` otherwise."""
    if thr.level != Level.HIGH.value:
        return None
    mode = HighMode.AVERAGE if thr.rule.startswith("High (absolute") else HighMode.ABSOLUTE
    return resolve_threshold(cluster, Level.HIGH, None, mode, placement)


def resolve_threshold(
    cluster: Cluster,
    level: Level | str | int | None = None,
    threshold_pct: float | None = None,
    high_mode: HighMode | str = HighMode.AVERAGE,
    placement: np.ndarray | None = None,
) -> Threshold:
    """The threshold in force: ``threshold_pct`` if given, else the level (default: the
    cluster's ``auto_balancer_level``).

    ``level`` is a :class:`Level`, its name in any case or its number (1, 2, 3).  For High,
    ``high_mode`` chooses the reading (see the module docstring); the returned ``rule`` says
    which one was used.  Raises ``ValueError`` for a level or percentage out of range.
    """
    if threshold_pct is not None:
        t = float(threshold_pct)
        if not 0.0 <= t <= 100.0:
            raise ValueError(f"threshold_pct must be between 0 and 100, not {threshold_pct}")
        return Threshold(t, t, "custom", f"--threshold {t:g} %")
    lv = (
        parse_level(level)
        if level is not None
        else LEVEL_BY_NUMBER[cluster.settings.auto_balancer_level]
    )
    if lv in FIXED_LEVEL_PCT:
        t = FIXED_LEVEL_PCT[lv]
        return Threshold(t, t, lv.value, f"{lv.value.title()}: {t:g} %")
    mode = high_mode if isinstance(high_mode, HighMode) else HighMode(high_mode.strip().lower())
    if mode == HighMode.ABSOLUTE:
        return Threshold(
            HIGH_ABSOLUTE_PCT,
            HIGH_ABSOLUTE_PCT,
            "high",
            f"High (absolute reading): {HIGH_ABSOLUTE_PCT:g} %",
        )
    loads = host_loads(cluster, placement)
    up = cluster.host_up
    if not up.any():
        up = np.ones(cluster.n_hosts, dtype=bool)
    cpu = float(loads.cpu_pct[up].mean()) + HIGH_MARGIN_PCT
    mem = float(loads.memory_pct[up].mean()) + HIGH_MARGIN_PCT
    return Threshold(
        cpu,
        mem,
        "high",
        f"High (average reading): Up hosts' average + {HIGH_MARGIN_PCT:g} points "
        f"(CPU {cpu:.2f} %, memory {mem:.2f} %)",
    )


def threshold_limits(cluster: Cluster, thr: Threshold) -> tuple[np.ndarray, np.ndarray]:
    """Largest VM CPU load (milli-LP) and VM memory (MB) per host that keep it at or below
    the threshold.  May be negative when the base load or reserve alone is above it."""
    cap = cluster.host_cpu_capacity_milli
    cpu = np.floor(thr.cpu_pct * cap / 100.0 + 1e-9).astype(np.int64) - cluster.host_cpu_base_milli
    mem = (
        np.floor(thr.memory_pct * cluster.host_memory_mb / 100.0 + 1e-9).astype(np.int64)
        - cluster.host_memory_reserve_mb
    )
    return cpu, mem


def excess_units(
    cluster: Cluster, thr: Threshold, placement: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-host load above the threshold, in milli-LP and MB (zero when under)."""
    cpu_lim, mem_lim = threshold_limits(cluster, thr)
    p = cluster.vm_host if placement is None else placement
    cpu = np.bincount(p, weights=cluster.vm_cpu_load_milli, minlength=cluster.n_hosts)
    mem = np.bincount(p, weights=cluster.vm_mem_load_mb, minlength=cluster.n_hosts)
    return (
        np.maximum(cpu.astype(np.int64) - cpu_lim, 0),
        np.maximum(mem.astype(np.int64) - mem_lim, 0),
    )


__all__ = [
    "CPU_UNITS",
    "HighMode",
    "HostLoads",
    "Level",
    "Threshold",
    "excess_units",
    "host_loads",
    "other_high_reading",
    "parse_level",
    "resolve_threshold",
    "threshold_limits",
]


def native_balancer_note(cluster: Cluster, placement: np.ndarray, planned: Threshold) -> str | None:
    """A warning when the cluster's own balancer will move VMs again after a plan.

    With ``AutoBalancerMode`` 2 (every 30 minutes) or 1 (on node join) the native balancer
    moves VMs off a node above *its* level's threshold.  A plan made for a higher threshold
    (``--threshold``, a lower ``--level``) may leave nodes between the two: they are named
    here.  ``None`` when the balancer is off or no node is left above its threshold.
    """
    mode = cluster.settings.auto_balancer_mode
    if mode == 0:
        return None
    native = resolve_threshold(cluster, cluster.settings.auto_balancer_level, placement=placement)
    if native.cpu_pct >= planned.cpu_pct and native.memory_pct >= planned.memory_pct:
        return None
    loads = host_loads(cluster, placement)
    over = loads.over(native) & (cluster.host_state != HostState.DOWN)
    if not over.any():
        return None
    names = [cluster.host_names[h] for h in np.flatnonzero(over)]
    when = "every 30 minutes" if mode == 2 else "when a node joins"
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"the cluster's native balancer ({native.rule}, AutoBalancerMode {mode}) will move "
        f"VMs again {when}: {len(names)} node(s) stay above its threshold after this plan "
        f"({shown})"
    )
