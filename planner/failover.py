"""What the cluster does when nodes fail: a restart simulation vectorized over scenarios.

A *scenario* is a set of failed hosts (one row of a boolean ``(S, H)`` matrix).  For every
scenario at once, :class:`RestartEngine` places the VMs that have to start elsewhere, one
"step" per VM, each step a handful of numpy operations on ``(S, H)`` arrays.  The same engine
also drains nodes for rolling maintenance (``mode="drain"``).  Nothing here imports OR-Tools:
scenarios the greedy cannot settle are handed, as a :class:`RestartInstance`, to the exact
check in :mod:`planner.cpsat.capacity`.

Modelled behaviour (failover, ``mode="failover"``)
---------------------------------------------------
* Which VMs restart: those *consuming* resources (Running or Paused) on a failed host whose
  priority is High, Medium or Low.  No Auto Start VMs (priority 0) are not started after a
  failure: they are counted as ``noautostart_off`` and never make a scenario unsurvivable.
  Off and Saved VMs stay off; their cluster group changes owner but takes no CPU or memory,
  so they need no capacity and are not simulated.  VMs already running on a Down host are
  treated as failed in every scenario.
* Order: priority (High 3000, Medium 2000, Low 1000), then larger first (first-fit decreasing
  on the dominant resource), then the snapshot order.  Windows does not publish the order
  within one priority; "larger first" is the variant simulated.
* Where: only Up hosts that did not fail, among the VM's possible owners, with room at 100 %
  of CPU and memory (after the reserve) for the VM's CPU and its *boot* memory
  (``Cluster.vm_boot_memory_mb``: the startup memory of a Dynamic Memory VM when larger
  than what it holds now).  A restart after a failure is a **cold start**: the
  VM boots fresh, so the CPU vendor and feature set do not restrict it (DOMAIN.md: the set a
  VM sees is fixed when it boots, and only live or saved state cannot cross vendors; server
  vendors' Hyper-V cluster guides say the same of unplanned failover: no state is kept, so
  the processors need not match).  Pinned VMs restart like any other: pinning is a planner
  setting, the cluster ignores it.
* Which host (the cluster's own choice is not published; this is the variant simulated):
  nodes hosting a member of the same legacy anti-affinity class (not enforced) are avoided
  when any other node can take the VM; then the first preferred owner, in order, that can
  take it; otherwise the node with the most headroom left (the smaller of free CPU and free
  memory as a share of the node), so restarts spread.  Ties go to the lower host index.
* Rules: every enabled affinity rule is hard (DOMAIN.md leaves failure behaviour open; we plan
  as if hard).  SameNode members that restart together are one unit; a unit whose other
  members survive must join them.  DifferentNode / DifferentFaultDomain members avoid nodes /
  fault domains where a member already runs; SameFaultDomain members go to a domain where a
  member runs.  Legacy anti-affinity is hard (like DifferentNode) when enforced, a preference
  otherwise.  Only running VMs count as present for the rules after a failure.
* Surviving VMs stay where they are: a failure restarts the lost VMs, it does not rebalance.

Drain (``mode="drain"``): every VM on the drained hosts must leave (any state, any priority),
only to hosts it can reach (``Cluster.vm_move_kind``: live, quick, or shutdown when allowed),
never when pinned, under per-host limits given by the caller (usually the balancer threshold).
Rules count every VM, running or not, as :func:`planner.checks.rule_violations` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from planner.cluster import Cluster, HostState, MoveKind, RuleType

Mode = Literal["failover", "drain"]

#: Priorities reported separately, highest first.
PRIORITIES = (3000, 2000, 1000)
PRIORITY_NAMES = {3000: "high", 2000: "medium", 1000: "low", 0: "noautostart"}

# Rule-group kinds: which hosts a group member may take, given where members already run.
NODE_EXCL, DOM_EXCL, NODE_INCL, DOM_INCL, NODE_SOFT = range(5)
_KINDS = (NODE_EXCL, DOM_EXCL, NODE_INCL, DOM_INCL, NODE_SOFT)
_DOMAIN_KINDS = (DOM_EXCL, DOM_INCL)


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class RestartInstance:
    """One scenario as plain data for an exact check (no solver types).

    Items are the units that must be placed (a VM, or SameNode members moving together).
    ``allowed`` already excludes failed and non-Up hosts and possible-owner violations;
    capacity left on host ``h`` is ``cpu_room[h]`` / ``mem_room[h]``.  ``groups`` lists the
    hard rule groups ``(kind, item indices, occupied)`` where ``occupied`` is a bool array
    over hosts (node kinds) or fault domains (domain kinds) holding surviving members.
    """

    failed: np.ndarray  # bool (H,)
    items: np.ndarray  # int (n,) unit index
    item_cpu: np.ndarray  # int64 (n,)
    item_mem: np.ndarray  # int64 (n,)
    allowed: np.ndarray  # bool (n, H)
    cpu_room: np.ndarray  # int64 (H,)
    mem_room: np.ndarray  # int64 (H,)
    host_domain: np.ndarray  # int (H,)
    n_domains: int
    groups: tuple[tuple[int, np.ndarray, np.ndarray], ...]
    hint: np.ndarray  # int (n,) greedy host per item, -1 when the greedy left it out
    item_priority_counts: np.ndarray  # int (n, 3) moving VMs per item: High, Medium, Low


@dataclass(frozen=True)
class RestartResult:
    """Outcome of the greedy simulation for S scenarios.

    Per scenario ``s``: the VMs that had to be placed (``movers[s]``), their targets
    (``targets[s]``, -1 when none was found), the loads after (VM CPU in milli-LP and VM
    memory in MB per host, failed hosts at zero), and whether a necessary condition already
    proves that no placement can take every VM (``bound_infeasible``).
    """

    engine: RestartEngine
    failed: np.ndarray  # bool (S, H)
    movers: tuple[np.ndarray, ...]  # VM indices per scenario, in placement order
    targets: tuple[np.ndarray, ...]  # host per mover, -1 when not placed
    cpu_used: np.ndarray  # int64 (S, H) VM CPU after, milli-LP
    mem_used: np.ndarray  # int64 (S, H) VM memory after, MB
    noautostart_off: np.ndarray  # int (S,) running No Auto Start VMs left off
    bound_infeasible: np.ndarray  # bool (S,)
    # item-level data kept for exact checks
    _item_ptr: np.ndarray
    _item_unit: np.ndarray
    _item_cpu: np.ndarray
    _item_mem: np.ndarray
    _item_host: np.ndarray

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios simulated."""
        return int(self.failed.shape[0])

    @property
    def complete(self) -> np.ndarray:
        """bool (S,): every mover was placed."""
        return np.array([bool((t >= 0).all()) for t in self.targets], dtype=bool)

    def not_placed(self, s: int) -> np.ndarray:
        """VM indices left without a host in scenario ``s``."""
        return self.movers[s][self.targets[s] < 0]

    def not_placed_by_priority(self) -> np.ndarray:
        """int (S, 3): VMs left out per scenario, for High, Medium and Low priority."""
        pr = self.engine.cluster.vm_priority
        out = np.zeros((self.n_scenarios, len(PRIORITIES)), dtype=np.int64)
        for s in range(self.n_scenarios):
            p = pr[self.not_placed(s)]
            for j, val in enumerate(PRIORITIES):
                out[s, j] = int((p == val).sum())
        return out

    def instance(self, s: int) -> RestartInstance:
        """The exact-check data for scenario ``s``."""
        return self.engine.instance(self, s)

    def with_exact(self, s: int, item_host: np.ndarray) -> RestartResult:
        """A copy where scenario ``s`` uses ``item_host`` (one host per item, e.g. from an
        exact solver) instead of the greedy's choice; loads are recomputed."""
        eng = self.engine
        lo, hi = int(self._item_ptr[s]), int(self._item_ptr[s + 1])
        ih = self._item_host.copy()
        ih[lo:hi] = item_host
        cpu = self.cpu_used.copy()
        mem = self.mem_used.copy()
        cpu[s] = eng.base_cpu_used(self.failed[s])
        mem[s] = eng.base_mem_used(self.failed[s])
        ok = item_host >= 0
        np.add.at(cpu[s], item_host[ok], self._item_cpu[lo:hi][ok])
        np.add.at(mem[s], item_host[ok], self._item_mem[lo:hi][ok])
        targets = list(self.targets)
        unit_host = dict(zip(self._item_unit[lo:hi].tolist(), item_host.tolist(), strict=True))
        targets[s] = np.array(
            [unit_host[int(eng.unit_of[v])] for v in self.movers[s]], dtype=np.int64
        )
        return RestartResult(
            eng,
            self.failed,
            self.movers,
            tuple(targets),
            cpu,
            mem,
            self.noautostart_off,
            self.bound_infeasible,
            self._item_ptr,
            self._item_unit,
            self._item_cpu,
            self._item_mem,
            ih,
        )


# ----------------------------------------------------------------------------- engine
class RestartEngine:
    """Per-cluster precomputation for the restart (or drain) simulation.

    Build once per cluster and mode; call :meth:`run` with any number of scenarios.

    Parameters
    ----------
    cluster:
        The cluster.
    mode:
        ``"failover"`` (restart after failure) or ``"drain"`` (move everything off).
    cpu_limit_milli, mem_limit_mb:
        Per-host limits on the VM load a receiving host may end with (default: 100 % of CPU
        and of memory after the reserve).  Drains pass the threshold limits here.
    """

    def __init__(
        self,
        cluster: Cluster,
        mode: Mode = "failover",
        cpu_limit_milli: np.ndarray | None = None,
        mem_limit_mb: np.ndarray | None = None,
    ) -> None:
        if mode not in ("failover", "drain"):
            raise ValueError(f"unknown mode {mode!r}")
        c = cluster
        self.cluster = c
        self.mode: Mode = mode
        nv, nh = c.n_vms, c.n_hosts
        self.cpu_limit = (
            c.host_cpu_free_milli
            if cpu_limit_milli is None
            else np.asarray(cpu_limit_milli, dtype=np.int64)
        )
        self.mem_limit = (
            c.host_memory_free_mb
            if mem_limit_mb is None
            else np.asarray(mem_limit_mb, dtype=np.int64)
        )
        self.cpu_cap = np.maximum(c.host_cpu_capacity_milli, 1).astype(np.float64)
        self.mem_cap = np.maximum(c.host_memory_mb, 1).astype(np.float64)
        consumes = c.vm_consumes
        if mode == "failover":
            self.movable = consumes & (c.vm_priority > 0)
            self.occupant = consumes
            allowed = c.vm_possible.copy()
        else:
            self.movable = np.ones(nv, dtype=bool)
            self.occupant = np.ones(nv, dtype=bool)
            allowed = c.vm_possible & (c.vm_move_kind != MoveKind.FORBIDDEN) & ~c.vm_pinned[:, None]
        allowed &= c.host_up[None, :]
        self.cpu = c.vm_cpu_load_milli.astype(np.int64)
        self.mem = c.vm_mem_load_mb.astype(np.int64)
        # A restart after a failure is a boot: the VM needs its startup memory if larger
        # (Dynamic Memory); a drain moves running VMs with the memory they hold.
        self.need_mem = c.vm_boot_memory_mb.astype(np.int64) if mode == "failover" else self.mem
        # VMs by current host (CSR), movers only, for building scenario lists quickly.
        mv = np.flatnonzero(self.movable)
        order = mv[np.argsort(c.vm_host[mv], kind="stable")]
        self._by_host = order
        self._by_host_ptr = np.concatenate(
            [[0], np.cumsum(np.bincount(c.vm_host[mv], minlength=nh))]
        ).astype(np.int64)
        self.noautostart_running = consumes & (c.vm_priority == 0)
        self._build_units(allowed)
        self._build_groups()
        self._build_preferences()
        # Static order of units: priority (failover only), then larger first, then index.
        size = np.maximum(
            self.unit_cpu_total / float(self.cpu_cap.mean() or 1),
            self.unit_mem_total / float(self.mem_cap.mean() or 1),
        )
        prio = self.unit_priority if mode == "failover" else np.zeros(self.n_units)
        self.unit_rank = np.empty(self.n_units, dtype=np.int64)
        self.unit_rank[np.lexsort((np.arange(self.n_units), -size, -prio))] = np.arange(
            self.n_units
        )
        # Current VM load per host from occupants that consume (failed hosts zeroed per run).
        self._load_cpu = np.bincount(c.vm_host, weights=self.cpu, minlength=nh).astype(np.int64)
        self._load_mem = np.bincount(c.vm_host, weights=self.mem, minlength=nh).astype(np.int64)
        self._host_domain = c.host_fault_domain.astype(np.int64)
        self._n_domains = len(c.fault_domains)
        self._host_to_dom = np.zeros((nh, self._n_domains), dtype=np.float32)
        self._host_to_dom[np.arange(nh), self._host_domain] = 1.0

    # ------------------------------------------------------------------ precomputation
    def _build_units(self, allowed: np.ndarray) -> None:
        """SameNode members move as one unit (union-find over enabled SameNode rules)."""
        c = self.cluster
        parent = np.arange(c.n_vms)

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = int(parent[a])
            return a

        for r in c.enabled_rules:
            if r.rule_type == RuleType.SAME_NODE:
                for a, b in zip(r.members, r.members[1:], strict=False):
                    ra, rb = find(a), find(b)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        roots = np.array([find(v) for v in range(c.n_vms)], dtype=np.int64)
        uniq, unit_of = np.unique(roots, return_inverse=True)
        self.unit_of = unit_of.reshape(-1).astype(np.int64)
        self.n_units = len(uniq)
        nu = self.n_units
        counts = np.bincount(self.unit_of, minlength=nu)
        self.unit_multi = counts > 1
        mov = self.movable
        self.unit_cpu_total = np.bincount(
            self.unit_of, weights=self.cpu * mov, minlength=nu
        ).astype(np.int64)
        self.unit_mem_total = np.bincount(
            self.unit_of, weights=self.need_mem * mov, minlength=nu
        ).astype(np.int64)
        prio = np.where(mov, c.vm_priority, -1).astype(np.int64)
        self.unit_priority = np.full(nu, -1, dtype=np.int64)
        np.maximum.at(self.unit_priority, self.unit_of, prio)
        # A unit may go where all its members may go.
        self.unit_allowed = np.ones((nu, c.n_hosts), dtype=bool)
        np.logical_and.at(self.unit_allowed, self.unit_of, allowed)
        # The member whose preferences the unit follows: the first of highest priority.
        lead = np.full(nu, -1, dtype=np.int64)
        for v in np.lexsort((np.arange(c.n_vms), -c.vm_priority)):
            u = self.unit_of[v]
            if lead[u] < 0:
                lead[u] = v
        self.unit_lead = lead

    def _build_groups(self) -> None:
        """Membership (units x groups) and surviving occupancy (groups x hosts) per kind."""
        c = self.cluster
        groups: dict[int, list[np.ndarray]] = {k: [] for k in _KINDS}
        for r in c.enabled_rules:
            m = np.asarray(r.members, dtype=np.int64)
            if len(m) < 1:
                continue
            kind = {
                RuleType.DIFFERENT_NODE: NODE_EXCL,
                RuleType.DIFFERENT_FAULT_DOMAIN: DOM_EXCL,
                RuleType.SAME_NODE: NODE_INCL,
                RuleType.SAME_FAULT_DOMAIN: DOM_INCL,
            }[r.rule_type]
            groups[kind].append(m)
        enforced = c.settings.enforced_anti_affinity
        for members in c.aa_class_members:
            if len(members) > 1:
                groups[NODE_EXCL if enforced else NODE_SOFT].append(
                    np.asarray(members, dtype=np.int64)
                )
        self.group_members: dict[int, list[np.ndarray]] = groups
        self.unit_groups: dict[int, np.ndarray] = {}
        self.group_base: dict[int, np.ndarray] = {}
        self._unit_group_csr: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._unit_in_kind: dict[int, np.ndarray] = {}
        for k in _KINDS:
            g = len(groups[k])
            ug = np.zeros((self.n_units, g), dtype=np.float32)
            base = np.zeros((g, c.n_hosts), dtype=np.float32)
            for j, m in enumerate(groups[k]):
                ug[self.unit_of[m], j] = 1.0
                occ = m[self.occupant[m]]
                base[j, c.vm_host[occ]] = 1.0
            self.unit_groups[k] = ug
            self.group_base[k] = base
            # CSR unit -> groups: items belong to few groups, so per-step rule checks
            # touch (item, group) pairs only, never every group of every scenario.
            uu, gg = np.nonzero(ug)
            ptr = np.concatenate([[0], np.cumsum(np.bincount(uu, minlength=self.n_units))])
            self._unit_group_csr[k] = (ptr.astype(np.int64), gg.astype(np.int64))
            self._unit_in_kind[k] = np.asarray(ug.any(axis=1), dtype=bool)

    def _build_preferences(self) -> None:
        """Preference rank per unit and host: 0, 1, ... for preferred owners in order, then
        the number of preferred owners for every other host."""
        c = self.cluster
        rank = np.zeros((self.n_units, c.n_hosts), dtype=np.float64)
        for u in range(self.n_units):
            pref = c.vm_preferred[self.unit_lead[u]] if self.unit_lead[u] >= 0 else ()
            if pref:
                rank[u, :] = len(pref)
                rank[u, list(pref)] = np.arange(len(pref))
        self.unit_pref_rank = rank

    # ------------------------------------------------------------------ helpers
    def base_cpu_used(self, failed: np.ndarray) -> np.ndarray:
        """VM CPU per host before restarts, failed hosts emptied."""
        return np.where(failed, 0, self._load_cpu).astype(np.int64)

    def base_mem_used(self, failed: np.ndarray) -> np.ndarray:
        """VM memory per host before restarts, failed hosts emptied."""
        return np.where(failed, 0, self._load_mem).astype(np.int64)

    def normalise_failed(self, failed: np.ndarray) -> np.ndarray:
        """bool (S, H) failed hosts; in failover mode hosts that are Down count as failed."""
        f = np.atleast_2d(np.asarray(failed, dtype=bool)).copy()
        if f.shape[1] != self.cluster.n_hosts:
            raise ValueError(f"failed has {f.shape[1]} columns, expected {self.cluster.n_hosts}")
        if self.mode == "failover":
            f |= (self.cluster.host_state == HostState.DOWN)[None, :]
        return f

    # ------------------------------------------------------------------ the simulation
    def run(self, failed: np.ndarray) -> RestartResult:
        """Simulate every scenario (row of ``failed``) at once."""
        c = self.cluster
        f = self.normalise_failed(failed)
        n_s, nh = f.shape
        # Movers per scenario: CSR gather of the failed hosts' VM lists.
        s_idx, h_idx = np.nonzero(f)
        lens = self._by_host_ptr[h_idx + 1] - self._by_host_ptr[h_idx]
        pair_s = np.repeat(s_idx, lens)
        offs = np.repeat(
            self._by_host_ptr[h_idx] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens
        )
        pair_v = (
            self._by_host[np.arange(int(lens.sum())) + offs]
            if lens.sum()
            else np.zeros(0, dtype=np.int64)
        )
        pair_u = self.unit_of[pair_v]
        # Items: unique (scenario, unit), in the static unit order within each scenario.
        key = pair_s.astype(np.int64) * (self.n_units + 1) + self.unit_rank[pair_u]
        ukey, pair_item = np.unique(key, return_inverse=True)
        pair_item = pair_item.reshape(-1)
        n_items = len(ukey)
        item_s = (ukey // (self.n_units + 1)).astype(np.int64)
        rank_to_unit = np.empty(self.n_units, dtype=np.int64)
        rank_to_unit[self.unit_rank] = np.arange(self.n_units)
        item_unit = rank_to_unit[ukey % (self.n_units + 1)]
        item_cpu = np.bincount(pair_item, weights=self.cpu[pair_v], minlength=n_items).astype(
            np.int64
        )
        item_mem = np.bincount(pair_item, weights=self.need_mem[pair_v], minlength=n_items).astype(
            np.int64
        )
        item_ptr = np.concatenate([[0], np.cumsum(np.bincount(item_s, minlength=n_s))]).astype(
            np.int64
        )
        n_len = int(np.diff(item_ptr).max()) if n_s else 0
        # Mover lists per scenario in placement order (pairs sorted by item).
        pair_order = np.argsort(pair_item, kind="stable")
        pair_ptr = np.concatenate([[0], np.cumsum(np.bincount(pair_s, minlength=n_s))])

        alive = c.host_up[None, :] & ~f
        cpu_used = np.where(f, 0, self._load_cpu[None, :]).astype(np.int64)
        mem_used = np.where(f, 0, self._load_mem[None, :]).astype(np.int64)
        cpu_room0 = self.cpu_limit[None, :] - cpu_used
        mem_room0 = self.mem_limit[None, :] - mem_used
        # occ[k][s, g, x]: a member of group g runs on host (or in domain) x in scenario s.
        occ: dict[int, np.ndarray] = {}
        for k in _KINDS:
            base = self.group_base[k]
            if base.shape[0] == 0:
                continue
            o = (base[None, :, :] > 0) & ~f[:, None, :]
            if k in _DOMAIN_KINDS:
                o = (o.astype(np.float32) @ self._host_to_dom) > 0
            occ[k] = o
        item_host = np.full(n_items, -1, dtype=np.int64)
        bound = np.zeros(n_s, dtype=bool)
        # Necessary condition 1: total demand must fit in the total room left.
        tot_cpu = np.bincount(item_s, weights=item_cpu, minlength=n_s)
        tot_mem = np.bincount(item_s, weights=item_mem, minlength=n_s)
        room_cpu = (np.maximum(cpu_room0, 0) * alive).sum(axis=1)
        room_mem = (np.maximum(mem_room0, 0) * alive).sum(axis=1)
        bound |= (tot_cpu > room_cpu) | (tot_mem > room_mem)
        for step in range(n_len):
            pos = item_ptr[:-1] + step
            active = pos < item_ptr[1:]
            sel = np.flatnonzero(active)
            it = pos[sel]
            u = item_unit[it]
            ic, im = item_cpu[it], item_mem[it]
            ok = alive[sel] & self.unit_allowed[u]
            # Necessary condition 2: the item fits somewhere even before any restart.
            # (An item without load fits anywhere it is allowed, even on a full host.)
            fits0 = (
                ok
                & ((cpu_room0[sel] >= ic[:, None]) | (ic[:, None] == 0))
                & ((mem_room0[sel] >= im[:, None]) | (im[:, None] == 0))
            )
            bound[sel[~fits0.any(axis=1)]] = True
            left_cpu = self.cpu_limit[None, :] - cpu_used[sel] - ic[:, None]
            left_mem = self.mem_limit[None, :] - mem_used[sel] - im[:, None]
            ok &= ((left_cpu >= 0) | (ic[:, None] == 0)) & ((left_mem >= 0) | (im[:, None] == 0))
            soft = np.zeros(ok.shape, dtype=np.float64)
            for k, o in occ.items():
                if not self._unit_in_kind[k][u].any():
                    continue
                r, g = _csr_gather(*self._unit_group_csr[k], u)
                rows, allowed_rows = self._rule_mask(k, r, o[sel[r], g])
                if k == NODE_SOFT:
                    soft[rows] += ~allowed_rows
                else:
                    ok[rows] &= allowed_rows
            headroom = np.minimum(left_cpu / self.cpu_cap, left_mem / self.mem_cap)
            # Lexicographic: avoid soft anti-affinity conflicts, then follow the preferred
            # owners in order, then spread.  Rank steps of 10 dwarf the headroom term (which
            # stays within a few units), and conflicts outweigh any rank (at most 64 hosts).
            score = soft * 1e4 + self.unit_pref_rank[u] * 10.0 + (1.0 - headroom)
            score = np.where(ok, score, np.inf)
            best = np.argmin(score, axis=1)
            placed = ok[np.arange(len(sel)), best]
            ps, pb, pit = sel[placed], best[placed], it[placed]
            item_host[pit] = pb
            cpu_used[ps, pb] += item_cpu[pit]
            mem_used[ps, pb] += item_mem[pit]
            pu = item_unit[pit]
            for k, o in occ.items():
                if not self._unit_in_kind[k][pu].any():
                    continue
                r, g = _csr_gather(*self._unit_group_csr[k], pu)
                col = self._host_domain[pb[r]] if k in _DOMAIN_KINDS else pb[r]
                o[ps[r], g, col] = True
        movers = []
        targets = []
        for s in range(n_s):
            prs = pair_order[pair_ptr[s] : pair_ptr[s + 1]]
            movers.append(pair_v[prs])
            targets.append(item_host[pair_item[prs]])
        noauto = np.zeros(n_s, dtype=np.int64)
        if self.mode == "failover" and self.noautostart_running.any():
            na_hosts = np.bincount(c.vm_host[self.noautostart_running], minlength=nh)
            noauto = (f * na_hosts[None, :]).sum(axis=1)
        return RestartResult(
            self,
            f,
            tuple(movers),
            tuple(targets),
            cpu_used,
            mem_used,
            noauto,
            bound,
            item_ptr,
            item_unit,
            item_cpu,
            item_mem,
            item_host,
        )

    def _rule_mask(self, kind: int, r: np.ndarray, po: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hosts allowed by the rule groups of some items.

        ``r`` (sorted) says which item row each (item, group) pair belongs to and ``po`` is
        that group's occupancy (pairs x hosts or domains).  Returns the rows concerned and,
        for each, a bool mask over hosts.
        """
        if kind in _DOMAIN_KINDS:
            po = po[:, self._host_domain]
        if kind in (NODE_EXCL, DOM_EXCL, NODE_SOFT):
            starts = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
            return r[starts], ~np.logical_or.reduceat(po, starts, axis=0)
        # Inclusive kinds: where a member already is, the item must join (every such group).
        active = po.any(axis=1)
        if not active.any():
            return r[:0], po[:0]
        ra, pa = r[active], po[active]
        starts = np.flatnonzero(np.concatenate([[True], ra[1:] != ra[:-1]]))
        hits = np.add.reduceat(pa.astype(np.int32), starts, axis=0)
        need = np.diff(np.concatenate([starts, [len(ra)]]))
        return ra[starts], hits >= need[:, None]

    # ------------------------------------------------------------------ exact-check data
    def instance(self, res: RestartResult, s: int) -> RestartInstance:
        """Scenario ``s`` of ``res`` as a :class:`RestartInstance`."""
        c = self.cluster
        f = res.failed[s]
        lo, hi = int(res._item_ptr[s]), int(res._item_ptr[s + 1])
        units = res._item_unit[lo:hi]
        alive = c.host_up & ~f
        allowed = self.unit_allowed[units] & alive[None, :]
        cpu_room = self.cpu_limit - self.base_cpu_used(f)
        mem_room = self.mem_limit - self.base_mem_used(f)
        groups = []
        for k in _KINDS:
            if k == NODE_SOFT:
                continue
            base = self.group_base[k]
            for j in range(base.shape[0]):
                members = np.flatnonzero(self.unit_groups[k][units, j] > 0)
                if len(members) == 0:
                    continue
                occ_h = (base[j] > 0) & ~f
                if k in _DOMAIN_KINDS:
                    occ = np.zeros(self._n_domains, dtype=bool)
                    occ[self._host_domain[occ_h]] = True
                else:
                    occ = occ_h
                groups.append((k, members, occ))
        counts = np.zeros((len(units), len(PRIORITIES)), dtype=np.int64)
        pos = {int(u): i for i, u in enumerate(units.tolist())}
        for v in res.movers[s]:
            p = int(c.vm_priority[v])
            if p in PRIORITIES:
                counts[pos[int(self.unit_of[v])], PRIORITIES.index(p)] += 1
        return RestartInstance(
            f.copy(),
            units.copy(),
            res._item_cpu[lo:hi].copy(),
            res._item_mem[lo:hi].copy(),
            allowed,
            cpu_room,
            mem_room,
            self._host_domain.copy(),
            self._n_domains,
            tuple(groups),
            res._item_host[lo:hi].copy(),
            counts,
        )


def _csr_gather(
    ptr: np.ndarray, idx: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For CSR ``(ptr, idx)`` and the requested ``rows``: (position in ``rows``, value) of
    every stored entry, grouped by position."""
    lens = ptr[rows + 1] - ptr[rows]
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pos = np.repeat(np.arange(len(rows)), lens)
    offs = np.repeat(ptr[rows] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return pos, idx[np.arange(total) + offs]


def failed_matrix(n_hosts: int, scenarios: Sequence[Sequence[int]]) -> np.ndarray:
    """bool (S, H) from lists of failed host indices."""
    out = np.zeros((len(scenarios), n_hosts), dtype=bool)
    for i, hs in enumerate(scenarios):
        out[i, list(hs)] = True
    return out


__all__ = [
    "PRIORITIES",
    "PRIORITY_NAMES",
    "RestartEngine",
    "RestartInstance",
    "RestartResult",
    "failed_matrix",
]
