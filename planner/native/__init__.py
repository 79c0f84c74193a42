"""Deterministic simulations of the native balancers: Hyper-V VM Load Balancer ("Node
Fairness") and SCVMM Dynamic Optimization.

Both simulations start from the snapshot's current placement, run *passes* on a simulated
clock until a pass moves nothing (stable) or a pass limit is reached, and record every move
(pass number, clock time, VM, source, target, migration type, memory) and every pass.  The
same input and options always give the same moves: every choice breaks ties by index.

What both honour (as the real balancers do)
-------------------------------------------
* Only Running and Paused VMs move (Off and Saved VMs put no load on a node), and only by
  **live migration**: a target must be of the same CPU vendor and offer the VM's presented
  feature set (``cluster.vm_move_kind == MoveKind.LIVE``).  A balancer never shuts a VM down.
* **Possible owners**; only **Up** nodes are sources or targets (a Paused node is in
  maintenance; a Down one is gone).
* **Capacity**: a target never goes above 100 % CPU or above its memory minus the reserve.
* **Affinity rules** (enabled ones, as hard): a move that would break a SameNode,
  DifferentNode, SameFaultDomain or DifferentFaultDomain rule that holds now is not made.
  Members of an enabled SameNode rule that share a node move together (Hyper-V brings the
  other members along), as one unit.
* **Legacy anti-affinity** (``AntiAffinityClassNames``): a VM is never moved onto a node that
  already runs a VM of one of its classes.
* **Pinned** VMs (an hvplan notion the real balancers do not know) are not moved, by default
  (``respect_pinned=True``), so that every strategy of ``hvplan compare`` plays by the same
  rules.

The simulations live in :mod:`planner.native.fairness` (Node Fairness) and
:mod:`planner.native.dynopt` (Dynamic Optimization), on the placement state of
:mod:`planner.native.state`; :mod:`planner.native.model` holds the options and records,
:mod:`planner.native.balancer` the pass-by-pass :class:`Balancer` of ``hvplan replay``.
"""

from planner.native.balancer import Balancer, simulate, simulate_all
from planner.native.dynopt import simulate_dynamic_optimization
from planner.native.fairness import simulate_node_fairness
from planner.native.model import (
    DO_MIN_GAIN_PCT,
    MODE_NOTES,
    NODE_FAIRNESS_INTERVAL_S,
    DynamicOptimizationOptions,
    NativeMove,
    NodeFairnessOptions,
    PassRecord,
    SimulationResult,
    VmChoice,
    cluster_variants,
    default_variants,
    mode_note,
)
from planner.native.state import pass_migration_seconds

__all__ = [
    "DO_MIN_GAIN_PCT",
    "MODE_NOTES",
    "Balancer",
    "cluster_variants",
    "mode_note",
    "NODE_FAIRNESS_INTERVAL_S",
    "DynamicOptimizationOptions",
    "NativeMove",
    "NodeFairnessOptions",
    "PassRecord",
    "SimulationResult",
    "VmChoice",
    "default_variants",
    "pass_migration_seconds",
    "simulate",
    "simulate_all",
    "simulate_dynamic_optimization",
    "simulate_node_fairness",
]
