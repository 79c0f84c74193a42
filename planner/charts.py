"""Text from the user's files on matplotlib charts: shown as written, never interpreted.

matplotlib reads a label with an even number of unescaped ``$`` as mathematics (a host named
``HV$\\x$01`` makes it raise while drawing), and a name may hold control characters (a
newline splits a tick label, an escape byte draws nothing).  :func:`chart_text` is the one
escape every label taken from data goes through, in :mod:`planner.compare` and
:mod:`planner.htmlreport`:

* each ``$`` becomes ``\\$``: matplotlib then counts no unescaped dollar, draws the text as
  plain text and turns every ``\\$`` back into ``$`` (other backslashes are drawn as they
  are), so the label shows exactly the name;
* control characters (Unicode category ``Cc``: C0, DEL, C1) and the bidirectional overrides
  are shown escaped (``\\x1b``, ``\\u202e``), as the terminal output shows them.

:func:`render_png` draws a figure with TeX switched off (``text.usetex`` from a user's
matplotlibrc would otherwise hand every label to LaTeX).
"""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

#: Format characters that reorder the text around them (Trojan-source style).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _visible(ch: str) -> str:
    if unicodedata.category(ch) == "Cc" or ch in _BIDI:
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


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
    text = "".join(_visible(ch) for ch in str(s))
    return text.replace("$", r"\$")


def render_png(fig: Figure, target: str | Path | io.BytesIO, dpi: int = 96) -> None:
    """Draw ``fig`` as PNG into ``target`` (a path or a buffer), without TeX and without the
    ``Software`` metadata (so the same figure gives the same bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with matplotlib.rc_context({"text.usetex": False}):
        fig.savefig(target, format="png", dpi=dpi, metadata={"Software": None})


__all__ = ["chart_text", "render_png"]
