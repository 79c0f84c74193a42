"""The snapshot's column tables (SPEC §1) and the cell parsers they use.

Each :class:`Col` names a column, its parser, whether it is required and its default.  The
enum columns parse through one table per enum, kept next to the enum in
:mod:`planner.cluster` (``HOST_STATE_NAMES``, ``VM_STATE_NAMES``, ``PRIORITY_NAMES``,
``AUTO_BALANCER_MODE_NAMES``, ...) and shared with the writer, so a value the writer writes is
always one the reader reads; only input aliases (``Intel``, the numbers) are added here.
Numbers are ASCII only: ``int()``/``float()`` would accept ``32_768``, full-width digits,
``nan`` and ``inf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from planner.cluster import (
    AUTO_BALANCER_LEVEL_NAMES,
    AUTO_BALANCER_MODE_NAMES,
    COMPAT_NAMES,
    DEFAULT_MAX_RUNNING_VMS,
    HOST_STATE_NAMES,
    NETWORK_ROLE_NAMES,
    PRIORITY_NAMES,
    RULE_TYPE_NAMES,
    VENDOR_CPUID,
    VM_STATE_NAMES,
    CompatMode,
    HostState,
    NetworkRole,
    Vendor,
    VmState,
)

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
HISTORY_FILES = ("vm_history.csv", "vm_history.parquet", "host_history.csv", "host_history.parquet")


class BadValue(ValueError):
    """A cell value that does not parse; the message says what was expected."""


# ----------------------------------------------------------------------------- cell parsers
Parser = Callable[[str], Any]


def _text(s: str) -> str:
    if not s:
        raise BadValue("a non-empty text")
    return s


def _plain(s: str) -> bool:
    """ASCII and no ``_``: ``int()``/``float()`` also accept ``32_768`` and full-width or
    other Unicode digits (``１２``), which no exporter writes and a reader should refuse."""
    return s.isascii() and "_" not in s


def _number(s: str, exp: str) -> float:
    """``float(s)`` or :class:`BadValue` with a hint for the usual spreadsheet slips."""
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
            raise BadValue(f"{exp}, with a dot as the decimal separator") from None
    if s.endswith("%"):
        raise BadValue(f"{exp}, without the % sign") from None
    raise BadValue(exp) from None


def _int(lo: int | None = None, hi: int | None = None) -> Parser:
    def parse(s: str) -> int:
        if not _plain(s):
            raise BadValue(_range_text("an integer", lo, hi))
        # Fast path for plain integers; ``float`` accepts what PowerShell may write ("4.0").
        try:
            v = int(s)
        except ValueError:
            f = _number(s, _range_text("an integer", lo, hi))
            if not math.isfinite(f) or f != int(f):
                raise BadValue(_range_text("an integer", lo, hi)) from None
            v = int(f)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise BadValue(_range_text("an integer", lo, hi))
        return v

    return parse


def _num(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Parser:
    def parse(s: str) -> float:
        if not _plain(s):
            raise BadValue(_range_text("a number", lo, hi, lo_open))
        try:
            v = float(s)
        except ValueError:
            v = _number(s, _range_text("a number", lo, hi, lo_open))
        if (
            not math.isfinite(v)
            or (lo is not None and (v < lo or (lo_open and v == lo)))
            or (hi is not None and v > hi)
        ):
            raise BadValue(_range_text("a number", lo, hi, lo_open))
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
_BOOLS = {
    "true": True,
    "1": True,
    "yes": True,
    "$true": True,
    "false": False,
    "0": False,
    "no": False,
    "$false": False,
}


def _bool(s: str) -> bool:
    try:
        return _BOOLS[s.lower()]
    except KeyError:
        raise BadValue("true/false, 1/0 or yes/no") from None


def _enum(mapping: dict[str, Any], shown: str) -> Parser:
    norm = {k.replace(" ", "").casefold(): v for k, v in mapping.items()}

    def parse(s: str) -> Any:
        key = s.replace(" ", "").casefold()
        if key in norm:
            return norm[key]
        if not _plain(s):
            raise BadValue(f"one of {shown}")
        try:
            f = float(s)
        except ValueError:
            raise BadValue(f"one of {shown}") from None
        if math.isfinite(f) and f == int(f) and str(int(f)) in norm:
            return norm[str(int(f))]
        raise BadValue(f"one of {shown}")

    return parse


_TIME_EXPECTED = "an ISO 8601 time such as 2026-12-01T08:30:00Z"


def _timestamp(s: str) -> str:
    """ISO 8601 time → the same instant in UTC as ``YYYY-MM-DDTHH:MM:SSZ``.  A time without
    an offset is taken as UTC (the column is named ``_utc``)."""
    if not s.isascii():
        raise BadValue(_TIME_EXPECTED)
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        raise BadValue(_TIME_EXPECTED) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list(s: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in s.split(";") if item.strip())


def _texts(
    names: Mapping[Any, str], *, numbers: bool = False, aliases: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Text → value for an enum column: its table of names (shared with the writer), the
    values as numbers when the column accepts them (``"2"`` → 2), and input-only aliases."""
    out: dict[str, Any] = {name: value for value, name in names.items()}
    if numbers:
        out.update({str(int(value)): value for value in names})
    out.update(aliases or {})
    return out


_HOST_STATE = _enum(_texts(HOST_STATE_NAMES), "Up, Paused, Down")
_VENDOR = _enum(
    _texts(VENDOR_CPUID, aliases={"Intel": Vendor.INTEL, "AMD": Vendor.AMD, "Hygon": Vendor.HYGON}),
    "GenuineIntel, AuthenticAMD (or Intel, AMD; HygonGenuine)",
)
_VM_STATE = _enum(_texts(VM_STATE_NAMES), "Running, Off, Saved, Paused")
_PRIORITY = _enum(
    _texts(PRIORITY_NAMES, numbers=True),
    "High, Medium, Low, NoAutoStart (or 3000, 2000, 1000, 0)",
)
_COMPAT = _enum(_texts(COMPAT_NAMES), "None, MinimumFeatureSet, CommonClusterFeatureSet")
_RULE_TYPE = _enum(
    _texts(RULE_TYPE_NAMES, numbers=True),
    "SameNode, DifferentNode, SameFaultDomain, DifferentFaultDomain (or 2, 4, 1, 3)",
)
_ROLE = _enum(
    _texts(NETWORK_ROLE_NAMES, numbers=True), "None, Cluster, ClusterAndClient (or 0, 1, 3)"
)
_BAL_MODE = _enum(_texts(AUTO_BALANCER_MODE_NAMES, numbers=True), "0, 1, 2")
_BAL_LEVEL = _enum(_texts(AUTO_BALANCER_LEVEL_NAMES, numbers=True), "1, 2, 3 (Low, Medium, High)")


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
