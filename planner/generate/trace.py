"""VM sizes and CPU use from the public Bitbrains trace shipped with the package."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class VmTrace:
    """VM sizes and CPU use from a public trace (one entry per traced VM)."""

    vcpus: np.ndarray  # int64
    memory_mb: np.ndarray  # int64
    cpu_usage_pct: np.ndarray  # float64, 5-minute average use of the VM's own vCPUs


@cache
def bitbrains_trace() -> VmTrace:
    """The Bitbrains GWA-T-12 "rnd" VMs shipped with the package (cached)."""
    ref = resources.files("planner.resources").joinpath("bitbrains_vms.csv")
    with resources.as_file(ref) as p, open(Path(p), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return VmTrace(
        vcpus=np.array([int(r["vcpus"]) for r in rows], dtype=np.int64),
        memory_mb=np.array([int(r["memory_mb"]) for r in rows], dtype=np.int64),
        cpu_usage_pct=np.array([float(r["cpu_usage_pct"]) for r in rows], dtype=float),
    )
