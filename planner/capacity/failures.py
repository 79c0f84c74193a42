"""Failover scenarios (N+1, N+k, fault domains): fast screen, then exact checks.

:func:`failure_scenarios` lists the scenarios; :func:`analyze_failures` runs the vectorized
restart simulation of :mod:`planner.failover` on all of them and settles each one:

* ``greedy``: the simulation restarted every VM -- survivable, the simulated placement is
  the witness;
* ``bound``: a necessary condition fails (total demand above the room left, or a VM that
  fits no surviving host even before anything restarts) -- not survivable, proved;
* ``cpsat-feasible`` / ``cpsat-infeasible``: the greedy left VMs out but no bound applies, so
  the exact CP-SAT check decided (survivable with its placement, or proved not);
* ``cpsat-unknown``: the exact check ran out of time; the greedy's answer (not survivable)
  is kept and the row says it is not proved.

A scenario is *survivable* when every High, Medium and Low VM that ran on the failed nodes
restarts (No Auto Start VMs stay off by design) and no surviving host ends above 100 % of its
CPU or memory (hard capacity, SPEC §2: restarts never push a host over it, but a host that is
already over it before the failure -- e.g. after demand growth on the current placement, which
is not rebalanced -- makes the scenario unsurvivable); with ``threshold_pct`` set, the
surviving hosts must also end at or under that CPU and memory percentage.

N+k for k >= 2: every combination when there are at most ``max_scenarios_per_k`` of them,
otherwise a uniform random sample of that many distinct combinations drawn with
``numpy.random.default_rng(seed)`` (rank-based sampling without replacement), sorted.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.cluster import Cluster, HostState
from planner.cpsat.capacity import ExactStatus, exact_restart, min_not_restarted
from planner.failover import PRIORITIES, RestartEngine, RestartResult, failed_matrix

#: Longest list of VM names kept per row (the counts are always complete).
MAX_NAMES_PER_ROW = 100


@dataclass(frozen=True)
class Scenario:
    """A set of hosts failing together."""

    name: str
    kind: str  # "N+1", "N+2", ..., "fault_domain"
    hosts: tuple[int, ...]


@dataclass(frozen=True)
class FailureOptions:
    """How many failures, how to sample, how to decide.

    Attributes
    ----------
    failures:
        Up to this many simultaneous node failures (1 = N+1 only).
    fault_domains:
        Also fail each fault domain that holds more than one failable host.
    max_scenarios_per_k:
        Above this many k-combinations, sample (seeded, see the module docstring).  The
        default, C(64, 2) = 2,016, keeps N+2 exhaustive up to Hyper-V's 64-node limit.
    seed:
        Sampling seed (and CP-SAT seed).
    threshold_pct:
        When set, survivable also requires every surviving host at or under this CPU % and
        memory %.
    exact:
        Run the CP-SAT check on scenarios the screen cannot settle.
    exact_time_limit_s, exact_workers:
        CP-SAT time limit per scenario and search workers.
    exact_loss:
        For scenarios that are not survivable, also ask CP-SAT for the fewest VMs any
        placement must leave out (High first, then Medium, then Low).  The simulated
        ``not_restarted`` list is what the cluster's own restart order does; this is the
        best an operator could do.
    """

    failures: int = 1
    fault_domains: bool = True
    max_scenarios_per_k: int = 2016
    seed: int = 0
    threshold_pct: float | None = None
    exact: bool = True
    exact_time_limit_s: float = 10.0
    exact_workers: int = 1
    exact_loss: bool = False


@dataclass(frozen=True)
class ScenarioOutcome:
    """One scenario's answer (a row of ``scenarios.csv``)."""

    scenario: str
    kind: str
    failed_hosts: tuple[str, ...]
    vms_to_restart: int
    not_restarted: tuple[str, ...]
    not_restarted_by_priority: tuple[int, int, int]  # High, Medium, Low
    noautostart_off: int
    max_cpu_pct_after: float
    max_memory_pct_after: float
    hosts_over_threshold_after: int
    restarts_all: bool
    survivable: bool
    settled_by: str
    proven: bool
    exact_seconds: float = 0.0
    min_not_restarted: tuple[int, int, int] | None = None  # High, Medium, Low
    min_loss_proven: bool | None = None
    hosts_over_capacity_after: int = 0

    def to_row(self) -> dict[str, Any]:
        """Flat dict for CSV / Parquet (SPEC §6 columns plus extras)."""
        names = list(self.not_restarted[:MAX_NAMES_PER_ROW])
        if len(self.not_restarted) > MAX_NAMES_PER_ROW:
            names.append(f"(+{len(self.not_restarted) - MAX_NAMES_PER_ROW} more)")
        return {
            "scenario": self.scenario,
            "kind": self.kind,
            "failed_hosts": ";".join(self.failed_hosts),
            "vms_to_restart": self.vms_to_restart,
            "vms_not_restarted": len(self.not_restarted),
            "not_restarted_high": self.not_restarted_by_priority[0],
            "not_restarted_medium": self.not_restarted_by_priority[1],
            "not_restarted_low": self.not_restarted_by_priority[2],
            "noautostart_off": self.noautostart_off,
            "max_cpu_pct_after": round(self.max_cpu_pct_after, 4),
            "max_memory_pct_after": round(self.max_memory_pct_after, 4),
            "hosts_over_threshold_after": self.hosts_over_threshold_after,
            "hosts_over_capacity_after": self.hosts_over_capacity_after,
            "survivable": self.survivable,
            "settled_by": self.settled_by,
            "proven": self.proven,
            "not_restarted_vms": ";".join(names),
            "min_not_restarted": (
                None if self.min_not_restarted is None else sum(self.min_not_restarted)
            ),
            "min_not_restarted_high": (
                None if self.min_not_restarted is None else self.min_not_restarted[0]
            ),
            "min_not_restarted_medium": (
                None if self.min_not_restarted is None else self.min_not_restarted[1]
            ),
            "min_not_restarted_low": (
                None if self.min_not_restarted is None else self.min_not_restarted[2]
            ),
            "min_loss_proven": self.min_loss_proven,
        }


@dataclass(frozen=True)
class FailureReport:
    """Every scenario's outcome plus how the scenarios were chosen."""

    outcomes: tuple[ScenarioOutcome, ...]
    sampling: dict[str, Any] = field(default_factory=dict)

    def safe(self, kind: str = "N+1") -> bool:
        """True when every scenario of ``kind`` is survivable."""
        return all(o.survivable for o in self.outcomes if o.kind == kind)

    def proven(self, kind: str = "N+1") -> bool:
        """True when every scenario of ``kind`` was settled by a proof or a witness."""
        return all(o.proven for o in self.outcomes if o.kind == kind)

    def worst(self) -> ScenarioOutcome | None:
        """The scenario with the most VMs left out, then the highest load after."""
        if not self.outcomes:
            return None
        return max(
            self.outcomes,
            key=lambda o: (
                not o.survivable,
                o.not_restarted_by_priority,
                len(o.not_restarted),
                max(o.max_cpu_pct_after, o.max_memory_pct_after),
            ),
        )


# ----------------------------------------------------------------------------- scenarios
def failable_hosts(cluster: Cluster) -> np.ndarray:
    """Hosts whose failure is a scenario: every host that is not already Down."""
    return np.flatnonzero(cluster.host_state != HostState.DOWN)


def _sample_combinations(n: int, k: int, cap: int, seed: int) -> tuple[list[tuple[int, ...]], bool]:
    """All k-subsets of range(n) in lexicographic order, or ``cap`` sampled ones."""
    total = math.comb(n, k)
    if total <= cap:
        return list(itertools.combinations(range(n), k)), False
    rng = np.random.default_rng(seed)
    ranks = np.sort(rng.choice(total, size=cap, replace=False))
    return [_unrank(int(r), n, k) for r in ranks], True


def _unrank(r: int, n: int, k: int) -> tuple[int, ...]:
    """The r-th k-subset of range(n) in lexicographic order."""
    out = []
    x = 0
    for i in range(k, 0, -1):
        while math.comb(n - x - 1, i - 1) <= r:
            r -= math.comb(n - x - 1, i - 1)
            x += 1
        out.append(x)
        x += 1
    return tuple(out)


def failure_scenarios(
    cluster: Cluster, options: FailureOptions | None = None
) -> tuple[list[Scenario], dict[str, Any]]:
    """The scenarios to simulate and a record of how they were chosen."""
    opt = options or FailureOptions()
    hosts = failable_hosts(cluster)
    hn = cluster.host_names
    out: list[Scenario] = []
    sampling: dict[str, Any] = {}
    for k in range(1, max(1, opt.failures) + 1):
        if k > len(hosts):
            break
        combos, sampled = _sample_combinations(len(hosts), k, opt.max_scenarios_per_k, opt.seed + k)
        total = math.comb(len(hosts), k)
        sampling[f"N+{k}"] = {
            "scenarios": len(combos),
            "combinations": total,
            "sampled": sampled,
            "method": (
                "uniform sample without replacement of combination ranks, "
                f"numpy default_rng(seed={opt.seed + k})"
            )
            if sampled
            else "all",
        }
        for combo in combos:
            hs = tuple(int(hosts[i]) for i in combo)
            out.append(Scenario(f"N+{k}:" + "+".join(hn[h] for h in hs), f"N+{k}", hs))
    if opt.fault_domains:
        n_dom = 0
        for d, dname in enumerate(cluster.fault_domains):
            hs = tuple(int(h) for h in hosts if cluster.host_fault_domain[h] == d)
            if len(hs) > 1:
                out.append(Scenario(f"domain:{dname}", "fault_domain", hs))
                n_dom += 1
        sampling["fault_domain"] = {"scenarios": n_dom, "method": "all"}
    return out, sampling


# ----------------------------------------------------------------------------- analysis
def percent_after(cluster: Cluster, res: RestartResult, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Per host, CPU % and memory % after scenario ``s`` of ``res`` (base CPU and memory
    reserve included; failed hosts show only those)."""
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
    return cpu_pct, mem_pct


def _outcome(
    cluster: Cluster,
    sc: Scenario,
    res: RestartResult,
    s: int,
    settled: str,
    proven: bool,
    opt: FailureOptions,
    exact_s: float,
) -> ScenarioOutcome:
    f = res.failed[s]
    live = ~f & (cluster.host_state != HostState.DOWN)
    cpu_pct, mem_pct = percent_after(cluster, res, s)
    max_cpu = float(cpu_pct[live].max()) if live.any() else 0.0
    max_mem = float(mem_pct[live].max()) if live.any() else 0.0
    thr = opt.threshold_pct
    over = 0
    if thr is not None:
        over = int((live & ((cpu_pct > thr + 1e-9) | (mem_pct > thr + 1e-9))).sum())
    over_cap = int(
        (
            live
            & (
                (cluster.host_cpu_base_milli + res.cpu_used[s] > cluster.host_cpu_capacity_milli)
                | (cluster.host_memory_reserve_mb + res.mem_used[s] > cluster.host_memory_mb)
            )
        ).sum()
    )
    left = res.not_placed(s)
    pr = cluster.vm_priority[left]
    by_p = tuple(int((pr == p).sum()) for p in PRIORITIES)
    restarts_all = len(left) == 0
    return ScenarioOutcome(
        scenario=sc.name,
        kind=sc.kind,
        failed_hosts=tuple(cluster.host_names[h] for h in sc.hosts),
        vms_to_restart=len(res.movers[s]),
        not_restarted=tuple(cluster.vm_names[v] for v in left),
        not_restarted_by_priority=(by_p[0], by_p[1], by_p[2]),
        noautostart_off=int(res.noautostart_off[s]),
        max_cpu_pct_after=max_cpu,
        max_memory_pct_after=max_mem,
        hosts_over_threshold_after=over,
        restarts_all=restarts_all,
        survivable=restarts_all and over == 0 and over_cap == 0,
        settled_by=settled,
        # Over the threshold with the simulated placement does not prove that no placement
        # stays under it: only the restart question is decided exactly.
        proven=proven and not (restarts_all and over > 0 and over_cap == 0),
        hosts_over_capacity_after=over_cap,
        exact_seconds=exact_s,
    )


def settle(
    engine: RestartEngine, failed: np.ndarray, opt: FailureOptions
) -> tuple[RestartResult, list[str], list[bool], list[float]]:
    """Run the screen on ``failed`` (S, H), then the exact check where needed.

    Returns the (possibly exact-corrected) result and, per scenario, how it was settled,
    whether that is a proof, and the exact-check seconds.  (The minimum-loss solve of
    ``exact_loss`` is done by :func:`analyze_failures`, not here.)
    """
    res = engine.run(failed)
    complete = res.complete
    settled: list[str] = []
    proven: list[bool] = []
    secs: list[float] = []
    for s in range(res.n_scenarios):
        if complete[s]:
            settled.append("greedy")
            proven.append(True)
            secs.append(0.0)
        elif res.bound_infeasible[s]:
            settled.append("bound")
            proven.append(True)
            secs.append(0.0)
        elif not opt.exact:
            settled.append("greedy-incomplete")
            proven.append(False)
            secs.append(0.0)
        else:
            ex = exact_restart(res.instance(s), opt.exact_time_limit_s, opt.exact_workers, opt.seed)
            secs.append(ex.wall_seconds)
            if ex.status == ExactStatus.FEASIBLE and ex.item_host is not None:
                res = res.with_exact(s, ex.item_host)
                settled.append("cpsat-feasible")
                proven.append(True)
            elif ex.status == ExactStatus.INFEASIBLE:
                settled.append("cpsat-infeasible")
                proven.append(True)
            else:
                settled.append("cpsat-unknown")
                proven.append(False)
    return res, settled, proven, secs


def analyze_failures(
    cluster: Cluster,
    options: FailureOptions | None = None,
    scenarios: Sequence[Scenario] | None = None,
    engine: RestartEngine | None = None,
) -> FailureReport:
    """Simulate and settle every failure scenario of ``cluster``.

    Scenarios of one kind are simulated together (one vectorized pass per kind, so a
    fault-domain scenario with many VMs does not lengthen the N+1 pass).
    """
    opt = options or FailureOptions()
    sampling: dict[str, Any] = {}
    if scenarios is None:
        scenarios, sampling = failure_scenarios(cluster, opt)
    eng = engine or RestartEngine(cluster, "failover")
    outcomes: list[ScenarioOutcome | None] = [None] * len(scenarios)
    kinds: dict[str, list[int]] = {}
    for i, sc in enumerate(scenarios):
        kinds.setdefault(sc.kind, []).append(i)
    for idx in kinds.values():
        fm = failed_matrix(cluster.n_hosts, [scenarios[i].hosts for i in idx])
        res, settled, proven, secs = settle(eng, fm, opt)
        for j, i in enumerate(idx):
            o = _outcome(cluster, scenarios[i], res, j, settled[j], proven[j], opt, secs[j])
            if opt.exact_loss and not o.restarts_all:
                loss = min_not_restarted(
                    res.instance(j), opt.exact_time_limit_s, opt.exact_workers, opt.seed
                )
                o = dataclasses.replace(
                    o,
                    min_not_restarted=loss.not_restarted,
                    min_loss_proven=loss.proven,
                    exact_seconds=o.exact_seconds + loss.wall_seconds,
                )
            outcomes[i] = o
    return FailureReport(tuple(o for o in outcomes if o is not None), sampling)


def n1_safe(cluster: Cluster, options: FailureOptions | None = None) -> tuple[bool, bool]:
    """``(safe, proven)``: does the cluster survive every single-node failure?

    Stops at the first scenario proved unsurvivable.  ``proven`` is False when some
    scenario could only be left undecided (exact check timed out); such a scenario counts
    as not survivable.
    """
    opt = options or FailureOptions()
    hosts = failable_hosts(cluster)
    if len(hosts) == 0:
        return True, True
    # Restarts never push a host over 100 %, so a survivor above it was above it before the
    # failure: a scenario is lost whenever a host other than the failed one is over now.
    live = cluster.host_state != HostState.DOWN
    over_now = set(
        np.flatnonzero(
            live
            & (
                (cluster.host_load_milli() > cluster.host_cpu_capacity_milli)
                | (cluster.host_mem_used_mb() > cluster.host_memory_mb)
            )
        ).tolist()
    )
    if any(over_now - {int(h)} for h in hosts):
        return False, True
    eng = RestartEngine(cluster, "failover")
    fm = failed_matrix(cluster.n_hosts, [(int(h),) for h in hosts])
    res = eng.run(fm)
    complete = res.complete
    proven_all = True
    # Check the cheap verdicts first so an early "no" skips every exact solve.
    order = sorted(
        range(res.n_scenarios), key=lambda s: (not res.bound_infeasible[s], bool(complete[s]))
    )
    for s in order:
        if complete[s] and opt.threshold_pct is None:
            continue
        if not complete[s]:
            if res.bound_infeasible[s]:
                return False, proven_all
            if not opt.exact:
                return False, False
            ex = exact_restart(res.instance(s), opt.exact_time_limit_s, opt.exact_workers, opt.seed)
            if ex.status == ExactStatus.INFEASIBLE:
                return False, True
            if ex.status == ExactStatus.UNKNOWN or ex.item_host is None:
                return False, False
            res = res.with_exact(s, ex.item_host)
        if opt.threshold_pct is not None:
            o = _outcome(cluster, Scenario("", "N+1", (int(hosts[s]),)), res, s, "", True, opt, 0.0)
            if not o.survivable:
                # With a threshold the greedy's spread is a heuristic: not a proof.
                return False, False
    return True, proven_all


__all__ = [
    "FailureOptions",
    "FailureReport",
    "Scenario",
    "ScenarioOutcome",
    "analyze_failures",
    "failable_hosts",
    "failure_scenarios",
    "n1_safe",
    "percent_after",
    "settle",
]
