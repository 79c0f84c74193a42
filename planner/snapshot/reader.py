"""Files → rows → cluster: :func:`read_snapshot` and :func:`load_snapshot`.

Every problem is collected: cell-level ones (types, ranges, names), cross-file references,
then the whole-cluster checks (:mod:`planner.snapshot.checks`).  Each file is read by its own
module (:mod:`~planner.snapshot.clusterfile`, :mod:`~planner.snapshot.hostfile`,
:mod:`~planner.snapshot.vmfile`, :mod:`~planner.snapshot.rulefile`), every one through the
same pass (:func:`~planner.snapshot.records.named_rows`); :mod:`~planner.snapshot.assemble`
turns the rows into the cluster.  When some rows are bad, the whole-cluster checks still run
on the good rows, so one pass shows everything.  Rule members that are not VMs (Cluster
Shared Volumes, other groups) are kept as ``Rule.other_members`` with a warning.  The
cluster carries ``snapshot_sha256`` over the files as read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import Cluster
from planner.diagnostics import InvalidInput, Report
from planner.snapshot.assemble import cluster_of, good_subset
from planner.snapshot.checks import cluster_checks
from planner.snapshot.clusterfile import cluster_settings, network_rows
from planner.snapshot.csvfile import find_file, read_table
from planner.snapshot.hostfile import host_rows
from planner.snapshot.rulefile import rule_rows
from planner.snapshot.schema import COLUMNS, FILES, HISTORY_FILES
from planner.snapshot.vmfile import vm_rows


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
    if d.is_symlink() and not d.exists():
        report.error(
            str(d),
            "the snapshot directory is a symbolic link that leads nowhere "
            "(a loop, or a missing target)",
        )
        return None, report
    if not d.exists():
        report.error(str(d), "snapshot directory does not exist")
        return None, report
    if not d.is_dir():
        report.error(str(d), "expected a snapshot directory of CSV files, found a file")
        return None, report
    cat = catalog or default_catalog()
    read: dict[str, bytes] = {}
    tables = {
        f: read_table(
            find_file(d, f),
            report,
            required=f in ("hosts.csv", "vms.csv"),
            columns=[c.name for c in cols],
            read=read,
        )
        for f, cols in COLUMNS.items()
    }
    settings, cname = cluster_settings(tables["cluster.csv"], d, report)
    hosts = host_rows(tables["hosts.csv"], cat, report)
    vms = vm_rows(tables["vms.csv"], hosts, report)
    rules = rule_rows(tables["affinity_rules.csv"], vms, report)
    networks = network_rows(tables["networks.csv"], report)
    if hosts is None or vms is None:
        return None, report
    if report.valid:
        cluster = cluster_of(cname, settings, hosts, vms, rules, networks, cat, d)
        cluster_checks(cluster, vms, rules, report)
        history = _history(d, cluster, report) if report.valid else None
        if not report.valid:
            return None, report
        return cluster.replace(history=history, snapshot_sha256=snapshot_digest(d, read)), report
    if not any(p.file == hosts.file for p in report.errors) and hosts.rows:
        # Hosts are sound: check the sound VMs and rules as a whole too, so that the user
        # sees every problem in one pass.  Dropping bad rows can only hide whole-cluster
        # problems, never invent one.
        good_vms, good_rules = good_subset(vms, rules, report)
        partial = cluster_of(cname, settings, hosts, good_vms, good_rules, networks, cat, d)
        cluster_checks(partial, good_vms, good_rules, report)
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


def _history(d: Path, cluster: Cluster, report: Report) -> Any:
    """The load history when the directory has a history file; the reader (pandas,
    pyarrow) is imported only then, so that a snapshot without one loads quickly."""
    try:
        names = [p.name.casefold() for p in d.iterdir()]
    except OSError:
        names = []
    if not any(n.startswith(("vm_history", "host_history")) for n in names):
        return None
    from planner.history.reader import load_history

    return load_history(d, cluster, report)
