"""Plan files: write_plan writes a plan made in memory, read_plan reads it back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import planner.planio as planio
from planner.pipeline import plan
from planner.problem import PlanOptions
from planner.snapshot import load_snapshot
from planner.verify import verify_plan

SMALL4 = Path(__file__).resolve().parent.parent / "data" / "examples" / "small4"


@pytest.fixture(scope="module")
def made():  # type: ignore[no-untyped-def]
    c = load_snapshot(SMALL4)
    p = plan(c, PlanOptions(level="medium", time_limit_s=10))
    assert p.ok, p.message
    return c, p


def test_write_plan_writes_five_files_into_an_empty_directory(made, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c, p = made
    out = tmp_path / "p"
    out.mkdir()
    written = planio.write_plan(p, out)
    assert sorted(x.name for x in written) == sorted(planio.PLAN_FILES)
    back = planio.read_plan(c, out)
    assert back.problems == ()
    assert [(m.step, m.wave, m.vm, m.source, m.target, m.kind) for m in back.moves] == [
        (m.step, m.wave, m.vm, m.source, m.target, m.kind) for m in p.sequence.moves
    ]
    assert back.placement is not None and np.array_equal(back.placement, p.placement)
    assert verify_plan(c, out).ok
    with pytest.raises(FileExistsError):
        planio.write_plan(p, out)


def test_in_memory_check_includes_the_runbooks(made) -> None:  # type: ignore[no-untyped-def]
    c, p = made
    summary = planio.build_summary(c, p.result, p.sequence)
    assert planio.check_plan(c, p.placement, p.sequence, summary).ok
    json.dumps(summary, allow_nan=False)  # finite numbers only
