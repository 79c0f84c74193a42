"""The PowerShell collector that exports a live cluster as a snapshot.

The script ships inside the package (``planner/resources/Export-ClusterState.ps1``) and is
written out by ``hvplan collector --out FILE``.  Run on a cluster node, it writes the CSV files
of SPEC §1 (with ``-HistoryTimeFrame`` or ``-HistorySampleCount`` also ``vm_history.csv`` and
``host_history.csv``).  The helpers below also read the script's own declarations (the column
list of each file, the hashtables it fills, its processor-name → catalog-model table) so that
tests can hold the script and the loader to the same contract without a PowerShell interpreter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

#: Name of the script inside ``planner.resources``.
SCRIPT_NAME = "Export-ClusterState.ps1"

#: The script variable holding each file's column list.
COLUMN_VARIABLES = {
    "cluster.csv": "ClusterColumns",
    "hosts.csv": "HostColumns",
    "vms.csv": "VmColumns",
    "affinity_rules.csv": "RuleColumns",
    "networks.csv": "NetworkColumns",
    "vm_history.csv": "VmHistoryColumns",
    "host_history.csv": "HostHistoryColumns",
}


def collector_script() -> str:
    """Return the text of the collector script shipped with hvplan."""
    return resources.files("planner.resources").joinpath(SCRIPT_NAME).read_text(encoding="utf-8")


def write_collector(path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the collector script to ``path`` with Windows line ends.

    Raises :class:`FileExistsError` when ``path`` exists and ``overwrite`` is false, and
    :class:`IsADirectoryError` when it is a directory.
    """
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a directory; give a file name such as {p / SCRIPT_NAME}")
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} already exists; use --force to replace it")
    text = collector_script().replace("\r\n", "\n").replace("\n", "\r\n")
    # The script is pure ASCII, so Windows PowerShell 5.1 reads it the same with or without
    # a byte-order mark, whatever the system code page.
    p.write_bytes(text.encode("ascii"))
    return p


_ARRAY_RE = r"\$%s\s*=\s*@\((?P<body>.*?)\)"
_QUOTED_RE = re.compile(r"'((?:[^']|'')*)'")
_ROW_RE = re.compile(
    r"\[ordered\]@\{\s*#\s*(?P<file>[\w.]+\.csv)[^\n]*\n(?P<body>.*?)\n\s*\}", re.DOTALL
)
_KEY_RE = re.compile(r"^\s*(\w+)\s*=", re.MULTILINE)
_PATTERN_RE = re.compile(r"@\('((?:[^']|'')*)',\s*'([^']*)'\)")


def _unquote(s: str) -> str:
    return s.replace("''", "'")


def script_columns(text: str | None = None) -> dict[str, tuple[str, ...]]:
    """The column list the script declares for each snapshot file (file name → columns)."""
    src = collector_script() if text is None else text
    out: dict[str, tuple[str, ...]] = {}
    for fname, var in COLUMN_VARIABLES.items():
        m = re.search(_ARRAY_RE % var, src, re.DOTALL)
        if m is None:
            raise ValueError(f"the collector script does not declare ${var}")
        out[fname] = tuple(_unquote(q) for q in _QUOTED_RE.findall(m.group("body")))
    return out


@dataclass(frozen=True)
class ScriptRow:
    """One ``[ordered]@{ # file.csv ... }`` row the script builds, with its keys in order."""

    file: str
    keys: tuple[str, ...]


def script_rows(text: str | None = None) -> list[ScriptRow]:
    """Every row hashtable the script builds, tagged by the file it goes to."""
    src = collector_script() if text is None else text
    return [
        ScriptRow(m.group("file"), tuple(_KEY_RE.findall(m.group("body"))))
        for m in _ROW_RE.finditer(src)
    ]


def script_cpu_patterns(text: str | None = None) -> list[tuple[str, str]]:
    """The script's ordered (regular expression, catalog model) table for processor names."""
    src = collector_script() if text is None else text
    m = re.search(r"\$CpuModelPatterns\s*=\s*@\((?P<body>.*?)\n\)", src, re.DOTALL)
    if m is None:
        raise ValueError("the collector script does not declare $CpuModelPatterns")
    return [(_unquote(a), b) for a, b in _PATTERN_RE.findall(m.group("body"))]


def match_cpu_model(processor_name: str, text: str | None = None) -> str:
    """The catalog model the script picks for a processor name ('' when none).

    PowerShell's ``-match`` is case-insensitive; the patterns use only the regular-expression
    syntax that .NET and Python share.
    """
    for pattern, model in script_cpu_patterns(text):
        if re.search(pattern, processor_name, re.IGNORECASE):
            return model
    return ""
