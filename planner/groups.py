"""Groups of VMs that rules tie together (SameNode, SameFaultDomain), taken transitively:
the one union-find of the package."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class UnionFind:
    """Disjoint sets over ``0 .. n-1`` (path halving)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        """The representative of ``a``'s set."""
        p = self.parent
        while p[a] != a:
            p[a] = p[p[a]]
            a = p[a]
        return a

    def union(self, a: int, b: int) -> None:
        """Join the sets of ``a`` and ``b``."""
        self.parent[self.find(a)] = self.find(b)


def components(n: int, groups: Iterable[Sequence[int]]) -> dict[int, tuple[int, ...]]:
    """Member → every member of its joined group (itself included, ascending), for groups
    of indices below ``n`` that share a member taken transitively; only members appear."""
    uf = UnionFind(n)
    members: set[int] = set()
    for g in groups:
        g = [int(v) for v in g]
        members.update(g)
        for v in g[1:]:
            uf.union(v, g[0])
    comp: dict[int, list[int]] = {}
    for v in sorted(members):
        comp.setdefault(uf.find(v), []).append(v)
    return {v: tuple(m) for m in comp.values() for v in m}


__all__ = ["UnionFind", "components"]
