"""What a name (or any text value) in a snapshot may hold, shared by the reader and the writer.

Any character is allowed except (SPEC §1, README "Names"):

* a line break (``\\n``, ``\\r``) or NUL, in every value: the reader refuses a multi-line cell
  (it is what an unclosed quote looks like) and a NUL character;
* ``;`` in a name that other rows list (host names in ``possible_owners`` and
  ``preferred_owners``, VM names in ``groups``) and in an item of a list column (CPU features,
  anti-affinity classes, non-VM rule members): it is the list separator.

The reader reports such values as errors with file, row, column and value; the writer
refuses them with the same messages (:func:`snapshot_name_problems`) before it writes
anything, so that every snapshot it writes reads back as the same cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from planner.diagnostics import Report

if TYPE_CHECKING:
    from planner.cluster import Cluster

#: Separator of the items of a list column (SPEC §1).
LIST_SEPARATOR = ";"
LINE_BREAK_MESSAGE = "a value may not hold a line break"
NUL_MESSAGE = "a value may not hold a NUL character"


def separator_message(what: str) -> str:
    """The message for a ``;`` in a listed name or list item (``what``: "host name", ...)."""
    return f"a {what} may not hold ';' (the separator of owner, group and feature lists)"


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a value of a snapshot cell, or ``None`` when it can."""
    if "\n" in text or "\r" in text:
        return LINE_BREAK_MESSAGE
    if "\x00" in text:
        return NUL_MESSAGE
    return None


class _Checker:
    """Collects the problems of the values the writer is about to write."""

    def __init__(self) -> None:
        self.report = Report()

    def value(self, file: str, row: int, column: str, text: str, what: str) -> None:
        why = text_problem(text)
        if why is not None:
            self.report.error(file, f"{what}: {why}", row=row, column=column, value=text)

    def listed(self, file: str, row: int, column: str, items: Iterable[str], what: str) -> None:
        for item in items:
            if LIST_SEPARATOR in item:
                self.report.error(file, separator_message(what), row=row, column=column, value=item)
            else:
                self.value(file, row, column, item, what)

    def names(self, file: str, names: Sequence[str], what: str, *, listed: bool = False) -> None:
        """The ``name`` column of one file: non-empty, unique ignoring case, and holding
        only what a name may hold (row ``i + 2`` is the spreadsheet row of entry ``i``)."""
        first: dict[str, int] = {}
        for i, name in enumerate(names):
            row = i + 2
            if not name.strip():
                self.report.error(
                    file, f"a {what} may not be empty", row=row, column="name", value=name
                )
                continue
            if listed:
                self.listed(file, row, "name", (name,), what)
            else:
                self.value(file, row, "name", name, what)
            key = name.strip().casefold()
            if key in first:
                self.report.error(
                    file,
                    f"duplicate {what} (names ignore case; first on row {first[key]})",
                    row=row,
                    column="name",
                    value=name,
                )
            first.setdefault(key, row)


def snapshot_name_problems(cluster: Cluster) -> Report:
    """Every value of ``cluster`` that its snapshot files could not hold.

    Parameters
    ----------
    cluster:
        The cluster to be written.

    Returns
    -------
    Report
        One error per value, at the file, row, column and value the writer would write it
        to: a line break or NUL anywhere, ``;`` in a host or VM name or a list item, an
        empty or duplicate name.  Empty when the cluster can be written.
    """
    c = _Checker()
    c.value("cluster.csv", 2, "name", cluster.name, "cluster name")
    c.names("hosts.csv", cluster.host_names, "host name", listed=True)
    features = np.asarray(cluster.host_features)
    for h in range(cluster.n_hosts):
        row = h + 2
        domain = cluster.fault_domains[cluster.host_fault_domain[h]]
        c.value("hosts.csv", row, "fault_domain", domain, "fault domain")
        c.value("hosts.csv", row, "cpu_model", cluster.host_cpu_model[h], "CPU model")
        names = [cluster.features[i] for i in np.flatnonzero(features[h])]
        c.listed("hosts.csv", row, "cpu_features", names, "CPU feature")
    c.names("vms.csv", cluster.vm_names, "VM name", listed=True)
    for v, classes in enumerate(cluster.vm_aa_classes):
        names = [cluster.aa_class_names[k] for k in classes]
        c.listed("vms.csv", v + 2, "anti_affinity_class_names", names, "anti-affinity class")
    c.names("affinity_rules.csv", [r.name for r in cluster.rules], "rule name")
    for i, r in enumerate(cluster.rules):
        c.listed("affinity_rules.csv", i + 2, "groups", r.other_members, "rule member")
    c.names("networks.csv", [n.name for n in cluster.networks], "network name")
    return c.report


__all__ = [
    "LINE_BREAK_MESSAGE",
    "LIST_SEPARATOR",
    "NUL_MESSAGE",
    "separator_message",
    "snapshot_name_problems",
    "text_problem",
]
