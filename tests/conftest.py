"""Shared pytest fixtures: snapshot directories on disk and Hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fixtures import BASE, Changes, SnapshotMaker, write_variant

REPO = Path(__file__).resolve().parent.parent
SMALL4 = REPO / "data" / "examples" / "small4"

# Property tests stay quick in the default run (2 shared cores); HYPOTHESIS_PROFILE=thorough
# explores more.  No deadline: timings on a shared machine are noise.
settings.register_profile(
    "default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def base_snapshot() -> Path:
    """The valid base snapshot (read-only: do not write into it)."""
    return BASE


@pytest.fixture
def small4() -> Path:
    """The documented 4-node example snapshot (read-only)."""
    return SMALL4


@pytest.fixture
def make_snapshot(tmp_path: Path) -> SnapshotMaker:
    """Factory: the base snapshot with some files changed, in a fresh directory."""
    counter = iter(range(1_000_000))

    def make(changes: Changes | None = None) -> Path:
        return write_variant(tmp_path / f"snap{next(counter)}", changes)

    return make
