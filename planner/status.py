"""The state of a cluster now: per-host loads, threshold, rule violations, islands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.checks import Violation, compatibility_islands, placement_violations
from planner.cluster import Cluster, HostState
from planner.loadmodel import HighMode, Level, Threshold, host_loads, resolve_threshold


@dataclass(frozen=True)
class StatusReport:
    """What ``hvplan status`` shows."""

    cluster: Cluster
    threshold: Threshold
    cpu_pct: np.ndarray
    memory_pct: np.ndarray
    over: np.ndarray
    violations: list[Violation]
    islands: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (SPEC §6 ``status --json``)."""
        c = self.cluster
        return {
            "cluster": c.name,
            "threshold_pct": self.threshold.to_dict(),
            "threshold_rule": self.threshold.rule,
            "level": self.threshold.level,
            "hosts": [
                {
                    "name": c.host_names[h],
                    "state": HostState(c.host_state[h]).name.title(),
                    "fault_domain": c.fault_domains[c.host_fault_domain[h]],
                    "cpu_model": c.host_cpu_model[h],
                    "cpu_pct": round(float(self.cpu_pct[h]), 4),
                    "memory_pct": round(float(self.memory_pct[h]), 4),
                    "over_threshold": bool(self.over[h]),
                    "running_vms": int(((c.vm_host == h) & c.vm_consumes).sum()),
                }
                for h in range(c.n_hosts)
            ],
            "hosts_over_threshold": int(self.over.sum()),
            "violations": [v.to_dict() for v in self.violations],
            "compatibility_islands": self.islands,
        }


def cluster_status(
    cluster: Cluster,
    level: Level | str | None = None,
    threshold_pct: float | None = None,
    high_mode: HighMode | str = HighMode.AVERAGE,
) -> StatusReport:
    """Compute the current loads, threshold, violations and compatibility islands."""
    thr = resolve_threshold(cluster, level, threshold_pct, high_mode)
    loads = host_loads(cluster)
    over = loads.over(thr) & (cluster.host_state != HostState.DOWN)
    return StatusReport(cluster, thr, loads.cpu_pct, loads.memory_pct, over,
                        placement_violations(cluster), compatibility_islands(cluster))
