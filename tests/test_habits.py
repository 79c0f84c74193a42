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
