"""Integer rounding: loads read as floats become whole units (milli-LP, MB) at the input
edge, and the one ceiling division of integer loads and percentages."""

from __future__ import annotations

from typing import overload

import numpy as np

#: Float noise that :func:`units_up` does not round up: an absolute part (``4 * 12.5 * 10``
#: is 500) and a relative one of two float32 steps (history files often store percentages
#: as float32, so 7.225 % of 4 vCPUs reads back as 289.00002 milli-processors, not 290).
ROUND_UP_TOLERANCE = 1e-6
ROUND_UP_RELATIVE = 2.4e-7


def units_up(x: np.ndarray) -> np.ndarray:
    """``x`` (milli-LP or MB, as floats) rounded *up* to whole units, as float.

    The input edge rounds every load up, so that a node whose whole-unit sum meets a limit
    also meets it by the contract's formula on the unrounded values (SPEC §2: a node packed
    to the threshold is never above it by rounding), up to the float noise allowed by
    :data:`ROUND_UP_TOLERANCE` and :data:`ROUND_UP_RELATIVE`.
    """
    a = np.asarray(x, dtype=np.float64)
    return np.ceil(a - (ROUND_UP_TOLERANCE + ROUND_UP_RELATIVE * np.abs(a)))


@overload
def ceil_div(a: np.ndarray, b: np.ndarray | int) -> np.ndarray: ...
@overload
def ceil_div(a: int | np.integer, b: np.ndarray) -> np.ndarray: ...
@overload
def ceil_div(a: int | np.integer, b: int | np.integer) -> int: ...
def ceil_div(a, b):  # type: ignore[no-untyped-def]
    """``ceil(a / b)`` in exact integer arithmetic, element-wise for arrays (a Python
    ``int`` for two scalars)."""
    q = -((-a) // b)
    return q if isinstance(q, np.ndarray) else int(q)


__all__ = ["ROUND_UP_RELATIVE", "ROUND_UP_TOLERANCE", "ceil_div", "units_up"]
