"""The compiled kernels (planner.kernels): defined once, compiled lazily.

* Importing hvplan's evaluator does not import numba, and nothing is compiled until a kernel
  runs.
* Without numba the very same kernel functions run as plain Python and agree with the NumPy
  engine (so the one definition is checked without compiling anything).
* Every integer placement type reaches the kernels as one of three types.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from planner.evaluate import KERNEL_DTYPES, kernel_batch

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_importing_the_evaluator_neither_imports_numba_nor_compiles() -> None:
    out = _run(
        """
        import sys
        import planner.evaluate, planner.history.loads, planner.replay
        print("numba" in sys.modules)
        """
    )
    assert out == "False"


def test_kernels_without_numba_run_as_python_and_agree_with_numpy() -> None:
    out = _run(
        """
        import importlib.util, json
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda n, *a: None if n == "numba" else real(n, *a)
        import numpy as np
        from planner import kernels
        from planner.evaluate import _numba_pass, evaluate
        from planner.generate import GeneratorOptions, generate_cluster
        from planner.history.loads import Timeline, sample_loads
        from planner.history.synthetic import synthetic_history
        assert not kernels.HAVE_NUMBA
        c = generate_cluster(GeneratorOptions(hosts=6, vms=60, seed=2, hot_fraction=0.5))
        rng = np.random.default_rng(0)
        batch = rng.integers(0, 6, (5, 60)).astype(np.int32)
        batch[0] = c.vm_host
        ref = evaluate(c, batch, engine="numpy")
        cpu, mem, checks = _numba_pass(c, batch, True)  # the kernels, as Python
        same = bool(
            (cpu + c.host_cpu_base_milli == ref.cpu_milli).all()
            and (mem + c.host_memory_reserve_mb == ref.memory_used_mb).all()
        )
        rules = checks[:, :5].sum()
        h = synthetic_history(c, 8)
        tl = Timeline.from_moves(c.vm_host, [(3, 0, int((c.vm_host[0] + 1) % 6))])
        init = tl.initial[None, :]
        events = (tl.move_sample, tl.move_vm, tl.move_host.astype(np.int32),
                  np.array([0, 1], dtype=np.int64))
        packed = kernels.timeline_sums(h.vm_cpu_milli, h.vm_mem_mb, init, events, 6)
        np_loads = sample_loads(c, h, [tl], engine="numpy")
        same_t = bool(
            ((packed & 0xFFFFFFFF) + h.host_cpu_base_milli == np_loads.cpu_milli).all()
        )
        print(json.dumps([same, int(rules), same_t]))
        """
    )
    same, rules, same_t = __import__("json").loads(out)
    assert same and same_t
    assert rules > 0  # the random rows break rules: the checks ran


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64, np.uint64, np.intp])
def test_other_integer_types_reach_the_kernels_as_int32(dtype: type) -> None:
    p = np.array([[0, 1, 2]], dtype=dtype)
    q = kernel_batch(p, 3)
    assert q.dtype == np.int32 and (q == p).all()


@pytest.mark.parametrize("dtype", KERNEL_DTYPES)
def test_kernel_types_pass_unchanged(dtype: np.dtype) -> None:
    p = np.array([[0, 1, 2]], dtype=dtype)
    assert kernel_batch(p, 3) is p


def test_a_host_index_that_would_wrap_is_refused_before_converting() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        kernel_batch(np.array([[0, 1, 2**32]], dtype=np.int64), 3)
