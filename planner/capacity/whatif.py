"""What-if questions on one cluster: rolling maintenance, growth, added hosts.

* :func:`rolling_maintenance` drains each Up node in turn (cluster-aware updating) and says
  whether every drain fits under the balancer threshold, how many moves it takes in total and
  which node is the hardest.  Each drain is the restart engine in ``drain`` mode (reachable
  hosts only, threshold limits), settled like a failure scenario: greedy witness, necessary
  bound, or the exact CP-SAT check.  Other VMs stay where they are: the drain moves only
  the drained node's VMs, as the cluster's own drain does, which is also the smallest
  number of moves any drain can take.  ``engine="optimizer"`` asks the optimizer instead
  (``planner.optimizer.optimize`` with ``drain=(h,)``), which may first move other VMs to
  make room under the threshold.
* :func:`scale_demand`, :func:`growth_limit`: VM CPU and memory demand scaled by a factor
  (rounded up to whole units, so demand never decreases as the factor grows); the smallest
  growth, in steps of ``resolution_pct``, at which the cluster stops being N+1-safe, found
  by bisection.  Bisection is valid because N+1 safety, decided exactly, is monotone in the
  factor (a placement that restarts everything at a larger demand also does at a smaller).
* :func:`add_hosts`, :func:`min_additional_hosts`: empty hosts of a catalog CPU model; the
  fewest that make the cluster N+1-safe.  Safety is monotone in the number of added empty
  hosts (more room, no new VMs to restart; a new host's own failure restarts nothing), so
  an exponential search then bisection finds the minimum; it is *proved* minimal when the
  count below was decided unsafe by a bound or a CP-SAT infeasibility proof and the count
  itself safe by a witness placement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.capacity.failures import FailureOptions, n1_safe
from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    ANY_CONFIG_VERSION,
    DEFAULT_MAX_RUNNING_VMS,
    Cluster,
    HostState,
    MoveKind,
    Vendor,
)
from planner.cpsat.capacity import ExactStatus, exact_restart
from planner.failover import RestartEngine, failed_matrix
from planner.loadmodel import HighMode, Level, Threshold, resolve_threshold, threshold_limits

#: Hyper-V's documented cluster size limit: the host search does not go beyond it.
MAX_CLUSTER_NODES = 64


# ----------------------------------------------------------------------------- maintenance
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
    complete = res.complete
    out = []
    for s, h in enumerate(hosts):
        settled, proven = "greedy", True
        if not complete[s]:
            if res.bound_infeasible[s]:
                settled = "bound"
            elif opt.exact:
                ex = exact_restart(
                    res.instance(s), opt.exact_time_limit_s, opt.exact_workers, opt.seed
                )
                if ex.status == ExactStatus.FEASIBLE and ex.item_host is not None:
                    res = res.with_exact(s, ex.item_host)
                    settled = "cpsat-feasible"
                elif ex.status == ExactStatus.INFEASIBLE:
                    settled = "cpsat-infeasible"
                else:
                    settled, proven = "cpsat-unknown", False
            else:
                settled, proven = "greedy-incomplete", False
        movers, targets = res.movers[s], res.targets[s]
        ok = targets >= 0
        kinds = np.full(len(movers), -1, dtype=np.int64)
        kinds[ok] = cluster.vm_move_kind[movers[ok], targets[ok]]
        live = ~res.failed[s] & cluster.host_up
        cpu_pct = (
            100.0
            * (cluster.host_cpu_base_milli + res.cpu_used[s])
            / np.maximum(cluster.host_cpu_capacity_milli, 1)
        )
        mem_pct = (
            100.0
            * (cluster.host_memory_reserve_mb + res.mem_used[s])
            / np.maximum(cluster.host_memory_mb, 1)
        )
        out.append(
            DrainOutcome(
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
        )
    return MaintenanceReport(thr, tuple(out))


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


# ----------------------------------------------------------------------------- growth
def scale_demand(cluster: Cluster, cpu_factor: float, mem_factor: float | None = None) -> Cluster:
    """The cluster with every VM's CPU and memory demand multiplied (rounded up; the Dynamic
    Memory startup, minimum and maximum sizes too)."""
    mf = cpu_factor if mem_factor is None else mem_factor
    if cpu_factor < 0 or mf < 0:
        raise ValueError("growth factors must not be negative")
    # Work in integer per-mille of the factor so rounding is exact and monotone.
    cpu_pm = int(round(cpu_factor * 1000))
    mem_pm = int(round(mf * 1000))
    cpu = (cluster.vm_cpu_milli.astype(np.int64) * cpu_pm + 999) // 1000

    def grow(a: np.ndarray) -> np.ndarray:
        return np.maximum((a.astype(np.int64) * mem_pm + 999) // 1000, 1)

    # The Dynamic Memory sizes grow with the memory (a restart needs the startup size).
    return cluster.replace(
        vm_cpu_milli=cpu,
        vm_memory_mb=grow(cluster.vm_memory_mb),
        vm_memory_startup_mb=grow(cluster.vm_memory_startup_mb),
        vm_memory_minimum_mb=grow(cluster.vm_memory_minimum_mb),
        vm_memory_maximum_mb=grow(cluster.vm_memory_maximum_mb),
    )


@dataclass(frozen=True)
class GrowthLimit:
    """Where growth breaks N+1 safety.

    ``breaks_at`` is the smallest tested factor that is not N+1-safe (``None`` when even
    ``max_factor`` is safe); ``max_safe`` the largest safe one just below it (``None`` when
    none).  When the cluster is not N+1-safe today (``safe_now`` False) the search goes
    below 1.0: ``max_safe`` is then the demand it would take to become safe, and ``None``
    with ``breaks_at`` 0.01 means no demand level helps (rules or possible owners decide).
    ``evaluations`` lists every factor tried with ``(safe, proven)``.
    """

    breaks_at: float | None
    max_safe: float | None
    proven: bool
    evaluations: tuple[tuple[float, bool, bool], ...] = field(default_factory=tuple)

    @property
    def safe_now(self) -> bool:
        """N+1-safe at today's demand (factor 1.0)."""
        return any(f == 1.0 and safe for f, safe, _ in self.evaluations)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "safe_now": self.safe_now,
            "breaks_at": self.breaks_at,
            "max_safe": self.max_safe,
            "proven": self.proven,
            "evaluations": len(self.evaluations),
        }


def _demand_upper_pct(cluster: Cluster) -> int:
    """A growth (percent) above which losing the largest host cannot be survived: total
    demand then exceeds what the other hosts can hold."""
    up = cluster.host_up
    best = math.inf
    for need, free in (
        (cluster.vm_cpu_load_milli, cluster.host_cpu_free_milli),
        (cluster.vm_mem_load_mb, cluster.host_memory_free_mb),
    ):
        total = float(need.sum())
        if total <= 0 or not up.any():
            continue
        room = float(free[up].sum() - free[up].max())
        best = min(best, 100.0 * room / total)
    return 1000 if not math.isfinite(best) else max(1, int(math.ceil(best)) + 1)


def growth_limit(
    cluster: Cluster,
    options: FailureOptions | None = None,
    resolution_pct: int = 1,
    max_pct: int = 10_000,
) -> GrowthLimit:
    """Smallest growth (multiple of ``resolution_pct`` percent) at which the cluster stops
    being N+1-safe, by bisection between a safe and an unsafe factor."""
    opt = options or FailureOptions()
    step = max(1, int(resolution_pct))
    evals: list[tuple[float, bool, bool]] = []
    cache: dict[int, tuple[bool, bool]] = {}

    def safe(p: int) -> bool:
        if p not in cache:
            cache[p] = n1_safe(scale_demand(cluster, p / 100.0), opt)
            evals.append((p / 100.0, *cache[p]))
        return cache[p][0]

    proven = True
    if safe(100):
        lo = 100
        hi = max(_demand_upper_pct(cluster), 100 + step)
        hi = int(math.ceil(hi / step) * step)
        while safe(hi):
            lo = hi
            if hi >= max_pct:
                return GrowthLimit(None, hi / 100.0, all(e[2] for e in evals), tuple(evals))
            hi = min(max_pct, hi * 2)
    else:
        lo, hi = 0, 100
    while hi - lo > step:
        mid = lo + ((hi - lo) // (2 * step)) * step
        mid = max(mid, lo + step)
        if safe(mid):
            lo = mid
        else:
            hi = mid
    proven = all(e[2] for e in evals)
    return GrowthLimit(hi / 100.0, lo / 100.0 if lo > 0 else None, proven, tuple(evals))


# ----------------------------------------------------------------------------- added hosts
@dataclass(frozen=True)
class HostShape:
    """Size of a host to add: logical processors, memory, reserve (MB)."""

    logical_processors: int
    memory_mb: int
    memory_reserve_mb: int
    max_vm_migrations: int = 2


def default_shape(cluster: Cluster, vendor: Vendor | None = None) -> HostShape:
    """The largest Up host (by memory, then processors) of ``vendor`` (any vendor when the
    cluster has none of it): new hardware is assumed to be sized like the biggest node."""
    cand = cluster.host_up.copy()
    if vendor is not None and (cand & (cluster.host_vendor == vendor)).any():
        cand &= cluster.host_vendor == vendor
    if not cand.any():
        cand = np.ones(cluster.n_hosts, dtype=bool)
    idx = np.flatnonzero(cand)
    h = int(idx[np.lexsort((-cluster.host_lp[idx], -cluster.host_memory_mb[idx]))[0]])
    return HostShape(
        int(cluster.host_lp[h]),
        int(cluster.host_memory_mb[h]),
        int(cluster.host_memory_reserve_mb[h]),
        int(cluster.host_max_migrations[h]),
    )


def add_hosts(
    cluster: Cluster,
    model: str,
    count: int,
    shape: HostShape | None = None,
    catalog: CpuCatalog | None = None,
) -> Cluster:
    """The cluster with ``count`` empty Up hosts of catalog CPU ``model`` appended.

    Each new host is its own fault domain (the snapshot default) and is a possible owner of
    every VM that may run on every current host (a VM restricted to some hosts stays so).
    Raises ``ValueError`` for a model that is not in the catalog.
    """
    cat = catalog or default_catalog()
    m = cat.get(model)
    if m is None:
        raise ValueError(f"unknown CPU model {model!r}")
    if count <= 0:
        return cluster
    shp = shape or default_shape(cluster, m.vendor)
    c = cluster
    feats = list(c.features)
    extra = sorted(m.features - set(feats))
    feats += extra
    nf = len(feats)
    hf = np.zeros((c.n_hosts + count, nf), dtype=bool)
    hf[: c.n_hosts, : len(c.features)] = c.host_features
    fidx = {f: i for i, f in enumerate(feats)}
    hf[c.n_hosts :, [fidx[f] for f in m.features]] = True
    base = np.zeros((c.vendor_baseline.shape[0], nf), dtype=bool)
    base[:, : len(c.features)] = c.vendor_baseline
    used = {n.casefold() for n in c.host_names}
    names: list[str] = []
    i = 1
    while len(names) < count:
        n = f"NEW-{m.name}-{i}"
        if n.casefold() not in used:
            names.append(n)
            used.add(n.casefold())
        i += 1
    fds = list(c.fault_domains)
    fd_of = {d.casefold(): j for j, d in enumerate(fds)}
    new_fd = []
    for n in names:
        if n.casefold() not in fd_of:
            fd_of[n.casefold()] = len(fds)
            fds.append(n)
        new_fd.append(fd_of[n.casefold()])
    everywhere: np.ndarray = np.asarray(c.vm_possible.all(axis=1))
    possible = np.concatenate(
        [c.vm_possible, np.repeat(everywhere[:, None], count, axis=1)], axis=1
    )

    def cat_(a: np.ndarray, v: float | int, dtype: Any) -> np.ndarray:
        return np.concatenate([a, np.full(count, v, dtype=dtype)]).astype(dtype)

    return c.replace(
        host_names=c.host_names + tuple(names),
        host_state=cat_(c.host_state, int(HostState.UP), np.int8),
        host_fault_domain=np.concatenate([c.host_fault_domain, new_fd]).astype(np.int32),
        fault_domains=tuple(fds),
        host_vendor=cat_(c.host_vendor, int(m.vendor), np.int8),
        host_cpu_model=c.host_cpu_model + (m.name,) * count,
        host_lp=cat_(c.host_lp, shp.logical_processors, np.int64),
        host_memory_mb=cat_(c.host_memory_mb, shp.memory_mb, np.int64),
        host_memory_reserve_mb=cat_(c.host_memory_reserve_mb, shp.memory_reserve_mb, np.int64),
        host_cpu_base_milli=cat_(c.host_cpu_base_milli, 0, np.int64),
        host_max_migrations=cat_(c.host_max_migrations, shp.max_vm_migrations, np.int64),
        host_max_config_version_x10=cat_(
            c.host_max_config_version_x10, ANY_CONFIG_VERSION, np.int32
        ),
        host_max_running_vms=cat_(c.host_max_running_vms, DEFAULT_MAX_RUNNING_VMS, np.int64),
        features=tuple(feats),
        host_features=hf,
        vendor_baseline=base,
        vm_possible=possible,
    )


@dataclass(frozen=True)
class AddHostResult:
    """Fewest added hosts of ``model`` that make the cluster N+1-safe.

    ``needed`` is ``None`` when even ``searched_up_to`` hosts are not enough.  ``proven``
    says the minimum is proved (the count below decided unsafe exactly, the count itself safe
    by a witness).
    """

    model: str
    shape: HostShape
    needed: int | None
    proven: bool
    searched_up_to: int
    evaluations: tuple[tuple[int, bool, bool], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "model": self.model,
            "needed": self.needed,
            "proven": self.proven,
            "searched_up_to": self.searched_up_to,
            "host_shape": {
                "logical_processors": self.shape.logical_processors,
                "memory_mb": self.shape.memory_mb,
                "memory_reserve_mb": self.shape.memory_reserve_mb,
            },
        }


def min_additional_hosts(
    cluster: Cluster,
    model: str,
    options: FailureOptions | None = None,
    max_hosts: int | None = None,
    shape: HostShape | None = None,
    catalog: CpuCatalog | None = None,
) -> AddHostResult:
    """Fewest empty ``model`` hosts to add so that every single-node failure is survivable.

    Exponential search (0, 1, 2, 4, ...) up to ``max_hosts`` (default: up to Hyper-V's
    64-node limit, at least 1), then bisection; see the module docstring for why it is exact.
    """
    opt = options or FailureOptions()
    cat = catalog or default_catalog()
    m = cat.get(model)
    if m is None:
        raise ValueError(f"unknown CPU model {model!r}")
    shp = shape or default_shape(cluster, m.vendor)
    limit = max_hosts if max_hosts is not None else max(MAX_CLUSTER_NODES - cluster.n_hosts, 1)
    evals: dict[int, tuple[bool, bool]] = {}

    def safe(k: int) -> bool:
        if k not in evals:
            evals[k] = n1_safe(add_hosts(cluster, model, k, shp, cat), opt)
        return evals[k][0]

    def result(needed: int | None) -> AddHostResult:
        if needed is None:
            proven = all(p for _, p in evals.values())
        elif needed == 0:
            proven = evals[0][1]
        else:
            proven = evals[needed][1] and evals.get(needed - 1, (False, False))[1]
        return AddHostResult(
            m.name,
            shp,
            needed,
            proven,
            limit,
            tuple((k, s, p) for k, (s, p) in sorted(evals.items())),
        )

    if safe(0):
        return result(0)
    lo, hi = 0, 1
    while not safe(hi):
        lo = hi
        if hi >= limit:
            return result(None)
        hi = min(limit, hi * 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if safe(mid):
            hi = mid
        else:
            lo = mid
    return result(hi)


__all__ = [
    "AddHostResult",
    "DrainOutcome",
    "GrowthLimit",
    "HostShape",
    "MaintenanceReport",
    "add_hosts",
    "default_shape",
    "growth_limit",
    "min_additional_hosts",
    "rolling_maintenance",
    "scale_demand",
]
