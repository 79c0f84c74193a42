"""The staged solve of a :class:`~planner.problem.PlanningProblem`.

Each stage is its own module with a small typed interface; they share one
:class:`~planner.solve.incumbent.Incumbent` (the best placement so far and the stage that
found it) and one :class:`~planner.cpsat.budget.Budget` (the run's CP-SAT deterministic time,
which every stage takes its share of, with the wall clock as a recorded safety cap):

1. :mod:`~planner.solve.precheck`: plain-English impossibilities, before any solve;
2. :mod:`~planner.solve.bounds`: lower bounds valid for the full problem, per tier;
3. :mod:`~planner.solve.greedy` and :mod:`~planner.solve.decompose`: per-node cheapest
   covers, the leavers placed greedily, then one CP-SAT solve of their assignment at the
   bounds;
4. :mod:`~planner.solve.restricted`: the VMs that may need to move, on the hosts that are
   not hot (small instances);
5. :mod:`~planner.solve.lns`: large-neighbourhood search over small sub-models (large
   instances);
6. :mod:`~planner.solve.full`: every VM free, and the infeasibility explanation;
7. :mod:`~planner.solve.downtime`: Shutdown moves a live move (or staying home) can replace
   (after the first heuristics and once more at the end).

:func:`planner.solve.pipeline.solve` runs them in that order until the incumbent meets
every bound; :mod:`~planner.solve.result` turns the incumbent into an
:class:`~planner.solve.result.OptimizeResult`.
"""
