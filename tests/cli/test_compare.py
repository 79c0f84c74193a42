"""``hvplan compare`` in the cluster's own AutoBalancerMode (issue 11 item 5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.compare import IF_ON, NATIVE_JOIN_ONLY, NATIVE_OFF, CompareOptions, compare
from planner.snapshot import load_snapshot

SMALL4 = Path(__file__).resolve().parents[2] / "data" / "examples" / "small4"


def _with_mode(tmp_path: Path, mode: int) -> Path:
    d = tmp_path / f"mode{mode}"
    shutil.copytree(SMALL4, d)
    f = d / "cluster.csv"
    header, row = f.read_text().splitlines()[:2]
    cells = row.split(",")
    cells[header.split(",").index("auto_balancer_mode")] = str(mode)
    f.write_text(header + "\n" + ",".join(cells) + "\n")
    return d


def test_mode_0_says_the_balancer_is_off_and_labels_what_it_would_do(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["compare", str(_with_mode(tmp_path, 0)), "--json", "--time-limit", "5"]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    rows = {s["name"]: s for s in d["strategies"]}
    off = rows[NATIVE_OFF]
    assert off["kind"] == "native-off" and off["moves"] == 0 and off["status"] == "off"
    # Node Fairness rows exist only as what it would do if turned on, clearly named.
    nf = [n for n in rows if n.startswith("node-fairness")]
    assert nf and all(n.endswith(IF_ON) for n in nf)
    assert all("if Node Fairness were turned on" in rows[n]["description"] for n in nf)
    # SCVMM Dynamic Optimization does not depend on the mode: simulated as usual.
    assert any(n.startswith("dynamic-optimization") and IF_ON not in n for n in rows)
    assert any("AutoBalancerMode 0" in n and IF_ON in n for n in d["notes"])
    assert NATIVE_OFF not in {a["strategy"] for a in d["advantages"]}


@pytest.mark.parametrize("mode", [1, 2])
def test_mode_1_acts_only_on_join_and_mode_2_is_simulated(tmp_path: Path, mode: int) -> None:
    c = load_snapshot(_with_mode(tmp_path, mode))
    res = compare(c, CompareOptions(include_optimizer=False))
    names = [r.name for r in res.rows]
    if mode == 1:
        assert names[0] == NATIVE_JOIN_ONLY and res.rows[0].moves == 0
        assert any("node joins" in n for n in res.notes)
        assert all(IF_ON in n for n in names if n.startswith("node-fairness"))
    else:
        assert NATIVE_OFF not in names and NATIVE_JOIN_ONLY not in names
        assert not any(IF_ON in n for n in names) and not res.notes
