"""Read, validate and write cluster snapshots (a directory of CSV files, SPEC §1).

:func:`read_snapshot` never raises for problems in the user's files: it returns the cluster
(or ``None``) and a :class:`~planner.diagnostics.Report` listing *every* problem found, each
with file, spreadsheet row, column, value and what was expected.  :func:`load_snapshot` is the
convenience form that raises :class:`~planner.diagnostics.InvalidInput` when there are errors.

What the reader accepts, beyond the letter of SPEC §1 (each documented where it is done):

* Windows PowerShell 5 ``Export-Csv`` output as is: byte-order mark, every field quoted, CRLF
  line ends, and the ``#TYPE ...`` first line written without ``-NoTypeInformation`` (it is
  skipped but still counted, so row numbers match what a spreadsheet shows).
* UTF-16 with a byte-order mark (``Out-File`` / ``>`` in PowerShell 5) is read with a warning.
* File names in any case (``Hosts.csv``); ``$true``/``$false`` as booleans; an unnamed, empty
  trailing column (a spreadsheet's trailing comma) is ignored with a warning.

What it refuses with a precise message (never a traceback): missing files or columns, a
missing header row, ``;``- or tab-separated files, binary or non-UTF-8 files, fields over
``MAX_FIELD_CHARS``, rows with more fields than the header, an unclosed quote (a value that
spans lines), bad types, ranges and enum values, case-insensitive duplicate names, unknown
hosts, owners and rule members.  Whole-cluster checks follow (VMs that fit no host or none of
their Up possible owners, pinned VMs that contradict owners or rules, SameNode/DifferentNode
and SameFaultDomain/DifferentFaultDomain contradictions, transitively, DifferentNode /
DifferentFaultDomain / enforced anti-affinity groups with more running members than hosts or
fault domains can take, SameNode / SameFaultDomain groups that fit nowhere); they also run
on the good rows when other rows are bad, so one pass shows every problem.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    ANY_CONFIG_VERSION,
    COMPAT_NAMES,
    CPU_UNITS,
    DEFAULT_MAX_RUNNING_VMS,
    RULE_TYPE_NAMES,
    VENDOR_CPUID,
    VM_STATE_NAMES,
    Cluster,
    ClusterSettings,
    CompatMode,
    HostState,
    Network,
    NetworkRole,
    Rule,
    RuleType,
    Vendor,
    VmState,
    default_memory_reserve_mb,
)
from planner.diagnostics import InvalidInput, Report
from planner.history.reader import load_history

#: Longest accepted field, in characters.  Longer ones are reported, not parsed.
MAX_FIELD_CHARS = 65_536
#: Largest accepted file.
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Documented Hyper-V scale limits (Windows Server 2022/2025); above them we warn.
MAX_NODES = 64
MAX_VMS = 8000
MAX_RUNNING_VMS_PER_HOST = 1024
MAX_LOGICAL_PROCESSORS = 2048
#: Upper bounds that keep every sum in int64 (and far above any real cluster): they turn a
#: typo such as an extra row of digits into a clear message instead of an overflow.
MAX_MEMORY_MB = 2**36  # 64 PB
MAX_COUNT = 1_000_000  # logical processors, vCPUs
MAX_MIGRATIONS = 1000
MAX_ORDER = 1_000_000_000

FILES = ("cluster.csv", "hosts.csv", "vms.csv", "affinity_rules.csv", "networks.csv")
#: Optional load-history files; they belong to the snapshot (and to its sha256).
HISTORY_FILES = ("vm_history.csv", "vm_history.parquet", "host_history.csv",
                 "host_history.parquet")


class _Bad(ValueError):
    """A cell value that does not parse; the message says what was expected."""


# ----------------------------------------------------------------------------- cell parsers
Parser = Callable[[str], Any]


def _text(s: str) -> str:
    if not s:
        raise _Bad("a non-empty text")
    return s


def _number(s: str, exp: str) -> float:
    """``float(s)`` or :class:`_Bad` with a hint for the usual spreadsheet slips."""
    try:
        return float(s)
    except ValueError:
        pass
    if "," in s:
        try:
            float(s.replace(",", "."))
        except ValueError:
            pass
        else:
            raise _Bad(f"{exp}, with a dot as the decimal separator") from None
    if s.endswith("%"):
        raise _Bad(f"{exp}, without the % sign") from None
    raise _Bad(exp) from None


def _int(lo: int | None = None, hi: int | None = None) -> Parser:
    def parse(s: str) -> int:
        # Fast path for plain integers; ``float`` accepts what PowerShell may write ("4.0").
        try:
            v = int(s)
        except ValueError:
            f = _number(s, _range_text("an integer", lo, hi))
            if not math.isfinite(f) or f != int(f):
                raise _Bad(_range_text("an integer", lo, hi)) from None
            v = int(f)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Bad(_range_text("an integer", lo, hi))
        return v

    return parse


def _num(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Parser:
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            v = _number(s, _range_text("a number", lo, hi, lo_open))
        if (not math.isfinite(v) or (lo is not None and (v < lo or (lo_open and v == lo)))
                or (hi is not None and v > hi)):
            raise _Bad(_range_text("a number", lo, hi, lo_open))
        return v

    return parse


def _bound(x: float) -> str:
    """A range bound as people write it: ``1``, ``100``, ``68719476736``, ``0.5``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _range_text(kind: str, lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    if lo is not None and hi is not None:
        if lo_open:
            return f"{kind} > {_bound(lo)} and <= {_bound(hi)}"
        return f"{kind} from {_bound(lo)} to {_bound(hi)}"
    if lo is not None:
        return f"{kind} {'>' if lo_open else '>='} {_bound(lo)}"
    if hi is not None:
        return f"{kind} <= {_bound(hi)}"
    return kind


# PowerShell writes True/False; "$true"/"$false" is what people type in a console.
_BOOLS = {"true": True, "1": True, "yes": True, "$true": True,
          "false": False, "0": False, "no": False, "$false": False}


def _bool(s: str) -> bool:
    try:
        return _BOOLS[s.lower()]
    except KeyError:
        raise _Bad("true/false, 1/0 or yes/no") from None


def _enum(mapping: dict[str, Any], shown: str) -> Parser:
    norm = {k.replace(" ", "").casefold(): v for k, v in mapping.items()}

    def parse(s: str) -> Any:
        key = s.replace(" ", "").casefold()
        if key in norm:
            return norm[key]
        try:
            f = float(s)
        except ValueError:
            raise _Bad(f"one of {shown}") from None
        if math.isfinite(f) and f == int(f) and str(int(f)) in norm:
            return norm[str(int(f))]
        raise _Bad(f"one of {shown}")

    return parse


_TIME_EXPECTED = "an ISO 8601 time such as 2026-12-01T08:30:00Z"


def _timestamp(s: str) -> str:
    """ISO 8601 time → the same instant in UTC as ``YYYY-MM-DDTHH:MM:SSZ``.  A time without
    an offset is taken as UTC (the column is named ``_utc``)."""
    if not s.isascii():
        raise _Bad(_TIME_EXPECTED)
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        raise _Bad(_TIME_EXPECTED) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list(s: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in s.split(";") if item.strip())


_HOST_STATE = _enum({"Up": HostState.UP, "Paused": HostState.PAUSED, "Down": HostState.DOWN},
                    "Up, Paused, Down")
_VENDOR = _enum(
    {
        "GenuineIntel": Vendor.INTEL,
        "Intel": Vendor.INTEL,
        "AuthenticAMD": Vendor.AMD,
        "AMD": Vendor.AMD,
        "HygonGenuine": Vendor.HYGON,
        "Hygon": Vendor.HYGON,
    },
    "GenuineIntel, AuthenticAMD (or Intel, AMD; HygonGenuine)",
)
_VM_STATE = _enum(
    {"Running": VmState.RUNNING, "Off": VmState.OFF, "Saved": VmState.SAVED,
     "Paused": VmState.PAUSED},
    "Running, Off, Saved, Paused",
)
_PRIORITY = _enum(
    {"High": 3000, "Medium": 2000, "Low": 1000, "NoAutoStart": 0,
     "3000": 3000, "2000": 2000, "1000": 1000, "0": 0},
    "High, Medium, Low, NoAutoStart (or 3000, 2000, 1000, 0)",
)
_COMPAT = _enum(
    {"None": CompatMode.NONE, "MinimumFeatureSet": CompatMode.MINIMUM,
     "CommonClusterFeatureSet": CompatMode.COMMON},
    "None, MinimumFeatureSet, CommonClusterFeatureSet",
)
_RULE_TYPE = _enum(
    {"SameFaultDomain": RuleType.SAME_FAULT_DOMAIN, "SameNode": RuleType.SAME_NODE,
     "DifferentFaultDomain": RuleType.DIFFERENT_FAULT_DOMAIN,
     "DifferentNode": RuleType.DIFFERENT_NODE,
     "1": RuleType.SAME_FAULT_DOMAIN, "2": RuleType.SAME_NODE,
     "3": RuleType.DIFFERENT_FAULT_DOMAIN, "4": RuleType.DIFFERENT_NODE},
    "SameNode, DifferentNode, SameFaultDomain, DifferentFaultDomain (or 2, 4, 1, 3)",
)
_ROLE = _enum(
    {"None": NetworkRole.NONE, "Cluster": NetworkRole.CLUSTER,
     "ClusterAndClient": NetworkRole.CLUSTER_AND_CLIENT,
     "0": NetworkRole.NONE, "1": NetworkRole.CLUSTER, "3": NetworkRole.CLUSTER_AND_CLIENT},
    "None, Cluster, ClusterAndClient (or 0, 1, 3)",
)
_BAL_MODE = _enum({"0": 0, "1": 1, "2": 2, "Disabled": 0, "LoadBalanceOnNodeJoin": 1,
                   "LoadBalanceAlways": 2}, "0, 1, 2")
_BAL_LEVEL = _enum({"1": 1, "2": 2, "3": 3, "Low": 1, "Medium": 2, "High": 3},
                   "1, 2, 3 (Low, Medium, High)")


@dataclass(frozen=True)
class Col:
    """Declaration of one CSV column: parser, whether required, default when empty."""

    name: str
    parse: Parser
    required: bool = False
    default: Any = None


CLUSTER_COLS = (
    Col("name", _text),
    Col("auto_balancer_mode", _BAL_MODE, default=2),
    Col("auto_balancer_level", _BAL_LEVEL, default=1),
    Col("maximum_parallel_migrations", _int(1, MAX_MIGRATIONS)),
    Col("enforced_anti_affinity", _bool, default=False),
    Col("collected_utc", _timestamp),
)
HOST_COLS = (
    Col("name", _text, required=True),
    Col("state", _HOST_STATE, default=HostState.UP),
    Col("fault_domain", _text),
    Col("cpu_vendor", _VENDOR, required=True),
    Col("cpu_model", _text, default=""),
    Col("cpu_features", _list),
    Col("logical_processors", _int(1, MAX_COUNT), required=True),
    Col("memory_mb", _int(1, MAX_MEMORY_MB), required=True),
    Col("memory_reserve_mb", _int(0, MAX_MEMORY_MB)),
    Col("cpu_base_pct", _num(0, 100), default=0.0),
    Col("max_vm_migrations", _int(1, MAX_MIGRATIONS), default=2),
    Col("max_config_version", _num(0, 1000, lo_open=True)),
    Col("max_running_vms", _int(1, MAX_COUNT), default=DEFAULT_MAX_RUNNING_VMS),
)
VM_COLS = (
    Col("name", _text, required=True),
    Col("host", _text, required=True),
    Col("state", _VM_STATE, default=VmState.RUNNING),
    Col("priority", _PRIORITY, default=2000),
    Col("vcpus", _int(1, MAX_COUNT), required=True),
    Col("memory_mb", _int(1, MAX_MEMORY_MB), required=True),
    Col("dynamic_memory", _bool, default=False),
    Col("memory_startup_mb", _int(1, MAX_MEMORY_MB)),
    Col("memory_minimum_mb", _int(1, MAX_MEMORY_MB)),
    Col("memory_maximum_mb", _int(1, MAX_MEMORY_MB)),
    Col("cpu_usage_pct", _num(0, 100), default=0.0),
    Col("config_version", _num(0, 1000, lo_open=True), default=10.0),
    Col("compat_mode", _COMPAT, default=CompatMode.NONE),
    Col("possible_owners", _list, default=()),
    Col("preferred_owners", _list, default=()),
    Col("anti_affinity_class_names", _list, default=()),
    Col("allow_downtime", _bool, default=False),
    Col("pinned", _bool, default=False),
)
RULE_COLS = (
    Col("name", _text, required=True),
    Col("rule_type", _RULE_TYPE, required=True),
    Col("enabled", _bool, default=True),
    Col("groups", _list, default=()),
)
NETWORK_COLS = (
    Col("name", _text, required=True),
    Col("role", _ROLE, default=NetworkRole.CLUSTER_AND_CLIENT),
    Col("live_migration_order", _int(-MAX_ORDER, MAX_ORDER)),
    Col("bandwidth_gbps", _num(0, None, lo_open=True), default=10.0),
)


#: The columns of each snapshot file, in the order the loader reads the files.
COLUMNS: dict[str, tuple[Col, ...]] = {
    "cluster.csv": CLUSTER_COLS,
    "hosts.csv": HOST_COLS,
    "vms.csv": VM_COLS,
    "affinity_rules.csv": RULE_COLS,
    "networks.csv": NETWORK_COLS,
}


# ----------------------------------------------------------------------------- raw tables
@dataclass
class Table:
    """A CSV file as trimmed strings; ``rownum[i]`` is the spreadsheet row of record ``i``.

    ``skipped`` holds the rows that could not be split into the header's columns (already
    reported), keyed by column as far as they go, so that later checks can tell "a name
    on a broken row" from "an unknown name".
    """

    file: str
    header: dict[str, str]  # casefolded name -> name as written
    records: list[dict[str, str]]
    rownum: list[int]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def skipped_values(self, column: str) -> set[str]:
        """Casefolded values of ``column`` on the rows that were skipped."""
        return {r[column].casefold() for r in self.skipped if r.get(column)}


_CSV_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)
#: First line that Windows PowerShell's ``Export-Csv`` writes without ``-NoTypeInformation``.
_TYPE_LINE = "#TYPE"


def find_file(directory: Path, fname: str) -> Path:
    """``directory / fname``, or the entry whose name matches ignoring case (files copied
    from Windows are often ``Hosts.csv``); the plain path when there is neither."""
    p = directory / fname
    if p.exists():
        return p
    try:
        for entry in directory.iterdir():
            if entry.name.casefold() == fname:
                return entry
    except OSError:
        pass
    return p


def _misnamed_hint(directory: Path, fname: str) -> str:
    """``" (is vm.csv meant to be vms.csv?)"`` when a similar file name is present."""
    try:
        present = [e.name for e in directory.iterdir() if e.is_file()]
    except OSError:
        return ""
    others = [n for n in present if n.casefold() not in FILES]
    close = difflib.get_close_matches(fname, [n.casefold() for n in others], n=1, cutoff=0.7)
    if not close:
        return ""
    shown = next(n for n in others if n.casefold() == close[0])
    return f" (is {shown} meant to be {fname}?)"


def _decode(raw: bytes, fname: str, report: Report) -> str | None:
    """Bytes → text: UTF-8 with or without BOM; UTF-16 with a BOM is accepted with a
    warning (``Out-File`` and ``>`` in Windows PowerShell 5 write it)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            report.error(fname, "the file starts with a UTF-16 byte-order mark but is not "
                         "valid UTF-16; save it as UTF-8 (Export-Csv -Encoding UTF8)")
            return None
        report.warning(fname, "the file is UTF-16 encoded; it was read, but UTF-8 is the "
                       "expected encoding (Export-Csv -Encoding UTF8)")
        return text.lstrip("\ufeff")
    if b"\x00" in raw:
        report.error(fname, "this is a binary file, not a UTF-8 CSV text file")
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        report.error(fname, f"not valid UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                     f"{e.start}); save the file as UTF-8 (Export-Csv -Encoding UTF8)",
                     row=line)
        return None


def read_table(path: Path, report: Report, *, required: bool,
               columns: Sequence[str] = (), read: dict[str, bytes] | None = None
               ) -> Table | None:
    """Read one CSV file into a :class:`Table`, recording file-level problems.

    Accepts UTF-8 with or without a byte-order mark, CRLF or LF line ends, quoted or bare
    fields, and skips the ``#TYPE ...`` line of Windows PowerShell's ``Export-Csv``.  Blank
    lines are skipped but still counted, so row numbers are those a spreadsheet shows.
    ``columns`` (the names the file may have) lets a missing header row be recognised.
    ``read``, when given, receives the file's bytes under its name (for the snapshot hash).
    Returns ``None`` when the file is absent (an error if ``required``) or unreadable.
    """
    fname = path.name.casefold() if path.name.casefold() in FILES else path.name
    if not path.exists():
        if required:
            report.error(fname, f"required file is missing from {path.parent}"
                         + _misnamed_hint(path.parent, fname))
        return None
    if not path.is_file():
        report.error(fname, "expected a file, found a directory or special file")
        return None
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        report.error(fname, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
        return None
    try:
        raw = path.read_bytes()
    except OSError as e:
        report.error(fname, f"cannot read the file: {e.strerror or e}")
        return None
    if read is not None:
        read[fname] = raw
    text = _decode(raw, fname, report)
    if text is None:
        return None
    if not text.strip():
        report.error(fname, "file is empty; expected a header row and data rows")
        return None
    # Long fields are reported below with their row and column, so the csv module must not
    # stop at its own 128 KiB limit.  The limit is process-wide: only ever raise it (never
    # restore a lower value), so that snapshots read in parallel threads cannot race.
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    try:
        rows.extend(reader)
    except csv.Error as e:
        report.error(fname, f"not a readable CSV file: {e}", row=len(rows) + 1)
        return None
    # Drop blank lines but keep the row numbers a spreadsheet would show.
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if numbered and numbered[0][1][0].lstrip("\ufeff").startswith(_TYPE_LINE):
        numbered = numbered[1:]
    if not numbered:
        report.error(fname, "file is empty; expected a header row and data rows")
        return None
    hrow, header = numbered[0]
    header = [h.strip().lstrip("\ufeff").strip() for h in header]
    if len(header) == 1 and ";" in header[0]:
        report.error(fname, "the file uses ';' as the column separator; hvplan reads "
                     "comma-separated files (Export-Csv without -UseCulture, or "
                     "-Delimiter ',')", row=hrow, value=header[0])
        return None
    if len(header) == 1 and "\t" in header[0]:
        report.error(fname, "the file uses tabs as the column separator; hvplan reads "
                     "comma-separated files", row=hrow, value=header[0])
        return None
    if columns and not {h.casefold() for h in header} & {c.casefold() for c in columns}:
        report.error(fname, "none of the column names is known; is the header row missing? "
                     "Expected columns: " + ", ".join(columns), row=hrow,
                     value=",".join(header))
        return None
    body = numbered[1:]
    hmap: dict[str, str] = {}
    keys: list[str] = []
    ok = True
    for j, h in enumerate(header):
        if len(h) > MAX_FIELD_CHARS:
            report.error(fname, f"header field is longer than {MAX_FIELD_CHARS} characters",
                         row=hrow, value=h)
            ok = False
        elif not h:
            # A trailing comma (spreadsheets add them) gives an empty, unused column: ignore
            # it.  An empty name over data is an error: those values would be lost.
            if any(j < len(r) and r[j].strip() for _, r in body):
                report.error(fname, f"column {j + 1} has values but no name in the header",
                             row=hrow)
                ok = False
            else:
                report.warning(fname, f"column {j + 1} has no name and no values; ignored",
                               row=hrow)
        elif h.casefold() in hmap:
            report.error(fname, "column appears twice in the header (names ignore case)",
                         row=hrow, column=h)
            ok = False
        else:
            hmap[h.casefold()] = h
        keys.append(h.casefold())
    if not ok:
        return None
    records: list[dict[str, str]] = []
    rownum: list[int] = []
    skipped: list[dict[str, str]] = []
    width = len(keys)
    for num, r in body:
        rec = {k: c.strip() for k, c in zip(keys, r, strict=False) if k}
        if len(r) > width and any(c.strip() for c in r[width:]):
            report.error(fname, f"row has {len(r)} fields but the header has {width}; "
                         "is a value with a comma missing its quotes?", row=num,
                         value=",".join(r[width:]))
            skipped.append(rec)
            continue
        broken = False
        for k, cell in rec.items():
            if len(cell) > MAX_FIELD_CHARS:
                report.error(fname, f"value is {len(cell)} characters long; the limit is "
                             f"{MAX_FIELD_CHARS}", row=num, column=hmap[k], value=cell)
                rec[k] = ""
                broken = True
            elif "\n" in cell or "\r" in cell:
                # No column holds multi-line text: this is an unclosed quote that swallowed
                # the rows after it.
                report.error(fname, "value spans several lines: is a closing quote (\") "
                             "missing?", row=num, column=hmap[k], value=cell)
                broken = True
        if broken:
            skipped.append(rec)
            continue
        records.append(rec)
        rownum.append(num)
    return Table(fname, hmap, records, rownum, skipped)


def parse_columns(table: Table, cols: Sequence[Col], report: Report) -> list[dict[str, Any]]:
    """Parse every record's declared columns; bad cells are reported and set to ``None``.

    Missing required columns are reported once; unknown columns give a warning.  Each
    returned row has ``_row`` (spreadsheet row) and, when some cell was bad, ``_bad`` (the
    set of those column names).
    """
    known = {c.name for c in cols}
    unknown = [shown for key, shown in table.header.items() if key not in known]
    for shown in unknown:
        report.warning(table.file, "unknown column is ignored", column=shown)
    present = [c for c in cols if c.name in table.header]
    if table.header and not present:
        report.error(table.file, "none of the column names is known; is the header row "
                     "missing? Expected columns: " + ", ".join(c.name for c in cols),
                     row=None, value=",".join(table.header.values()))
    for c in cols:
        if c.required and c.name not in table.header:
            report.error(table.file, "required column is missing", column=c.name)
    absent = [c for c in cols if c.name not in table.header]
    out: list[dict[str, Any]] = []
    for rec, num in zip(table.records, table.rownum, strict=True):
        row: dict[str, Any] = {"_row": num}
        for c in absent:
            row[c.name] = c.default
        for c in present:
            s = rec.get(c.name, "")
            if s == "":
                if c.required:
                    report.error(table.file, "value is required", row=num,
                                 column=table.header[c.name], value="", expected="a value")
                    row.setdefault("_bad", set()).add(c.name)
                row[c.name] = c.default
                continue
            try:
                row[c.name] = c.parse(s)
            except _Bad as e:
                report.error(table.file, f"expected {e}", row=num,
                             column=table.header[c.name], value=s, expected=str(e))
                row[c.name] = None
                row.setdefault("_bad", set()).add(c.name)
        out.append(row)
    return out


# ----------------------------------------------------------------------------- the loader
class _UnionFind:
    def __init__(self, n: int) -> None:
        self.p = list(range(n))

    def find(self, a: int) -> int:
        while self.p[a] != a:
            self.p[a] = self.p[self.p[a]]
            a = self.p[a]
        return a

    def union(self, a: int, b: int) -> None:
        self.p[self.find(a)] = self.find(b)


def read_snapshot(
    directory: str | Path, catalog: CpuCatalog | None = None
) -> tuple[Cluster | None, Report]:
    """Read and validate a snapshot directory.

    Returns ``(cluster, report)``; ``cluster`` is ``None`` whenever the report has errors.
    Never raises for problems in the files.  Every problem is collected: cell-level ones
    (types, ranges, names), cross-file references, and the whole-cluster checks (VMs that fit
    no host, rule contradictions, ...).  When some rows are bad, the whole-cluster checks
    still run on the rows that are good, so one pass shows everything that is wrong.
    """
    d = Path(directory)
    report = Report()
    if not d.exists():
        report.error(str(d), "snapshot directory does not exist")
        return None, report
    if not d.is_dir():
        report.error(str(d), "expected a snapshot directory of CSV files, found a file")
        return None, report
    cat = catalog or default_catalog()
    read: dict[str, bytes] = {}
    tables = {
        f: read_table(find_file(d, f), report, required=f in ("hosts.csv", "vms.csv"),
                      columns=[c.name for c in cols], read=read)
        for f, cols in COLUMNS.items()
    }
    settings, cname = _cluster_settings(tables["cluster.csv"], d, report)
    hosts = _hosts(tables["hosts.csv"], cat, report)
    vms = _vms(tables["vms.csv"], hosts, report)
    rules = _rules(tables["affinity_rules.csv"], vms, report)
    networks = _networks(tables["networks.csv"], report)
    if hosts is None or vms is None:
        return None, report
    if report.valid:
        cluster = _build(cname, settings, hosts, vms, rules, networks, cat, d)
        _semantic_checks(cluster, vms, rules, report)
        history = load_history(d, cluster, report) if report.valid else None
        if not report.valid:
            return None, report
        return cluster.replace(history=history,
                               snapshot_sha256=snapshot_digest(d, read)), report
    if not any(p.file == hosts.file for p in report.errors) and hosts.rows:
        # Hosts are sound: check the sound VMs and rules as a whole too, so that the user
        # sees every problem in one pass.  Dropping bad rows can only hide whole-cluster
        # problems, never invent one.
        good_vms, good_rules = _good_subset(vms, rules, report)
        partial = _build(cname, settings, hosts, good_vms, good_rules, networks, cat, d)
        _semantic_checks(partial, good_vms, good_rules, report)
    return None, report


def snapshot_digest(directory: Path, read: dict[str, bytes] | None = None) -> str:
    """sha256 over the snapshot's files: for each present file of :data:`FILES` and
    :data:`HISTORY_FILES`, in order of name, its name, its size and its bytes.  ``read``
    holds the bytes of the files already read (they are hashed as read, not re-read)."""
    h = hashlib.sha256()
    for fname in sorted(FILES + HISTORY_FILES):
        raw = (read or {}).get(fname)
        path = find_file(directory, fname)
        if raw is None and not path.is_file():
            continue
        h.update(fname.encode() + b"\0")
        if raw is not None:
            h.update(str(len(raw)).encode() + b"\0" + raw)
            continue
        h.update(str(path.stat().st_size).encode() + b"\0")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def load_snapshot(directory: str | Path, catalog: CpuCatalog | None = None) -> Cluster:
    """Read a snapshot; raise :class:`InvalidInput` (with the full report) when invalid."""
    cluster, report = read_snapshot(directory, catalog)
    if cluster is None:
        raise InvalidInput(report)
    return cluster


def _cluster_settings(
    table: Table | None, d: Path, report: Report
) -> tuple[ClusterSettings, str]:
    name = d.resolve().name or "cluster"
    if table is None:
        return ClusterSettings(), name
    rows = parse_columns(table, CLUSTER_COLS, report)
    if not rows:
        return ClusterSettings(), name
    if len(rows) > 1:
        report.error(table.file, "cluster.csv must have exactly one data row",
                     row=rows[1]["_row"])
    r = rows[0]

    def val(key: str, default: Any) -> Any:
        return default if r[key] is None else r[key]

    settings = ClusterSettings(
        auto_balancer_mode=int(val("auto_balancer_mode", 2)),
        auto_balancer_level=int(val("auto_balancer_level", 1)),
        maximum_parallel_migrations=r["maximum_parallel_migrations"],
        enforced_anti_affinity=bool(val("enforced_anti_affinity", False)),
        collected_utc=r["collected_utc"],
    )
    if r["collected_utc"] is not None and r["collected_utc"] > datetime.now(UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"):
        report.warning(table.file, "collected_utc is in the future: is the collector's clock "
                       "right?", row=r["_row"], column="collected_utc", value=r["collected_utc"])
    return settings, r["name"] or name


@dataclass
class _Hosts:
    rows: list[dict[str, Any]]
    index: dict[str, int]
    features: list[frozenset[str]]
    file: str
    #: False when host names cannot be known (no ``name`` column): references are not checked.
    names_known: bool = True
    #: Casefolded names on rows that were rejected for another reason (already reported).
    unresolved: set[str] = field(default_factory=set)


def _hosts(table: Table | None, cat: CpuCatalog, report: Report) -> _Hosts | None:
    if table is None:
        return None
    rows = parse_columns(table, HOST_COLS, report)
    if not rows and not table.skipped:
        report.error(table.file, "no hosts: the file has a header but no data rows")
    index: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    features: list[frozenset[str]] = []
    unresolved = table.skipped_values("name")
    for r in rows:
        num = r["_row"]
        duplicate = False
        if r["name"] is not None:
            key = r["name"].casefold()
            if key in index:
                first = kept[index[key]]["_row"]
                report.error(table.file, f"duplicate host name (names ignore case; first on "
                             f"row {first})", row=num, column="name", value=r["name"],
                             expected="a host name not used on another row")
                duplicate = True
        # Every check below runs even when the name is bad, so that one pass shows all the
        # problems of the row.
        vendor = r["cpu_vendor"]
        mem, reserve = r["memory_mb"], r["memory_reserve_mb"]
        if mem is not None and reserve is None and "memory_reserve_mb" not in r.get("_bad", ()):
            r["memory_reserve_mb"] = reserve = default_memory_reserve_mb(mem)
        if mem is not None and reserve is not None and reserve >= mem:
            report.error(table.file, f"memory_reserve_mb must be below memory_mb ({mem})",
                         row=num, column="memory_reserve_mb", value=reserve,
                         expected=f"an integer from 0 to {mem - 1}")
            r.setdefault("_bad", set()).add("memory_reserve_mb")
        lp = r["logical_processors"]
        if lp is not None and lp > MAX_LOGICAL_PROCESSORS:
            report.warning(table.file, f"more than {MAX_LOGICAL_PROCESSORS} logical "
                           "processors per host is beyond Hyper-V's limit", row=num,
                           column="logical_processors", value=lp)
        if r["fault_domain"] is None:
            r["fault_domain"] = r["name"]
        model_name = r["cpu_model"] or ""
        explicit = r["cpu_features"]
        model = cat.get(model_name) if model_name else None
        if model_name and model is None and not explicit:
            report.warning(table.file, "CPU model is not in the catalog and cpu_features is "
                           "empty; the vendor's minimum feature set is assumed", row=num,
                           column="cpu_model", value=model_name)
        if model is not None and vendor is not None and model.vendor != vendor:
            report.error(table.file, f"CPU model {model.name} is made by "
                         f"{VENDOR_CPUID[model.vendor]}, not {VENDOR_CPUID[vendor]}",
                         row=num, column="cpu_model", value=model_name)
        if explicit:
            feats = frozenset(explicit)
        elif model is not None:
            feats = model.features
        else:
            if not model_name:
                report.warning(table.file, "no cpu_model or cpu_features: the vendor's "
                               "minimum feature set is assumed", row=num, column="cpu_model")
            feats = cat.baseline(vendor) if vendor is not None else frozenset()
        if r["name"] is None or duplicate:
            if r["name"] is not None:
                unresolved.add(r["name"].casefold())
            continue
        index[r["name"].casefold()] = len(kept)
        kept.append(r)
        features.append(feats)
    if len(kept) > MAX_NODES:
        report.warning(table.file, f"{len(kept)} nodes; a failover cluster supports at most "
                       f"{MAX_NODES}")
    return _Hosts(kept, index, features, table.file, "name" in table.header, unresolved)


@dataclass
class _Vms:
    rows: list[dict[str, Any]]
    index: dict[str, int]
    host: list[int]
    possible: list[tuple[int, ...]]
    preferred: list[tuple[int, ...]]
    file: str
    names_known: bool = True
    unresolved: set[str] = field(default_factory=set)


def _host_list(
    names: tuple[str, ...], hosts: _Hosts | None, report: Report, file: str, row: int,
    column: str,
) -> tuple[tuple[int, ...], bool]:
    """Host indices for a list of names, and whether every name was resolved."""
    out: list[int] = []
    complete = True
    for n in names:
        h = hosts.index.get(n.casefold()) if hosts is not None else None
        if h is None:
            complete = False
            if hosts is not None and hosts.names_known and n.casefold() not in hosts.unresolved:
                report.error(file, "names a host that is not in hosts.csv", row=row,
                             column=column, value=n, expected="host names from hosts.csv")
        elif h not in out:
            out.append(h)
    return tuple(out), complete


_MEMORY_RANGE = ("memory_minimum_mb", "memory_startup_mb", "memory_maximum_mb")


def _memory_columns(r: dict[str, Any], file: str, report: Report) -> None:
    """Fill the Dynamic Memory defaults of one VM row and check the range.

    Startup defaults to ``memory_mb``; minimum and maximum to ``memory_mb`` too, widened to
    take the startup amount when only that is given.  With Dynamic Memory enabled,
    minimum <= startup <= maximum is required, and a running VM's assigned memory outside
    the range is reported as a warning.
    """
    bad = r.get("_bad", set())
    mem = r["memory_mb"]
    if mem is None or any(c in bad for c in _MEMORY_RANGE) or r["dynamic_memory"] is None:
        return
    given = {c: r[c] is not None for c in _MEMORY_RANGE}
    if r["memory_startup_mb"] is None:
        r["memory_startup_mb"] = mem
    start = r["memory_startup_mb"]
    if r["memory_minimum_mb"] is None:
        r["memory_minimum_mb"] = min(mem, start)
    if r["memory_maximum_mb"] is None:
        r["memory_maximum_mb"] = max(mem, start)
    if not r["dynamic_memory"]:
        return
    lo, hi = r["memory_minimum_mb"], r["memory_maximum_mb"]
    row = r["_row"]
    if lo > start:
        col = "memory_minimum_mb" if given["memory_minimum_mb"] else "memory_startup_mb"
        report.error(file, "Dynamic Memory needs memory_minimum_mb <= memory_startup_mb "
                     f"({lo} > {start})", row=row, column=col, value=r[col],
                     expected=f"minimum <= {start} <= maximum")
        bad.add(col)
    if start > hi:
        col = "memory_maximum_mb" if given["memory_maximum_mb"] else "memory_startup_mb"
        report.error(file, "Dynamic Memory needs memory_startup_mb <= memory_maximum_mb "
                     f"({start} > {hi})", row=row, column=col, value=r[col],
                     expected=f"minimum <= {start} <= maximum")
        bad.add(col)
    if bad:
        r["_bad"] = bad
    elif r["state"] in (VmState.RUNNING, VmState.PAUSED) and not lo <= mem <= hi:
        report.warning(file, f"assigned memory_mb is outside the Dynamic Memory range "
                       f"{lo}..{hi} MB", row=row, column="memory_mb", value=mem)


def _vms(table: Table | None, hosts: _Hosts | None, report: Report) -> _Vms | None:
    if table is None:
        return None
    rows = parse_columns(table, VM_COLS, report)
    index: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    host: list[int] = []
    possible: list[tuple[int, ...]] = []
    preferred: list[tuple[int, ...]] = []
    unresolved = table.skipped_values("name")
    check_refs = hosts is not None and hosts.names_known
    for r in rows:
        num = r["_row"]
        duplicate = False
        if r["name"] is not None:
            key = r["name"].casefold()
            if key in index:
                first = kept[index[key]]["_row"]
                report.error(table.file, f"duplicate VM name (names ignore case; first on row "
                             f"{first})", row=num, column="name", value=r["name"],
                             expected="a VM name not used on another row")
                duplicate = True
        h = -1
        if r["host"] is not None and hosts is not None:
            h = hosts.index.get(r["host"].casefold(), -1)
            if h < 0 and check_refs and r["host"].casefold() not in hosts.unresolved:
                report.error(table.file, "the VM's host is not in hosts.csv", row=num,
                             column="host", value=r["host"], expected="a host name from hosts.csv")
        if r["config_version"] is None and "config_version" not in r.get("_bad", ()):
            r["config_version"] = 10.0
        _memory_columns(r, table.file, report)
        po, po_ok = _host_list(r["possible_owners"] or (), hosts, report, table.file, num,
                               "possible_owners")
        pr, pr_ok = _host_list(r["preferred_owners"] or (), hosts, report, table.file, num,
                               "preferred_owners")
        if not (po_ok and pr_ok and h >= 0):
            r.setdefault("_bad", set()).add("host")
        if r["name"] is None or duplicate:
            if r["name"] is not None:
                unresolved.add(r["name"].casefold())
            continue
        index[r["name"].casefold()] = len(kept)
        kept.append(r)
        host.append(h)
        possible.append(po)
        preferred.append(pr)
    if len(kept) > MAX_VMS:
        report.warning(table.file, f"{len(kept)} VMs; a failover cluster supports at most "
                       f"{MAX_VMS} running VMs")
    return _Vms(kept, index, host, possible, preferred, table.file, "name" in table.header,
                unresolved)


@dataclass
class _Rules:
    rows: list[dict[str, Any]]
    members: list[tuple[int, ...]]
    file: str


def _close_vm_hint(name: str, vms: _Vms) -> str:
    """``" (is it VM 'SQL01'?)"`` when a VM's name is close to ``name``."""
    close = difflib.get_close_matches(name.casefold(), list(vms.index), n=1, cutoff=0.8)
    if not close:
        return ""
    return f" (is it VM '{vms.rows[vms.index[close[0]]]['name']}'?)"


def _rules(table: Table | None, vms: _Vms | None, report: Report) -> _Rules:
    if table is None:
        return _Rules([], [], "affinity_rules.csv")
    rows = parse_columns(table, RULE_COLS, report)
    seen: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    members: list[tuple[int, ...]] = []
    check_refs = vms is not None and vms.names_known
    for r in rows:
        num = r["_row"]
        duplicate = False
        if r["name"] is not None:
            key = r["name"].casefold()
            if key in seen:
                report.error(table.file, f"duplicate rule name (names ignore case; first on "
                             f"row {seen[key]})", row=num, column="name", value=r["name"],
                             expected="a rule name not used on another row")
                duplicate = True
            else:
                seen[key] = num
        mem: list[int] = []
        other: list[str] = []
        for g in r["groups"] or ():
            v = vms.index.get(g.casefold()) if vms is not None else None
            if v is not None:
                if v not in mem:
                    mem.append(v)
            elif (check_refs and vms is not None and g.casefold() not in vms.unresolved
                  and g.casefold() not in {o.casefold() for o in other}):
                # Microsoft's own examples put Cluster Shared Volumes and other cluster
                # groups in affinity rules: kept and reported, they constrain nothing.
                other.append(g)
                report.warning(table.file, "rule member is not a VM in vms.csv: kept as a "
                               "non-VM cluster group (a Cluster Shared Volume, another "
                               "group); it does not constrain the plan"
                               + _close_vm_hint(g, vms), row=num, column="groups", value=g)
            elif not check_refs or vms is None or g.casefold() in vms.unresolved:
                r.setdefault("_bad", set()).add("groups")
        r["_other"] = tuple(other)
        if r["rule_type"] is not None and r["enabled"] is not None:
            if not mem and not other and "groups" not in r.get("_bad", ()):
                report.warning(table.file, "rule has no members", row=num, column="groups")
            if r["enabled"] is False:
                report.warning(table.file, "rule is disabled: it is reported, not enforced",
                               row=num, column="enabled", value="false")
        if r["name"] is None or duplicate:
            continue
        kept.append(r)
        members.append(tuple(mem))
    return _Rules(kept, members, table.file)


def _networks(table: Table | None, report: Report) -> list[Network]:
    if table is None:
        return []
    rows = parse_columns(table, NETWORK_COLS, report)
    seen: set[str] = set()
    out: list[Network] = []
    for r in rows:
        if r["name"] is not None:
            if r["name"].casefold() in seen:
                report.error(table.file, "duplicate network name (names ignore case)",
                             row=r["_row"], column="name", value=r["name"])
                continue
            seen.add(r["name"].casefold())
        lmo = r["live_migration_order"]
        if lmo is not None and r["role"] == NetworkRole.NONE:
            report.warning(table.file, "network has role None (not used by the cluster) but "
                           "a live_migration_order; it is not used for live migration",
                           row=r["_row"], column="live_migration_order", value=lmo)
            lmo = None
        if r["name"] is None or r["role"] is None or r["bandwidth_gbps"] is None:
            continue
        out.append(Network(r["name"], NetworkRole(r["role"]), lmo, float(r["bandwidth_gbps"])))
    if rows and len(out) == len(rows):
        # Per DOMAIN.md: the cluster IP address needs a ClusterAndClient network, and one
        # live-migration network is a single point of failure for live migration.
        if not any(n.role == NetworkRole.CLUSTER_AND_CLIENT for n in out):
            report.warning(table.file, "no ClusterAndClient network: the cluster IP address "
                           "cannot come online", column="role")
        if all(n.role == NetworkRole.NONE for n in out):
            report.warning(table.file, "every network has role None: the nodes have no "
                           "network for cluster traffic (heartbeats)", column="role")
        lm = [n for n in out if n.live_migration_order is not None]
        if not lm:
            report.warning(table.file, "no network is used for live migration "
                           "(live_migration_order is empty everywhere, or only on role None "
                           "networks): live migration is impossible, Running VMs move only "
                           "with downtime (allow_downtime)", column="live_migration_order")
        elif len(lm) == 1:
            report.warning(table.file, "only one live-migration network: live migration "
                           "stops when it fails (two are recommended)",
                           column="live_migration_order", value=lm[0].name)
    return out


def _good_subset(vms: _Vms, rules: _Rules, report: Report) -> tuple[_Vms, _Rules]:
    """The VMs and rules whose rows have no error, with indices renumbered."""
    bad_rows = {(p.file, p.row) for p in report.errors}
    keep = [i for i, r in enumerate(vms.rows)
            if "_bad" not in r and (vms.file, r["_row"]) not in bad_rows
            and all(r[c.name] is not None for c in VM_COLS if c.name != "config_version")
            and r["config_version"] is not None]
    new_of = {old: new for new, old in enumerate(keep)}
    good_vms = _Vms(
        [vms.rows[i] for i in keep],
        {k: new_of[i] for k, i in vms.index.items() if i in new_of},
        [vms.host[i] for i in keep],
        [vms.possible[i] for i in keep],
        [vms.preferred[i] for i in keep],
        vms.file,
    )
    rows: list[dict[str, Any]] = []
    members: list[tuple[int, ...]] = []
    for r, m in zip(rules.rows, rules.members, strict=True):
        if ("_bad" in r or (rules.file, r["_row"]) in bad_rows or r["rule_type"] is None
                or r["enabled"] is None):
            continue
        rows.append(r)
        members.append(tuple(new_of[v] for v in m if v in new_of))
    return good_vms, _Rules(rows, members, rules.file)


def _build(
    name: str,
    settings: ClusterSettings,
    hosts: _Hosts,
    vms: _Vms,
    rules: _Rules,
    networks: list[Network],
    cat: CpuCatalog,
    d: Path,
) -> Cluster:
    hr = hosts.rows
    universe: set[str] = set()
    for m in cat.models:
        universe |= m.features
    for f in hosts.features:
        universe |= f
    feats = tuple(sorted(universe))
    fidx = {f: i for i, f in enumerate(feats)}
    hf = np.zeros((len(hr), len(feats)), dtype=bool)
    for i, fs in enumerate(hosts.features):
        hf[i, [fidx[f] for f in fs]] = True
    base = np.zeros((len(Vendor), len(feats)), dtype=bool)
    for vd in Vendor:
        base[vd, [fidx[f] for f in cat.baseline(vd)]] = True
    fd_names: list[str] = []
    fd_index: dict[str, int] = {}
    host_fd = []
    for r in hr:
        k = r["fault_domain"].casefold()
        if k not in fd_index:
            fd_index[k] = len(fd_names)
            fd_names.append(r["fault_domain"])
        host_fd.append(fd_index[k])
    vr = vms.rows
    nh, nv = len(hr), len(vr)
    possible = np.ones((nv, nh), dtype=bool)
    for i, po in enumerate(vms.possible):
        if po:
            possible[i] = False
            possible[i, list(po)] = True
    aa_index: dict[str, int] = {}
    aa_names: list[str] = []
    vm_aa: list[tuple[int, ...]] = []
    for r in vr:
        cls: list[int] = []
        for c in r["anti_affinity_class_names"]:
            k = c.casefold()
            if k not in aa_index:
                aa_index[k] = len(aa_names)
                aa_names.append(c)
            if aa_index[k] not in cls:
                cls.append(aa_index[k])
        vm_aa.append(tuple(cls))
    vcpus = np.array([r["vcpus"] for r in vr], dtype=np.int64)
    pct = np.array([r["cpu_usage_pct"] for r in vr], dtype=float)
    lp = np.array([r["logical_processors"] for r in hr], dtype=np.int64)
    base_pct = np.array([r["cpu_base_pct"] for r in hr], dtype=float)
    rule_objs = tuple(
        Rule(r["name"], RuleType(r["rule_type"]), bool(r["enabled"]), m,
             tuple(r.get("_other", ())))
        for r, m in zip(rules.rows, rules.members, strict=True)
    )
    return Cluster(
        name=name,
        settings=settings,
        host_names=tuple(r["name"] for r in hr),
        host_state=np.array([r["state"] for r in hr], dtype=np.int8),
        host_fault_domain=np.array(host_fd, dtype=np.int32),
        fault_domains=tuple(fd_names),
        host_vendor=np.array([r["cpu_vendor"] for r in hr], dtype=np.int8),
        host_cpu_model=tuple(r["cpu_model"] or "" for r in hr),
        host_lp=lp,
        host_memory_mb=np.array([r["memory_mb"] for r in hr], dtype=np.int64),
        host_memory_reserve_mb=np.array([r["memory_reserve_mb"] for r in hr], dtype=np.int64),
        host_cpu_base_milli=np.rint(base_pct * lp * (CPU_UNITS / 100)).astype(np.int64),
        host_max_migrations=np.array([r["max_vm_migrations"] for r in hr], dtype=np.int64),
        features=feats,
        host_features=hf,
        vendor_baseline=base,
        vm_names=tuple(r["name"] for r in vr),
        vm_host=np.array(vms.host, dtype=np.int32),
        vm_state=np.array([r["state"] for r in vr], dtype=np.int8),
        vm_priority=np.array([r["priority"] for r in vr], dtype=np.int16),
        vm_vcpus=vcpus,
        vm_memory_mb=np.array([r["memory_mb"] for r in vr], dtype=np.int64),
        vm_cpu_milli=np.rint(vcpus * pct * (CPU_UNITS / 100)).astype(np.int64),
        vm_config_version_x10=np.rint(
            np.array([r["config_version"] for r in vr], dtype=float) * 10
        ).astype(np.int32),
        vm_compat=np.array([r["compat_mode"] for r in vr], dtype=np.int8),
        vm_possible=possible,
        vm_preferred=tuple(vms.preferred),
        vm_aa_classes=tuple(vm_aa),
        aa_class_names=tuple(aa_names),
        vm_allow_downtime=np.array([r["allow_downtime"] for r in vr], dtype=bool),
        vm_pinned=np.array([r["pinned"] for r in vr], dtype=bool),
        rules=rule_objs,
        networks=tuple(networks),
        host_max_config_version_x10=np.array(
            [ANY_CONFIG_VERSION if r["max_config_version"] is None
             else round(r["max_config_version"] * 10) for r in hr], dtype=np.int32),
        host_max_running_vms=np.array([r["max_running_vms"] for r in hr], dtype=np.int64),
        vm_dynamic_memory=np.array([r["dynamic_memory"] for r in vr], dtype=bool),
        vm_memory_startup_mb=np.array([r["memory_startup_mb"] for r in vr], dtype=np.int64),
        vm_memory_minimum_mb=np.array([r["memory_minimum_mb"] for r in vr], dtype=np.int64),
        vm_memory_maximum_mb=np.array([r["memory_maximum_mb"] for r in vr], dtype=np.int64),
        source=d,
    )


def _max_matching(candidates: Sequence[Sequence[int]]) -> int:
    """Size of a maximum matching of items to slots (``candidates[i]``: the slots item ``i``
    may take), by breadth-first augmenting paths (no recursion, any size)."""
    owner: dict[int, int] = {}  # slot -> item holding it
    size = 0
    for i in range(len(candidates)):
        reached_by: dict[int, int] = {}  # slot -> item whose edge reached it
        via: dict[int, int | None] = {i: None}  # item -> slot it holds on the path
        frontier = [i]
        free: int | None = None
        while frontier and free is None:
            nxt: list[int] = []
            for it in frontier:
                for s in candidates[it]:
                    if s in reached_by:
                        continue
                    reached_by[s] = it
                    if s not in owner:
                        free = s
                        break
                    o = owner[s]
                    if o not in via:
                        via[o] = s
                        nxt.append(o)
                if free is not None:
                    break
            frontier = nxt
        if free is None:
            continue
        slot: int | None = free
        while slot is not None:
            it = reached_by[slot]
            owner[slot] = it
            slot = via[it]
        size += 1
    return size


def _semantic_checks(cluster: Cluster, vms: _Vms, rules: _Rules, report: Report) -> None:
    """Checks that need the whole cluster: sizes, owners, pinned VMs, rule contradictions.

    Errors here are problems that make every plan impossible for a VM or that are plain
    inconsistencies in the files.  Rules that cannot be satisfied now are warnings: the
    planner repairs what it can and names what it leaves broken.
    """
    nh = cluster.n_hosts
    if nh == 0:
        return
    state = cluster.host_state
    if not cluster.host_keeps.any():
        report.error("hosts.csv", "every host is Down: no VM can run and no plan is possible",
                     column="state")
    elif not cluster.host_up.any():
        report.warning("hosts.csv", "no host is Up (the others are Paused): nothing can move",
                       column="state")
    run = cluster.vm_consumes
    per_host_running = np.bincount(cluster.vm_host[run & (state[cluster.vm_host]
                                                          != HostState.DOWN)], minlength=nh)
    limit = cluster.host_max_running_vms
    for h in np.flatnonzero(per_host_running > limit):
        report.warning("hosts.csv", f"{per_host_running[h]} running VMs on one host; at most "
                       f"{limit[h]} may run there (max_running_vms; Hyper-V's limit is "
                       f"{MAX_RUNNING_VMS_PER_HOST}): a plan must move the others",
                       column="name", value=cluster.host_names[h])
    for h in np.flatnonzero(limit > MAX_RUNNING_VMS_PER_HOST):
        report.warning("hosts.csv", f"max_running_vms is above Hyper-V's limit of "
                       f"{MAX_RUNNING_VMS_PER_HOST} running VMs per node", column="max_running_vms",
                       value=int(limit[h]))
    if cluster.n_vms:
        _vm_fit_checks(cluster, vms, report)
        _vm_state_checks(cluster, vms, report)
    if cluster.settings.enforced_anti_affinity:
        _enforced_anti_affinity_checks(cluster, vms, report)
    _rule_checks(cluster, rules, report)


def _endable(cluster: Cluster) -> np.ndarray:
    """bool (V, H): hosts each VM may end on by owners, node state and configuration
    version alone (move kinds, capacity and rules aside): the Up possible owners that run
    its version, and its own node when it may stay there (:attr:`Cluster.vm_allowed`)."""
    v_idx = np.arange(cluster.n_vms)
    ok = cluster.vm_possible & cluster.vm_version_admitted & cluster.host_up[None, :]
    ok[v_idx, cluster.vm_host] = cluster.vm_allowed[v_idx, cluster.vm_host]
    return ok


def _vm_fit_checks(cluster: Cluster, vms: _Vms, report: Report) -> None:
    """VMs larger than every host, and running VMs with no host they may end on."""
    vf, hn = vms.file, cluster.host_names
    rows = [r["_row"] for r in vms.rows]
    cpu_free, mem_free, lp = (cluster.host_cpu_free_milli, cluster.host_memory_free_mb,
                              cluster.host_lp)
    mem, vc, cpu = cluster.vm_memory_mb, cluster.vm_vcpus, cluster.vm_cpu_milli
    max_mem, max_lp, max_cpu = int(mem_free.max()), int(lp.max()), int(cpu_free.max())
    big_mem = mem > max_mem
    many_vc = vc > max_lp
    big_cpu = ~many_vc & (cpu > max_cpu)
    for v in np.flatnonzero(big_mem):
        report.error(vf, f"VM needs {mem[v]} MB but the largest host has {max_mem} MB for VMs "
                     "(after its reserve): it fits on no host", row=rows[v],
                     column="memory_mb", value=int(mem[v]))
    for v in np.flatnonzero(many_vc):
        report.error(vf, f"VM has more vCPUs than any host has logical processors ({max_lp})",
                     row=rows[v], column="vcpus", value=int(vc[v]))
    for v in np.flatnonzero(big_cpu):
        report.error(vf, f"VM's CPU demand ({cpu[v] / CPU_UNITS:g} logical processors) is "
                     f"larger than any host's free CPU ({max_cpu / CPU_UNITS:g}): it fits on "
                     "no host", row=rows[v], column="cpu_usage_pct",
                     value=vms.rows[v]["cpu_usage_pct"])
    too_big = big_mem | many_vc | big_cpu
    explicit = np.array([bool(p) for p in vms.possible], dtype=bool)
    endable = _endable(cluster)
    run = cluster.vm_consumes
    has_up = bool(cluster.host_up.any())

    def owners(v: int | np.integer) -> str:
        return ";".join(hn[h] for h in vms.possible[v])

    nowhere = ~endable.any(axis=1) & ~too_big & has_up
    for v in np.flatnonzero(nowhere & run):
        col, val = (("possible_owners", owners(v)) if explicit[v]
                    else ("config_version", vms.rows[v]["config_version"]))
        report.error(vf, "the VM cannot run anywhere: " + _nowhere_reason(cluster, int(v)),
                     row=rows[v], column=col, value=val)
    for v in np.flatnonzero(nowhere & ~run & ~cluster.vm_on_down_host):
        report.warning(vf, "none of the VM's possible owners is Up and runs its "
                       "configuration version: it could not be started", row=rows[v],
                       column="possible_owners", value=owners(v))
    # A running VM that fits some host but none it may end on.  One started from a Down
    # node needs its boot memory there.
    check = run & ~too_big & endable.any(axis=1)
    if check.any():
        idx = np.flatnonzero(check)
        need = np.where(cluster.vm_on_down_host, cluster.vm_boot_memory_mb, mem)[idx]
        fit = ((need[:, None] <= mem_free[None, :]) & (cpu[idx, None] <= cpu_free[None, :])
               & (vc[idx, None] <= lp[None, :]) & endable[idx])
        for v in idx[~fit.any(axis=1)]:
            size = (f"VM ({mem[v]} MB, {vc[v]} vCPUs, {cpu[v] / CPU_UNITS:g} logical "
                    "processors of demand)")
            if explicit[v]:
                report.error(vf, f"{size} fits on none of the possible owners it may run on",
                             row=rows[v], column="possible_owners", value=owners(v))
            else:
                report.error(vf, f"{size} fits on none of the hosts it may run on (Up, or "
                             "its own Paused host, running its configuration version)",
                             row=rows[v], column="memory_mb", value=int(mem[v]))


def _nowhere_reason(cluster: Cluster, v: int) -> str:
    """Why a running VM has no host it may end on (for the message)."""
    h = int(cluster.vm_host[v])
    where = ("it is listed on Down node " + cluster.host_names[h] + " and must be started "
             "elsewhere, but " if cluster.vm_on_down_host[v] else "")
    owners_up = cluster.vm_possible[v] & cluster.host_up
    if not owners_up.any():
        return where + "none of its possible owners is Up"
    return (where + f"none of its Up possible owners runs configuration version "
            f"{cluster.vm_config_version_x10[v] / 10:g} (max_config_version)")


def _vm_state_checks(cluster: Cluster, vms: _Vms, report: Report) -> None:
    """Owners, pinned VMs and host states that are odd now (warnings, with one error)."""
    vf, hn = vms.file, cluster.host_names
    rows = [r["_row"] for r in vms.rows]
    nv = cluster.n_vms
    cur = cluster.vm_host
    possible, pinned, run = cluster.vm_possible, cluster.vm_pinned, cluster.vm_consumes
    on_owner = possible[np.arange(nv), cur]
    down = cluster.vm_on_down_host
    for v in np.flatnonzero(pinned & ~on_owner):
        report.error(vf, f"VM is pinned to {hn[cur[v]]}, which is not one of its possible "
                     "owners: it can neither stay nor move", row=rows[v], column="pinned",
                     value="true")
    for v in np.flatnonzero(~pinned & ~on_owner & ~down):
        report.warning(vf, f"VM {cluster.vm_names[v]} runs on {hn[cur[v]]}, which is not one "
                       "of its possible owners; a plan will move it", row=rows[v],
                       column="host", value=hn[cur[v]])
    for v in np.flatnonzero(run & down & ~pinned):
        report.warning(vf, f"VM is {VM_STATE_NAMES[VmState(cluster.vm_state[v])]} on "
                       f"{hn[cur[v]]}, which is Down: it is not running there; a plan starts "
                       "it on another node (a Start move, with its memory_startup_mb)",
                       row=rows[v], column="state",
                       value=VM_STATE_NAMES[VmState(cluster.vm_state[v])])
    for v in np.flatnonzero(run & down & pinned):
        report.warning(vf, f"VM is pinned to {hn[cur[v]]}, which is Down: it must be started "
                       "elsewhere, which pinning forbids; no plan is possible while it is "
                       "pinned", row=rows[v], column="pinned", value="true")
    own_version = cluster.vm_version_admitted[np.arange(nv), cur]
    for v in np.flatnonzero(run & ~own_version & ~down):
        report.warning(vf, f"VM's configuration version "
                       f"{cluster.vm_config_version_x10[v] / 10:g} is above the "
                       f"max_config_version of its host {hn[cur[v]]} "
                       f"({cluster.host_max_config_version_x10[cur[v]] / 10:g}); a plan "
                       "moves it", row=rows[v], column="config_version",
                       value=vms.rows[v]["config_version"])
    vc, lp = cluster.vm_vcpus, cluster.host_lp
    for v in np.flatnonzero(run & (vc > lp[cur]) & (vc <= lp.max())):
        report.warning(vf, f"VM has more vCPUs than its host {hn[cur[v]]} has logical "
                       f"processors ({lp[cur[v]]}); Hyper-V cannot run it there", row=rows[v],
                       column="vcpus", value=int(vc[v]))
    explicit = [bool(p) for p in vms.possible]
    for v in np.flatnonzero(explicit):
        odd = [hn[h] for h in vms.preferred[v] if not possible[v, h]]
        if odd:
            report.warning(vf, "preferred owner is not one of the VM's possible owners; it "
                           "is ignored", row=rows[v], column="preferred_owners",
                           value=";".join(odd))


def _slots(cluster: Cluster, v: int, by_domain: bool) -> list[int]:
    """Hosts (or fault domains) VM ``v`` may end on: its own host when pinned, else its Up
    possible owners."""
    if cluster.vm_pinned[v]:
        hosts = [int(cluster.vm_host[v])]
    else:
        hosts = np.flatnonzero(cluster.vm_possible[v] & cluster.host_up).tolist()
    if by_domain:
        return sorted({int(cluster.host_fault_domain[h]) for h in hosts})
    return hosts


def _enforced_anti_affinity_checks(cluster: Cluster, vms: _Vms, report: Report) -> None:
    """Enforced legacy anti-affinity is hard: pinned members may not share a node, and the
    running members need a node each."""
    vf, names, hn = vms.file, cluster.vm_names, cluster.host_names
    for c, members in enumerate(cluster.aa_class_members):
        cls = cluster.aa_class_names[c]
        seen: dict[int, int] = {}
        for v in members:
            if cluster.vm_pinned[v]:
                h = int(cluster.vm_host[v])
                if h in seen:
                    report.error(vf, f"enforced anti-affinity class '{cls}': pinned VMs "
                                 f"{names[seen[h]]} and {names[v]} share node {hn[h]}",
                                 row=vms.rows[v]["_row"], column="anti_affinity_class_names",
                                 value=cls)
                seen.setdefault(h, v)
        running = [v for v in members if cluster.vm_consumes[v]]
        if len(running) > 1:
            k = _max_matching([_slots(cluster, v, False) for v in running])
            if k < len(running):
                report.error(vf, f"enforced anti-affinity class '{cls}' has {len(running)} "
                             f"running VMs but only {k} eligible Up hosts can take one each",
                             row=vms.rows[running[0]]["_row"],
                             column="anti_affinity_class_names", value=cls)


def _rule_checks(cluster: Cluster, rules: _Rules, report: Report) -> None:
    """Contradictions between enabled rules, pinned VMs, possible owners and capacity."""
    rf = rules.file
    rowof = [r["_row"] for r in rules.rows]
    enabled = [(i, r) for i, r in enumerate(cluster.rules) if r.enabled and r.members]
    names, hn, fdn = cluster.vm_names, cluster.host_names, cluster.fault_domains
    node_uf = _UnionFind(cluster.n_vms)
    dom_uf = _UnionFind(cluster.n_vms)
    for _, r in enabled:
        if r.rule_type in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN):
            for a, b in zip(r.members, r.members[1:], strict=False):
                if r.rule_type == RuleType.SAME_NODE:
                    node_uf.union(a, b)
                dom_uf.union(a, b)
    # Which rules tie each group together (transitively), to name them in messages.
    node_rules: dict[int, list[str]] = {}
    dom_rules: dict[int, list[str]] = {}
    for _, r in enabled:
        if r.rule_type == RuleType.SAME_NODE:
            node_rules.setdefault(node_uf.find(r.members[0]), []).append(r.name)
        if r.rule_type in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN):
            dom_rules.setdefault(dom_uf.find(r.members[0]), []).append(r.name)

    def quoted(rs: list[str]) -> str:
        shown = ", ".join(f"'{n}'" for n in rs[:3]) + (" ..." if len(rs) > 3 else "")
        return ("rule " if len(rs) == 1 else "rules ") + shown

    # Members of each SameNode / Same* group, gathered once (not a scan of all VMs per rule).
    node_comp: dict[int, set[int]] = {}
    dom_comp: dict[int, set[int]] = {}
    for _, r in enabled:
        if r.rule_type == RuleType.SAME_NODE:
            for m in r.members:
                node_comp.setdefault(node_uf.find(m), set()).add(m)
        if r.rule_type in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN):
            for m in r.members:
                dom_comp.setdefault(dom_uf.find(m), set()).add(m)
    host, fd = cluster.vm_host, cluster.host_fault_domain
    pinned, run = cluster.vm_pinned, cluster.vm_consumes
    done_node: set[int] = set()
    done_dom: set[int] = set()
    for i, r in enabled:
        row, ms = rowof[i], r.members
        if r.rule_type in (RuleType.DIFFERENT_NODE, RuleType.DIFFERENT_FAULT_DOMAIN):
            by_node = r.rule_type == RuleType.DIFFERENT_NODE
            uf, tied = (node_uf, node_rules) if by_node else (dom_uf, dom_rules)
            what = "node" if by_node else "fault domain"
            groups: dict[int, list[int]] = {}
            for m in ms:
                groups.setdefault(uf.find(m), []).append(m)
            for root, g in groups.items():
                if len(g) > 1:
                    report.error(rf, f"{r.type_name} rule keeps {names[g[0]]} and {names[g[1]]} "
                                 f"apart, but {quoted(tied.get(root, ['?']))} put them on "
                                 f"the same {what}", row=row, column="groups", value=r.name)
            where: dict[int, int] = {}
            for m in ms:
                if pinned[m]:
                    key = int(host[m]) if by_node else int(fd[host[m]])
                    if key in where:
                        place = hn[key] if by_node else fdn[key]
                        report.error(rf, f"{r.type_name} rule: pinned VMs {names[where[key]]} "
                                     f"and {names[m]} share {what} {place} and cannot move",
                                     row=row, column="groups", value=r.name)
                    where.setdefault(key, m)
            running = [m for m in ms if run[m]]
            slots = "eligible Up hosts" if by_node else "fault domains with an eligible Up host"
            k = len(running)
            if len(running) > 1:
                k = _max_matching([_slots(cluster, m, not by_node) for m in running])
                if k < len(running):
                    report.error(rf, f"{r.type_name} rule has {len(running)} running members "
                                 f"but only {k} {slots} can take one each (given possible "
                                 "owners and pinned VMs)", row=row, column="groups",
                                 value=r.name)
            if k == len(running) and len(ms) > len(running):
                # Members that are not running still have a node in every placement; a plan
                # that keeps them apart too needs a slot for each.
                k_all = _max_matching([_slots(cluster, m, not by_node) for m in ms])
                if k_all < len(ms):
                    report.warning(rf, f"{r.type_name} rule has {len(ms)} members (counting "
                                   f"those not running) but only {k_all} {slots} can take "
                                   "one each: a plan that places every member apart is "
                                   "impossible", row=row, column="groups", value=r.name)
        elif r.rule_type == RuleType.SAME_NODE:
            root = node_uf.find(ms[0])
            if root in done_node:
                continue
            done_node.add(root)
            _same_group_check(cluster, sorted(node_comp[root]), False, quoted(node_rules[root]),
                              r, row, report, rf)
        else:
            root = dom_uf.find(ms[0])
            if root in done_dom:
                continue
            done_dom.add(root)
            _same_group_check(cluster, sorted(dom_comp[root]), True, quoted(dom_rules[root]), r,
                              row, report, rf)


def _same_group_check(cluster: Cluster, group: list[int], by_domain: bool, label: str,
                      r: Rule, row: int, report: Report, rf: str) -> None:
    """A SameNode (or SameFaultDomain) group: pinned members agree, and the group fits in one
    node (or one fault domain) that every member may use."""
    names, hn, fdn = cluster.vm_names, cluster.host_names, cluster.fault_domains
    what = "fault domain" if by_domain else "node"
    key_of = (lambda h: int(cluster.host_fault_domain[h])) if by_domain else int
    pinned_at: dict[int, int] = {}
    for v in group:
        if cluster.vm_pinned[v]:
            pinned_at.setdefault(key_of(int(cluster.vm_host[v])), v)
    if len(pinned_at) > 1:
        (k1, a), (k2, b) = list(pinned_at.items())[:2]
        p1, p2 = (fdn[k1], fdn[k2]) if by_domain else (hn[k1], hn[k2])
        report.error(rf, f"{label}: pinned VMs {names[a]} (on {p1}) and {names[b]} (on {p2}) "
                     f"can never share a {what}", row=row, column="groups", value=r.name)
        return
    g = np.asarray(group)
    cpu = int(cluster.vm_cpu_load_milli[g].sum())
    mem = int(cluster.vm_mem_load_mb[g].sum())
    up = cluster.host_up
    if not by_domain:
        allowed = cluster.vm_possible[g].all(axis=0) & up
        if pinned_at:
            (h,) = pinned_at
            only = np.zeros_like(allowed)
            only[h] = bool(cluster.vm_possible[g, h].all())
            allowed = only
        vmax = int(cluster.vm_vcpus[g].max())
        fits = (allowed & (cluster.host_cpu_free_milli >= cpu)
                & (cluster.host_memory_free_mb >= mem) & (cluster.host_lp >= vmax))
        if not allowed.any():
            report.error(rf, f"SameNode group ({label}) has no Up possible owner in common",
                         row=row, column="groups", value=r.name)
        elif not fits.any():
            report.error(rf, f"SameNode group ({label}) needs {mem} MB and "
                         f"{cpu / CPU_UNITS:.2f} logical processors together and fits on no "
                         "host", row=row, column="groups", value=r.name)
        return
    nd = len(cluster.fault_domains)
    dom = cluster.host_fault_domain
    # A domain is usable when every member has an Up possible owner in it.
    usable = np.ones(nd, dtype=bool)
    for v in group:
        ok = np.zeros(nd, dtype=bool)
        ok[np.unique(dom[cluster.vm_possible[v] & up])] = True
        usable &= ok
    if pinned_at:
        (d,) = pinned_at
        only = np.zeros(nd, dtype=bool)
        only[d] = usable[d]
        usable = only
    cpu_cap = np.bincount(dom, weights=np.where(up, cluster.host_cpu_free_milli, 0), minlength=nd)
    mem_cap = np.bincount(dom, weights=np.where(up, cluster.host_memory_free_mb, 0), minlength=nd)
    if not usable.any():
        report.error(rf, f"SameFaultDomain group ({label}) has no fault domain where every "
                     "member has an Up possible owner", row=row, column="groups", value=r.name)
    elif not (usable & (cpu_cap >= cpu) & (mem_cap >= mem)).any():
        report.error(rf, f"SameFaultDomain group ({label}) needs {mem} MB and "
                     f"{cpu / CPU_UNITS:.2f} logical processors together and fits in no "
                     "fault domain", row=row, column="groups", value=r.name)


# ----------------------------------------------------------------------------- the writer
def _fmt(x: float) -> str:
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


#: Columns written only when some row differs from the default (so that a snapshot without
#: the newer data is written as before); the default as text.
_OMITTED_WHEN_DEFAULT = {"collected_utc": "", "max_config_version": "",
                         "max_running_vms": str(DEFAULT_MAX_RUNNING_VMS),
                         "dynamic_memory": "false"}
#: Dynamic Memory amounts are written (all three) only when some differs from ``memory_mb``.
_MEMORY_COLUMNS = ("memory_startup_mb", "memory_minimum_mb", "memory_maximum_mb")


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    amounts = [j for j, name in enumerate(header) if name in _MEMORY_COLUMNS]
    same_memory = bool(amounts) and all(
        r[j] == r[list(header).index("memory_mb")] for r in rows for j in amounts)
    keep = []
    for j, name in enumerate(header):
        if name in _OMITTED_WHEN_DEFAULT:
            default = _OMITTED_WHEN_DEFAULT[name]
            if all(str(r[j]) == default for r in rows):
                continue
        elif name in _MEMORY_COLUMNS and same_memory:
            continue
        keep.append(j)
    if len(keep) < len(header):
        header = [header[j] for j in keep]
        rows = [[r[j] for j in keep] for r in rows]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def snapshot_files(cluster: Cluster, catalog: CpuCatalog | None = None) -> dict[str, str]:
    """Render a cluster as the CSV texts of a snapshot (file name → text)."""
    cat = catalog or default_catalog()
    s = cluster.settings
    files: dict[str, str] = {}
    files["cluster.csv"] = _csv_text(
        [c.name for c in CLUSTER_COLS],
        [[cluster.name, s.auto_balancer_mode, s.auto_balancer_level,
          "" if s.maximum_parallel_migrations is None else s.maximum_parallel_migrations,
          str(s.enforced_anti_affinity).lower(), s.collected_utc or ""]],
    )
    state_names = {HostState.UP: "Up", HostState.PAUSED: "Paused", HostState.DOWN: "Down"}
    host_rows = []
    for h in range(cluster.n_hosts):
        fs = {cluster.features[i] for i in np.flatnonzero(cluster.host_features[h])}
        model = cat.get(cluster.host_cpu_model[h]) if cluster.host_cpu_model[h] else None
        explicit = "" if model is not None and model.features == fs else ";".join(sorted(fs))
        lp = int(cluster.host_lp[h])
        host_rows.append([
            cluster.host_names[h], state_names[HostState(cluster.host_state[h])],
            cluster.fault_domains[cluster.host_fault_domain[h]],
            VENDOR_CPUID[Vendor(cluster.host_vendor[h])], cluster.host_cpu_model[h], explicit,
            lp, int(cluster.host_memory_mb[h]), int(cluster.host_memory_reserve_mb[h]),
            _fmt(cluster.host_cpu_base_milli[h] / (lp * CPU_UNITS / 100)),
            int(cluster.host_max_migrations[h]),
            "" if cluster.host_max_config_version_x10[h] < 0
            else _fmt(cluster.host_max_config_version_x10[h] / 10),
            int(cluster.host_max_running_vms[h]),
        ])
    files["hosts.csv"] = _csv_text([c.name for c in HOST_COLS], host_rows)
    vm_state = {VmState.RUNNING: "Running", VmState.OFF: "Off", VmState.SAVED: "Saved",
                VmState.PAUSED: "Paused"}
    prio = {3000: "High", 2000: "Medium", 1000: "Low", 0: "NoAutoStart"}
    hn = cluster.host_names
    all_hosts = np.asarray(cluster.vm_possible.all(axis=1))
    vm_rows = []
    for v in range(cluster.n_vms):
        vc = int(cluster.vm_vcpus[v])
        po = "" if all_hosts[v] else ";".join(hn[h] for h in np.flatnonzero(
            cluster.vm_possible[v]))
        vm_rows.append([
            cluster.vm_names[v], hn[cluster.vm_host[v]], vm_state[VmState(cluster.vm_state[v])],
            prio.get(int(cluster.vm_priority[v]), int(cluster.vm_priority[v])), vc,
            int(cluster.vm_memory_mb[v]),
            str(bool(cluster.vm_dynamic_memory[v])).lower(),
            int(cluster.vm_memory_startup_mb[v]), int(cluster.vm_memory_minimum_mb[v]),
            int(cluster.vm_memory_maximum_mb[v]),
            _fmt(cluster.vm_cpu_milli[v] / (vc * CPU_UNITS / 100)),
            _fmt(cluster.vm_config_version_x10[v] / 10),
            COMPAT_NAMES[CompatMode(cluster.vm_compat[v])], po,
            ";".join(hn[h] for h in cluster.vm_preferred[v]),
            ";".join(cluster.aa_class_names[c] for c in cluster.vm_aa_classes[v]),
            str(bool(cluster.vm_allow_downtime[v])).lower(),
            str(bool(cluster.vm_pinned[v])).lower(),
        ])
    files["vms.csv"] = _csv_text([c.name for c in VM_COLS], vm_rows)
    if cluster.rules:
        files["affinity_rules.csv"] = _csv_text(
            [c.name for c in RULE_COLS],
            [[r.name, RULE_TYPE_NAMES[r.rule_type], str(r.enabled).lower(),
              ";".join([cluster.vm_names[m] for m in r.members] + list(r.other_members))]
             for r in cluster.rules],
        )
    if cluster.networks:
        role = {NetworkRole.NONE: "None", NetworkRole.CLUSTER: "Cluster",
                NetworkRole.CLUSTER_AND_CLIENT: "ClusterAndClient"}
        files["networks.csv"] = _csv_text(
            [c.name for c in NETWORK_COLS],
            [[n.name, role[n.role],
              "" if n.live_migration_order is None else n.live_migration_order,
              _fmt(n.bandwidth_gbps)] for n in cluster.networks],
        )
    return files


def write_snapshot(cluster: Cluster, directory: str | Path,
                   catalog: CpuCatalog | None = None) -> Path:
    """Write a cluster as a snapshot directory (UTF-8, comma-separated, LF line ends).

    An optional file the cluster does not need (no rules, no networks) is removed if an
    older one is in the directory, so that reading the directory back gives this cluster.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = snapshot_files(cluster, catalog)
    for fname, text in files.items():
        (d / fname).write_text(text, encoding="utf-8", newline="")
    for fname in FILES:
        stale = find_file(d, fname)
        if fname not in files and stale.is_file():
            stale.unlink()
    return d
