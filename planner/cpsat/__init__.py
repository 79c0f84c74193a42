"""The CP-SAT back end of the optimizer: the only package that imports OR-Tools.

* :mod:`planner.cpsat.variables`: the model input (solver-free data) and the decision
  variables.
* :mod:`planner.cpsat.constraints`: one function per hard constraint family.
* :mod:`planner.cpsat.objective`: one function per soft objective term.
* :mod:`planner.cpsat.model`: wires them, hints, solves the lexicographic tiers, maps the
  solver status, explains infeasibility and computes the per-host cover bounds.

The solver-agnostic API lives in :mod:`planner.optimizer`.
"""
