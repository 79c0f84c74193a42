"""Capacity planning: failover (N+1, N+k, fault domains), rolling maintenance, growth,
added hosts and CPU generations, capacity over a load history (N+k at every sample), one
cluster at a time or in batch on Dask.

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
from planner.capacity.growth import GrowthLimit, growth_limit, scale_demand
from planner.capacity.hosts import (
    AddHostResult,
    HostShape,
    add_hosts,
    default_shape,
    min_additional_hosts,
)
from planner.capacity.maintenance import DrainOutcome, MaintenanceReport, rolling_maintenance
from planner.capacity.overtime import (
    OverTimeReport,
    SurvivalOverTime,
    capacity_over_time,
    growth_limit_at,
    survival_over_time,
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
    "OverTimeReport",
    "RetireImpact",
    "Scenario",
    "ScenarioOutcome",
    "SurvivalOverTime",
    "add_generation",
    "add_hosts",
    "analyze_failures",
    "capacity_over_time",
    "default_shape",
    "failable_hosts",
    "failure_scenarios",
    "growth_limit",
    "growth_limit_at",
    "min_additional_hosts",
    "n1_safe",
    "remove_hosts",
    "retire_oldest",
    "rolling_maintenance",
    "scale_demand",
    "survival_over_time",
]
