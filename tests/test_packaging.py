"""The installed package is the checkout: every subpackage of ``planner/`` is listed in
``pyproject.toml`` (a non-editable ``pip install .`` ships only the listed ones, so a
missing entry breaks the README's quick start while an editable install still works)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject() -> None:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(conf["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "planner").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), f"not shipped by pip install .: {sorted(found - listed)}"
    assert "planner.models" in listed  # models/*.toml, shipped as planner.models
