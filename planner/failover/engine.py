"""The restart (or drain) simulation: :class:`RestartEngine`, vectorized over scenarios and
samples (see :mod:`planner.failover` for the behaviour it models)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.cluster import Cluster, HostState, MoveKind
from planner.failover.loads import EngineLoads, host_sums, unit_order
from planner.failover.result import RestartInstance, RestartResult
from planner.failover.rules import (
    DOMAIN_KINDS,
    NODE_SOFT,
    PRIORITIES,
    Mode,
    RuleGroups,
)


@dataclass(frozen=True, eq=False)
class _Items:
    """The units to place per scenario row, in placement order (CSR over rows)."""

    pair_s: np.ndarray  # (P,) row of each (row, moving VM) pair
    pair_v: np.ndarray  # (P,) its VM
    pair_item: np.ndarray  # (P,) its item
    unit: np.ndarray  # (n,) unit of each item
    cpu: np.ndarray  # (n,) CPU of each item
    mem: np.ndarray  # (n,) memory each item needs
    row: np.ndarray  # (n,) row of each item
    ptr: np.ndarray  # (R + 1,) items of row s: ptr[s] .. ptr[s + 1] - 1
    pair_order: np.ndarray  # pairs sorted by item
    pair_ptr: np.ndarray  # (R + 1,) pairs of row s in pair_order

    @property
    def longest(self) -> int:
        """Most items of any row (the number of placement steps)."""
        return int(np.diff(self.ptr).max()) if len(self.ptr) > 1 else 0


@dataclass(eq=False)
class _State:
    """What the placement steps update, per scenario row."""

    alive: np.ndarray  # bool (R, H) hosts that may receive
    cpu_used: np.ndarray  # int64 (R, H)
    mem_used: np.ndarray  # int64 (R, H)
    cpu_limit: np.ndarray  # int64 (R, H)
    mem_limit: np.ndarray  # int64 (R, H)
    cpu_room0: np.ndarray  # int64 (R, H) room before any restart
    mem_room0: np.ndarray  # int64 (R, H)
    occ: dict[int, np.ndarray]  # rule-group occupancy per kind
    item_host: np.ndarray  # int64 (n,) -1 until placed
    bound: np.ndarray  # bool (R,) a necessary condition fails


class RestartEngine:
    """Per-cluster precomputation for the restart (or drain) simulation.

    Build once per cluster and mode; call :meth:`run` with any number of scenarios, at the
    snapshot's loads or at the per-sample loads of :meth:`sample_loads`.

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
        self._default_limits = cpu_limit_milli is None and mem_limit_mb is None
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
            self.movable = np.ones(c.n_vms, dtype=bool)
            self.occupant = np.ones(c.n_vms, dtype=bool)
            allowed = c.vm_possible & (c.vm_move_kind != MoveKind.FORBIDDEN) & ~c.vm_pinned[:, None]
        allowed &= c.host_up[None, :]
        self.cpu = c.vm_cpu_load_milli.astype(np.int64)
        self.mem = c.vm_mem_load_mb.astype(np.int64)
        # A restart after a failure is a boot: the VM needs its startup memory if larger
        # (Dynamic Memory); a drain moves running VMs with the memory they hold.
        self.need_mem = c.vm_boot_memory_mb.astype(np.int64) if mode == "failover" else self.mem
        # VMs by current host (CSR), movers only, for building scenario lists quickly.
        mv = np.flatnonzero(self.movable)
        self._by_host = mv[np.argsort(c.vm_host[mv], kind="stable")]
        self._by_host_ptr = np.concatenate(
            [[0], np.cumsum(np.bincount(c.vm_host[mv], minlength=c.n_hosts))]
        ).astype(np.int64)
        self.noautostart_running = consumes & (c.vm_priority == 0)
        self._build_units(allowed)
        self.rules = RuleGroups(c, self.unit_of, self.n_units, self.occupant)
        self._build_preferences()
        self.loads = self._loads(
            self.cpu[None, :],
            self.mem[None, :],
            self.need_mem[None, :],
            self.cpu_limit[None, :],
        )

    # ------------------------------------------------------------------ precomputation
    def _build_units(self, allowed: np.ndarray) -> None:
        """SameNode members move as one unit (:attr:`Cluster.same_node_groups`)."""
        c = self.cluster
        roots = np.arange(c.n_vms, dtype=np.int64)
        for v, group in c.same_node_groups.items():
            roots[v] = group[0]
        uniq, unit_of = np.unique(roots, return_inverse=True)
        self.unit_of = unit_of.reshape(-1).astype(np.int64)
        self.n_units = len(uniq)
        nu = self.n_units
        self.unit_multi = np.bincount(self.unit_of, minlength=nu) > 1
        mov = self.movable
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
        self._has_preferences = bool(rank.any())

    def _loads(
        self, cpu: np.ndarray, mem: np.ndarray, need_mem: np.ndarray, cpu_limit: np.ndarray
    ) -> EngineLoads:
        c = self.cluster
        mov = self.movable
        prio = self.unit_priority if self.mode == "failover" else np.zeros(self.n_units)
        rank, rank_unit = unit_order(
            self.unit_of,
            self.n_units,
            cpu * mov,
            need_mem * mov,
            prio,
            float(self.cpu_cap.mean() or 1),
            float(self.mem_cap.mean() or 1),
        )
        return EngineLoads(
            cpu=cpu,
            need_mem=need_mem,
            load_cpu=host_sums(cpu, c.vm_host, c.n_hosts),
            load_mem=host_sums(mem, c.vm_host, c.n_hosts),
            cpu_limit=cpu_limit,
            mem_limit=np.broadcast_to(self.mem_limit, (cpu.shape[0], c.n_hosts)),
            unit_rank=rank,
            rank_unit=rank_unit,
        )

    def sample_loads(
        self, vm_cpu_milli: np.ndarray, vm_memory_mb: np.ndarray, host_cpu_base_milli: np.ndarray
    ) -> EngineLoads:
        """The loads of ``T`` samples: each VM's CPU (milli-LP) and assigned memory (MB),
        ``(T, V)``, and each host's own CPU use, ``(T, H)`` -- as
        :func:`planner.history.model.cluster_at` reads them (VMs that do not consume put
        no load; boot memory is ``max(memory, startup memory)``; the hosts' CPU limit is
        100 % less the sample's base CPU).  Only with the default (100 %) limits."""
        if not self._default_limits:
            raise ValueError("per-sample loads need the default (100 %) host limits")
        c = self.cluster
        cons = c.vm_consumes[None, :]
        cpu = np.where(cons, vm_cpu_milli, 0).astype(np.int64)
        mem = np.where(cons, vm_memory_mb, 0).astype(np.int64)
        if self.mode == "failover":
            boot = np.maximum(mem, c.vm_memory_startup_mb[None, :])
            need = np.where(cons, boot, 0).astype(np.int64)
        else:
            need = mem
        cpu_limit = c.host_cpu_capacity_milli[None, :] - np.asarray(
            host_cpu_base_milli, dtype=np.int64
        )
        return self._loads(cpu, mem, need, cpu_limit)

    # ------------------------------------------------------------------ helpers
    def base_cpu_used(
        self, failed: np.ndarray, loads: EngineLoads | None = None, sample: int = 0
    ) -> np.ndarray:
        """VM CPU per host before restarts, failed hosts emptied."""
        lo = self.loads if loads is None else loads
        return np.where(failed, 0, lo.load_cpu[sample]).astype(np.int64)

    def base_mem_used(
        self, failed: np.ndarray, loads: EngineLoads | None = None, sample: int = 0
    ) -> np.ndarray:
        """VM memory per host before restarts, failed hosts emptied."""
        lo = self.loads if loads is None else loads
        return np.where(failed, 0, lo.load_mem[sample]).astype(np.int64)

    def normalise_failed(self, failed: np.ndarray) -> np.ndarray:
        """bool (S, H) failed hosts; in failover mode hosts that are Down count as failed."""
        f = np.atleast_2d(np.asarray(failed, dtype=bool)).copy()
        if f.shape[1] != self.cluster.n_hosts:
            raise ValueError(f"failed has {f.shape[1]} columns, expected {self.cluster.n_hosts}")
        if self.mode == "failover":
            f |= (self.cluster.host_state == HostState.DOWN)[None, :]
        return f

    # ------------------------------------------------------------------ the simulation
    def run(
        self,
        failed: np.ndarray,
        sample: np.ndarray | None = None,
        loads: EngineLoads | None = None,
    ) -> RestartResult:
        """Simulate every scenario (row of ``failed``) at once.

        Parameters
        ----------
        failed:
            bool ``(S, H)``: the hosts failing (or drained) in each scenario.
        sample, loads:
            Row ``s`` runs on the loads of sample ``sample[s]`` of ``loads`` (from
            :meth:`sample_loads`); default: every row on the snapshot's own loads.
        """
        lo = self.loads if loads is None else loads
        f = self.normalise_failed(failed)
        t = np.zeros(len(f), dtype=np.int64) if sample is None else np.asarray(sample, np.int64)
        if t.shape != (len(f),):
            raise ValueError(f"sample has shape {t.shape}, expected ({len(f)},)")
        items = self._items(f, t, lo)
        st = self._start(f, t, lo, items)
        for step in range(items.longest):
            self._step(step, items, st)
        return self._result(f, t, lo, items, st)

    def _items(self, f: np.ndarray, t: np.ndarray, lo: EngineLoads) -> _Items:
        """Movers per row (CSR gather of the failed hosts' VM lists), grouped into items
        (unique row and unit) in each row's sample's unit order."""
        n_s = len(f)
        nu1 = self.n_units + 1
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
        pair_t = t[pair_s]
        key = pair_s.astype(np.int64) * nu1 + lo.unit_rank[pair_t, pair_u]
        ukey, pair_item = np.unique(key, return_inverse=True)
        pair_item = pair_item.reshape(-1)
        n_items = len(ukey)
        item_s = (ukey // nu1).astype(np.int64)
        item_unit = lo.rank_unit[t[item_s], ukey % nu1]
        item_cpu = np.bincount(pair_item, weights=lo.cpu[pair_t, pair_v], minlength=n_items)
        item_mem = np.bincount(pair_item, weights=lo.need_mem[pair_t, pair_v], minlength=n_items)
        return _Items(
            pair_s=pair_s,
            pair_v=pair_v,
            pair_item=pair_item,
            unit=item_unit,
            cpu=item_cpu.astype(np.int64),
            mem=item_mem.astype(np.int64),
            row=item_s,
            ptr=np.concatenate([[0], np.cumsum(np.bincount(item_s, minlength=n_s))]).astype(
                np.int64
            ),
            pair_order=np.argsort(pair_item, kind="stable"),
            pair_ptr=np.concatenate([[0], np.cumsum(np.bincount(pair_s, minlength=n_s))]),
        )

    def _start(self, f: np.ndarray, t: np.ndarray, lo: EngineLoads, items: _Items) -> _State:
        """The state before any restart, and necessary condition 1: the total demand of a
        row must fit in the total room left."""
        n_s = len(f)
        alive = self.cluster.host_up[None, :] & ~f
        cpu_used = np.where(f, 0, lo.load_cpu[t]).astype(np.int64)
        mem_used = np.where(f, 0, lo.load_mem[t]).astype(np.int64)
        cpu_limit = np.ascontiguousarray(lo.cpu_limit[t], dtype=np.int64)
        mem_limit = np.ascontiguousarray(lo.mem_limit[t], dtype=np.int64)
        tot_cpu = np.bincount(items.row, weights=items.cpu, minlength=n_s)
        tot_mem = np.bincount(items.row, weights=items.mem, minlength=n_s)
        cpu_room0 = cpu_limit - cpu_used
        mem_room0 = mem_limit - mem_used
        room_cpu = (np.maximum(cpu_room0, 0) * alive).sum(axis=1)
        room_mem = (np.maximum(mem_room0, 0) * alive).sum(axis=1)
        return _State(
            alive=alive,
            cpu_used=cpu_used,
            mem_used=mem_used,
            cpu_limit=cpu_limit,
            mem_limit=mem_limit,
            cpu_room0=cpu_room0,
            mem_room0=mem_room0,
            occ=self.rules.occupancy(f),
            item_host=np.full(len(items.unit), -1, dtype=np.int64),
            bound=(tot_cpu > room_cpu) | (tot_mem > room_mem),
        )

    def _step(self, step: int, items: _Items, st: _State) -> None:
        """Place the ``step``-th item of every row that has one."""
        pos = items.ptr[:-1] + step
        sel = np.flatnonzero(pos < items.ptr[1:])
        it = pos[sel]
        u = items.unit[it]
        ic, im = items.cpu[it][:, None], items.mem[it][:, None]
        ok = st.alive[sel] & self.unit_allowed[u]
        no_cpu, no_mem = ic == 0, im == 0
        # Necessary condition 2: the item fits somewhere even before any restart.
        # (An item without load fits anywhere it is allowed, even on a full host.)
        fits0 = ok & ((st.cpu_room0[sel] >= ic) | no_cpu) & ((st.mem_room0[sel] >= im) | no_mem)
        st.bound[sel[~fits0.any(axis=1)]] = True
        left_cpu = st.cpu_limit[sel] - st.cpu_used[sel] - ic
        left_mem = st.mem_limit[sel] - st.mem_used[sel] - im
        ok &= ((left_cpu >= 0) | no_cpu) & ((left_mem >= 0) | no_mem)
        soft: np.ndarray | None = None
        for k, o in st.occ.items():
            pairs = self.rules.pairs(k, u)
            if pairs is None:
                continue
            r, g = pairs
            rows, allowed_rows = self.rules.allowed(k, r, o[sel[r], g])
            if k == NODE_SOFT:
                soft = np.zeros(ok.shape, dtype=np.float64) if soft is None else soft
                soft[rows] += ~allowed_rows
            else:
                ok[rows] &= allowed_rows
        headroom = np.minimum(left_cpu / self.cpu_cap, left_mem / self.mem_cap)
        # Lexicographic: avoid soft anti-affinity conflicts, then follow the preferred
        # owners in order, then spread.  Rank steps of 10 dwarf the headroom term (which
        # stays within a few units), and conflicts outweigh any rank (at most 64 hosts).
        # (Terms that are zero for every item of the step are left out: the same sums.)
        score = 1.0 - headroom
        if soft is not None or self._has_preferences:
            extra = 0.0 if soft is None else soft * 1e4
            if self._has_preferences:
                extra = extra + self.unit_pref_rank[u] * 10.0
            score = extra + score
        score[~ok] = np.inf
        best = np.argmin(score, axis=1)
        placed = ok[np.arange(len(sel)), best]
        ps, pb, pit = sel[placed], best[placed], it[placed]
        st.item_host[pit] = pb
        st.cpu_used[ps, pb] += items.cpu[pit]
        st.mem_used[ps, pb] += items.mem[pit]
        self._occupy(st, items.unit[pit], ps, pb)

    def _occupy(self, st: _State, units: np.ndarray, rows: np.ndarray, hosts: np.ndarray) -> None:
        """Record the placed units as present for their rule groups."""
        for k, o in st.occ.items():
            pairs = self.rules.pairs(k, units)
            if pairs is None:
                continue
            r, g = pairs
            col = self.rules.host_domain[hosts[r]] if k in DOMAIN_KINDS else hosts[r]
            o[rows[r], g, col] = True

    def _result(
        self, f: np.ndarray, t: np.ndarray, lo: EngineLoads, items: _Items, st: _State
    ) -> RestartResult:
        c = self.cluster
        n_s, nh = f.shape
        movers = []
        targets = []
        for s in range(n_s):
            prs = items.pair_order[items.pair_ptr[s] : items.pair_ptr[s + 1]]
            movers.append(items.pair_v[prs])
            targets.append(st.item_host[items.pair_item[prs]])
        noauto = np.zeros(n_s, dtype=np.int64)
        if self.mode == "failover" and self.noautostart_running.any():
            na_hosts = np.bincount(c.vm_host[self.noautostart_running], minlength=nh)
            noauto = (f * na_hosts[None, :]).sum(axis=1)
        return RestartResult(
            self,
            f,
            tuple(movers),
            tuple(targets),
            st.cpu_used,
            st.mem_used,
            noauto,
            st.bound,
            items.ptr,
            items.unit,
            items.cpu,
            items.mem,
            st.item_host,
            lo,
            t,
        )

    # ------------------------------------------------------------------ exact-check data
    def instance(self, res: RestartResult, s: int) -> RestartInstance:
        """Scenario ``s`` of ``res`` as a :class:`RestartInstance`."""
        c = self.cluster
        f = res.failed[s]
        t = int(res.sample[s])
        lo, hi = int(res._item_ptr[s]), int(res._item_ptr[s + 1])
        units = res._item_unit[lo:hi]
        alive = c.host_up & ~f
        allowed = self.unit_allowed[units] & alive[None, :]
        cpu_room = res.loads.cpu_limit[t] - self.base_cpu_used(f, res.loads, t)
        mem_room = res.loads.mem_limit[t] - self.base_mem_used(f, res.loads, t)
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
            np.asarray(cpu_room, dtype=np.int64),
            np.asarray(mem_room, dtype=np.int64),
            self.rules.host_domain.copy(),
            self.rules.n_domains,
            self.rules.instance_groups(units, f),
            res._item_host[lo:hi].copy(),
            counts,
        )


def failed_matrix(n_hosts: int, scenarios: Sequence[Sequence[int]]) -> np.ndarray:
    """bool (S, H) from lists of failed host indices."""
    out = np.zeros((len(scenarios), n_hosts), dtype=bool)
    for i, hs in enumerate(scenarios):
        out[i, list(hs)] = True
    return out


__all__ = ["RestartEngine", "failed_matrix"]
