"""vms.csv → :class:`~planner.snapshot.records.VmRows`: cell checks, host references,
owner lists and the Dynamic Memory columns, unique names."""

from __future__ import annotations

from typing import Any

from planner.cluster import VmState
from planner.diagnostics import Report
from planner.snapshot.csvfile import Table
from planner.snapshot.records import HostRows, VmRows, named_rows
from planner.snapshot.schema import MAX_VMS, VM_COLS


def vm_rows(table: Table | None, hosts: HostRows | None, report: Report) -> VmRows | None:
    """The VMs of ``vms.csv`` with their host and owner lists resolved through ``hosts``
    (``None`` when the file is absent or unreadable)."""
    if table is None:
        return None
    check_refs = hosts is not None and hosts.names_known

    def check(r: dict[str, Any], duplicate: bool) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
        num = r["_row"]
        h = -1
        if r["host"] is not None and hosts is not None:
            h = hosts.index.get(r["host"].casefold(), -1)
            if h < 0 and check_refs and r["host"].casefold() not in hosts.unresolved:
                report.error(
                    table.file,
                    "the VM's host is not in hosts.csv",
                    row=num,
                    column="host",
                    value=r["host"],
                    expected="a host name from hosts.csv",
                )
        if r["config_version"] is None and "config_version" not in r.get("_bad", ()):
            r["config_version"] = 10.0
        _memory_columns(r, table.file, report)
        po, po_ok = _host_list(
            r["possible_owners"] or (), hosts, report, table.file, num, "possible_owners"
        )
        pr, pr_ok = _host_list(
            r["preferred_owners"] or (), hosts, report, table.file, num, "preferred_owners"
        )
        if not (po_ok and pr_ok and h >= 0):
            r.setdefault("_bad", set()).add("host")
        return h, po, pr

    named = named_rows(table, VM_COLS, "VM", report, check, listed=True)
    if len(named.rows) > MAX_VMS:
        report.warning(
            table.file,
            f"{len(named.rows)} VMs; a failover cluster supports at most {MAX_VMS} running VMs",
        )
    return VmRows(
        named.rows,
        named.index,
        [h for h, _, _ in named.extra],
        [po for _, po, _ in named.extra],
        [pr for _, _, pr in named.extra],
        table.file,
        named.names_known,
        named.unresolved,
    )


def _host_list(
    names: tuple[str, ...],
    hosts: HostRows | None,
    report: Report,
    file: str,
    row: int,
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
                report.error(
                    file,
                    "names a host that is not in hosts.csv",
                    row=row,
                    column=column,
                    value=n,
                    expected="host names from hosts.csv",
                )
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
    # (a, b) out of order, and the column to blame: the bound when given, else the startup.
    for a, b, bound in (
        ("memory_minimum_mb", "memory_startup_mb", "memory_minimum_mb"),
        ("memory_startup_mb", "memory_maximum_mb", "memory_maximum_mb"),
    ):
        if r[a] > r[b]:
            col = bound if given[bound] else "memory_startup_mb"
            report.error(
                file,
                f"Dynamic Memory needs {a} <= {b} ({r[a]} > {r[b]})",
                row=row,
                column=col,
                value=r[col],
                expected=f"minimum <= {start} <= maximum",
            )
            bad.add(col)
    if bad:
        r["_bad"] = bad
    elif r["state"] in (VmState.RUNNING, VmState.PAUSED) and not lo <= mem <= hi:
        report.warning(
            file,
            f"assigned memory_mb is outside the Dynamic Memory range {lo}..{hi} MB",
            row=row,
            column="memory_mb",
            value=mem,
        )
