"""Affinity rules as the restart simulation sees them: rule groups per kind, which hosts
a group member may take given where members already run, and the constants they use."""

from __future__ import annotations

from typing import Literal

import numpy as np

from planner.cluster import PRIORITY_NAMES as CLUSTER_PRIORITY_NAMES
from planner.cluster import Cluster, RuleType

Mode = Literal["failover", "drain"]

#: Priorities reported separately, highest first.
PRIORITIES = (3000, 2000, 1000)
#: Priority names in lower case, from the one table (planner.cluster.PRIORITY_NAMES).
PRIORITY_NAMES = {value: name.lower() for value, name in CLUSTER_PRIORITY_NAMES.items()}

# Rule-group kinds: which hosts a group member may take, given where members already run.
NODE_EXCL, DOM_EXCL, NODE_INCL, DOM_INCL, NODE_SOFT = range(5)
KINDS = (NODE_EXCL, DOM_EXCL, NODE_INCL, DOM_INCL, NODE_SOFT)
DOMAIN_KINDS = (DOM_EXCL, DOM_INCL)

_RULE_KIND = {
    RuleType.DIFFERENT_NODE: NODE_EXCL,
    RuleType.DIFFERENT_FAULT_DOMAIN: DOM_EXCL,
    RuleType.SAME_NODE: NODE_INCL,
    RuleType.SAME_FAULT_DOMAIN: DOM_INCL,
}


class RuleGroups:
    """Membership (units x groups) and surviving occupancy (groups x hosts) per kind.

    Every enabled affinity rule is a group of its kind; each legacy anti-affinity class with
    more than one member is a ``NODE_EXCL`` group when enforced, else ``NODE_SOFT``.
    """

    def __init__(
        self, cluster: Cluster, unit_of: np.ndarray, n_units: int, occupant: np.ndarray
    ) -> None:
        c = cluster
        groups: dict[int, list[np.ndarray]] = {k: [] for k in KINDS}
        for r in c.enabled_rules:
            m = np.asarray(r.members, dtype=np.int64)
            if len(m) >= 1:
                groups[_RULE_KIND[r.rule_type]].append(m)
        kind_aa = NODE_EXCL if c.settings.enforced_anti_affinity else NODE_SOFT
        for members in c.aa_class_members:
            if len(members) > 1:
                groups[kind_aa].append(np.asarray(members, dtype=np.int64))
        self.members: dict[int, list[np.ndarray]] = groups
        self.unit_groups: dict[int, np.ndarray] = {}
        self.base: dict[int, np.ndarray] = {}
        self._csr: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.unit_in_kind: dict[int, np.ndarray] = {}
        self.host_domain = c.host_fault_domain.astype(np.int64)
        self.n_domains = len(c.fault_domains)
        self._host_to_dom = np.zeros((c.n_hosts, self.n_domains), dtype=np.float32)
        self._host_to_dom[np.arange(c.n_hosts), self.host_domain] = 1.0
        for k in KINDS:
            g = len(groups[k])
            ug = np.zeros((n_units, g), dtype=np.float32)
            base = np.zeros((g, c.n_hosts), dtype=np.float32)
            for j, m in enumerate(groups[k]):
                ug[unit_of[m], j] = 1.0
                occ = m[occupant[m]]
                base[j, c.vm_host[occ]] = 1.0
            self.unit_groups[k] = ug
            self.base[k] = base
            # CSR unit -> groups: items belong to few groups, so per-step rule checks
            # touch (item, group) pairs only, never every group of every scenario.
            uu, gg = np.nonzero(ug)
            ptr = np.concatenate([[0], np.cumsum(np.bincount(uu, minlength=n_units))])
            self._csr[k] = (ptr.astype(np.int64), gg.astype(np.int64))
            self.unit_in_kind[k] = np.asarray(ug.any(axis=1), dtype=bool)

    def occupancy(self, failed: np.ndarray) -> dict[int, np.ndarray]:
        """``occ[k][s, g, x]``: a surviving member of group ``g`` of kind ``k`` runs on host
        (or in fault domain) ``x`` in scenario ``s``; kinds without groups are left out."""
        occ: dict[int, np.ndarray] = {}
        for k in KINDS:
            base = self.base[k]
            if base.shape[0] == 0:
                continue
            o = (base[None, :, :] > 0) & ~failed[:, None, :]
            if k in DOMAIN_KINDS:
                o = (o.astype(np.float32) @ self._host_to_dom) > 0
            occ[k] = o
        return occ

    def pairs(self, kind: int, units: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(position in ``units``, group) of every group of ``kind`` the units belong to,
        grouped by position; None when none of them is in such a group."""
        if not self.unit_in_kind[kind][units].any():
            return None
        return csr_gather(*self._csr[kind], units)

    def allowed(self, kind: int, r: np.ndarray, po: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hosts allowed by the rule groups of some items.

        ``r`` (sorted) says which item row each (item, group) pair belongs to and ``po`` is
        that group's occupancy (pairs x hosts or domains).  Returns the rows concerned and,
        for each, a bool mask over hosts.
        """
        if kind in DOMAIN_KINDS:
            po = po[:, self.host_domain]
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

    def instance_groups(
        self, units: np.ndarray, failed: np.ndarray
    ) -> tuple[tuple[int, np.ndarray, np.ndarray], ...]:
        """The hard groups touching ``units`` for an exact check: ``(kind, item indices,
        occupied)`` with ``occupied`` over hosts or fault domains (see
        :class:`~planner.failover.result.RestartInstance`)."""
        groups = []
        for k in KINDS:
            if k == NODE_SOFT:
                continue
            base = self.base[k]
            for j in range(base.shape[0]):
                members = np.flatnonzero(self.unit_groups[k][units, j] > 0)
                if len(members) == 0:
                    continue
                occ_h = (base[j] > 0) & ~failed
                if k in DOMAIN_KINDS:
                    occ = np.zeros(self.n_domains, dtype=bool)
                    occ[self.host_domain[occ_h]] = True
                else:
                    occ = occ_h
                groups.append((k, members, occ))
        return tuple(groups)


def csr_gather(ptr: np.ndarray, idx: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR ``(ptr, idx)`` and the requested ``rows``: (position in ``rows``, value) of
    every stored entry, grouped by position."""
    lens = ptr[rows + 1] - ptr[rows]
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pos = np.repeat(np.arange(len(rows)), lens)
    offs = np.repeat(ptr[rows] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return pos, idx[np.arange(total) + offs]


__all__ = [
    "DOMAIN_KINDS",
    "DOM_EXCL",
    "DOM_INCL",
    "KINDS",
    "NODE_EXCL",
    "NODE_INCL",
    "NODE_SOFT",
    "PRIORITIES",
    "PRIORITY_NAMES",
    "Mode",
    "RuleGroups",
    "csr_gather",
]
