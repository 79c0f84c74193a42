"""Synthetic load histories (tests, benchmarks, ``hvplan generate``) and the history writer."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from planner.cluster import CPU_UNITS, Cluster
from planner.history.model import LoadHistory

#: 2026-11-30T00:00:00Z, the start of generated windows.
DEFAULT_START = 1_795_996_800


def synthetic_history(
    cluster: Cluster,
    n_samples: int,
    step_seconds: int = 300,
    seed: int = 0,
    start: int = DEFAULT_START,
    amplitude: float = 0.5,
    noise: float = 0.15,
) -> LoadHistory:
    """A history around the snapshot's loads: each VM's CPU follows a daily wave with its
    own phase (so peaks do not coincide), ``amplitude`` of its load, plus noise; memory
    moves by up to 5 %.  The snapshot's value is the last sample's mean.  Deterministic.
    """
    rng = np.random.default_rng(seed)
    v, t = cluster.n_vms, n_samples
    ts = start + step_seconds * np.arange(t, dtype=np.int64)
    day = 2 * np.pi * (ts - start) / 86_400.0
    phase = rng.uniform(0, 2 * np.pi, v).astype(np.float32)
    amp = (amplitude * rng.uniform(0.3, 1.0, v)).astype(np.float32)
    cap = (cluster.vm_vcpus * CPU_UNITS).astype(np.float32)
    cpu = np.empty((t, v), dtype=np.int32)
    mem = np.empty((t, v), dtype=np.int32)
    base_cpu = cluster.vm_cpu_load_milli.astype(np.float32)
    base_mem = cluster.vm_mem_load_mb.astype(np.float32)
    block = max(1, (1 << 22) // max(v, 1))
    for a in range(0, t, block):
        b = min(a + block, t)
        wave = np.sin(day[a:b, None].astype(np.float32) + phase[None, :])
        eps = rng.standard_normal((b - a, v), dtype=np.float32)
        c = base_cpu * (1 + amp * wave + noise * eps)
        cpu[a:b] = np.rint(np.clip(c, 0, cap))
        m = base_mem * (1 + 0.05 * wave * amp)
        mem[a:b] = np.rint(np.maximum(m, 0))
    base = np.broadcast_to(cluster.host_cpu_base_milli.astype(np.int32), (t, cluster.n_hosts))
    return LoadHistory(
        ts,
        step_seconds,
        cpu,
        mem,
        np.ascontiguousarray(base),
        np.ones(v, dtype=bool),
        np.zeros(cluster.n_hosts, dtype=bool),
    )


def history_tables(history: LoadHistory, cluster: Cluster) -> tuple[pa.Table, pa.Table | None]:
    """The long tables of SPEC §1 for a history (``cpu_usage_pct`` as float32; memory as
    int32): VMs with a history, hosts with one (``None`` when no host has)."""
    t = history.n_samples
    vms = np.flatnonzero(history.vm_has_history & cluster.vm_consumes)
    scale = (cluster.vm_vcpus[vms] * (CPU_UNITS / 100)).astype(np.float64)
    pct = (history.vm_cpu_milli[:, vms] / scale[None, :]).astype(np.float32)
    names = pa.array(np.array(cluster.vm_names, dtype=object)[vms]).dictionary_encode()
    vm_tab = pa.table(
        {
            "timestamp": np.repeat(history.timestamps, len(vms)),
            "vm": pa.DictionaryArray.from_arrays(
                np.tile(np.arange(len(vms), dtype=np.int32), t), names.dictionary
            ),
            "cpu_usage_pct": pct.reshape(-1),
            "memory_mb": history.vm_mem_mb[:, vms].reshape(-1),
        }
    )
    hosts = np.flatnonzero(history.host_has_history)
    if hosts.size == 0:
        return vm_tab, None
    hscale = (cluster.host_lp[hosts] * (CPU_UNITS / 100)).astype(np.float64)
    host_tab = pa.table(
        {
            "timestamp": np.repeat(history.timestamps, len(hosts)),
            "host": np.tile(np.array(cluster.host_names, dtype=object)[hosts], t),
            "cpu_base_pct": (history.host_cpu_base_milli[:, hosts] / hscale)
            .astype(np.float32)
            .reshape(-1),
        }
    )
    return vm_tab, host_tab


def write_history(
    history: LoadHistory,
    cluster: Cluster,
    directory: str | Path,
    fmt: Literal["parquet", "csv"] = "parquet",
) -> list[Path]:
    """Write ``vm_history`` (and ``host_history`` when some host has one) into a snapshot
    directory; returns the files written.  Parquet uses zstd and a dictionary for names."""
    d = Path(directory)
    out = []
    vm_tab, host_tab = history_tables(history, cluster)
    for stem, tab in (("vm_history", vm_tab), ("host_history", host_tab)):
        if tab is None:
            continue
        path = d / f"{stem}.{fmt}"
        if fmt == "parquet":
            pq.write_table(tab, path, compression="zstd", row_group_size=1 << 20)
        else:
            plain = tab.cast(
                pa.schema(
                    [
                        pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type)
                        for f in tab.schema
                    ]
                )
            )
            pacsv.write_csv(plain, path)
        out.append(path)
    return out


__all__ = ["DEFAULT_START", "history_tables", "synthetic_history", "write_history"]
