"""The state of a cluster now: per-host loads, threshold, rule violations, islands.

:func:`cluster_status` is what ``hvplan status`` shows (SPEC §6 ``status --json``): CPU % and
memory % of every host (SPEC §2), the threshold in force and which rule chose it (for High,
also the other published reading), the hosts over it, the rules and limits the current
placement already breaks (disabled affinity rules included, as soft and marked
"(disabled)"), and the compatibility islands (VMs with no other host they can reach
without downtime).

Rules and anti-affinity classes are judged over their running (Running or Paused) members
(SPEC §3); the enabled ones broken now are the planner's tier-0 candidates
(``rules_broken_now``).  ``notes`` says what the user should know before planning: the
native balancer's mode, no live-migration network, Paused and Down nodes, rules that name
non-VM cluster groups.
"""

from __future__ import annotations

import dataclasses
import sys as _sys
import types as _types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.checks import (
    RULE_KINDS,
    Violation,
    compatibility_islands,
    placement_violations,
    rule_violations,
)
from planner.cluster import HOST_STATE_NAMES, Cluster, HostState
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
    #: Plain-English facts to know before planning (balancer mode, node states, ...).
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (SPEC §6 ``status --json``); each violation named by
        :meth:`planner.violation.Violation.to_dict`."""
        c = self.cluster
        named = [v.to_dict(c) for v in self.violations]
        return {
            "cluster": c.name,
            "threshold_pct": self.threshold.to_dict(),
            "threshold_rule": self.threshold.rule,
            "level": self.threshold.level,
            "threshold_alternative": None
            if self.alternative is None
            else {
                "threshold_pct": self.alternative.to_dict(),
                "rule": self.alternative.rule,
                "hosts_over_threshold": int(self._over(self.alternative).sum()),
            },
            "balancer": {
                "mode": c.settings.auto_balancer_mode,
                "mode_name": BALANCER_MODES.get(c.settings.auto_balancer_mode, "?"),
                "level": c.settings.auto_balancer_level,
            },
            "notes": list(self.notes),
            "hosts": [
                {
                    "name": c.host_names[h],
                    "state": HOST_STATE_NAMES[HostState(c.host_state[h])],
                    "state_meaning": STATE_MEANINGS[HostState(c.host_state[h])],
                    "fault_domain": c.fault_domains[c.host_fault_domain[h]],
                    "cpu_model": c.host_cpu_model[h],
                    "cpu_pct": round(float(self.cpu_pct[h]), 4),
                    "memory_pct": round(float(self.memory_pct[h]), 4),
                    "over_threshold": bool(self.over[h]),
                    "over_cpu": bool(
                        self.over[h] and self.cpu_pct[h] > self.threshold.cpu_pct + 1e-9
                    ),
                    "over_memory": bool(
                        self.over[h] and self.memory_pct[h] > self.threshold.memory_pct + 1e-9
                    ),
                    "running_vms": int(((c.vm_host == h) & c.vm_consumes).sum()),
                    "vms": int((c.vm_host == h).sum()),
                    "max_running_vms": int(c.host_max_running_vms[h]),
                }
                for h in range(c.n_hosts)
            ],
            "hosts_over_threshold": int(self.over.sum()),
            "hard_violations": sum(v.hard for v in self.violations),
            "violations": named,
            "rules_broken_now": [
                {
                    "rule": d["rule"],
                    "kind": d["kind"],
                    "vms": list(d["vms"]),
                    "message": d["message"],
                }
                for d in named
                if d["hard"] and d["kind"] in RULE_KINDS
            ],
            "rules_with_other_members": [
                {"rule": r.name, "other_members": list(r.other_members)}
                for r in c.rules
                if r.other_members
            ],
            "compatibility_islands": self.islands,
        }

    def _over(self, thr: Threshold) -> np.ndarray:
        return _over(self.cluster, self.cpu_pct, self.memory_pct, thr)


#: ``AutoBalancerMode`` values as ``status`` names them.
BALANCER_MODES = {0: "off", 1: "on node join only", 2: "on node join and every 30 minutes"}

#: What each node state means for a plan (SPEC §1).
STATE_MEANINGS = {
    HostState.UP: "receives and keeps VMs",
    HostState.PAUSED: "keeps its VMs, receives none (drain it to evacuate)",
    HostState.DOWN: "receives none; its running VMs are not running and must be started elsewhere",
}


def _notes(cluster: Cluster) -> list[str]:
    """What to know before planning, one sentence each."""
    out: list[str] = []
    mode = cluster.settings.auto_balancer_mode
    if mode == 0:
        out.append(
            "The native balancer is off (AutoBalancerMode 0): nothing rebalances the "
            "cluster on its own."
        )
    elif mode == 1:
        out.append(
            "The native balancer acts only when a node joins (AutoBalancerMode 1), "
            "not every 30 minutes."
        )
    if not cluster.live_migration_possible:
        out.append(
            "No network is used for live migration: Running VMs can move only with "
            "downtime (allow_downtime)."
        )
    for state in (HostState.PAUSED, HostState.DOWN):
        n = int((cluster.host_state == state).sum())
        if n:
            out.append(f"{n} node(s) {HOST_STATE_NAMES[state]}: {STATE_MEANINGS[state]}.")
    starts = int((cluster.vm_on_down_host & cluster.vm_consumes).sum())
    if starts:
        out.append(
            f"{starts} running VM(s) are listed on Down nodes: a plan starts them "
            "elsewhere (Start moves, with their startup memory)."
        )
    others = [r.name for r in cluster.rules if r.other_members]
    if others:
        out.append(
            f"{len(others)} rule(s) also name non-VM cluster groups (kept, never "
            f"constraining): {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}."
        )
    return out


def _running_rules(cluster: Cluster) -> Cluster:
    """The cluster with each rule and anti-affinity class reduced to its running members
    (SPEC §3: members that are Off or Saved do not count)."""
    run = cluster.vm_consumes
    rules = tuple(
        dataclasses.replace(r, members=tuple(m for m in r.members if run[m])) for r in cluster.rules
    )
    classes = tuple(cs if run[v] else () for v, cs in enumerate(cluster.vm_aa_classes))
    if run.all():
        return cluster
    return cluster.replace(rules=rules, vm_aa_classes=classes)


def _over(
    cluster: Cluster, cpu_pct: np.ndarray, memory_pct: np.ndarray, thr: Threshold
) -> np.ndarray:
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
    judged = _running_rules(cluster)
    violations = placement_violations(judged)
    violations += [v for v in rule_violations(judged, include_disabled=True) if not v.hard]
    return StatusReport(
        cluster,
        thr,
        loads.cpu_pct,
        loads.memory_pct,
        over,
        violations,
        compatibility_islands(cluster),
        other_high_reading(cluster, thr),
        _notes(cluster),
    )


class _CallableModule(_types.ModuleType):
    """``planner.status(...)``: the package-level name is also this module's name (the public
    API calls the function whichever of the two Python bound last)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return cluster_status(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
