"""The state of a cluster now: per-host loads, threshold, rule violations, islands.

:func:`cluster_status` is what ``hvplan status`` shows (SPEC §6 ``status --json``): CPU % and
memory % of every host (SPEC §2), the threshold in force and which rule chose it (for High,
also the other published reading), the hosts over it, the rules and limits the current
placement already breaks (disabled affinity rules included, as soft and marked
"(disabled)"), and the compatibility islands (VMs with no other host they can reach
without downtime).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.checks import (
    Violation,
    compatibility_islands,
    placement_violations,
    rule_violations,
)
from planner.cluster import Cluster, HostState
from planner.loadmodel import (
    HighMode,
    Level,
    Threshold,
    host_loads,
    other_high_reading,
    resolve_threshold,
)


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
    #: For the High level: the threshold under the other reading of High (not in force).
    alternative: Threshold | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (SPEC §6 ``status --json``)."""
        c = self.cluster
        return {
            "cluster": c.name,
            "threshold_pct": self.threshold.to_dict(),
            "threshold_rule": self.threshold.rule,
            "level": self.threshold.level,
            "threshold_alternative": None if self.alternative is None else {
                "threshold_pct": self.alternative.to_dict(), "rule": self.alternative.rule,
                "hosts_over_threshold": int(self._over(self.alternative).sum()),
            },
            "hosts": [
                {
                    "name": c.host_names[h],
                    "state": HostState(c.host_state[h]).name.title(),
                    "fault_domain": c.fault_domains[c.host_fault_domain[h]],
                    "cpu_model": c.host_cpu_model[h],
                    "cpu_pct": round(float(self.cpu_pct[h]), 4),
                    "memory_pct": round(float(self.memory_pct[h]), 4),
                    "over_threshold": bool(self.over[h]),
                    "over_cpu": bool(self.over[h] and self.cpu_pct[h]
                                     > self.threshold.cpu_pct + 1e-9),
                    "over_memory": bool(self.over[h] and self.memory_pct[h]
                                        > self.threshold.memory_pct + 1e-9),
                    "running_vms": int(((c.vm_host == h) & c.vm_consumes).sum()),
                }
                for h in range(c.n_hosts)
            ],
            "hosts_over_threshold": int(self.over.sum()),
            "hard_violations": sum(v.hard for v in self.violations),
            "violations": [v.to_dict() for v in self.violations],
            "compatibility_islands": self.islands,
        }


    def _over(self, thr: Threshold) -> np.ndarray:
        return _over(self.cluster, self.cpu_pct, self.memory_pct, thr)


def _over(cluster: Cluster, cpu_pct: np.ndarray, memory_pct: np.ndarray,
          thr: Threshold) -> np.ndarray:
    # A Down node runs nothing the balancer could move; it is never "over".
    over = (cpu_pct > thr.cpu_pct + 1e-9) | (memory_pct > thr.memory_pct + 1e-9)
    return over & (cluster.host_state != HostState.DOWN)


def cluster_status(
    cluster: Cluster,
    level: Level | str | int | None = None,
    threshold_pct: float | None = None,
    high_mode: HighMode | str = HighMode.AVERAGE,
) -> StatusReport:
    """Compute the current loads, threshold, violations and compatibility islands.

    ``level`` defaults to the cluster's ``auto_balancer_level``; ``threshold_pct`` overrides
    it.  Raises ``ValueError`` for an unknown level or a percentage outside 0..100.
    """
    thr = resolve_threshold(cluster, level, threshold_pct, high_mode)
    loads = host_loads(cluster)
    over = _over(cluster, loads.cpu_pct, loads.memory_pct, thr)
    violations = placement_violations(cluster)
    violations += [v for v in rule_violations(cluster, include_disabled=True) if not v.hard]
    return StatusReport(cluster, thr, loads.cpu_pct, loads.memory_pct, over, violations,
                        compatibility_islands(cluster), other_high_reading(cluster, thr))
