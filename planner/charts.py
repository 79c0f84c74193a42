"""Text from the user's files on matplotlib charts: shown as written, never interpreted.

matplotlib reads a label with an even number of unescaped ``$`` as mathematics (a host named
``HV$\\x$01`` makes it raise while drawing), and a name may hold control characters (a
newline splits a tick label, an escape byte draws nothing).  :func:`chart_text` is the one
escape every label taken from data goes through, in :mod:`planner.compare` and
:mod:`planner.htmlreport`:

* each ``$`` becomes ``\\$``: matplotlib then counts no unescaped dollar, draws the text as
  plain text and turns every ``\\$`` back into ``$`` (other backslashes are drawn as they
  are), so the label shows exactly the name;
* control characters and bidirectional controls are shown escaped (``\\x1b``, ``\\u202e``)
  by :func:`planner.textsafe.term_safe`, as the terminal output shows them.

:func:`render_png` draws a figure with TeX switched off (``text.usetex`` from a user's
matplotlibrc would otherwise hand every label to LaTeX).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from planner.textsafe import term_safe


def chart_text(s: object) -> str:
    """``s`` as a matplotlib label that shows exactly its characters.

    Parameters
    ----------
    s:
        A name or any text from the user's files (converted with ``str``).

    Returns
    -------
    str
        The text with ``$`` escaped for matplotlib and control characters shown escaped.
    """
    return term_safe(str(s)).replace("$", r"\$")


def render_png(fig: Figure, target: str | Path | io.BytesIO, dpi: int = 96) -> None:
    """Draw ``fig`` as PNG into ``target`` (a path or a buffer), without TeX and without the
    ``Software`` metadata (so the same figure gives the same bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with matplotlib.rc_context({"text.usetex": False}):
        fig.savefig(target, format="png", dpi=dpi, metadata={"Software": None})


__all__ = ["chart_text", "render_png"]
