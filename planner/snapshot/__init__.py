"""Read, validate and write cluster snapshots (a directory of CSV files, SPEC §1).

:func:`read_snapshot` never raises for problems in the user's files: it returns the cluster
(or ``None``) and a :class:`~planner.diagnostics.Report` listing *every* problem found, each
with file, spreadsheet row, column, value and what was expected.  :func:`load_snapshot` is the
convenience form that raises :class:`~planner.diagnostics.InvalidInput` when there are errors.

The package, bottom up:

* :mod:`~planner.snapshot.schema`: the column tables (:data:`COLUMNS`) and cell parsers;
* :mod:`~planner.snapshot.csvfile`: bytes → text → a :class:`Table` of trimmed strings;
* :mod:`~planner.snapshot.build`: :func:`build_cluster`, the one cluster builder (also used
  by the generator and the tests);
* :mod:`~planner.snapshot.checks`: whole-cluster checks on a built cluster;
* :mod:`~planner.snapshot.reader`: files → rows → cluster, every problem collected;
* :mod:`~planner.snapshot.writer`: cluster → CSV texts (the reader's exact inverse).
"""

from planner.snapshot.build import HostColumns, VmColumns, build_cluster, cpu_milli
from planner.snapshot.csvfile import Table, find_file, parse_columns, read_table
from planner.snapshot.reader import load_snapshot, read_snapshot, snapshot_digest
from planner.snapshot.schema import (
    CLUSTER_COLS,
    COLUMNS,
    FILES,
    HISTORY_FILES,
    HOST_COLS,
    MAX_FIELD_CHARS,
    MAX_FILE_BYTES,
    NETWORK_COLS,
    RULE_COLS,
    VM_COLS,
    Col,
)
from planner.snapshot.writer import snapshot_files, write_snapshot

__all__ = [
    "CLUSTER_COLS",
    "COLUMNS",
    "FILES",
    "HISTORY_FILES",
    "HOST_COLS",
    "MAX_FIELD_CHARS",
    "MAX_FILE_BYTES",
    "NETWORK_COLS",
    "RULE_COLS",
    "VM_COLS",
    "Col",
    "HostColumns",
    "Table",
    "VmColumns",
    "build_cluster",
    "cpu_milli",
    "find_file",
    "load_snapshot",
    "parse_columns",
    "read_snapshot",
    "read_table",
    "snapshot_digest",
    "snapshot_files",
    "write_snapshot",
]
