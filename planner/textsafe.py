"""Names are data: safe display on a terminal and safe CSV cells.

Host, VM, rule and cluster names come from the user's files (ultimately from whoever may
name a VM on the cluster).  hvplan never lets such a name act as anything but text:

* :func:`term_safe` is applied to every name (and any other text taken from the files)
  before it reaches a human-readable output (terminal tables, messages, logs).  Control
  characters -- C0 (including ESC, so no colour or clear-screen sequence gets through), DEL,
  C1, the Unicode line/paragraph separators and the bidirectional overrides, embeddings,
  isolates and marks (which can make a name display as something else) -- are shown
  escaped as ``\\x1b``, ``\\n``, ``\\u202e`` and so on.  The result is for display only:
  it is not meant to be parsed back.
* :func:`csv_cell` / :func:`csv_uncell` are the spreadsheet-formula defence (OWASP "CSV
  injection"): a text cell that starts with ``=``, ``+``, ``-``, ``@``, TAB or CR is written
  with a leading ``'`` so a spreadsheet shows it as text instead of evaluating it; a cell
  that already starts with ``'`` gets one more ``'``.  So ``csv_uncell(csv_cell(s)) == s``
  for every string: hvplan's own readers undo the quote and round trips are exact.

**Rule: apply** :func:`csv_cell` **to text cells only.**  Numbers written by hvplan (step,
wave, memory_mb, loads, including negative numbers such as ``-1``) are written as numbers
and never quoted; a reader must call :func:`csv_uncell` only on the columns it knows to be
text (names, reasons, lists of names).  :func:`csv_row` applies that rule to one row: it
quotes ``str`` values and passes ``int``/``float``/``bool``/``None`` through unchanged.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

__all__ = ["FORMULA_PREFIXES", "csv_cell", "csv_row", "csv_uncell", "term_safe"]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: Format characters that change how text around them is displayed (bidi controls).
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _unsafe(ch: str) -> bool:
    """True for a character that must not reach a terminal as itself."""
    if ch in _BIDI_CONTROLS:
        return True
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs")


def _escape(ch: str) -> str:
    """The visible escape of one unsafe character (``\\x1b``, ``\\n``, ``\\u202e``)."""
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def term_safe(s: str) -> str:
    """Text with every control character shown escaped, safe to print on a terminal.

    Parameters
    ----------
    s
        Any text, typically a name from the user's files.

    Returns
    -------
    str
        ``s`` unchanged when it holds no control characters; otherwise each control
        character (C0 incl. ESC, DEL, C1, U+2028/U+2029, lone surrogates, bidi overrides,
        embeddings, isolates and marks) replaced by a visible escape such as ``\\x1b``,
        ``\\n``, ``\\t`` or ``\\u202e``.

    Examples
    --------
    >>> term_safe("HV01")
    'HV01'
    >>> term_safe("evil\\x1b[2J")
    'evil\\\\x1b[2J'
    """
    if all(not _unsafe(ch) for ch in s):
        return s
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in s)


def csv_cell(s: str) -> str:
    """A text cell made safe against spreadsheet formula injection (reversible).

    Parameters
    ----------
    s
        The text of one CSV cell (a name, a reason, a list of names).  Apply to text cells
        only: numbers written by hvplan are never passed through this function.

    Returns
    -------
    str
        ``"'" + s`` when ``s`` starts with ``=``, ``+``, ``-``, ``@``, TAB, CR or ``'``;
        else ``s``.  :func:`csv_uncell` undoes it exactly.
    """
    if s and (s[0] in FORMULA_PREFIXES or s[0] == "'"):
        return "'" + s
    return s


def csv_uncell(s: str) -> str:
    """The text of a cell written by :func:`csv_cell` (one leading ``'`` removed).

    Parameters
    ----------
    s
        A text cell as read from a CSV file that hvplan wrote.

    Returns
    -------
    str
        ``s`` without its first character when that is ``'``; else ``s``.
        ``csv_uncell(csv_cell(x)) == x`` for every string ``x``.
    """
    if s.startswith("'"):
        return s[1:]
    return s


def csv_row(values: Iterable[object]) -> list[object]:
    """One CSV row with :func:`csv_cell` applied to its text cells only.

    Parameters
    ----------
    values
        The row's values: ``str`` values are text cells and get the formula defence;
        numbers (``int``, ``float``, numpy scalars), booleans and ``None`` pass unchanged,
        so a negative number is never quoted.

    Returns
    -------
    list[object]
        The row, ready for :class:`csv.writer`.
    """
    return [csv_cell(v) if isinstance(v, str) else v for v in values]
