"""hvplan: optimization-based placement planner for Hyper-V failover clusters.

The public API (imported lazily: ``import planner`` stays fast and loads neither OR-Tools
nor pandas until a function needs them)::

    import planner

    cluster = planner.load_snapshot("data/examples/small4")
    plan = planner.plan(cluster, planner.PlanOptions(level="medium", time_limit_s=30))
    if plan.ok:
        planner.write_plan(plan, "plan-out")       # the five files of SPEC §5
        print(planner.verify(cluster, "plan-out").ok)

Names: :func:`load_snapshot`, :class:`PlanOptions`, :func:`plan`, :class:`Plan`,
:func:`verify`, :func:`write_plan`, :func:`read_plan`, :func:`status`, :func:`compare`,
:class:`SolveStatus`, :class:`PlanningProblem`, :func:`build_problem`, :class:`LoadSamples`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS = {
    "load_snapshot": "planner.snapshot",
    "PlanOptions": "planner.problem",
    "PlanningProblem": "planner.problem",
    "LoadSamples": "planner.problem",
    "SolveStatus": "planner.problem",
    "build_problem": "planner.problem",
    "plan": "planner.pipeline",
    "Plan": "planner.pipeline",
    "write_plan": "planner.api",
    "read_plan": "planner.api",
    "verify": "planner.api",
    "status": "planner.api",
    "compare": "planner.compare",
}

if TYPE_CHECKING:
    from planner.api import read_plan, status, verify, write_plan
    from planner.compare import compare
    from planner.pipeline import Plan, plan
    from planner.problem import (
        LoadSamples,
        PlanningProblem,
        PlanOptions,
        SolveStatus,
        build_problem,
    )
    from planner.snapshot import load_snapshot


def __getattr__(name: str) -> Any:
    """Import a public name on first use.

    ``status`` and ``compare`` are also the names of submodules; importing those submodules
    binds the module here instead, so both modules are callable (they call the function),
    and ``planner.status(...)`` / ``planner.compare(...)`` work in any import order."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'planner' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "LoadSamples",
    "Plan",
    "PlanOptions",
    "PlanningProblem",
    "SolveStatus",
    "__version__",
    "build_problem",
    "compare",
    "load_snapshot",
    "plan",
    "read_plan",
    "status",
    "verify",
    "write_plan",
]
