"""Read, validate and write cluster snapshots (a directory of CSV files, SPEC §1).

:func:`read_snapshot` never raises for problems in the user's files: it returns the cluster
(or ``None``) and a :class:`~planner.diagnostics.Report` listing *every* problem found, each
with file, spreadsheet row, column, value and what was expected.  :func:`load_snapshot` is the
convenience form that raises :class:`~planner.diagnostics.InvalidInput` when there are errors.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    COMPAT_NAMES,
    CPU_UNITS,
    RULE_TYPE_NAMES,
    VENDOR_CPUID,
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

#: Longest accepted field, in characters.  Longer ones are reported, not parsed.
MAX_FIELD_CHARS = 65_536
#: Largest accepted file.
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Documented Hyper-V scale limits (Windows Server 2022/2025); above them we warn.
MAX_NODES = 64
MAX_VMS = 8000
MAX_RUNNING_VMS_PER_HOST = 1024
MAX_LOGICAL_PROCESSORS = 2048

FILES = ("cluster.csv", "hosts.csv", "vms.csv", "affinity_rules.csv", "networks.csv")


class _Bad(ValueError):
    """A cell value that does not parse; the message says what was expected."""


# ----------------------------------------------------------------------------- cell parsers
Parser = Callable[[str], Any]


def _text(s: str) -> str:
    if not s:
        raise _Bad("a non-empty text")
    return s


def _int(lo: int | None = None, hi: int | None = None) -> Parser:
    def parse(s: str) -> int:
        exp = _range_text("an integer", lo, hi)
        try:
            f = float(s)
        except ValueError:
            raise _Bad(exp) from None
        if not math.isfinite(f) or f != int(f):
            raise _Bad(exp)
        v = int(f)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Bad(exp)
        return v

    return parse


def _num(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Parser:
    def parse(s: str) -> float:
        exp = _range_text("a number", lo, hi, lo_open)
        try:
            v = float(s)
        except ValueError:
            raise _Bad(exp) from None
        if not math.isfinite(v):
            raise _Bad(exp)
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise _Bad(exp)
        if hi is not None and v > hi:
            raise _Bad(exp)
        return v

    return parse


def _range_text(kind: str, lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"{kind} from {lo} to {hi}"
    if lo is not None:
        return f"{kind} {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f"{kind} <= {hi}"
    return kind


_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


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
    Col("maximum_parallel_migrations", _int(1)),
    Col("enforced_anti_affinity", _bool, default=False),
)
HOST_COLS = (
    Col("name", _text, required=True),
    Col("state", _HOST_STATE, default=HostState.UP),
    Col("fault_domain", _text),
    Col("cpu_vendor", _VENDOR, required=True),
    Col("cpu_model", _text, default=""),
    Col("cpu_features", _list),
    Col("logical_processors", _int(1), required=True),
    Col("memory_mb", _int(1), required=True),
    Col("memory_reserve_mb", _int(0)),
    Col("cpu_base_pct", _num(0, 100), default=0.0),
    Col("max_vm_migrations", _int(1), default=2),
)
VM_COLS = (
    Col("name", _text, required=True),
    Col("host", _text, required=True),
    Col("state", _VM_STATE, default=VmState.RUNNING),
    Col("priority", _PRIORITY, default=2000),
    Col("vcpus", _int(1), required=True),
    Col("memory_mb", _int(1), required=True),
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
    Col("live_migration_order", _int()),
    Col("bandwidth_gbps", _num(0, None, lo_open=True), default=10.0),
)


# ----------------------------------------------------------------------------- raw tables
@dataclass
class Table:
    """A CSV file as trimmed strings; ``rownum[i]`` is the spreadsheet row of record ``i``."""

    file: str
    header: dict[str, str]  # casefolded name -> name as written
    records: list[dict[str, str]]
    rownum: list[int]


def read_table(path: Path, report: Report, *, required: bool) -> Table | None:
    """Read one CSV file into a :class:`Table`, recording file-level problems.

    Returns ``None`` when the file is absent (an error if ``required``) or unreadable.
    """
    fname = path.name
    if not path.exists():
        if required:
            report.error(fname, f"required file is missing from {path.parent}")
        return None
    if not path.is_file():
        report.error(fname, "expected a file, found a directory or special file")
        return None
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        report.error(fname, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
        return None
    raw = path.read_bytes()
    if b"\x00" in raw:
        report.error(fname, "this is a binary file, not a UTF-8 CSV text file")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        report.error(fname, f"not valid UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                     f"{e.start}); save the file as UTF-8", row=line)
        return None
    if not text.strip():
        report.error(fname, "file is empty; expected a header row and data rows")
        return None
    old_limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        report.error(fname, f"not a readable CSV file: {e}")
        return None
    finally:
        csv.field_size_limit(old_limit)
    # Drop blank lines but keep the row numbers a spreadsheet would show.
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        report.error(fname, "file is empty; expected a header row and data rows")
        return None
    hrow, header = numbered[0]
    header = [h.strip() for h in header]
    if len(header) == 1 and ";" in header[0]:
        report.error(fname, "the file uses ';' as the column separator; hvplan reads "
                     "comma-separated files (Export-Csv without -UseCulture, or "
                     "-Delimiter ',')", row=hrow, value=header[0])
        return None
    if len(header) == 1 and "\t" in header[0]:
        report.error(fname, "the file uses tabs as the column separator; hvplan reads "
                     "comma-separated files", row=hrow)
        return None
    hmap: dict[str, str] = {}
    ok = True
    for h in header:
        if len(h) > MAX_FIELD_CHARS:
            report.error(fname, f"header field is longer than {MAX_FIELD_CHARS} characters",
                         row=hrow, value=h)
            ok = False
            continue
        if not h:
            report.error(fname, "empty column name in the header", row=hrow)
            ok = False
            continue
        key = h.casefold()
        if key in hmap:
            report.error(fname, "column appears twice in the header", row=hrow, column=h)
            ok = False
        hmap[key] = h
    if not ok:
        return None
    keys = [h.casefold() for h in header]
    records: list[dict[str, str]] = []
    rownum: list[int] = []
    for num, r in numbered[1:]:
        if len(r) > len(keys) and any(c.strip() for c in r[len(keys):]):
            report.error(fname, f"row has {len(r)} fields but the header has {len(keys)}; "
                         "is a value with a comma missing its quotes?", row=num,
                         value=",".join(r[len(keys):]))
            continue
        rec: dict[str, str] = {}
        for k, h, cell in zip(keys, header, r, strict=False):
            if len(cell) > MAX_FIELD_CHARS:
                report.error(fname, f"value is {len(cell)} characters long; the limit is "
                             f"{MAX_FIELD_CHARS}", row=num, column=h, value=cell)
                cell = ""
            rec[k] = cell.strip()
        records.append(rec)
        rownum.append(num)
    return Table(fname, hmap, records, rownum)


def parse_columns(table: Table, cols: Sequence[Col], report: Report) -> list[dict[str, Any]]:
    """Parse every record's declared columns; bad cells are reported and set to ``None``.

    Missing required columns are reported once; unknown columns give a warning.
    """
    known = {c.name for c in cols}
    for key, shown in table.header.items():
        if key not in known:
            report.warning(table.file, "unknown column is ignored", column=shown)
    present = {c.name for c in cols if c.name in table.header}
    for c in cols:
        if c.required and c.name not in present:
            report.error(table.file, "required column is missing", column=c.name)
    out: list[dict[str, Any]] = []
    for rec, num in zip(table.records, table.rownum, strict=True):
        row: dict[str, Any] = {"_row": num}
        for c in cols:
            s = rec.get(c.name, "") if c.name in present else ""
            if s == "":
                if c.required and c.name in present:
                    report.error(table.file, "value is required", row=num,
                                 column=table.header[c.name], value="")
                row[c.name] = c.default
                continue
            try:
                row[c.name] = c.parse(s)
            except _Bad as e:
                report.error(table.file, f"expected {e}", row=num,
                             column=table.header[c.name], value=s)
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
    Never raises for problems in the files.
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
    tables = {
        f: read_table(d / f, report, required=f in ("hosts.csv", "vms.csv")) for f in FILES
    }
    settings, cname = _cluster_settings(tables["cluster.csv"], d, report)
    hosts = _hosts(tables["hosts.csv"], cat, report)
    if hosts is None or tables["vms.csv"] is None:
        return None, report
    vms = _vms(tables["vms.csv"], hosts, report)
    rules = _rules(tables["affinity_rules.csv"], vms, report)
    networks = _networks(tables["networks.csv"], report)
    if not report.valid:
        return None, report
    cluster = _build(cname, settings, hosts, vms, rules, networks, cat, d)
    _semantic_checks(cluster, vms, rules, report)
    if not report.valid:
        return None, report
    return cluster, report


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
    )
    return settings, r["name"] or name


@dataclass
class _Hosts:
    rows: list[dict[str, Any]]
    index: dict[str, int]
    features: list[frozenset[str]]
    file: str


def _hosts(table: Table | None, cat: CpuCatalog, report: Report) -> _Hosts | None:
    if table is None:
        return None
    rows = parse_columns(table, HOST_COLS, report)
    if not rows:
        report.error(table.file, "no hosts: the file has a header but no data rows")
        return None
    index: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    for r in rows:
        if r["name"] is None:
            continue
        key = r["name"].casefold()
        if key in index:
            first = kept[index[key]]["_row"]
            report.error(table.file, f"duplicate host name (names ignore case; first on row "
                         f"{first})", row=r["_row"], column="name", value=r["name"])
            continue
        index[key] = len(kept)
        kept.append(r)
    if len(kept) > MAX_NODES:
        report.warning(table.file, f"{len(kept)} nodes; a failover cluster supports at most "
                       f"{MAX_NODES}")
    features: list[frozenset[str]] = []
    for r in kept:
        num = r["_row"]
        vendor = r["cpu_vendor"]
        mem, reserve = r["memory_mb"], r["memory_reserve_mb"]
        if mem is not None and reserve is None:
            r["memory_reserve_mb"] = reserve = default_memory_reserve_mb(mem)
        if mem is not None and reserve is not None and reserve >= mem:
            report.error(table.file, f"memory_reserve_mb must be below memory_mb ({mem})",
                         row=num, column="memory_reserve_mb", value=reserve)
        lp = r["logical_processors"]
        if lp is not None and lp > MAX_LOGICAL_PROCESSORS:
            report.warning(table.file, f"more than {MAX_LOGICAL_PROCESSORS} logical "
                           "processors per host is beyond Hyper-V's limit", row=num,
                           column="logical_processors", value=lp)
        if r["fault_domain"] is None and "fault_domain" not in r.get("_bad", ()):
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
        features.append(feats)
    return _Hosts(kept, index, features, table.file)


@dataclass
class _Vms:
    rows: list[dict[str, Any]]
    index: dict[str, int]
    host: list[int]
    possible: list[tuple[int, ...]]
    preferred: list[tuple[int, ...]]
    file: str


def _host_list(
    names: tuple[str, ...], hosts: _Hosts, report: Report, file: str, row: int, column: str
) -> tuple[int, ...]:
    out: list[int] = []
    for n in names:
        h = hosts.index.get(n.casefold())
        if h is None:
            report.error(file, "names a host that is not in hosts.csv", row=row,
                         column=column, value=n)
        elif h not in out:
            out.append(h)
    return tuple(out)


def _vms(table: Table, hosts: _Hosts, report: Report) -> _Vms:
    rows = parse_columns(table, VM_COLS, report)
    index: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    host: list[int] = []
    possible: list[tuple[int, ...]] = []
    preferred: list[tuple[int, ...]] = []
    for r in rows:
        num = r["_row"]
        if r["name"] is None:
            continue
        key = r["name"].casefold()
        if key in index:
            first = kept[index[key]]["_row"]
            report.error(table.file, f"duplicate VM name (names ignore case; first on row "
                         f"{first})", row=num, column="name", value=r["name"])
            continue
        h = -1
        if r["host"] is not None:
            h = hosts.index.get(r["host"].casefold(), -1)
            if h < 0:
                report.error(table.file, "the VM's host is not in hosts.csv", row=num,
                             column="host", value=r["host"])
        if r["config_version"] is None and "config_version" not in r.get("_bad", ()):
            r["config_version"] = 10.0
        po = _host_list(r["possible_owners"] or (), hosts, report, table.file, num,
                        "possible_owners")
        pr = _host_list(r["preferred_owners"] or (), hosts, report, table.file, num,
                        "preferred_owners")
        index[key] = len(kept)
        kept.append(r)
        host.append(h)
        possible.append(po)
        preferred.append(pr)
    if len(kept) > MAX_VMS:
        report.warning(table.file, f"{len(kept)} VMs; a failover cluster supports at most "
                       f"{MAX_VMS} running VMs")
    return _Vms(kept, index, host, possible, preferred, table.file)


@dataclass
class _Rules:
    rows: list[dict[str, Any]]
    members: list[tuple[int, ...]]
    file: str


def _rules(table: Table | None, vms: _Vms, report: Report) -> _Rules:
    if table is None:
        return _Rules([], [], "affinity_rules.csv")
    rows = parse_columns(table, RULE_COLS, report)
    seen: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    members: list[tuple[int, ...]] = []
    for r in rows:
        num = r["_row"]
        if r["name"] is None:
            continue
        key = r["name"].casefold()
        if key in seen:
            report.error(table.file, f"duplicate rule name (first on row {seen[key]})",
                         row=num, column="name", value=r["name"])
            continue
        seen[key] = num
        mem: list[int] = []
        for g in r["groups"] or ():
            v = vms.index.get(g.casefold())
            if v is None:
                report.error(table.file, "rule member is not a VM in vms.csv", row=num,
                             column="groups", value=g)
            elif v not in mem:
                mem.append(v)
        if r["rule_type"] is not None and r["enabled"] is not None:
            if not mem and "groups" not in r.get("_bad", ()):
                report.warning(table.file, "rule has no members", row=num, column="groups")
            if r["enabled"] is False:
                report.warning(table.file, "rule is disabled: it is reported, not enforced",
                               row=num, column="enabled", value="false")
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
        if r["name"] is None:
            continue
        if r["name"].casefold() in seen:
            report.error(table.file, "duplicate network name", row=r["_row"], column="name",
                         value=r["name"])
            continue
        seen.add(r["name"].casefold())
        if r["role"] is None or r["bandwidth_gbps"] is None:
            continue
        lmo = r["live_migration_order"]
        if lmo is not None and r["role"] == NetworkRole.NONE:
            report.warning(table.file, "network has role None (not used by the cluster) but "
                           "a live_migration_order; it is not used for live migration",
                           row=r["_row"], column="live_migration_order", value=lmo)
            lmo = None
        out.append(Network(r["name"], NetworkRole(r["role"]), lmo, float(r["bandwidth_gbps"])))
    if rows and report.valid:
        if not any(n.role == NetworkRole.CLUSTER_AND_CLIENT for n in out):
            report.warning(table.file, "no ClusterAndClient network: the cluster IP address "
                           "cannot come online")
        lm = [n for n in out if n.live_migration_order is not None]
        if not lm:
            report.warning(table.file, "no network is used for live migration "
                           "(live_migration_order is empty everywhere); durations assume the "
                           "default bandwidth")
        elif len(lm) == 1:
            report.warning(table.file, "only one live-migration network: live migration "
                           "stops when it fails (two are recommended)")
    return out


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
        Rule(r["name"], RuleType(r["rule_type"]), bool(r["enabled"]), m)
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
        source=d,
    )


def _semantic_checks(cluster: Cluster, vms: _Vms, rules: _Rules, report: Report) -> None:
    """Checks that need the whole cluster: sizes, owners, rule contradictions."""
    vf = vms.file
    up = cluster.host_up
    cpu_free = cluster.host_cpu_free_milli
    mem_free = cluster.host_memory_free_mb
    run = cluster.vm_consumes
    possible_up = cluster.vm_possible & up[None, :]
    max_mem = int(mem_free.max()) if cluster.n_hosts else 0
    max_cpu = int(cpu_free.max()) if cluster.n_hosts else 0
    max_lp = int(cluster.host_lp.max()) if cluster.n_hosts else 0
    per_host_running = np.bincount(cluster.vm_host[run], minlength=cluster.n_hosts)
    for h in np.flatnonzero(per_host_running > MAX_RUNNING_VMS_PER_HOST):
        report.warning("hosts.csv", f"{per_host_running[h]} running VMs on one host; Hyper-V "
                       f"supports at most {MAX_RUNNING_VMS_PER_HOST}",
                       column="name", value=cluster.host_names[h])
    for v in range(cluster.n_vms):
        row = vms.rows[v]["_row"]
        name = cluster.vm_names[v]
        if cluster.vm_memory_mb[v] > max_mem:
            report.error(vf, f"VM needs {cluster.vm_memory_mb[v]} MB but the largest host has "
                         f"{max_mem} MB for VMs (after its reserve): it fits on no host",
                         row=row, column="memory_mb", value=int(cluster.vm_memory_mb[v]))
        if cluster.vm_vcpus[v] > max_lp:
            report.error(vf, f"VM has more vCPUs than any host has logical processors "
                         f"({max_lp})", row=row, column="vcpus", value=int(cluster.vm_vcpus[v]))
        elif cluster.vm_cpu_milli[v] > max_cpu:
            report.error(vf, "VM's CPU demand is larger than any host's free CPU: it fits on "
                         "no host", row=row, column="cpu_usage_pct",
                         value=vms.rows[v]["cpu_usage_pct"])
        if vms.possible[v] and run[v] and not possible_up[v].any():
            report.error(vf, "none of the VM's possible owners is Up: it cannot run anywhere",
                         row=row, column="possible_owners", value=";".join(
                             cluster.host_names[h] for h in vms.possible[v]))
        elif vms.possible[v] and not cluster.vm_possible[v, cluster.vm_host[v]]:
            report.warning(vf, f"VM {name} runs on {cluster.host_names[cluster.vm_host[v]]}, "
                           "which is not one of its possible owners; a plan will move it",
                           row=row, column="host", value=cluster.host_names[cluster.vm_host[v]])
        if run[v] and not up[cluster.vm_host[v]] and cluster.host_state[cluster.vm_host[v]] \
                == HostState.DOWN:
            report.warning(vf, "VM is Running on a host that is Down", row=row,
                           column="state", value=vms.rows[v]["state"].name.title())
    _rule_checks(cluster, rules, report)


def _rule_checks(cluster: Cluster, rules: _Rules, report: Report) -> None:
    rf = rules.file
    enabled = [(i, r) for i, r in enumerate(cluster.rules) if r.enabled]
    rowof = {i: rules.rows[i]["_row"] for i in range(len(cluster.rules))}
    node_uf = _UnionFind(cluster.n_vms)
    dom_uf = _UnionFind(cluster.n_vms)
    node_src: dict[tuple[int, int], str] = {}
    for _, r in enabled:
        if r.rule_type in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN):
            for a, b in zip(r.members, r.members[1:], strict=False):
                if r.rule_type == RuleType.SAME_NODE:
                    node_uf.union(a, b)
                dom_uf.union(a, b)
    same_rule_of: dict[int, str] = {}
    for _, r in enabled:
        if r.rule_type == RuleType.SAME_NODE:
            for m in r.members:
                same_rule_of.setdefault(node_uf.find(m), r.name)
        if r.rule_type in (RuleType.SAME_NODE, RuleType.SAME_FAULT_DOMAIN):
            for m in r.members:
                node_src.setdefault((dom_uf.find(m), 0), r.name)
    up = cluster.host_up
    run = cluster.vm_consumes
    names = cluster.vm_names
    for i, r in enabled:
        row = rowof[i]
        if r.rule_type in (RuleType.DIFFERENT_NODE, RuleType.DIFFERENT_FAULT_DOMAIN):
            uf = node_uf if r.rule_type == RuleType.DIFFERENT_NODE else dom_uf
            groups: dict[int, list[int]] = {}
            for m in r.members:
                groups.setdefault(uf.find(m), []).append(m)
            for root, ms in groups.items():
                if len(ms) > 1:
                    other = same_rule_of.get(root) or node_src.get((root, 0), "?")
                    kind = "node" if r.rule_type == RuleType.DIFFERENT_NODE else "fault domain"
                    report.error(rf, f"{r.type_name} rule keeps {names[ms[0]]} and "
                                 f"{names[ms[1]]} apart, but rule '{other}' puts them on the "
                                 f"same {kind}", row=row, column="groups", value=r.name)
            members = [m for m in r.members if run[m]]
            eligible = up & cluster.vm_possible[members].any(axis=0) if members else up
            if r.rule_type == RuleType.DIFFERENT_NODE:
                slots = int(eligible.sum())
                what = "eligible Up hosts"
            else:
                slots = len(set(cluster.host_fault_domain[eligible].tolist()))
                what = "fault domains with an eligible Up host"
            if len(members) > slots:
                report.error(rf, f"{r.type_name} rule has {len(members)} running members but "
                             f"only {slots} {what}", row=row, column="groups", value=r.name)
        if r.rule_type == RuleType.SAME_NODE and r.members:
            ms = [m for m in r.members]
            allowed = up & cluster.vm_possible[ms].all(axis=0)
            cpu = int(cluster.vm_cpu_load_milli[ms].sum())
            mem = int(cluster.vm_mem_load_mb[ms].sum())
            fits = allowed & (cluster.host_cpu_free_milli >= cpu) & (
                cluster.host_memory_free_mb >= mem)
            if not allowed.any():
                report.error(rf, "SameNode rule members have no Up possible owner in common",
                             row=row, column="groups", value=r.name)
            elif not fits.any():
                report.error(rf, f"SameNode group needs {mem} MB and {cpu / CPU_UNITS:.2f} "
                             "logical processors together and fits on no host", row=row,
                             column="groups", value=r.name)


# ----------------------------------------------------------------------------- the writer
def _fmt(x: float) -> str:
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


def _csv_text(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
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
          str(s.enforced_anti_affinity).lower()]],
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
        ])
    files["hosts.csv"] = _csv_text([c.name for c in HOST_COLS], host_rows)
    vm_state = {VmState.RUNNING: "Running", VmState.OFF: "Off", VmState.SAVED: "Saved",
                VmState.PAUSED: "Paused"}
    prio = {3000: "High", 2000: "Medium", 1000: "Low", 0: "NoAutoStart"}
    hn = cluster.host_names
    all_hosts = cluster.vm_possible.all(axis=1)
    vm_rows = []
    for v in range(cluster.n_vms):
        vc = int(cluster.vm_vcpus[v])
        po = "" if all_hosts[v] else ";".join(hn[h] for h in np.flatnonzero(
            cluster.vm_possible[v]))
        vm_rows.append([
            cluster.vm_names[v], hn[cluster.vm_host[v]], vm_state[VmState(cluster.vm_state[v])],
            prio.get(int(cluster.vm_priority[v]), int(cluster.vm_priority[v])), vc,
            int(cluster.vm_memory_mb[v]),
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
              ";".join(cluster.vm_names[m] for m in r.members)] for r in cluster.rules],
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
    """Write a cluster as a snapshot directory (UTF-8, comma-separated, LF line ends)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for fname, text in snapshot_files(cluster, catalog).items():
        (d / fname).write_text(text, encoding="utf-8", newline="")
    return d
