"""The cutting-plane loop of planner.history.robust: which samples it adds, for which nodes."""

from __future__ import annotations

import numpy as np

from planner.history.model import LoadStatistic
from planner.history.robust import _binding_samples, merge_critical, round_limits


def test_binding_samples_at_a_quantile_are_those_at_its_rank() -> None:
    # 20 samples of CPU 0..19 (sample t has load t), limit 10.  The nearest-rank p95 of 20
    # values is the 19th smallest (index 18): the node is under at p95 exactly when the
    # sample at that rank is, so samples 18, 17, 16 decide it (19 may stay above).
    cpu = np.arange(20)
    mem = np.zeros(20, dtype=np.int64)
    assert _binding_samples(cpu, mem, 10, 100, LoadStatistic.P95) == [16, 17, 18]
    # For the maximum every sample above counts; its rank is the largest.
    assert _binding_samples(cpu, mem, 10, 100, LoadStatistic.MAX) == [17, 18, 19]
    # Samples at the rank that are under the limit are not added.
    assert _binding_samples(cpu, mem, 17, 100, LoadStatistic.P95) == [18]
    # For the mean: the lowest samples above the limit.
    assert _binding_samples(cpu, mem, 10, 100, LoadStatistic.MEAN) == [11, 12, 13]


def test_merge_critical_adds_hosts_and_samples_within_room() -> None:
    have = {3: None, 5: frozenset({1})}
    new = {5: frozenset({2}), 7: frozenset({0}), 9: frozenset()}
    got = merge_critical(have, new, room=1)
    # Sample 5 gains host 2; one new sample fits (7); sample 3 keeps every host.
    assert got == {3: None, 5: frozenset({1, 2}), 7: frozenset({0})}
    # Nothing new: the same object comes back (the loop stops on it).
    assert merge_critical(got, {3: frozenset({4}), 5: frozenset({1})}, room=5) is got


def test_round_limits_depend_on_the_limit_only() -> None:
    assert round_limits(48, 4) == [24.0, 12.0, 6.0, 6.0]
    got = round_limits(48)
    assert sum(got) <= 48 + 1e-9 and all(t >= 0.5 for t in got)
    assert got[:3] == [24.0, 12.0, 6.0]
    assert round_limits(0.2) == []
