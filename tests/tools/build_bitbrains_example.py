#!/usr/bin/env python3
"""Build ``data/examples/bitbrains8/`` from the Bitbrains GWA-T-12 Rnd extract.

Input: ``vm_traces.csv.gz`` of ``../shared/data/bitbrains_rnd/`` (489 real VMs, 30 days at
5 minutes; provenance and citation in its SOURCE.md, copied into the example's SOURCE.md).

Output: an 8-node snapshot carrying the 489 VMs and a 7-day window (2,016 samples) as
``vm_history.parquet``.  Choices, each deterministic:

* Window: days 16-22 of the trace (2013-08-15 22:02:56 UTC + 7 days, slot 4,320 to 6,335):
  the busiest week of the month (daily mean 185-300 vCPUs in use).
* Nodes: 8 x Icelake-Server, 64 logical processors, 1.5 TiB (1,572,864 MB) each, Up, two
  racks.  CPU use over the window is 35 % of the cluster on average, memory 35 % (so the
  largest VM, 511 GiB, can restart on another node after a failure).
* The snapshot is taken at the end of the window (``vms.csv`` carries the last sample):
  the history is the week before it, as a collector would export.
* VM ``vcpus`` is the cores of the last sample; ``cpu_usage_pct`` per sample is rescaled
  to it (the trace's percent is of the cores at that time; one VM changes cores) and capped
  at 100 (2.25 % of the trace's samples are slightly above, up to 114 %).
* VM memory is the provisioned memory (a Hyper-V VM with static memory occupies it whatever
  the guest uses); it varies over time for some VMs, and so does ``memory_mb`` in the
  history.
* Placement: balanced by memory with the CPU ignored (largest VM first onto the node with
  the least memory), as a cluster placed by memory looks: every node holds 35 % of its
  memory, while the CPU is far from balanced (one node idles, four are above 80 % for a
  large part of the week).

Usage: ``python tests/tools/build_bitbrains_example.py [TRACE.csv.gz] [OUT_DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRACE = ROOT.parent / "shared" / "data" / "bitbrains_rnd" / "vm_traces.csv.gz"
TRACE_START_UNIX = 1375308176
SLOT_S = 300
FIRST_SLOT = 15 * 288
N_SLOTS = 7 * 288
N_HOSTS = 8
HOST_LP = 64
HOST_MEMORY_MB = 1_572_864


def build(trace: Path, out: Path) -> None:
    """Write the snapshot and its history into ``out``."""
    df = pd.read_csv(
        trace,
        dtype={
            "vm_id": np.int32,
            "t_s": np.int64,
            "cpu_cores": np.int32,
            "cpu_usage_pct": np.float64,
            "mem_provisioned_mb": np.float64,
        },
    )
    slot = df["t_s"].to_numpy() // SLOT_S
    df = df[(slot >= FIRST_SLOT) & (slot < FIRST_SLOT + N_SLOTS)]
    vms = np.sort(df["vm_id"].unique())
    v_index = {v: i for i, v in enumerate(vms)}
    t = (df["t_s"].to_numpy() // SLOT_S - FIRST_SLOT).astype(np.int64)
    c = np.array([v_index[v] for v in df["vm_id"].to_numpy()])
    shape = (N_SLOTS, len(vms))
    cores = np.zeros(shape, np.int64)
    pct = np.zeros(shape)
    mem = np.zeros(shape)
    cores[t, c] = df["cpu_cores"].to_numpy()
    pct[t, c] = df["cpu_usage_pct"].to_numpy()
    mem[t, c] = df["mem_provisioned_mb"].to_numpy()
    vcpus = cores[-1]
    used_lp = pct / 100.0 * cores
    pct_snap = np.clip(np.round(100.0 * used_lp / vcpus, 2), 0, 100)
    mem_mb = np.rint(mem).astype(np.int32)
    names = [f"bb-vm{v:03d}" for v in vms]
    hosts = [f"HV{i + 1:02d}" for i in range(N_HOSTS)]
    # Balanced by memory, CPU ignored: largest VM first onto the node with least memory.
    placement = np.zeros(len(vms), dtype=np.int64)
    used = np.zeros(N_HOSTS, dtype=np.int64)
    for v in np.lexsort((np.arange(len(vms)), -mem_mb[-1])):
        k = int(np.argmin(used))
        placement[v] = k
        used[k] += mem_mb[-1, v]
    out.mkdir(parents=True, exist_ok=True)
    ts = TRACE_START_UNIX + SLOT_S * (FIRST_SLOT + np.arange(N_SLOTS, dtype=np.int64))
    collected = pd.Timestamp(int(ts[-1]), unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    (out / "cluster.csv").write_text(
        f"name,auto_balancer_mode,auto_balancer_level,collected_utc\nbitbrains8,2,1,{collected}\n",
        encoding="utf-8",
    )
    (out / "hosts.csv").write_text(
        "name,state,fault_domain,cpu_vendor,cpu_model,logical_processors,memory_mb,"
        "cpu_base_pct\n"
        + "".join(
            f"{h},Up,Rack{'AB'[i % 2]},GenuineIntel,Icelake-Server,{HOST_LP},{HOST_MEMORY_MB},2\n"
            for i, h in enumerate(hosts)
        ),
        encoding="utf-8",
    )
    rows = [
        f"{n},{hosts[int(placement[i])]},Running,Medium,{vcpus[i]},{mem_mb[-1, i]},"
        f"{pct_snap[-1, i]:g}\n"
        for i, n in enumerate(names)
    ]
    (out / "vms.csv").write_text(
        "name,host,state,priority,vcpus,memory_mb,cpu_usage_pct\n" + "".join(rows), encoding="utf-8"
    )
    dictionary = pa.array(names)
    table = pa.table(
        {
            "timestamp": np.repeat(ts, len(vms)),
            "vm": pa.DictionaryArray.from_arrays(
                np.tile(np.arange(len(vms), dtype=np.int32), N_SLOTS), dictionary
            ),
            "cpu_usage_pct": pct_snap.reshape(-1).astype(np.float32),
            "memory_mb": mem_mb.reshape(-1),
        }
    )
    pq.write_table(
        table,
        out / "vm_history.parquet",
        compression="zstd",
        compression_level=19,
        use_dictionary=["vm", "memory_mb"],
        row_group_size=1 << 20,
    )
    print(
        f"{len(vms)} VMs, {N_SLOTS} samples, {collected}; "
        f"{(out / 'vm_history.parquet').stat().st_size:,} bytes of history"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    build(
        Path(args[0]) if args else DEFAULT_TRACE,
        Path(args[1]) if len(args) > 1 else ROOT / "data" / "examples" / "bitbrains8",
    )
