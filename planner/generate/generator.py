""":func:`generate_cluster`: the generator's stages in order, then the one cluster builder."""

from __future__ import annotations

import numpy as np

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    Cluster,
    ClusterSettings,
    HostState,
    Network,
    NetworkRole,
)
from planner.generate.hosts import HostDraw, host_names, load_targets, size_hosts
from planner.generate.options import GeneratorError, GeneratorOptions, option_problems
from planner.generate.placement import cpu_use, place_vms
from planner.generate.rules import draw_owners, make_aa_classes, make_rules
from planner.generate.vms import draw_attributes, draw_vms
from planner.snapshot.build import HostColumns, VmColumns, build_cluster

#: The networks of every generated cluster: management and two live-migration networks.
NETWORKS = (
    Network("Management", NetworkRole.CLUSTER_AND_CLIENT, None, 10.0),
    Network("LiveMigration-1", NetworkRole.CLUSTER, 1, 25.0),
    Network("LiveMigration-2", NetworkRole.CLUSTER, 2, 10.0),
)


def generate_cluster(options: GeneratorOptions, catalog: CpuCatalog | None = None) -> Cluster:
    """Build a realistic synthetic cluster from ``options`` (deterministic by seed).

    Parameters
    ----------
    options:
        Everything that shapes the cluster, the seed included.
    catalog:
        The CPU catalog (default: the shipped one).

    Returns
    -------
    Cluster
        The same cluster for the same options.

    Raises
    ------
    GeneratorError
        The options are inconsistent or cannot be met (every reason listed).
    """
    cat = catalog or default_catalog()
    problems = option_problems(options, cat)
    if problems:
        raise GeneratorError(problems)
    o = options
    # Independent streams per concern, so a change in one part keeps the others stable.
    streams = np.random.SeedSequence(o.seed).spawn(6)
    r_vm, r_host, r_target, r_place, r_attr, r_rule = (np.random.default_rng(s) for s in streams)
    vms = draw_vms(o, r_vm)
    hosts = size_hosts(o, cat, vms, r_host)
    targets = load_targets(o, hosts, r_target)
    mem, vm_host = place_vms(o, r_place, vms, hosts, targets)
    cpu_milli = cpu_use(o, vms, hosts, targets, vm_host, mem)
    attrs = draw_attributes(o, r_attr)
    running = vms.running
    n_fd = o.n_fault_domains
    fd_of_host = (np.arange(o.hosts) % n_fd if n_fd else np.arange(o.hosts)).astype(np.int32)
    fd_names = tuple(f"Rack{k + 1}" for k in range(n_fd)) if n_fd else host_names(o.hosts)
    rules, in_rule = make_rules(o, r_rule, vm_host, running, fd_of_host, o.hosts, o.vms)
    g = hosts.gen_of_host
    owners = draw_owners(o, r_attr, vm_host, running, in_rule, hosts.reach[np.ix_(g, g)])
    n_aa = o.vms // 200 if o.anti_affinity_classes is None else o.anti_affinity_classes
    aa_names, vm_aa = make_aa_classes(
        r_rule, n_aa, vm_host, running, o.hosts, o.vms, o.aa_class_size
    )
    width = max(4, len(str(o.vms)))
    return build_cluster(
        o.cluster_name,
        _host_columns(hosts, [fd_names[f] for f in fd_of_host]),
        VmColumns(
            names=tuple(f"vm-{i + 1:0{width}d}" for i in range(o.vms)),
            host=vm_host,
            vcpus=vms.vcpus,
            memory_mb=mem,
            state=vms.state,
            priority=attrs.priority,
            cpu_milli=cpu_milli.astype(np.int64),
            config_version_x10=attrs.version,
            compat=attrs.compat,
            possible_owners=owners.possible,
            preferred_owners=owners.preferred,
            anti_affinity_classes=[tuple(aa_names[c] for c in cs) for cs in vm_aa],
            allow_downtime=attrs.downtime,
            pinned=owners.pinned,
        ),
        settings=ClusterSettings(
            auto_balancer_mode=2,
            auto_balancer_level=o.balancer_level,
            enforced_anti_affinity=o.enforced_anti_affinity,
        ),
        rules=rules,
        networks=NETWORKS,
        catalog=cat,
    )


def _host_columns(hosts: HostDraw, fault_domain: list[str]) -> HostColumns:
    """The drawn nodes as the cluster builder's columns (every node Up)."""
    H = len(hosts.gen_of_host)
    return HostColumns(
        names=host_names(H),
        vendor=hosts.vendor,
        logical_processors=hosts.lp,
        memory_mb=hosts.memory_mb,
        state=np.full(H, HostState.UP, dtype=np.int8),
        fault_domain=fault_domain,
        cpu_model=hosts.model_name,
        features=[hosts.models[g].features for g in hosts.gen_of_host],
        memory_reserve_mb=hosts.reserve_mb.astype(np.int64),
        cpu_base_milli=hosts.base_milli.astype(np.int64),
        max_vm_migrations=np.full(H, 2, dtype=np.int64),
    )


__all__ = ["NETWORKS", "GeneratorError", "generate_cluster"]
