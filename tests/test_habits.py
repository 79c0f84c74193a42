"""Habits of the code base (STYLE): no module over 600 lines and no function over 100 lines
in ``planner/``."""

from __future__ import annotations

import ast
from pathlib import Path

PLANNER = Path(__file__).resolve().parent.parent / "planner"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100


def _modules() -> list[Path]:
    return sorted(PLANNER.rglob("*.py"))


def test_no_module_over_600_lines() -> None:
    sizes = {
        str(p.relative_to(PLANNER)): len(p.read_text(encoding="utf-8").splitlines())
        for p in _modules()
    }
    assert len(sizes) > 50  # the walk found the package
    assert {m: n for m, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_function_over_100_lines() -> None:
    long: dict[str, int] = {}
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(PLANNER)}:{node.name}"] = n
    assert long == {}


TESTS = Path(__file__).resolve().parent
#: Test folders that hold no package tests: shared data and helper scripts.
NOT_MIRRORS = {"fixtures", "tools", "benchmarks"}


def test_test_folders_mirror_the_package() -> None:
    """``tests/solve/`` tests ``planner/solve/``, and so on: every test folder names a
    subpackage, and every module-level test file of a subfolder names a module there."""
    folders = [d for d in TESTS.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))]
    mirrors = [d for d in folders if d.name not in NOT_MIRRORS]
    assert len(mirrors) >= 8
    assert [d.name for d in mirrors if not (PLANNER / d.name / "__init__.py").is_file()] == []
    for d in mirrors:
        modules = {p.stem for p in (PLANNER / d.name).glob("*.py")}
        for t in d.glob("test_*.py"):
            stem = t.stem.removeprefix("test_")
            assert any(stem == m or stem.startswith(m + "_") for m in modules), (
                f"{t.relative_to(TESTS)} names no module of planner/{d.name}/"
            )
