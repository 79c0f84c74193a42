"""Small HTML building blocks of the report: every text is escaped here, in one place.

``esc`` is :func:`html.escape` with quotes; :func:`table`, :func:`note`, :func:`cards`,
:func:`section` and :func:`alert` escape every cell, title and value they are given, so a
name from the user's files is always data on the page.  Control characters, which HTML
cannot show, are written escaped (``\\x1b``, :func:`planner.textsafe.term_safe`) as on the
terminal.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from planner.textsafe import term_safe


def esc(x: object) -> str:
    """``x`` as HTML text (also safe inside a quoted attribute)."""
    return html.escape(term_safe(str(x)), quote=True)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], classes: Sequence[str] | None = None
) -> str:
    """An HTML table; every cell is escaped.  ``classes`` gives an optional row class."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{esc(classes[i])}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(anchor: str, title: str, body: str) -> str:
    """A titled ``<section>`` (``body`` is HTML built by these helpers)."""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def note(text: str) -> str:
    """A paragraph of explanatory text."""
    return f'<p class="note">{esc(text)}</p>'


def alert(title: str, lines: Sequence[str]) -> str:
    """A prominent red box: ``title`` and a list of ``lines``."""
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    return (
        f'<div class="alert" role="alert"><strong>{esc(title)}</strong>'
        + (f"<ul>{items}</ul>" if items else "")
        + "</div>"
    )


def cards(items: Sequence[tuple[str, object]]) -> str:
    """Key figures as cards: value large, caption small."""
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in items)
        + "</div>"
    )


def cell(v: object) -> str:
    """A value as table text: floats to one decimal, lists joined with ``;``."""
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.1f}"
    if isinstance(v, list | tuple):
        return "; ".join(str(x) for x in v)
    return str(v)


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1a202c;
background:#f7fafc}
header{background:#1a365d;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;opacity:.85}
nav{padding:8px 28px;background:#e2e8f0;font-size:14px}
nav a{margin-right:14px;color:#1a365d}
main{padding:8px 28px 40px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:12px 18px;
margin:16px 0}
h2{font-size:19px;margin:4px 0 10px;color:#1a365d}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #cbd5e0;border-radius:6px;padding:8px 14px;min-width:140px;
background:#f7fafc}
.card b{display:block;font-size:20px}
.card span{font-size:12px;color:#4a5568}
.alert{background:#fff5f5;border:2px solid #c53030;color:#742a2a;border-radius:6px;
padding:12px 18px;margin:16px 0;font-size:15px}
.alert ul{margin:6px 0 0;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #e2e8f0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#edf2f7}
tr.bad td{background:#fff5f5}
tr.good td{background:#f0fff4}
img.chart{max-width:100%;height:auto;display:block;margin:6px 0}
.note{color:#4a5568;font-size:13px}
li{font-size:14px}
footer{color:#718096;font-size:12px;padding:0 28px 20px}
"""

__all__ = ["CSS", "alert", "cards", "cell", "esc", "note", "section", "table"]
