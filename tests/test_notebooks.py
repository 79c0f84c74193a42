"""The notebooks in ``notebooks/`` run top to bottom without error, and are committed clean.

Each notebook is executed with ``nbclient`` on the ``python3`` kernel (``ipykernel``, from the
``test`` and ``notebooks`` extras), from the repository root, exactly as CI runs them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Seconds one cell may take; the whole set is meant to run in about two minutes.
CELL_TIMEOUT_S = 240


def test_the_expected_notebooks_exist() -> None:
    names = {p.name for p in NOTEBOOKS}
    for expected in (
        "01-quickstart.ipynb",
        "02-native-balancers.ipynb",
        "03-capacity.ipynb",
        "04-benchmarks.ipynb",
    ):
        assert expected in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    # Notebooks read only from data/: no absolute paths and no downloads.
    text = path.read_text(encoding="utf-8")
    for forbidden in ("/work/", "http://", "https://", "urlopen", "requests."):
        assert forbidden not in text


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == []


@pytest.mark.slow
def test_benchmark_notebook_plots_results_when_there_are_some(tmp_path: Path) -> None:
    # A data/ directory with the examples and one result in bench_optimizer.py's --json shape.
    (tmp_path / "data" / "benchmarks").mkdir(parents=True)
    (tmp_path / "data" / "examples").symlink_to(ROOT / "data" / "examples")
    result = {
        "cases": [
            {
                "case": "16x1000",
                "gap_max": 0.0,
                "seconds_median": 0.54,
                "seconds_all": [0.54],
                "timings": {"bounds": 0.03, "restricted": 0.19},
            },
            {
                "case": "64x8000-heavy",
                "gap_max": 0.004,
                "seconds_median": 41.0,
                "seconds_all": [41.0],
                "timings": {"bounds": 0.9},
            },
        ]
    }
    (tmp_path / "data" / "benchmarks" / "optimizer.json").write_text(json.dumps(result))
    nb = nbformat.read(ROOT / "notebooks" / "04-benchmarks.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # times, optimizer against targets, gaps
    table = next(
        o["data"]["text/plain"]
        for o in outputs
        if "text/plain" in o.get("data", {}) and "measure" in o["data"]["text/plain"]
    )
    assert "cases.seconds_median" in table and "cases.timings.bounds" in table


def test_the_notebooks_extra_installs_what_the_notebooks_need() -> None:
    # `pip install -e ".[notebooks]"` must let a user open the notebooks (JupyterLab), run
    # them from the command line (nbconvert) and import everything their cells import.
    import ast
    import re
    import sys
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extra = {
        re.split(r"[<>=\[ ]", r)[0].lower() for r in project["optional-dependencies"]["notebooks"]
    }
    assert {"jupyterlab", "nbconvert", "ipykernel", "nbclient", "nbformat"} <= extra
    provided = (
        {re.split(r"[<>=\[ ]", r)[0].lower().replace("-", "_") for r in project["dependencies"]}
        | extra
        | {"planner"}
    )
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                for name in names:
                    top = name.split(".")[0]
                    assert top in sys.stdlib_module_names or top in provided, (path.name, top)
