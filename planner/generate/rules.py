"""Affinity rules, legacy anti-affinity classes and owner lists of a generated cluster,
formed *from* the placement so that every enabled rule holds (except those broken on
purpose) and no VM is in two rules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.cluster import Rule, RuleType
from planner.generate.options import GeneratorOptions
from planner.generate.vms import pick


@dataclass(frozen=True)
class Owners:
    """Pinned VMs (mask), possible owners (node indices; empty: every node) and preferred
    owners per VM."""

    pinned: np.ndarray
    possible: list[tuple[int, ...]]
    preferred: list[tuple[int, ...]]


def draw_owners(
    o: GeneratorOptions,
    rng: np.random.Generator,
    vm_host: np.ndarray,
    running: np.ndarray,
    in_rule: np.ndarray,
    reach_of_host: np.ndarray,
) -> Owners:
    """Pinned VMs among the running VMs in no rule; restricted owner lists (the current node
    plus nodes the VM can live-migrate to, ``reach_of_host[h1, h2]``) among the VMs neither
    pinned nor in a rule; then preferred owners."""
    V, H = o.vms, o.hosts
    free = np.flatnonzero(running & ~in_rule)
    pinned = np.zeros(V, dtype=bool)
    pinned[pick(rng, V, o.pinned_fraction, free)] = True
    possible = np.ones((V, H), dtype=bool)
    restricted = pick(rng, V, o.restricted_owners_fraction, np.flatnonzero(~in_rule & ~pinned))
    for v in restricted:
        # Owners are the current host plus one to three hosts the VM can live-migrate to,
        # so that a restricted VM is never stranded by its owner list alone.
        h = int(vm_host[v])
        others = np.flatnonzero(reach_of_host[h] & (np.arange(H) != h))
        if len(others) == 0:
            continue
        k = min(
            len(others),
            int(rng.integers(1, 4))
            if o.restricted_owners_hosts is None
            else o.restricted_owners_hosts - 1,
        )
        possible[v] = False
        possible[v, h] = True
        possible[v, rng.choice(others, size=k, replace=False)] = True
    preferred: list[tuple[int, ...]] = [()] * V
    for v in pick(rng, V, o.preferred_owners_fraction, np.arange(V)):
        h = int(vm_host[v])
        alt = np.flatnonzero(possible[v] & (np.arange(H) != h))
        preferred[v] = (h, int(rng.choice(alt))) if len(alt) else (h,)
    owners: list[tuple[int, ...]] = [()] * V
    for v in np.flatnonzero(~possible.all(axis=1)).tolist():
        owners[v] = tuple(np.flatnonzero(possible[v]).tolist())
    return Owners(pinned, owners, preferred)


def make_rules(
    o: GeneratorOptions,
    rng: np.random.Generator,
    vm_host: np.ndarray,
    running: np.ndarray,
    fd_of_host: np.ndarray,
    H: int,
    V: int,
) -> tuple[tuple[Rule, ...], np.ndarray]:
    """Affinity rules that the placement satisfies; each VM is in at most one rule."""
    in_rule = np.zeros(V, dtype=bool)
    target = int(np.floor(o.rule_density * int(running.sum()) + 0.5))
    if target < 2:
        return (), in_rule
    cand = np.flatnonzero(running)
    cand = cand[rng.permutation(len(cand))]
    pools: list[list[int]] = [[] for _ in range(H)]
    for v in cand.tolist():
        pools[int(vm_host[v])].append(v)
    n_fd = int(fd_of_host.max()) + 1
    hosts_of_fd = [np.flatnonzero(fd_of_host == f).tolist() for f in range(n_fd)]
    types = [RuleType.SAME_NODE, RuleType.DIFFERENT_NODE, RuleType.SAME_FAULT_DOMAIN]
    if n_fd >= 2:
        types.append(RuleType.DIFFERENT_FAULT_DOMAIN)
    rules: list[Rule] = []
    used = 0
    failures = 0
    i = 0
    while used < target and failures < len(types):
        rt = types[i % len(types)]
        i += 1
        # A broken DifferentNode / DifferentFaultDomain rule takes the members of the
        # opposite shape (one node / one fault domain); draws only when asked for.
        broken = (
            o.broken_rule_fraction > 0
            and rt in _BROKEN_SHAPE
            and bool(rng.random() < o.broken_rule_fraction)
        )
        members = _rule_members(
            _BROKEN_SHAPE[rt] if broken else rt, rng, pools, hosts_of_fd, min(target - used, 4)
        )
        if len(members) < 2:
            failures += 1
            continue
        failures = 0
        in_rule[members] = True
        used += len(members)
        enabled = bool(rng.random() >= o.disabled_rule_fraction) or broken
        name = f"{_RULE_PREFIX[rt]}-{len(rules) + 1:03d}"
        rules.append(Rule(name, rt, enabled, tuple(members)))
    return tuple(rules), in_rule


_BROKEN_SHAPE = {
    RuleType.DIFFERENT_NODE: RuleType.SAME_NODE,
    RuleType.DIFFERENT_FAULT_DOMAIN: RuleType.SAME_FAULT_DOMAIN,
}

_RULE_PREFIX = {
    RuleType.SAME_NODE: "together",
    RuleType.DIFFERENT_NODE: "apart",
    RuleType.SAME_FAULT_DOMAIN: "same-rack",
    RuleType.DIFFERENT_FAULT_DOMAIN: "across-racks",
}


def _rule_members(
    rt: RuleType,
    rng: np.random.Generator,
    pools: list[list[int]],
    hosts_of_fd: list[list[int]],
    room: int,
) -> list[int]:
    """Members for one rule of type ``rt`` taken from the per-host pools (may be empty)."""
    if room < 2:
        return []
    if rt == RuleType.SAME_NODE:
        ok = [h for h, p in enumerate(pools) if len(p) >= 2]
        if not ok:
            return []
        h = ok[int(rng.integers(len(ok)))]
        k = min(int(rng.integers(2, 4)), room, len(pools[h]))
        return [pools[h].pop() for _ in range(k)]
    if rt == RuleType.DIFFERENT_NODE:
        ok = [h for h, p in enumerate(pools) if p]
        k = min(int(rng.integers(2, 5)), room, len(ok))
        if k < 2:
            return []
        return [pools[int(h)].pop() for h in rng.choice(ok, size=k, replace=False)]
    fd_free = [sum(len(pools[h]) for h in hs) for hs in hosts_of_fd]
    if rt == RuleType.SAME_FAULT_DOMAIN:
        ok = [f for f, n in enumerate(fd_free) if n >= 2]
        if not ok:
            return []
        f = ok[int(rng.integers(len(ok)))]
        k = min(int(rng.integers(2, 4)), room, fd_free[f])
        out: list[int] = []
        while len(out) < k:
            hs = [h for h in hosts_of_fd[f] if pools[h]]
            out.append(pools[hs[int(rng.integers(len(hs)))]].pop())
        return out
    ok = [f for f, n in enumerate(fd_free) if n >= 1]
    k = min(int(rng.integers(2, 4)), room, len(ok))
    if k < 2:
        return []
    out = []
    for f in rng.choice(ok, size=k, replace=False):
        hs = [h for h in hosts_of_fd[int(f)] if pools[h]]
        out.append(pools[hs[int(rng.integers(len(hs)))]].pop())
    return out


def make_aa_classes(
    rng: np.random.Generator,
    n: int,
    vm_host: np.ndarray,
    running: np.ndarray,
    H: int,
    V: int,
    max_size: int = 5,
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """Legacy anti-affinity classes whose members run on distinct hosts.  Classes are
    numbered in the order their first member appears, as the snapshot loader numbers them."""
    if n <= 0 or H < 2:
        return (), tuple(() for _ in range(V))
    run_idx = np.flatnonzero(running)
    by_host = [run_idx[vm_host[run_idx] == h] for h in range(H)]
    nonempty = np.array([h for h in range(H) if len(by_host[h])])
    classes: list[list[int]] = []
    for _ in range(n):
        k = min(int(rng.integers(2, max_size + 1)), len(nonempty))
        if k < 2:
            break
        hs = rng.choice(nonempty, size=k, replace=False)
        classes.append(sorted(int(by_host[h][rng.integers(len(by_host[h]))]) for h in hs))
    # Renumber by first member so names follow the order in vms.csv.
    order = sorted(range(len(classes)), key=lambda c: (classes[c][0], c))
    vm_aa: list[list[int]] = [[] for _ in range(V)]
    for new, c in enumerate(order):
        for v in classes[c]:
            vm_aa[v].append(new)
    names = tuple(f"AA-{c + 1:02d}" for c in range(len(classes)))
    return names, tuple(tuple(sorted(x)) for x in vm_aa)
