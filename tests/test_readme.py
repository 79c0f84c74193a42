"""README.md shows only real output: every ``<!-- run: CMD -->`` block is what CMD prints.

The outputs are produced by ``python tests/readme_outputs.py`` (which rewrites the blocks);
this test runs the same commands and fails when a block is stale.  Commands marked
``run slow`` are checked by ``python tests/readme_outputs.py --check --slow`` (CI), not here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import readme_outputs as ro

ROOT = Path(__file__).resolve().parents[1]


def test_blocks_are_found_with_their_commands(tmp_path: Path) -> None:
    text = (
        "intro\n<!-- run: echo one -->\n```text\n$ echo one\nold\n```\n"
        "<!-- run slow: echo two -->\n\n```text\n$ echo two\n```\n"
        "<!-- run: echo three -->\nno block yet\n"
    )
    found = list(ro.blocks(text))
    assert [(b.command, b.slow) for b in found] == [
        ("echo one", False),
        ("echo two", True),
        ("echo three", False),
    ]
    assert found[0].shown == "$ echo one\nold\n" and found[2].shown == ""


def test_regenerate_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "<!-- run: echo one; echo err >&2; exit 3 -->\n```text\nstale\n```\n"
        "<!-- run: ls data/examples | head -1 -->\ntail\n",
        encoding="utf-8",
    )
    assert ro.main(["--check", "--readme", str(readme)]) == 1
    assert "README block differs" in capsys.readouterr().err
    assert ro.main(["--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "```text\n$ echo one; echo err >&2; exit 3\none\nerr\n(exit code 3)\n```\n" in text
    # A block was inserted under the second marker, before the text that followed it.
    assert text.endswith(
        "-->\n```text\n$ ls data/examples | head -1\n"
        + sorted(p.name for p in (ROOT / "data" / "examples").iterdir())[0]
        + "\n```\ntail\n"
    )
    assert ro.main(["--check", "--readme", str(readme)]) == 0


def test_volatile_values_are_compared_by_pattern() -> None:
    a = "Status: OPTIMAL in 0.04 s; 14 scenarios, 0.11 s on 2 worker(s) (127.9 scenarios/s)"
    b = "Status: OPTIMAL in 1.27 s; 14 scenarios, 3.02 s on 8 worker(s) (12.5 scenarios/s)"
    assert ro.normalise(a) == ro.normalise(b)
    assert ro.normalise('"solve_seconds": 0.034,') == ro.normalise('"solve_seconds": 2.5,')
    assert ro.normalise("at 2026-12-01T09:03:37Z") == ro.normalise("at 2025-01-01T00:00:00Z")
    # What is not volatile still counts: moves, memory, estimated durations.
    assert ro.normalise("Moves: 1, about 42 s") != ro.normalise("Moves: 2, about 42 s")


def test_readme_has_no_pointer_to_files_that_are_not_there() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in re.findall(r"`((?:data|tests|models|notebooks|planner)/[\w./-]+)`", text):
        if "*" in path:
            continue
        assert (ROOT / path).exists(), path
    assert "SPEC.md" not in text  # the contract is described in the README itself


@pytest.mark.slow
def test_readme_outputs_are_current() -> None:
    assert ro.main(["--check"]) == 0, "README.md is stale: run python tests/readme_outputs.py"


def test_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    examples = re.findall(
        r"^<!-- python-example -->\n```python\n(.*?)^```", text, flags=re.S | re.M
    )
    assert examples
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    for code in examples:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    assert "OPTIMAL 1 65536" in out and "Low: 80 %" in out
