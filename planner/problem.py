"""The planning problem: everything a plan must respect and pay for, built once.

:class:`PlanningProblem` is frozen, integer-valued and index-based.  It is built once from a
:class:`~planner.cluster.Cluster` and :class:`PlanOptions` by :func:`build_problem` and then
handed to every stage: the pre-check, the bounds, the heuristics, the CP-SAT models, the
verifier.  It holds the resolved threshold and per-host limits, the drained and held VMs,
where each VM may end and by which kind of move, what each move costs and the policy (rule
handling, anti-affinity, downtime moves, move budget, tiers, headroom, what to minimise).

The reference for everyone, solver or not, is in :mod:`planner.reference` and re-exported
here: :func:`objective_values` (every objective tier of a placement) and
:func:`hard_violations` (every hard rule a placement breaks).  A CP-SAT solution is checked
against them (a mismatch is a bug, never filtered); the verifier recomputes a written plan
with them.  Nothing here imports OR-Tools.

Tiers (SPEC §3, lexicographic): ``rules`` (affinity rules and enforced anti-affinity classes
broken now and left broken), ``excess`` (basis points of capacity above the threshold, CPU +
memory, summed over the load samples), ``anti_affinity`` (pairs of legacy anti-affinity
members sharing a node, when not enforced), ``migration`` (the cost of the moves in the unit
chosen by ``minimise``) and ``balance`` (highest host load in basis points).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from planner.cluster import Cluster, HostState, MoveKind, RuleType
from planner.groups import components
from planner.loadmodel import HighMode, Threshold, resolve_threshold, threshold_limits
from planner.reference import (
    BP,
    TIER_NAMES,
    aa_broken,
    hard_violations,
    host_vm_loads,
    objective_values,
    rule_broken,
    vm_mem_on,
)
from planner.rulepolicy import rule_policy, with_partners
from planner.samples import LoadSamples

if TYPE_CHECKING:
    from planner.profiles import Profile


#: Move kinds that boot the VM on its target (it needs its boot memory there).
BOOT_KINDS: tuple[int, ...] = (int(MoveKind.SHUTDOWN), int(MoveKind.START))


class SolveStatus(StrEnum):
    """Outcome of an optimization (SPEC §5 ``status``).

    CP-SAT's ``MODEL_INVALID`` has no member: it is a bug and raises
    :class:`SolverBug`.
    """

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    INFEASIBLE = "INFEASIBLE"
    UNKNOWN = "UNKNOWN"


class SolverBug(RuntimeError):
    """A solver result that contradicts the problem (a bug in hvplan, never a user error)."""


class Minimise(StrEnum):
    """What the ``migration`` tier counts."""

    MEMORY = "memory"  # MB of moved memory + shutdown_penalty_mb per downtime move
    MOVES = "moves"  # number of moves (+ a penalty per downtime move)
    DURATION = "duration"  # estimated migration seconds (planner.durations)


@dataclass(frozen=True)
class PlanOptions:
    """What to optimise and how (every field has a default).

    Attributes
    ----------
    level, threshold_pct, high_mode:
        The balancer threshold (SPEC §2); ``threshold_pct`` overrides ``level``.
    drain:
        Host indices to empty.
    max_moves:
        Hard budget on the number of VMs that change host.
    time_limit_s, seed, workers:
        Solver settings; ``None`` takes the profile's value.  ``time_limit_s`` bounds a whole
        :func:`planner.plan` (re-optimisations included), not one solve.
    profile:
        Built-in profile name, TOML path or :class:`planner.profiles.Profile`.
    strict_rules:
        Every affinity rule and enforced anti-affinity class must hold after the plan, also
        those broken now (else: those broken now may stay broken, counted by tier ``rules``).
    headroom_pct:
        Nodes over the threshold now must end ``headroom_pct`` points below it.
    minimise:
        ``memory`` (default), ``moves`` or ``duration``: the unit of the migration tier.
    load_samples:
        Optional :class:`LoadSamples`: capacity must hold at every sample and the threshold
        excess is summed over them (default: the snapshot's single load vector).
    start_placement:
        Optional int (V,) placement to start from (a plan made before, for instance the
        previous round of a plan over a load history): offered to the search as its first
        candidate, kept only if it keeps every hard rule of this problem.  It never makes
        the result worse; it does not change what is optimal.
    export_model, log, large_model_booleans:
        Write the CP-SAT model, log the search, override the profile's model-size limit.
    """

    level: str | None = None
    threshold_pct: float | None = None
    high_mode: str = HighMode.AVERAGE.value
    drain: tuple[int, ...] = ()
    max_moves: int | None = None
    time_limit_s: float | None = None
    seed: int = 0
    workers: int | None = None
    profile: Profile | str | None = None
    strict_rules: bool = False
    headroom_pct: float | None = 0.0
    minimise: str = Minimise.MEMORY.value
    load_samples: LoadSamples | None = None
    start_placement: np.ndarray | None = None
    export_model: Path | None = None
    log: bool = False
    large_model_booleans: int | None = None


@dataclass(frozen=True, eq=False)
class PlanningProblem:
    """One planning problem (see the module docstring).  Build it with
    :func:`build_problem`; change it only with :meth:`replace` or :meth:`holding`.

    Per-VM and per-host arrays are indexed like the cluster's; ``(K, V)`` arrays have one row
    per load sample.
    """

    cluster: Cluster
    options: PlanOptions
    profile: Profile
    threshold: Threshold
    #: Largest VM CPU load (milli-LP, int64 (K, H): per sample) and VM memory (MB, int64 H)
    #: per host at the threshold (minus the headroom on the nodes over it now).
    cpu_limit: np.ndarray
    mem_limit: np.ndarray
    drained: tuple[int, ...]
    held: tuple[int, ...]
    #: bool (V, H): where each VM may end (current host included when it may stay).
    allowed: np.ndarray
    #: int8 (V, H): :class:`MoveKind` of a move there (FORBIDDEN where not allowed).
    move_kind: np.ndarray
    #: int64 (V, H): price of ending there in the migration tier (0 on the current host).
    move_cost: np.ndarray
    #: bool V: must leave its current host.  bool V: may end elsewhere.
    mandatory: np.ndarray
    movable: np.ndarray
    #: int64 V: cheapest move away (0 when not movable).
    min_cost: np.ndarray
    #: int64 (K, V) loads; memory on a target reached by a boot move is ``vm_mem_boot``.
    vm_cpu: np.ndarray
    vm_mem: np.ndarray
    vm_mem_boot: np.ndarray
    #: int64 (K, H): the hosts' own CPU use.
    host_cpu_base: np.ndarray
    #: bool (V, H): ending there boots the VM (Shutdown or Start move).
    boot_move: np.ndarray
    #: bool V: consumes CPU/memory (Running or Paused); int64 H: running-VM limit.
    vm_running: np.ndarray
    running_limit: np.ndarray
    #: Per rule index: its running members (empty for disabled rules).
    rule_members: tuple[tuple[int, ...], ...]
    hard_rules: tuple[int, ...]
    soft_rules: tuple[int, ...]
    #: Per legacy anti-affinity class: its running members.
    aa_members: tuple[tuple[int, ...], ...]
    enforce_aa: bool
    hard_aa: tuple[int, ...]
    soft_aa: tuple[int, ...]
    balance_hosts: np.ndarray
    tiers: tuple[str, ...]
    allow_shutdown: bool
    shutdown_penalty: int
    max_moves: int | None
    strict_rules: bool
    headroom_pct: float
    minimise: Minimise
    time_limit_s: float
    workers: int
    seed: int
    hot_now: np.ndarray = field(repr=False)

    @property
    def n_samples(self) -> int:
        """Number of load samples K (1 without a history)."""
        return int(self.vm_cpu.shape[0])

    @property
    def cpu_limit_all(self) -> np.ndarray:
        """int64 H: the VM CPU limit that holds at every sample (the smallest)."""
        return np.asarray(self.cpu_limit.min(axis=0))

    @property
    def vm_cpu_max(self) -> np.ndarray:
        """int64 V: each VM's highest CPU demand over the samples."""
        return np.asarray(self.vm_cpu.max(axis=0))

    @property
    def vm_mem_max(self) -> np.ndarray:
        """int64 V: each VM's highest memory over the samples (boot memory excluded)."""
        return np.asarray(self.vm_mem.max(axis=0))

    @functools.cached_property
    def same_node_groups(self) -> dict[int, tuple[int, ...]]:
        """VM → the running VMs it must share a node with, through the hard SameNode rules
        (transitively); only members of such rules appear."""
        same = RuleType.SAME_NODE
        return components(
            self.cluster.n_vms,
            (
                self.rule_members[r]
                for r in self.hard_rules
                if self.cluster.rules[r].rule_type == same
            ),
        )

    def replace(self, **changes: Any) -> PlanningProblem:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def holding(self, held: Iterable[int]) -> PlanningProblem:
        """The same problem with ``held`` VMs (more) restricted to their current host."""
        return build_problem(
            self.cluster, self.options, tuple(self.held) + tuple(held), profile=self.profile
        )

    def parameters(self) -> dict[str, Any]:
        """Every option and policy value as reported in ``summary.json``."""
        o = self.options
        return {
            "time_limit_s": self.time_limit_s,
            "workers": self.workers,
            "seed": self.seed,
            "deterministic": self.profile.deterministic,
            "profile": self.profile.name,
            "profile_source": self.profile.source,
            "tiers": list(self.tiers),
            "shutdown_penalty_mb": int(self.profile.shutdown_penalty_mb),
            "shutdown_penalty": int(self.shutdown_penalty),
            "allow_shutdown": self.allow_shutdown,
            "enforce_anti_affinity": self.enforce_aa,
            "max_moves": self.max_moves,
            "strict_rules": self.strict_rules,
            "headroom_pct": self.headroom_pct,
            "minimise": self.minimise.value,
            "level": o.level,
            "threshold_pct": o.threshold_pct,
            "high_mode": o.high_mode,
            "drain": [self.cluster.host_names[h] for h in self.drained],
            "held": [self.cluster.vm_names[v] for v in self.held],
            "load_samples": self.n_samples,
            **self._load_sample_parameters(),
        }

    def _load_sample_parameters(self) -> dict[str, Any]:
        """Which history samples the plan was judged at (empty without them)."""
        s = self.options.load_samples
        if s is None or s.statistic is None or len(s.indices) != s.n_samples:
            return {}
        out: dict[str, Any] = {
            "load_statistic": s.statistic,
            "load_sample_indices": list(s.indices),
        }
        if any(h is not None for h in s.threshold_hosts):
            names = self.cluster.host_names
            out["load_sample_threshold_hosts"] = [
                None if h is None else [names[i] for i in h] for h in s.threshold_hosts
            ]
        return out


# ---------------------------------------------------------------------------- building
def resolve_profile(p: Profile | str | None) -> Profile:
    """A :class:`~planner.profiles.Profile` from a profile, a name or a path (API misuse
    raises ``ValueError``: the CLI validates profiles before)."""
    from planner.profiles import Profile, load_profile

    if isinstance(p, Profile):
        return p
    prof, rep = load_profile(p)
    if prof is None:
        raise ValueError("; ".join(str(e) for e in rep.errors))
    return prof


def _samples(cluster: Cluster, s: LoadSamples | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if s is None:
        return (
            cluster.vm_cpu_load_milli[None, :].astype(np.int64),
            cluster.vm_mem_load_mb[None, :].astype(np.int64),
            cluster.host_cpu_base_milli[None, :].astype(np.int64),
        )
    k = s.n_samples
    want = {
        "vm_cpu_milli": (k, cluster.n_vms),
        "vm_mem_mb": (k, cluster.n_vms),
        "host_cpu_base_milli": (k, cluster.n_hosts),
    }
    for name, shape in want.items():
        if getattr(s, name).shape != shape or k < 1:
            raise ValueError(
                f"load_samples.{name} has shape {getattr(s, name).shape}, expected {shape}"
            )
    run = cluster.vm_consumes[None, :]
    return (
        np.where(run, s.vm_cpu_milli, 0).astype(np.int64),
        np.where(run, s.vm_mem_mb, 0).astype(np.int64),
        s.host_cpu_base_milli.astype(np.int64),
    )


def _move_costs(
    cluster: Cluster, kind: np.ndarray, minimise: Minimise, penalty_mb: int
) -> tuple[np.ndarray, int]:
    """int64 (V, H) price of each move and the price of one downtime move in that unit."""
    nv = cluster.n_vms
    if minimise == Minimise.MOVES:
        penalty = nv + 1  # one downtime move outweighs every ordinary move together
        base = np.ones(nv, dtype=np.int64)
        cost = np.broadcast_to(base[:, None], kind.shape).astype(np.int64)
    elif minimise == Minimise.DURATION:
        from planner.durations import DEFAULT_DURATION_MODEL as M
        from planner.durations import move_seconds, node_rate_mb_s

        rate = node_rate_mb_s(cluster)
        penalty = int(math.ceil(penalty_mb / rate)) if rate > 0 else penalty_mb
        cost = np.zeros(kind.shape, dtype=np.int64)
        for k in np.unique(kind).tolist():
            if k == MoveKind.FORBIDDEN:
                continue
            mask = kind == k
            rows = np.flatnonzero(mask.any(axis=1))
            for v in rows.tolist():
                if k == MoveKind.START:
                    secs = M.quick_seconds + M.boot_seconds
                else:
                    secs = move_seconds(cluster, v, MoveKind(k))
                cost[v, mask[v]] = int(math.ceil(secs))
    else:
        penalty = int(penalty_mb)
        cost = np.broadcast_to(cluster.vm_memory_mb[:, None], kind.shape).astype(np.int64)
    cost = cost + penalty * (kind == MoveKind.SHUTDOWN)
    cost[np.arange(nv), cluster.vm_host] = 0
    return cost.astype(np.int64), penalty


def _allowed(
    cluster: Cluster, drained: tuple[int, ...], held: tuple[int, ...], allow_shutdown: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Where each VM may end and by which move: the cluster's allowed targets (possible
    owners, reachable, version, host receives VMs), minus drained hosts, minus Shutdown
    moves when the profile forbids them; pinned and held VMs only on their current host."""
    nv = cluster.n_vms
    v_idx = np.arange(nv)
    cur = cluster.vm_host
    kind = cluster.vm_move_kind.copy()
    allowed = cluster.vm_allowed.copy()
    if not allow_shutdown:
        allowed &= kind != MoveKind.SHUTDOWN
    cur_ok = cluster.vm_allowed[v_idx, cur].copy()
    if drained:
        allowed[:, list(drained)] = False
        cur_ok &= ~np.isin(cur, list(drained))
    allowed[v_idx, cur] = cur_ok
    stay_only = cluster.vm_pinned.copy()
    if held:
        stay_only[list(held)] = True
    if stay_only.any():
        keep = allowed[v_idx, cur] & stay_only
        allowed[stay_only] = False
        allowed[v_idx[stay_only], cur[stay_only]] = keep[stay_only]
    kind = np.where(allowed, kind, MoveKind.FORBIDDEN).astype(np.int8)
    return allowed, kind


def build_problem(
    cluster: Cluster,
    options: PlanOptions | None = None,
    held: Iterable[int] = (),
    profile: Profile | None = None,
    threshold: Threshold | None = None,
) -> PlanningProblem:
    """Build the :class:`PlanningProblem` of ``cluster`` under ``options``.

    Parameters
    ----------
    cluster:
        The snapshot.
    options:
        What to optimise (defaults when ``None``).
    held:
        VM indices that must stay on their current host (e.g. VMs whose moves could not be
        ordered safely); they keep every other property.
    profile:
        The resolved profile (default: resolved from ``options.profile``).
    threshold:
        The threshold to use instead of resolving it from the options (a plan being
        re-checked carries the one it was made with).

    Raises
    ------
    ValueError
        For API misuse: an unknown host index in ``drain``, a bad ``minimise`` or
        ``load_samples`` of the wrong shape.
    """
    opts = options or PlanOptions()
    prof = profile or resolve_profile(opts.profile)
    drained = tuple(sorted({int(h) for h in opts.drain}))
    bad = [h for h in drained if not 0 <= h < cluster.n_hosts]
    if bad:
        raise ValueError(f"drain refers to unknown host indices {bad}")
    held_t = tuple(sorted({int(v) for v in held}))
    minimise = Minimise(str(opts.minimise).strip().lower())
    thr = threshold or resolve_threshold(cluster, opts.level, opts.threshold_pct, opts.high_mode)
    vm_cpu, vm_mem, base = _samples(cluster, opts.load_samples)
    boot = cluster.vm_boot_memory_mb
    vm_mem_boot = np.maximum(vm_mem, np.where(cluster.vm_consumes, boot, 0)[None, :])
    headroom = float(opts.headroom_pct or 0.0)
    mask = None if opts.load_samples is None else opts.load_samples.threshold_mask(cluster.n_hosts)
    cpu_lim, mem_lim, hot_now = _hot_limits(cluster, thr, vm_cpu, vm_mem, base, headroom, mask)
    cur = cluster.vm_host
    allowed, kind = _allowed(cluster, drained, held_t, prof.allow_shutdown)
    cost, penalty = _move_costs(cluster, kind, minimise, prof.shutdown_penalty_mb)
    v_idx = np.arange(cluster.n_vms)
    mandatory, movable, min_cost = _mobility(allowed, cost, cur)
    boot_move = np.isin(kind, BOOT_KINDS)
    boot_move[v_idx, cur] = False
    running = cluster.vm_consumes.copy()
    enforce = prof.enforce_anti_affinity(cluster.settings.enforced_anti_affinity)
    rules = rule_policy(cluster, running, enforce, bool(opts.strict_rules))
    mandatory = with_partners(cluster, rules, mandatory)
    bal = cluster.host_state == HostState.UP
    if drained:
        bal[list(drained)] = False
    tiers = tuple(t for t in TIER_NAMES if t == "rules" or t in prof.tiers)
    limit = np.asarray(cluster.host_max_running_vms, dtype=np.int64)
    return PlanningProblem(
        cluster=cluster,
        options=opts,
        profile=prof,
        threshold=thr,
        cpu_limit=_ro(cpu_lim.astype(np.int64)),
        mem_limit=_ro(mem_lim.astype(np.int64)),
        drained=drained,
        held=held_t,
        allowed=_ro(allowed),
        move_kind=_ro(kind),
        move_cost=_ro(cost),
        mandatory=_ro(mandatory),
        movable=_ro(movable),
        min_cost=_ro(min_cost),
        vm_cpu=_ro(vm_cpu),
        vm_mem=_ro(vm_mem),
        vm_mem_boot=_ro(vm_mem_boot.astype(np.int64)),
        host_cpu_base=_ro(base),
        boot_move=_ro(boot_move),
        vm_running=_ro(running),
        running_limit=_ro(limit),
        enforce_aa=enforce,
        **rules,
        balance_hosts=_ro(bal),
        tiers=tiers,
        allow_shutdown=prof.allow_shutdown,
        shutdown_penalty=int(penalty),
        max_moves=opts.max_moves,
        strict_rules=bool(opts.strict_rules),
        headroom_pct=headroom,
        minimise=minimise,
        time_limit_s=float(
            opts.time_limit_s if opts.time_limit_s is not None else prof.time_limit_s
        ),
        workers=int(opts.workers if opts.workers is not None else prof.workers),
        seed=int(opts.seed),
        hot_now=_ro(hot_now),
    )


def _hot_limits(
    cluster: Cluster,
    thr: Threshold,
    vm_cpu: np.ndarray,
    vm_mem: np.ndarray,
    base: np.ndarray,
    headroom: float,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Threshold limits (CPU per sample and host, memory per host), with ``headroom`` points
    less on the nodes over the threshold now, and those nodes.  Where ``mask`` (K, H) is
    False the CPU limit is the capacity (the threshold does not count there)."""
    cpu_lim, mem_lim = _limits(cluster, thr, base)
    free = cluster.host_cpu_capacity_milli[None, :].astype(np.int64) - base
    if mask is not None:
        cpu_lim = np.where(mask, cpu_lim, free)
    cur = cluster.vm_host
    nh = cluster.n_hosts
    hot_now = np.zeros(nh, dtype=bool)
    for k in range(vm_cpu.shape[0]):
        hot_now |= np.bincount(cur, weights=vm_cpu[k], minlength=nh) > cpu_lim[k]
        hot_now |= np.bincount(cur, weights=vm_mem[k], minlength=nh) > mem_lim
    if headroom > 0:
        room = Threshold(
            max(0.0, thr.cpu_pct - headroom),
            max(0.0, thr.memory_pct - headroom),
            thr.level,
            thr.rule,
        )
        c2, m2 = _limits(cluster, room, base)
        if mask is not None:
            c2 = np.where(mask, c2, free)
        cpu_lim = np.where(hot_now[None, :], c2, cpu_lim)
        mem_lim = np.where(hot_now, m2, mem_lim)
    return cpu_lim, mem_lim, hot_now


def _mobility(
    allowed: np.ndarray, cost: np.ndarray, cur: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per VM: must leave, may leave, cheapest move away (0 when it cannot move)."""
    v_idx = np.arange(len(cur))
    mandatory = np.asarray(~allowed[v_idx, cur], dtype=bool)
    other = allowed.copy()
    other[v_idx, cur] = False
    movable = np.asarray(other.any(axis=1), dtype=bool)
    big = np.iinfo(np.int64).max // 4
    min_cost = np.where(other, cost, big).min(axis=1) if allowed.shape[1] else np.zeros(len(cur))
    return mandatory, movable, np.where(movable, min_cost, 0).astype(np.int64)


def _limits(cluster: Cluster, thr: Threshold, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VM CPU limit per sample and host (K, H) and VM memory limit per host (H)."""
    cpu_lim, mem_lim = threshold_limits(cluster, thr)
    at_thr = cpu_lim + cluster.host_cpu_base_milli  # the threshold in milli-LP
    return (at_thr[None, :] - base).astype(np.int64), mem_lim.astype(np.int64)


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


__all__ = [
    "BP",
    "LoadSamples",
    "Minimise",
    "PlanOptions",
    "PlanningProblem",
    "SolveStatus",
    "SolverBug",
    "TIER_NAMES",
    "aa_broken",
    "build_problem",
    "hard_violations",
    "host_vm_loads",
    "objective_values",
    "resolve_profile",
    "rule_broken",
    "vm_mem_on",
]
