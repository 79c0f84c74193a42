"""Capacity planning: failover (N+1, N+k, fault domains), rolling maintenance, growth,
added hosts and CPU generations, one cluster at a time or in batch on Dask.

Layering: :mod:`planner.failover` (the vectorized restart simulation, no solver) and
:mod:`planner.cpsat.capacity` (the exact check) are below this package; the CLI
(:mod:`planner.cli.capacity`) is above it.  :mod:`planner.capacity.batch` imports Dask only
when a client is created.
"""

from planner.capacity.failures import (
    FailureOptions,
    FailureReport,
    Scenario,
    ScenarioOutcome,
    analyze_failures,
    failable_hosts,
    failure_scenarios,
    n1_safe,
)
from planner.capacity.generations import (
    GenerationImpact,
    RetireImpact,
    add_generation,
    remove_hosts,
    retire_oldest,
)
from planner.capacity.whatif import (
    AddHostResult,
    DrainOutcome,
    GrowthLimit,
    HostShape,
    MaintenanceReport,
    add_hosts,
    default_shape,
    growth_limit,
    min_additional_hosts,
    rolling_maintenance,
    scale_demand,
)

__all__ = [
    "AddHostResult",
    "DrainOutcome",
    "FailureOptions",
    "FailureReport",
    "GenerationImpact",
    "GrowthLimit",
    "HostShape",
    "MaintenanceReport",
    "RetireImpact",
    "Scenario",
    "ScenarioOutcome",
    "add_generation",
    "add_hosts",
    "analyze_failures",
    "default_shape",
    "failable_hosts",
    "failure_scenarios",
    "growth_limit",
    "min_additional_hosts",
    "n1_safe",
    "remove_hosts",
    "retire_oldest",
    "rolling_maintenance",
    "scale_demand",
]
