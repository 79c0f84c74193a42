"""The VMs of a generated cluster: sizes and CPU use drawn from the trace, memory scaled to
the load target, largest-first placement, per-node CPU scaling, and the VM attributes."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from planner.cluster import CompatMode, VmState
from planner.generate.options import (
    CONFIG_VERSION_WEIGHTS,
    CONFIG_VERSIONS_X10,
    MAX_RAW_VM_MEMORY_MB,
    MAX_RUNNING_VMS_PER_HOST,
    MEMORY_STEP_MB,
    MIN_RUNNING_VMS_PER_HOST,
    PRIORITIES,
    PRIORITY_WEIGHTS,
    GeneratorError,
    GeneratorOptions,
)
from planner.generate.trace import bitbrains_trace


def pick(rng: np.random.Generator, n: int, fraction: float, candidates: np.ndarray) -> np.ndarray:
    """``round(fraction * n)`` distinct indices from ``candidates`` (fewer if too few)."""
    k = min(int(np.floor(fraction * n + 0.5)), len(candidates))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(rng.choice(candidates, size=k, replace=False))


@dataclass(frozen=True)
class VmDraw:
    """VMs drawn from the trace: vCPUs, raw memory (MB), CPU use in tenths of a percent of
    the VM's own vCPUs, and state (``running`` is the mask of Running VMs)."""

    vcpus: np.ndarray
    raw_mem: np.ndarray
    usage10: np.ndarray
    state: np.ndarray

    @property
    def running(self) -> np.ndarray:
        """Mask of the Running VMs."""
        return self.state == VmState.RUNNING


def draw_vms(o: GeneratorOptions, rng: np.random.Generator) -> VmDraw:
    """Sizes and CPU use from the trace (with replacement), then the Off/Saved VMs.

    Raises
    ------
    GeneratorError
        Too few running VMs to load the hosts.
    """
    V = o.vms
    trace = bitbrains_trace()
    idx = rng.integers(0, len(trace.vcpus), size=V)
    vcpus = trace.vcpus[idx].copy()
    raw_mem = np.clip(trace.memory_mb[idx], MEMORY_STEP_MB, MAX_RAW_VM_MEMORY_MB)
    # Tenths of a percent; at least 0.1 % so that per-host CPU scaling can reach every VM.
    usage10 = np.maximum(np.rint(trace.cpu_usage_pct[idx] * 10), 1).astype(np.int64)
    state = np.full(V, VmState.RUNNING, dtype=np.int8)
    stopped = pick(rng, V, o.stopped_fraction, np.arange(V))
    saved = rng.random(len(stopped)) < 1 / 3
    state[stopped[~saved]] = VmState.OFF
    state[stopped[saved]] = VmState.SAVED
    n_run = int((state == VmState.RUNNING).sum())
    if n_run < MIN_RUNNING_VMS_PER_HOST * o.hosts:
        raise GeneratorError(
            [
                f"{n_run} running VMs are too few to load {o.hosts} hosts to "
                f"{o.load_pct:g} %: use at least "
                f"{MIN_RUNNING_VMS_PER_HOST * o.hosts} running VMs"
            ]
        )
    return VmDraw(vcpus, raw_mem, usage10, state)


def scale_memory(raw: np.ndarray, total: float, cap: int) -> np.ndarray:
    """Scale ``raw`` memory sizes so they sum to about ``total`` (MB), in MEMORY_STEP_MB steps,
    none above ``cap``.  Sizes that hit the cap stay there; the rest absorb the difference."""
    if len(raw) == 0:
        return raw.astype(np.int64)
    out = raw.astype(float)
    fixed = np.zeros(len(raw), dtype=bool)
    for _ in range(6):
        free_total = total - out[fixed].sum()
        base = raw[~fixed].astype(float)
        if free_total <= 0 or base.sum() <= 0:
            break
        out[~fixed] = base * (free_total / base.sum())
        over = out > cap
        if not (over & ~fixed).any():
            break
        out[over] = cap
        fixed |= over
    step = MEMORY_STEP_MB
    return np.clip(np.rint(out / step) * step, step, max(step, cap // step * step)).astype(np.int64)


class Placer:
    """Largest-first placement of running VMs on the host furthest below its memory target."""

    def __init__(
        self, targets: np.ndarray, mem_free: np.ndarray, lp: np.ndarray, tie: np.ndarray
    ) -> None:
        self.targets = targets.astype(np.int64)
        self.mem_free = mem_free.astype(np.int64)
        self.lp = lp
        self.used = np.zeros(len(targets), dtype=np.int64)
        self.count = np.zeros(len(targets), dtype=np.int64)
        # Heap of (-deficit, random tie-break, host): the host most below its target first.
        self.heap = [(-int(t), int(tie[h]), h) for h, t in enumerate(self.targets)]
        heapq.heapify(self.heap)
        self.tie = tie

    def place(self, mem: int, vcpus: int) -> int:
        """Host for one VM, or -1 when it fits on no host."""
        skipped = []
        chosen = -1
        while self.heap:
            entry = heapq.heappop(self.heap)
            h = entry[2]
            if (
                self.used[h] + mem <= self.mem_free[h]
                and vcpus <= self.lp[h]
                and self.count[h] < MAX_RUNNING_VMS_PER_HOST
            ):
                chosen = h
                break
            skipped.append(entry)
        for e in skipped:
            heapq.heappush(self.heap, e)
        if chosen >= 0:
            self.used[chosen] += mem
            self.count[chosen] += 1
            heapq.heappush(
                self.heap,
                (-int(self.targets[chosen] - self.used[chosen]), int(self.tie[chosen]), chosen),
            )
        return chosen


def fit_cpu(
    usage10: np.ndarray,
    vcpus: np.ndarray,
    vm_host: np.ndarray,
    running: np.ndarray,
    target: np.ndarray,
    H: int,
) -> np.ndarray:
    """Scale the CPU use (tenths of a percent) of each host's running VMs so that the host's
    VM CPU load meets ``target`` (milli-LP); VMs at 100 % stay there, the others take up
    the rest."""
    u = usage10.astype(float).copy()
    run = running
    for _ in range(5):
        at_max = u >= 1000
        load = np.bincount(vm_host[run], weights=(vcpus * u)[run], minlength=H)
        flexible = np.bincount(
            vm_host[run & ~at_max], weights=(vcpus * u)[run & ~at_max], minlength=H
        )
        fixed = load - flexible
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(flexible > 0, (target - fixed) / flexible, 1.0)
        factor = np.maximum(factor, 0.0)
        sel = run & ~at_max
        u[sel] = np.minimum(u[sel] * factor[vm_host[sel]], 1000.0)
        if np.allclose(
            np.bincount(vm_host[run], weights=(vcpus * u)[run], minlength=H), target, rtol=1e-3
        ):
            break
    out = np.rint(u).astype(np.int64)
    out[run] = np.clip(out[run], 1, 1000)
    out[~run] = np.clip(usage10[~run], 0, 1000)
    return out


@dataclass(frozen=True)
class VmAttributes:
    """Compatibility mode, configuration version (tenths), priority and allow-downtime."""

    compat: np.ndarray
    version: np.ndarray
    priority: np.ndarray
    downtime: np.ndarray


def draw_attributes(o: GeneratorOptions, rng: np.random.Generator) -> VmAttributes:
    """The VMs' attributes, in this order from ``rng`` (the owners draw from it next)."""
    V = o.vms
    u = rng.random(V)
    compat = np.full(V, CompatMode.NONE, dtype=np.int8)
    compat[u < o.compat_minimum] = CompatMode.MINIMUM
    compat[(u >= o.compat_minimum) & (u < o.compat_minimum + o.compat_common)] = CompatMode.COMMON
    version = rng.choice(
        np.array(CONFIG_VERSIONS_X10, dtype=np.int32), size=V, p=np.array(CONFIG_VERSION_WEIGHTS)
    )
    priority = rng.choice(
        np.array(PRIORITIES, dtype=np.int16), size=V, p=np.array(PRIORITY_WEIGHTS)
    )
    downtime = np.zeros(V, dtype=bool)
    downtime[pick(rng, V, o.downtime_fraction, np.arange(V))] = True
    return VmAttributes(compat, version, priority, downtime)
