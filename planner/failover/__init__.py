"""What the cluster does when nodes fail: a restart simulation vectorized over scenarios.

A *scenario* is a set of failed hosts (one row of a boolean ``(S, H)`` matrix).  For every
scenario at once, :class:`RestartEngine` places the VMs that have to start elsewhere, one
"step" per VM, each step a handful of numpy operations on ``(S, H)`` arrays.  The same engine
also drains nodes for rolling maintenance (``mode="drain"``).  Nothing here imports OR-Tools:
scenarios the greedy cannot settle are handed, as a :class:`RestartInstance`, to the exact
check in :mod:`planner.cpsat.capacity`.

Modelled behaviour (failover, ``mode="failover"``)
---------------------------------------------------
* Which VMs restart: those *consuming* resources (Running or Paused) on a failed host whose
  priority is High, Medium or Low.  No Auto Start VMs (priority 0) are not started after a
  failure: they are counted as ``noautostart_off`` and never make a scenario unsurvivable.
  Off and Saved VMs stay off; their cluster group changes owner but takes no CPU or memory,
  so they need no capacity and are not simulated.  VMs already running on a Down host are
  treated as failed in every scenario.
* Order: priority (High 3000, Medium 2000, Low 1000), then larger first (first-fit decreasing
  on the dominant resource), then the snapshot order.  Windows does not publish the order
  within one priority; "larger first" is the variant simulated.
* Where: only Up hosts that did not fail, among the VM's possible owners, with room at 100 %
  of CPU and memory (after the reserve) for the VM's CPU and its *boot* memory
  (``Cluster.vm_boot_memory_mb``: the startup memory of a Dynamic Memory VM when larger
  than what it holds now).  A restart after a failure is a **cold start**: the
  VM boots fresh, so the CPU vendor and feature set do not restrict it (DOMAIN.md: the set a
  VM sees is fixed when it boots, and only live or saved state cannot cross vendors; server
  vendors' Hyper-V cluster guides say the same of unplanned failover: no state is kept, so
  the processors need not match).  Pinned VMs restart like any other: pinning is a planner
  setting, the cluster ignores it.
* Which host (the cluster's own choice is not published; this is the variant simulated):
  nodes hosting a member of the same legacy anti-affinity class (not enforced) are avoided
  when any other node can take the VM; then the first preferred owner, in order, that can
  take it; otherwise the node with the most headroom left (the smaller of free CPU and free
  memory as a share of the node), so restarts spread.  Ties go to the lower host index.
* Rules: every enabled affinity rule is hard (DOMAIN.md leaves failure behaviour open; we plan
  as if hard).  SameNode members that restart together are one unit; a unit whose other
  members survive must join them.  DifferentNode / DifferentFaultDomain members avoid nodes /
  fault domains where a member already runs; SameFaultDomain members go to a domain where a
  member runs.  Legacy anti-affinity is hard (like DifferentNode) when enforced, a preference
  otherwise.  Only running VMs count as present for the rules after a failure.
* Surviving VMs stay where they are: a failure restarts the lost VMs, it does not rebalance.

Drain (``mode="drain"``): every VM on the drained hosts must leave (any state, any priority),
only to hosts it can reach (``Cluster.vm_move_kind``: live, quick, or shutdown when allowed),
never when pinned, under per-host limits given by the caller (usually the balancer threshold).
Rules count every VM, running or not, as :func:`planner.checks.rule_violations` does.

Over time: :meth:`RestartEngine.run` also takes per-sample loads
(:meth:`RestartEngine.sample_loads`, :class:`EngineLoads`) and a sample per scenario row, so
every (scenario, sample) pair of a load history is simulated in the same vectorized pass,
each by the rules above applied to that sample's loads (the "larger first" order included).

Modules: :mod:`~planner.failover.engine` (the simulation), :mod:`~planner.failover.rules`
(rule groups), :mod:`~planner.failover.loads` (per-sample loads),
:mod:`~planner.failover.result` (what a run returns).
"""

from planner.failover.engine import RestartEngine, failed_matrix
from planner.failover.loads import EngineLoads
from planner.failover.result import RestartInstance, RestartResult
from planner.failover.rules import (
    DOM_EXCL,
    DOM_INCL,
    NODE_EXCL,
    NODE_INCL,
    NODE_SOFT,
    PRIORITIES,
    PRIORITY_NAMES,
    Mode,
)

__all__ = [
    "DOM_EXCL",
    "DOM_INCL",
    "NODE_EXCL",
    "NODE_INCL",
    "NODE_SOFT",
    "PRIORITIES",
    "PRIORITY_NAMES",
    "EngineLoads",
    "Mode",
    "RestartEngine",
    "RestartInstance",
    "RestartResult",
    "failed_matrix",
]
