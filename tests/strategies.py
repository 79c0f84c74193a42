"""Test helpers shared by the whole test suite: a small-cluster builder and Hypothesis
strategies for random valid clusters.

Two entry points:

* :func:`make_cluster` builds a :class:`~planner.cluster.Cluster` from readable
  :class:`HostSpec` / :class:`VmSpec` / :class:`RuleSpec` records, following the same
  conventions as the snapshot loader (feature universe, vendor baselines, fault-domain and
  anti-affinity-class numbering), so a built cluster equals what ``read_snapshot`` returns for
  the same files.  Use it for hand-written toy clusters with hand-derived answers.
* :func:`clusters` is a Hypothesis strategy of random *valid* small clusters: the snapshot
  loader accepts them without errors, and the current placement respects capacity (100 % CPU
  and memory after the reserve), possible owners, Up hosts, every enabled affinity rule and
  the legacy anti-affinity classes.  Property tests draw from it::

      from hypothesis import given
      from tests.strategies import clusters

      @given(clusters(max_hosts=4, max_vms=10))
      def test_something(cluster): ...

Everything here is deterministic for a given Hypothesis draw; nothing touches the disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    CPU_UNITS,
    Cluster,
    ClusterSettings,
    CompatMode,
    HostState,
    Network,
    NetworkRole,
    Rule,
    RuleType,
    Vendor,
    VmState,
)
from planner.loadmodel import HighMode, Level, Threshold, resolve_threshold
from planner.snapshot.build import HostColumns, VmColumns, build_cluster

__all__ = [
    "HostSpec",
    "RuleSpec",
    "VmSpec",
    "assert_same_cluster",
    "cluster_settings",
    "clusters",
    "make_cluster",
    "names",
    "networks",
    "thresholds",
]

#: Default CPU model per vendor for :class:`HostSpec` (present in the shipped catalog).
DEFAULT_MODEL = {Vendor.INTEL: "Icelake-Server", Vendor.AMD: "EPYC-Milan", Vendor.HYGON: "Dhyana"}


# ----------------------------------------------------------------------------- the builder
@dataclass(frozen=True)
class HostSpec:
    """One host for :func:`make_cluster`.

    ``fault_domain`` defaults to the host's own name (as in ``hosts.csv``); ``cpu_model``
    defaults to a catalog model of the vendor; ``features`` (feature names) overrides the
    catalog's feature set when given.  CPU base load is in milli logical processors.
    """

    name: str
    logical_processors: int = 16
    memory_mb: int = 65536
    memory_reserve_mb: int = 4096
    cpu_base_milli: int = 0
    state: HostState = HostState.UP
    fault_domain: str | None = None
    vendor: Vendor = Vendor.INTEL
    cpu_model: str | None = None
    features: frozenset[str] | None = None
    max_vm_migrations: int = 2
    max_config_version_x10: int = -1
    max_running_vms: int = 1024


@dataclass(frozen=True)
class VmSpec:
    """One VM for :func:`make_cluster`.

    ``host`` is a host name (case-insensitive) or index.  ``cpu_milli`` is the VM's CPU
    demand when running, in milli logical processors (``vcpus * cpu_usage_pct * 10``).
    ``possible_owners=None`` (or empty, as in vms.csv) means every host.
    """

    name: str
    host: str | int
    vcpus: int = 2
    memory_mb: int = 4096
    cpu_milli: int = 500
    state: VmState = VmState.RUNNING
    priority: int = 2000
    config_version_x10: int = 100
    compat: CompatMode = CompatMode.NONE
    possible_owners: tuple[str | int, ...] | None = None
    preferred_owners: tuple[str | int, ...] = ()
    anti_affinity_classes: tuple[str, ...] = ()
    allow_downtime: bool = False
    pinned: bool = False
    dynamic_memory: bool = False
    #: Dynamic Memory amounts (MB); ``None`` = ``memory_mb``.
    memory_startup_mb: int | None = None
    memory_minimum_mb: int | None = None
    memory_maximum_mb: int | None = None


@dataclass(frozen=True)
class RuleSpec:
    """One affinity rule for :func:`make_cluster`; ``members`` are VM names or indices."""

    name: str
    rule_type: RuleType
    members: tuple[str | int, ...] = field(default_factory=tuple)
    enabled: bool = True
    #: Names in the rule's groups that are not VMs (kept, never constraining).
    other_members: tuple[str, ...] = ()


def _index_of(ref: str | int, index: dict[str, int], n: int, what: str) -> int:
    if isinstance(ref, int):
        if not 0 <= ref < n:
            raise ValueError(f"{what} index {ref} out of range 0..{n - 1}")
        return ref
    try:
        return index[ref.casefold()]
    except KeyError:
        raise ValueError(f"unknown {what} {ref!r}") from None


def make_cluster(
    hosts: Sequence[HostSpec],
    vms: Sequence[VmSpec] = (),
    rules: Sequence[RuleSpec] = (),
    networks: Sequence[Network] = (),
    settings: ClusterSettings | None = None,
    name: str = "test-cluster",
    catalog: CpuCatalog | None = None,
) -> Cluster:
    """Build a :class:`Cluster` from readable specs, with the snapshot loader's conventions.

    Raises ``ValueError`` for references to unknown hosts or VMs (a bug in the test, not
    user input).  Nothing is validated beyond that: build invalid clusters on purpose when a
    test needs one.
    """
    h_index = {h.name.casefold(): i for i, h in enumerate(hosts)}
    v_index = {v.name.casefold(): i for i, v in enumerate(vms)}
    nh, nv = len(hosts), len(vms)
    # The explicit feature set overrides the catalog model (the builder then uses the model,
    # else the vendor baseline).
    models = [h.cpu_model if h.cpu_model is not None else DEFAULT_MODEL[h.vendor] for h in hosts]
    host_cols = HostColumns(
        names=[h.name for h in hosts],
        vendor=[int(h.vendor) for h in hosts],
        logical_processors=[h.logical_processors for h in hosts],
        memory_mb=[h.memory_mb for h in hosts],
        state=[int(h.state) for h in hosts],
        fault_domain=[h.fault_domain for h in hosts],
        cpu_model=models,
        features=[h.features for h in hosts],
        memory_reserve_mb=[h.memory_reserve_mb for h in hosts],
        cpu_base_milli=[h.cpu_base_milli for h in hosts],
        max_vm_migrations=[h.max_vm_migrations for h in hosts],
        max_config_version_x10=[h.max_config_version_x10 for h in hosts],
        max_running_vms=[h.max_running_vms for h in hosts],
    )

    def refs(seq: Sequence[str | int]) -> tuple[int, ...]:
        out: list[int] = []
        for ref in seq:
            j = _index_of(ref, h_index, nh, "host")
            if j not in out:
                out.append(j)
        return tuple(out)

    vm_cols = VmColumns(
        names=[v.name for v in vms],
        host=[_index_of(v.host, h_index, nh, "host") for v in vms],
        vcpus=[v.vcpus for v in vms],
        memory_mb=[v.memory_mb for v in vms],
        state=[int(v.state) for v in vms],
        priority=[v.priority for v in vms],
        cpu_milli=[v.cpu_milli for v in vms],
        config_version_x10=[v.config_version_x10 for v in vms],
        compat=[int(v.compat) for v in vms],
        possible_owners=[() if v.possible_owners is None else refs(v.possible_owners) for v in vms],
        preferred_owners=[refs(v.preferred_owners) for v in vms],
        anti_affinity_classes=[v.anti_affinity_classes for v in vms],
        allow_downtime=[v.allow_downtime for v in vms],
        pinned=[v.pinned for v in vms],
        dynamic_memory=[v.dynamic_memory for v in vms],
        memory_startup_mb=[v.memory_startup_mb or v.memory_mb for v in vms],
        memory_minimum_mb=[v.memory_minimum_mb or v.memory_mb for v in vms],
        memory_maximum_mb=[v.memory_maximum_mb or v.memory_mb for v in vms],
    )
    rule_objs: list[Rule] = []
    for r in rules:
        mem: list[int] = []
        for ref in r.members:
            j = _index_of(ref, v_index, nv, "VM")
            if j not in mem:
                mem.append(j)
        rule_objs.append(
            Rule(r.name, RuleType(r.rule_type), bool(r.enabled), tuple(mem), tuple(r.other_members))
        )
    return build_cluster(
        name,
        host_cols,
        vm_cols,
        settings=settings,
        rules=rule_objs,
        networks=networks,
        catalog=catalog,
    )


# ----------------------------------------------------------------------------- strategies
# Names survive a CSV round trip and PowerShell: no ';' (list separator), no surrounding
# blanks (the loader trims cells), and a few non-ASCII letters to exercise UTF-8.
_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.éÅ"


def names(prefix: str = "", min_size: int = 1, max_size: int = 10) -> st.SearchStrategy[str]:
    """Names made of letters, digits, ``-_.``, a space inside and a few non-ASCII letters.

    ``prefix`` makes names of different kinds easy to tell apart in failure output.
    """
    body = st.text(_NAME_ALPHABET + " ", min_size=min_size, max_size=max_size)
    return body.map(lambda s: (prefix + s).strip()).filter(
        lambda s: bool(s) and not s.startswith("#")
    )


def _unique_names(draw: st.DrawFn, prefix: str, n: int) -> list[str]:
    """``n`` names distinct ignoring case (as Windows compares them)."""
    out: list[str] = []
    seen: set[str] = set()
    drawn = draw(st.lists(names(prefix), min_size=n, max_size=n, unique_by=lambda s: s.casefold()))
    for s in drawn:
        seen.add(s.casefold())
        out.append(s)
    return out


@st.composite
def cluster_settings(draw: st.DrawFn) -> ClusterSettings:
    """Random cluster-wide settings (every legal combination of ``cluster.csv``)."""
    return ClusterSettings(
        auto_balancer_mode=draw(st.integers(0, 2)),
        auto_balancer_level=draw(st.integers(1, 3)),
        maximum_parallel_migrations=draw(st.none() | st.integers(1, 8)),
        enforced_anti_affinity=draw(st.booleans()),
    )


@st.composite
def networks(draw: st.DrawFn, max_networks: int = 4) -> tuple[Network, ...]:
    """Random cluster networks (possibly none).  A role-None network has no
    live-migration order, as the loader requires for a lossless round trip."""
    n = draw(st.integers(0, max_networks))
    out = []
    for nm in _unique_names(draw, "net", n):
        role = draw(st.sampled_from(list(NetworkRole)))
        order = None if role == NetworkRole.NONE else draw(st.none() | st.integers(0, 9))
        bw = draw(st.sampled_from([1.0, 10.0, 25.0, 40.0, 2.5, 100.0]))
        out.append(Network(nm, role, order, bw))
    return tuple(out)


@st.composite
def clusters(
    draw: st.DrawFn,
    max_hosts: int = 5,
    max_vms: int = 12,
    *,
    min_hosts: int = 1,
    min_vms: int = 0,
    vendors: Sequence[Vendor] = (Vendor.INTEL, Vendor.AMD),
    max_rules: int = 4,
    with_networks: bool = True,
    allow_non_up_hosts: bool = True,
) -> Cluster:
    """Random valid small clusters.

    Guarantees, for every drawn cluster:

    * ``read_snapshot(write_snapshot(c))`` accepts it with no error (warnings are possible)
      and gives back the same cluster;
    * at least one host is Up and every VM sits on an Up host that is one of its possible
      owners, with ``vcpus`` no larger than that host's logical processors;
    * capacity holds now: per host, base CPU + VM CPU <= 100 % and reserve + VM memory <=
      memory (only Running/Paused VMs count);
    * every enabled affinity rule holds in the current placement, and no two VMs of one
      legacy anti-affinity class share a node.

    Paused/Down hosts (when ``allow_non_up_hosts``) exist but hold no VMs.
    """
    if not 1 <= min_hosts <= max_hosts:
        raise ValueError("need 1 <= min_hosts <= max_hosts")
    if not 0 <= min_vms <= max_vms:
        raise ValueError("need 0 <= min_vms <= max_vms")
    cat = default_catalog()
    nh = draw(st.integers(min_hosts, max_hosts))
    host_names = _unique_names(draw, "HV", nh)
    n_domains = draw(st.integers(1, nh))
    domain_names = _unique_names(draw, "FD", n_domains)
    catalog_feats = sorted(set().union(*(m.features for m in cat.models)))

    hosts: list[HostSpec] = []
    for i, hname in enumerate(host_names):
        # Host 0 is always Up so that every VM has somewhere to live.
        state = (
            HostState.UP
            if i == 0 or not allow_non_up_hosts
            else draw(
                st.sampled_from([HostState.UP, HostState.UP, HostState.PAUSED, HostState.DOWN])
            )
        )
        vendor = draw(st.sampled_from(list(vendors)))
        model = draw(st.sampled_from(cat.names(vendor)))
        features: frozenset[str] | None = None
        if draw(st.integers(0, 4)) == 0:
            # An explicit cpu_features override: a non-empty subset of catalog features,
            # sometimes with a feature the catalog does not know.
            picked = draw(
                st.lists(st.sampled_from(catalog_feats), min_size=1, max_size=12, unique=True)
            )
            extra = draw(st.lists(st.sampled_from(["hv-x1", "hv-x2"]), max_size=1))
            features = frozenset(picked + extra)
        lp = draw(st.sampled_from([2, 4, 8, 16, 32, 64]))
        mem = draw(st.sampled_from([8192, 16384, 65536, 262144, 1048576]))
        reserve = draw(st.integers(0, mem // 4))
        base = draw(st.integers(0, lp * CPU_UNITS // 10))  # up to 10 % base load
        fd = domain_names[draw(st.integers(0, n_domains - 1))] if draw(st.booleans()) else None
        hosts.append(
            HostSpec(
                name=hname,
                logical_processors=lp,
                memory_mb=mem,
                memory_reserve_mb=reserve,
                cpu_base_milli=base,
                state=state,
                fault_domain=fd,
                vendor=vendor,
                cpu_model=model,
                features=features,
                max_vm_migrations=draw(st.integers(1, 4)),
            )
        )
    up_hosts = [i for i, h in enumerate(hosts) if h.state == HostState.UP]
    cpu_left = {
        i: hosts[i].logical_processors * CPU_UNITS - hosts[i].cpu_base_milli for i in up_hosts
    }
    mem_left = {i: hosts[i].memory_mb - hosts[i].memory_reserve_mb for i in up_hosts}

    nv = draw(st.integers(min_vms, max_vms))
    vm_names = _unique_names(draw, "vm", nv)
    aa_pool = _unique_names(draw, "aa", draw(st.integers(0, 3)))
    aa_hosts: dict[str, set[int]] = {c.casefold(): set() for c in aa_pool}
    vm_specs: list[VmSpec] = []
    for vname in vm_names:
        h = draw(st.sampled_from(up_hosts))
        hs = hosts[h]
        vcpus = draw(st.integers(1, min(hs.logical_processors, 16)))
        vm_state = draw(
            st.sampled_from(
                [
                    VmState.RUNNING,
                    VmState.RUNNING,
                    VmState.RUNNING,
                    VmState.OFF,
                    VmState.SAVED,
                    VmState.PAUSED,
                ]
            )
        )
        consumes = vm_state in (VmState.RUNNING, VmState.PAUSED)
        host_mem_free = hs.memory_mb - hs.memory_reserve_mb
        host_cpu_free = hs.logical_processors * CPU_UNITS - hs.cpu_base_milli
        mem_cap = mem_left[h] if consumes else host_mem_free
        cpu_cap = min(vcpus * CPU_UNITS, cpu_left[h] if consumes else host_cpu_free)
        if consumes and mem_cap < 1:
            # The host is full: this VM is switched off instead (it then needs no room).
            vm_state, consumes, mem_cap = VmState.OFF, False, host_mem_free
            cpu_cap = min(vcpus * CPU_UNITS, host_cpu_free)
        memory = draw(st.integers(1, min(mem_cap, 65536)))
        cpu = draw(st.integers(0, max(cpu_cap, 0)))
        if consumes:
            mem_left[h] -= memory
            cpu_left[h] -= cpu
        if draw(st.booleans()):
            possible: tuple[int, ...] | None = None
        else:
            others = draw(
                st.lists(st.sampled_from(range(len(hosts))), unique=True, max_size=len(hosts))
            )
            possible = tuple(sorted({h, *others}))
        # Preferred owners come from the possible owners (others only draw a warning).
        pool = list(possible) if possible is not None else list(range(len(hosts)))
        preferred = tuple(draw(st.lists(st.sampled_from(pool), unique=True, max_size=3)))
        classes: list[str] = []
        for c in aa_pool:
            # Legacy anti-affinity holds now: a class takes at most one VM per node.
            if h not in aa_hosts[c.casefold()] and draw(st.integers(0, 2)) == 0:
                aa_hosts[c.casefold()].add(h)
                classes.append(c)
        vm_specs.append(
            VmSpec(
                name=vname,
                host=h,
                vcpus=vcpus,
                memory_mb=memory,
                cpu_milli=cpu,
                state=vm_state,
                priority=draw(st.sampled_from([0, 1000, 2000, 3000])),
                config_version_x10=draw(st.sampled_from([50, 80, 90, 100, 110, 120])),
                compat=draw(st.sampled_from(list(CompatMode))),
                possible_owners=possible,
                preferred_owners=preferred,
                anti_affinity_classes=tuple(classes),
                allow_downtime=draw(st.booleans()),
                pinned=draw(st.integers(0, 5)) == 0,
            )
        )

    rules = _draw_rules(draw, hosts, vm_specs, max_rules)
    return make_cluster(
        hosts,
        vm_specs,
        rules,
        networks=draw(networks()) if with_networks else (),
        settings=draw(cluster_settings()),
        name=draw(names("cl")),
        catalog=cat,
    )


@st.composite
def thresholds(draw: st.DrawFn, cluster: Cluster) -> Threshold:
    """A threshold for ``cluster`` as the CLI could choose it: a level (High in either
    reading) or a user percentage (whole or fractional)."""
    kind = draw(st.sampled_from(["level", "pct"]))
    if kind == "pct":
        pct = draw(st.integers(0, 100) | st.floats(0, 100, allow_nan=False))
        return resolve_threshold(cluster, None, float(pct))
    level = draw(st.sampled_from(list(Level)))
    mode = draw(st.sampled_from(list(HighMode)))
    return resolve_threshold(cluster, level, None, mode)


def _draw_rules(
    draw: st.DrawFn, hosts: Sequence[HostSpec], vms: Sequence[VmSpec], max_rules: int
) -> list[RuleSpec]:
    """Rules that the current placement satisfies (disabled ones may be broken)."""
    nv = len(vms)
    n_rules = draw(st.integers(0, max_rules)) if nv else 0
    rule_names = _unique_names(draw, "rule", n_rules)
    host_of = [int(v.host) for v in vms]  # clusters() always gives indices
    fd_of = [(hosts[h].fault_domain or hosts[h].name).casefold() for h in host_of]
    out: list[RuleSpec] = []
    for rname in rule_names:
        rtype = draw(st.sampled_from(list(RuleType)))
        enabled = draw(st.integers(0, 4)) > 0
        order = draw(st.permutations(range(nv)))
        if not enabled:
            members = order[: draw(st.integers(0, nv))]
        elif rtype == RuleType.SAME_NODE:
            anchor = host_of[order[0]]
            same = [v for v in order if host_of[v] == anchor]
            members = same[: draw(st.integers(1, len(same)))]
        elif rtype == RuleType.SAME_FAULT_DOMAIN:
            anchor_fd = fd_of[order[0]]
            same = [v for v in order if fd_of[v] == anchor_fd]
            members = same[: draw(st.integers(1, len(same)))]
        else:
            key = host_of if rtype == RuleType.DIFFERENT_NODE else fd_of
            seen: set[object] = set()
            members = []
            for v in order:
                if key[v] not in seen:
                    seen.add(key[v])
                    members.append(v)
            members = members[: draw(st.integers(1, len(members)))]
        out.append(RuleSpec(rname, rtype, tuple(members), enabled))
    return out


def _feature_sets(features: tuple[str, ...], matrix: np.ndarray) -> list[frozenset[str]]:
    return [frozenset(features[j] for j in np.flatnonzero(row)) for row in matrix]


def assert_same_cluster(a: Cluster, b: Cluster) -> None:
    """Assert that two clusters hold the same data: every array (values and dtype), name,
    setting, rule and network.  Feature sets are compared by feature *name* per host and
    per vendor, so two clusters with different feature universes can still be equal."""
    import dataclasses

    for f in dataclasses.fields(Cluster):
        if f.name in ("source", "snapshot_sha256", "features", "host_features", "vendor_baseline"):
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert isinstance(y, np.ndarray), f.name
            assert x.dtype == y.dtype, f"{f.name}: dtype {x.dtype} != {y.dtype}"
            assert np.array_equal(x, y), f"{f.name} differs:\n{x}\n{y}"
        else:
            assert x == y, f"{f.name} differs:\n{x!r}\n{y!r}"
    assert _feature_sets(a.features, a.host_features) == _feature_sets(
        b.features, b.host_features
    ), "host feature sets differ"
    assert _feature_sets(a.features, a.vendor_baseline) == _feature_sets(
        b.features, b.vendor_baseline
    ), "vendor baselines differ"


def vm_names_of(cluster: Cluster, idx: Iterable[int]) -> list[str]:
    """Names of the VMs with the given indices (a small convenience for messages)."""
    return [cluster.vm_names[int(i)] for i in idx]
