"""What-if questions on one cluster: rolling maintenance, growth, added hosts.

* :func:`rolling_maintenance` drains each Up node in turn (cluster-aware updating) and says
  whether every drain fits under the balancer threshold, how many moves it takes in total and
  which node is the hardest.  Each drain is the restart engine in ``drain`` mode (reachable
  hosts only, threshold limits), settled like a failure scenario: greedy witness, necessary
  bound, or the exact CP-SAT check.  Other VMs stay where they are: the drain moves only
  the drained node's VMs, as the cluster's own drain does, which is also the smallest
  number of moves any drain can take.  ``engine="optimizer"`` asks the optimizer instead
  (``planner.optimizer.optimize`` with ``drain=(h,)``), which may first move other VMs to
  make room under the threshold.
* :func:`scale_demand`, :func:`growth_limit`: VM CPU and memory demand scaled by a factor
  (rounded up to whole units, so demand never decreases as the factor grows); the smallest
  growth, in steps of ``resolution_pct``, at which the cluster stops being N+1-safe, found
  by bisection.  Bisection is valid because N+1 safety, decided exactly, is monotone in the
  factor (a placement that restarts everything at a larger demand also does at a smaller).
* :func:`add_hosts`, :func:`min_additional_hosts`: empty hosts of a catalog CPU model; the
  fewest that make the cluster N+1-safe.  Safety is monotone in the number of added empty
  hosts (more room, no new VMs to restart; a new host's own failure restarts nothing), so
  an exponential search then bisection finds the minimum; it is *proved* minimal when the
  count below was decided unsafe by a bound or a CP-SAT infeasibility proof and the count
  itself safe by a witness placement.

They live in :mod:`planner.capacity.maintenance`, :mod:`planner.capacity.growth` and
:mod:`planner.capacity.hosts`; this module gathers them under their former home.
"""

from planner.capacity.growth import GrowthLimit, growth_limit, scale_demand
from planner.capacity.hosts import (
    AddHostResult,
    HostShape,
    add_hosts,
    default_shape,
    min_additional_hosts,
)
from planner.capacity.maintenance import DrainOutcome, MaintenanceReport, rolling_maintenance

__all__ = [
    "AddHostResult",
    "DrainOutcome",
    "GrowthLimit",
    "HostShape",
    "MaintenanceReport",
    "add_hosts",
    "default_shape",
    "growth_limit",
    "min_additional_hosts",
    "rolling_maintenance",
    "scale_demand",
]
