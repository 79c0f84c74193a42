"""Synthetic, realistic cluster snapshots for examples, tests and benchmarks.

:func:`generate_cluster` is a pure function of :class:`GeneratorOptions` (the seed included):
the same options always give the same :class:`~planner.cluster.Cluster`.

How a cluster is built, and why:

* **Hosts** get real CPU models from the shipped catalog, in contiguous blocks per generation
  (nodes are bought in batches).  Sizes come from realistic tiers (32–128 logical processors,
  256 GB–1.5 TB) chosen so that the drawn VMs load the cluster near ``load_pct`` without
  resizing the VMs much; newer generations get the next tier up.
* **VMs** are drawn (with replacement) from the 500 VMs of the Bitbrains GWA-T-12 "rnd" trace
  shipped in ``planner/resources/bitbrains_vms.csv``: vCPUs, provisioned memory and average
  CPU use.  Memory is then scaled by one cluster-wide factor (to 512 MB steps) so the total
  matches the load target.
* **Imbalance.** ``round(hot_fraction * hosts)`` hosts get CPU and memory targets above
  ``hot_load_pct``; the other hosts share the rest so that the hosts' mean load is
  ``load_pct``.  Running VMs are placed largest first on the host furthest below its memory
  target, then the CPU use of each host's VMs is scaled so the host meets its CPU target:
  busy hosts are busy because their VMs are.  Hot hosts are preferably chosen so that each
  keeps a cold node of the same CPU model, so that live migration can relieve it.
* **Rules** are formed *from* the placement (members of a SameNode rule share a host, those of
  a DifferentNode rule sit on distinct hosts, ...), so every enabled rule holds initially and
  no VM is in two rules: the rule set is consistent and satisfiable.  With
  ``broken_rule_fraction`` some DifferentNode/DifferentFaultDomain rules are broken now
  (members on one node / in one fault domain), as after a failover.  Legacy anti-affinity
  classes likewise have their members on distinct hosts.
* **Possible owners** (restricted for a few VMs) always include the current host; pinned VMs
  and VMs with restricted owners are never rule members.

The initial placement always respects 100 % capacity, possible owners and every enabled rule
(except the rules broken on purpose);
:func:`generate_cluster` checks this before returning.

Modules: :mod:`~planner.generate.options` (the options and their checks),
:mod:`~planner.generate.trace` (the VM trace), :mod:`~planner.generate.vms` (VM sizes and
attributes), :mod:`~planner.generate.hosts` (nodes and load targets),
:mod:`~planner.generate.placement` (placement and CPU use), :mod:`~planner.generate.rules`
(rules, anti-affinity classes, owners) and :mod:`~planner.generate.generator` (the stages
in order).
"""

from __future__ import annotations

from planner.generate.generator import NETWORKS, generate_cluster
from planner.generate.options import (
    CONFIG_VERSION_WEIGHTS,
    CONFIG_VERSIONS_X10,
    DEFAULT_GENERATIONS,
    FAILOVER_CLUSTER_MAX_NODES,
    HOT_MARGIN_PCT,
    HOT_SPREAD_PCT,
    LP_TIERS,
    MAX_GB_PER_LP,
    MAX_HOSTS,
    MAX_RAW_VM_MEMORY_MB,
    MAX_RUNNING_VMS_PER_HOST,
    MAX_TARGET_PCT,
    MAX_VM_SHARE_OF_HOST,
    MEMORY_STEP_MB,
    MEMORY_TIERS_MB,
    MIN_RUNNING_VMS_PER_HOST,
    PRIORITIES,
    PRIORITY_WEIGHTS,
    VENDOR_CHOICES,
    GeneratorError,
    GeneratorOptions,
    option_problems,
)
from planner.generate.trace import VmTrace, bitbrains_trace

__all__ = [
    "CONFIG_VERSIONS_X10",
    "CONFIG_VERSION_WEIGHTS",
    "DEFAULT_GENERATIONS",
    "FAILOVER_CLUSTER_MAX_NODES",
    "HOT_MARGIN_PCT",
    "HOT_SPREAD_PCT",
    "LP_TIERS",
    "MAX_GB_PER_LP",
    "MAX_HOSTS",
    "MAX_RAW_VM_MEMORY_MB",
    "MAX_RUNNING_VMS_PER_HOST",
    "MAX_TARGET_PCT",
    "MAX_VM_SHARE_OF_HOST",
    "MEMORY_STEP_MB",
    "MEMORY_TIERS_MB",
    "MIN_RUNNING_VMS_PER_HOST",
    "NETWORKS",
    "PRIORITIES",
    "PRIORITY_WEIGHTS",
    "VENDOR_CHOICES",
    "GeneratorError",
    "GeneratorOptions",
    "VmTrace",
    "bitbrains_trace",
    "generate_cluster",
    "option_problems",
]
