"""hosts.csv → :class:`~planner.snapshot.records.HostRows`: cell checks, memory reserve,
fault domain and CPU feature defaults, unique names."""

from __future__ import annotations

from typing import Any

from planner.catalog import CpuCatalog
from planner.cluster import VENDOR_CPUID, default_memory_reserve_mb
from planner.diagnostics import Report
from planner.snapshot.csvfile import Table
from planner.snapshot.records import HostRows, named_rows
from planner.snapshot.schema import HOST_COLS, MAX_LOGICAL_PROCESSORS, MAX_NODES


def host_rows(table: Table | None, cat: CpuCatalog, report: Report) -> HostRows | None:
    """The hosts of ``hosts.csv`` (``None`` when the file is absent or unreadable)."""
    if table is None:
        return None

    def check(r: dict[str, Any], duplicate: bool) -> frozenset[str]:
        _memory_reserve(r, table.file, report)
        lp = r["logical_processors"]
        if lp is not None and lp > MAX_LOGICAL_PROCESSORS:
            report.warning(
                table.file,
                f"more than {MAX_LOGICAL_PROCESSORS} logical "
                "processors per host is beyond Hyper-V's limit",
                row=r["_row"],
                column="logical_processors",
                value=lp,
            )
        if r["fault_domain"] is None:
            r["fault_domain"] = r["name"]
        return _features(r, cat, table.file, report)

    named = named_rows(table, HOST_COLS, "host", report, check, listed=True)
    if not named.parsed and not table.skipped:
        report.error(table.file, "no hosts: the file has a header but no data rows")
    if len(named.rows) > MAX_NODES:
        report.warning(
            table.file, f"{len(named.rows)} nodes; a failover cluster supports at most {MAX_NODES}"
        )
    return HostRows(
        named.rows, named.index, named.extra, table.file, named.names_known, named.unresolved
    )


def _memory_reserve(r: dict[str, Any], file: str, report: Report) -> None:
    """The documented default reserve when none is given; a reserve below the memory."""
    mem, reserve = r["memory_mb"], r["memory_reserve_mb"]
    if mem is not None and reserve is None and "memory_reserve_mb" not in r.get("_bad", ()):
        r["memory_reserve_mb"] = reserve = default_memory_reserve_mb(mem)
    if mem is not None and reserve is not None and reserve >= mem:
        report.error(
            file,
            f"memory_reserve_mb must be below memory_mb ({mem})",
            row=r["_row"],
            column="memory_reserve_mb",
            value=reserve,
            expected=f"an integer from 0 to {mem - 1}",
        )
        r.setdefault("_bad", set()).add("memory_reserve_mb")


def _features(r: dict[str, Any], cat: CpuCatalog, file: str, report: Report) -> frozenset[str]:
    """The host's CPU features: ``cpu_features`` when given, else its catalog model's, else
    the vendor's minimum set (with a warning)."""
    num, vendor = r["_row"], r["cpu_vendor"]
    model_name = r["cpu_model"] or ""
    explicit = r["cpu_features"]
    model = cat.get(model_name) if model_name else None
    if model_name and model is None and not explicit:
        report.warning(
            file,
            "CPU model is not in the catalog and cpu_features is "
            "empty; the vendor's minimum feature set is assumed",
            row=num,
            column="cpu_model",
            value=model_name,
        )
    if model is not None and vendor is not None and model.vendor != vendor:
        report.error(
            file,
            f"CPU model {model.name} is made by "
            f"{VENDOR_CPUID[model.vendor]}, not {VENDOR_CPUID[vendor]}",
            row=num,
            column="cpu_model",
            value=model_name,
        )
    if explicit:
        return frozenset(explicit)
    if model is not None:
        return model.features
    if not model_name:
        report.warning(
            file,
            "no cpu_model or cpu_features: the vendor's minimum feature set is assumed",
            row=num,
            column="cpu_model",
        )
    return cat.baseline(vendor) if vendor is not None else frozenset()
