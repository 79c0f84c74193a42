"""Rolling maintenance: :func:`rolling_maintenance` drains each Up node in turn
(cluster-aware updating) and says whether every drain fits under the balancer threshold, how
many moves it takes in total and which node is the hardest.

Each drain is the restart engine in ``drain`` mode (reachable hosts only, threshold limits),
settled like a failure scenario: greedy witness, necessary bound, or the exact CP-SAT check.
Other VMs stay where they are: the drain moves only the drained node's VMs, as the cluster's
own drain does, which is also the smallest number of moves any drain can take.
``engine="optimizer"`` asks the optimizer instead (``planner.optimizer.optimize`` with
``drain=(h,)``), which may first move other VMs to make room under the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.capacity.failures import FailureOptions, percent_after
from planner.cluster import Cluster, HostState, MoveKind
from planner.cpsat.capacity import ExactStatus, exact_restart
from planner.failover import RestartEngine, RestartResult, failed_matrix
from planner.loadmodel import HighMode, Level, Threshold, resolve_threshold, threshold_limits


@dataclass(frozen=True)
class DrainOutcome:
    """Draining one node: feasible under the threshold?  How many moves, of what kind?"""

    host: str
    feasible: bool
    moves: int
    live_moves: int
    quick_moves: int
    downtime_moves: int
    memory_moved_mb: int
    blocked: tuple[str, ...]  # VMs that found no target
    max_cpu_pct_after: float
    max_memory_pct_after: float
    settled_by: str
    proven: bool

    def to_row(self) -> dict[str, Any]:
        """Flat dict for the scenarios table (kind ``maintenance``)."""
        return {
            "scenario": f"drain:{self.host}",
            "kind": "maintenance",
            "failed_hosts": self.host,
            "vms_to_restart": self.moves,
            "vms_not_restarted": len(self.blocked),
            "max_cpu_pct_after": round(self.max_cpu_pct_after, 4),
            "max_memory_pct_after": round(self.max_memory_pct_after, 4),
            "survivable": self.feasible,
            "settled_by": self.settled_by,
            "proven": self.proven,
            "moves": self.moves,
            "live_moves": self.live_moves,
            "quick_moves": self.quick_moves,
            "downtime_moves": self.downtime_moves,
            "memory_moved_mb": self.memory_moved_mb,
            "not_restarted_vms": ";".join(self.blocked[:100]),
        }


@dataclass(frozen=True)
class MaintenanceReport:
    """Rolling maintenance of every Up node, one at a time."""

    threshold: Threshold
    drains: tuple[DrainOutcome, ...]

    @property
    def all_feasible(self) -> bool:
        """Every drain fits under the threshold."""
        return all(d.feasible for d in self.drains)

    @property
    def total_moves(self) -> int:
        """Moves summed over all drains (each drain starts from the current placement)."""
        return sum(d.moves for d in self.drains)

    @property
    def hardest(self) -> DrainOutcome | None:
        """Infeasible drains first (most VMs blocked), then the highest load after."""
        if not self.drains:
            return None
        return max(
            self.drains,
            key=lambda d: (
                not d.feasible,
                len(d.blocked),
                max(d.max_cpu_pct_after, d.max_memory_pct_after),
                d.memory_moved_mb,
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON summary."""
        h = self.hardest
        return {
            "threshold_pct": self.threshold.to_dict(),
            "threshold_rule": self.threshold.rule,
            "all_feasible": self.all_feasible,
            "total_moves": self.total_moves,
            "infeasible": [d.host for d in self.drains if not d.feasible],
            "hardest": None if h is None else h.host,
        }


def rolling_maintenance(
    cluster: Cluster,
    level: Level | str | None = None,
    threshold_pct: float | None = None,
    high_mode: HighMode | str = HighMode.AVERAGE,
    options: FailureOptions | None = None,
    engine: str = "restart",
) -> MaintenanceReport:
    """Drain each Up node in turn and settle each drain (see the module docstring).

    ``engine="optimizer"`` asks :func:`planner.optimizer.optimize` instead, once per node
    (``PlanOptions(drain=(h,))``, the exact-check time limit and seed): a drain is then
    feasible when the optimizer finds a plan with no load above the threshold anywhere, the
    moves are the plan's (they may include rebalancing moves), and it is proved when the
    optimizer reports OPTIMAL or INFEASIBLE.
    """
    opt = options or FailureOptions()
    if engine == "optimizer":
        return _maintenance_by_optimizer(cluster, level, threshold_pct, high_mode, opt)
    if engine != "restart":
        raise ValueError(f"unknown maintenance engine {engine!r}")
    thr = resolve_threshold(cluster, level, threshold_pct, high_mode)
    cpu_lim, mem_lim = threshold_limits(cluster, thr)
    # Never tighter than 0 nor looser than 100 %: the hard capacity still applies.
    cpu_lim = np.clip(cpu_lim, 0, cluster.host_cpu_free_milli)
    mem_lim = np.clip(mem_lim, 0, cluster.host_memory_free_mb)
    hosts = [int(h) for h in np.flatnonzero(cluster.host_state == HostState.UP)]
    if not hosts:
        return MaintenanceReport(thr, ())
    eng = RestartEngine(cluster, "drain", cpu_lim, mem_lim)
    res = eng.run(failed_matrix(cluster.n_hosts, [(h,) for h in hosts]))
    out = []
    for s, h in enumerate(hosts):
        res, settled, proven = _settle_drain(res, s, opt)
        out.append(_drain_outcome(cluster, res, s, h, settled, proven))
    return MaintenanceReport(thr, tuple(out))


def _settle_drain(
    res: RestartResult, s: int, opt: FailureOptions
) -> tuple[RestartResult, str, bool]:
    """Settle drain ``s`` as a failure scenario is settled: the greedy's witness, a
    necessary bound, or the exact check (which may replace the greedy's placement)."""
    if res.complete[s]:
        return res, "greedy", True
    if res.bound_infeasible[s]:
        return res, "bound", True
    if not opt.exact:
        return res, "greedy-incomplete", False
    ex = exact_restart(res.instance(s), opt.exact_time_limit_s, opt.exact_workers, opt.seed)
    if ex.status == ExactStatus.FEASIBLE and ex.item_host is not None:
        return res.with_exact(s, ex.item_host), "cpsat-feasible", True
    if ex.status == ExactStatus.INFEASIBLE:
        return res, "cpsat-infeasible", True
    return res, "cpsat-unknown", False


def _drain_outcome(
    cluster: Cluster, res: RestartResult, s: int, h: int, settled: str, proven: bool
) -> DrainOutcome:
    """Drain ``s`` (of host ``h``) of ``res`` as a :class:`DrainOutcome`."""
    movers, targets = res.movers[s], res.targets[s]
    ok = targets >= 0
    kinds = np.full(len(movers), -1, dtype=np.int64)
    kinds[ok] = cluster.vm_move_kind[movers[ok], targets[ok]]
    live = ~res.failed[s] & cluster.host_up
    cpu_pct, mem_pct = percent_after(cluster, res, s)
    return DrainOutcome(
        host=cluster.host_names[h],
        feasible=bool(ok.all()),
        moves=len(movers),
        live_moves=int((kinds == MoveKind.LIVE).sum()),
        quick_moves=int((kinds == MoveKind.QUICK).sum()),
        downtime_moves=int((kinds == MoveKind.SHUTDOWN).sum()),
        memory_moved_mb=int(cluster.vm_mem_load_mb[movers[ok]].sum()),
        blocked=tuple(cluster.vm_names[v] for v in movers[~ok]),
        max_cpu_pct_after=float(cpu_pct[live].max()) if live.any() else 0.0,
        max_memory_pct_after=float(mem_pct[live].max()) if live.any() else 0.0,
        settled_by=settled,
        proven=proven,
    )


def _maintenance_by_optimizer(
    cluster: Cluster,
    level: Level | str | None,
    threshold_pct: float | None,
    high_mode: HighMode | str,
    opt: FailureOptions,
) -> MaintenanceReport:
    from planner.optimizer import PlanOptions, SolveStatus, optimize

    lv = None if level is None else Level(level).value
    thr = resolve_threshold(cluster, level, threshold_pct, high_mode)
    out = []
    for h in np.flatnonzero(cluster.host_state == HostState.UP):
        r = optimize(
            cluster,
            PlanOptions(
                level=lv,
                threshold_pct=threshold_pct,
                high_mode=HighMode(high_mode).value,
                drain=(int(h),),
                time_limit_s=opt.exact_time_limit_s,
                seed=opt.seed,
                workers=opt.exact_workers,
            ),
        )
        on_h = np.flatnonzero(cluster.vm_host == h)
        if r.placement is None:
            blocked = tuple(cluster.vm_names[v] for v in on_h)
            out.append(
                DrainOutcome(
                    cluster.host_names[h],
                    False,
                    len(on_h),
                    0,
                    0,
                    0,
                    0,
                    blocked,
                    0.0,
                    0.0,
                    f"optimizer-{r.status.value.lower()}",
                    r.status == SolveStatus.INFEASIBLE,
                )
            )
            continue
        p = r.placement
        moved = np.flatnonzero(p != cluster.vm_host)
        kinds = cluster.vm_move_kind[moved, p[moved]]
        live = cluster.host_up.copy()
        live[h] = False
        cpu_pct = (
            100.0 * cluster.host_load_milli(p) / np.maximum(cluster.host_cpu_capacity_milli, 1)
        )
        mem_pct = 100.0 * cluster.host_mem_used_mb(p) / np.maximum(cluster.host_memory_mb, 1)
        feasible = r.objective.get("excess", 0) == 0
        out.append(
            DrainOutcome(
                host=cluster.host_names[h],
                feasible=bool(feasible),
                moves=len(moved),
                live_moves=int((kinds == MoveKind.LIVE).sum()),
                quick_moves=int((kinds == MoveKind.QUICK).sum()),
                downtime_moves=int((kinds == MoveKind.SHUTDOWN).sum()),
                memory_moved_mb=int(cluster.vm_mem_load_mb[moved].sum()),
                blocked=(),
                max_cpu_pct_after=float(cpu_pct[live].max()) if live.any() else 0.0,
                max_memory_pct_after=float(mem_pct[live].max()) if live.any() else 0.0,
                settled_by=f"optimizer-{r.status.value.lower()}",
                proven=r.status == SolveStatus.OPTIMAL,
            )
        )
    return MaintenanceReport(thr, tuple(out))


__all__ = ["DrainOutcome", "MaintenanceReport", "rolling_maintenance"]
