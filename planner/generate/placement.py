"""Where the generated VMs run and how busy they are: memory scaled to the nodes' targets,
largest-first placement, then each node's VMs' CPU use scaled to its CPU target."""

from __future__ import annotations

import numpy as np

from planner.cluster import CPU_UNITS
from planner.generate.hosts import HostDraw, LoadTargets, host_names
from planner.generate.options import (
    MAX_VM_SHARE_OF_HOST,
    MEMORY_STEP_MB,
    GeneratorError,
    GeneratorOptions,
)
from planner.generate.vms import Placer, VmDraw, fit_cpu, scale_memory


def place_vms(
    o: GeneratorOptions,
    rng: np.random.Generator,
    vms: VmDraw,
    hosts: HostDraw,
    targets: LoadTargets,
) -> tuple[np.ndarray, np.ndarray]:
    """Memory per VM (MB) and host per VM.

    Memory is scaled by one cluster-wide factor to the nodes' memory targets; running VMs
    are placed largest first on the node furthest below its target; stopped VMs get the
    same factor and a random node.

    Raises
    ------
    GeneratorError
        A VM fits on no node.
    """
    V, H = o.vms, o.hosts
    running, raw_mem = vms.running, vms.raw_mem
    mem_free = hosts.mem_free
    cap = int(MAX_VM_SHARE_OF_HOST * mem_free.min())
    mem = np.zeros(V, dtype=np.int64)
    mem[running] = scale_memory(raw_mem[running], float(targets.memory_mb.sum()), cap)
    # Stopped VMs use no memory now but get the same factor, to look like their neighbours.
    factor = mem[running].sum() / max(int(raw_mem[running].sum()), 1)
    mem[~running] = np.clip(
        np.rint(raw_mem[~running] * factor / MEMORY_STEP_MB) * MEMORY_STEP_MB,
        MEMORY_STEP_MB,
        max(cap, MEMORY_STEP_MB),
    )
    vm_host = np.zeros(V, dtype=np.int32)
    run_idx = np.flatnonzero(running)
    order = run_idx[np.lexsort((rng.random(len(run_idx)), -mem[run_idx]))]
    placer = Placer(targets.memory_mb, mem_free, hosts.lp, rng.permutation(H))
    for v in order:
        h = placer.place(int(mem[v]), int(vms.vcpus[v]))
        if h < 0:
            raise GeneratorError(
                [
                    f"the VMs do not fit in the hosts' memory at "
                    f"{o.load_pct:g} % load: use more hosts or a lower load"
                ]
            )
        vm_host[v] = h
    stopped_mask = ~running
    vm_host[stopped_mask] = rng.integers(0, H, size=int(stopped_mask.sum()))
    return mem, vm_host


def cpu_use(
    o: GeneratorOptions,
    vms: VmDraw,
    hosts: HostDraw,
    targets: LoadTargets,
    vm_host: np.ndarray,
    mem: np.ndarray,
) -> np.ndarray:
    """Each VM's CPU use (milli-LP), scaled so that every node meets its CPU target.

    Raises
    ------
    GeneratorError
        The VMs exceed a node's capacity, or the hot nodes are not exactly the asked ones
        (too few or too coarse VMs per node).
    """
    H = o.hosts
    running = vms.running
    usage10 = fit_cpu(vms.usage10, vms.vcpus, vm_host, running, targets.cpu_milli, H)
    cpu_milli = vms.vcpus * usage10
    cpu_load = np.bincount(vm_host[running], weights=cpu_milli[running], minlength=H)
    mem_load = np.bincount(vm_host[running], weights=mem[running], minlength=H)
    if (cpu_load > hosts.cpu_free).any() or (mem_load > hosts.mem_free).any():
        raise GeneratorError(
            [
                "the VMs do not fit in the hosts' capacity at the requested "
                "loads: lower hot_load_pct or load_pct"
            ]
        )
    # With few, coarse VMs per host the targets may be missed; a cluster whose hot hosts are
    # not the asked ones would mislead whoever uses it, so say so instead.
    cpu_pct = 100 * (cpu_load + hosts.base_milli) / (hosts.lp * CPU_UNITS)
    mem_pct = 100 * (mem_load + hosts.reserve_mb) / hosts.memory_mb
    over = (cpu_pct > o.hot_load_pct) | (mem_pct > o.hot_load_pct)
    hot = targets.hot
    if not np.array_equal(over, hot):
        names = host_names(H)
        bad = ", ".join(
            f"{names[h]} (CPU {cpu_pct[h]:.1f} %, memory {mem_pct[h]:.1f} %)"
            for h in np.flatnonzero(over != hot)[:3]
        )
        raise GeneratorError(
            [
                f"{int(running.sum())} running VMs on {H} hosts are too few or too coarse to "
                f"load exactly {o.n_hot} host(s) above {o.hot_load_pct:g} %: "
                f"{bad} missed the target; use more VMs or fewer hosts"
            ]
        )
    return np.asarray(cpu_milli)
