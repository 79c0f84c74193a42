"""affinity_rules.csv → :class:`~planner.snapshot.records.RuleRows`: members resolved
through the VMs (names that are not VMs kept as other cluster groups, with a warning),
unique names."""

from __future__ import annotations

import difflib
from typing import Any

from planner.diagnostics import Report
from planner.snapshot.csvfile import Table
from planner.snapshot.records import RuleRows, VmRows, named_rows
from planner.snapshot.schema import RULE_COLS


def _close_vm_hint(name: str, vms: VmRows) -> str:
    """``" (is it VM 'SQL01'?)"`` when a VM's name is close to ``name``."""
    close = difflib.get_close_matches(name.casefold(), list(vms.index), n=1, cutoff=0.8)
    if not close:
        return ""
    return f" (is it VM '{vms.rows[vms.index[close[0]]]['name']}'?)"


def rule_rows(table: Table | None, vms: VmRows | None, report: Report) -> RuleRows:
    """The rules of ``affinity_rules.csv`` with their members resolved through ``vms``."""
    if table is None:
        return RuleRows([], [], "affinity_rules.csv")
    check_refs = vms is not None and vms.names_known

    def check(r: dict[str, Any], duplicate: bool) -> tuple[int, ...]:
        num = r["_row"]
        mem: list[int] = []
        other: list[str] = []
        for g in r["groups"] or ():
            v = vms.index.get(g.casefold()) if vms is not None else None
            if v is not None:
                if v not in mem:
                    mem.append(v)
            elif (
                check_refs
                and vms is not None
                and g.casefold() not in vms.unresolved
                and g.casefold() not in {o.casefold() for o in other}
            ):
                # Microsoft's own examples put Cluster Shared Volumes and other cluster
                # groups in affinity rules: kept and reported, they constrain nothing.
                other.append(g)
                report.warning(
                    table.file,
                    "rule member is not a VM in vms.csv: kept as a "
                    "non-VM cluster group (a Cluster Shared Volume, another "
                    "group); it does not constrain the plan" + _close_vm_hint(g, vms),
                    row=num,
                    column="groups",
                    value=g,
                )
            elif not check_refs or vms is None or g.casefold() in vms.unresolved:
                r.setdefault("_bad", set()).add("groups")
        r["_other"] = tuple(other)
        if r["rule_type"] is not None and r["enabled"] is not None:
            if not mem and not other and "groups" not in r.get("_bad", ()):
                report.warning(table.file, "rule has no members", row=num, column="groups")
            if r["enabled"] is False:
                report.warning(
                    table.file,
                    "rule is disabled: it is reported, not enforced",
                    row=num,
                    column="enabled",
                    value="false",
                )
        return tuple(mem)

    named = named_rows(table, RULE_COLS, "rule", report, check)
    return RuleRows(named.rows, named.extra, table.file)
