"""Read, validate and write cluster snapshots (a directory of CSV files, SPEC §1).

:func:`read_snapshot` never raises for problems in the user's files: it returns the cluster
(or ``None``) and a :class:`~planner.diagnostics.Report` listing *every* problem found, each
with file, spreadsheet row, column, value and what was expected.  :func:`load_snapshot` is the
convenience form that raises :class:`~planner.diagnostics.InvalidInput` when there are errors.

The package, bottom up:

* :mod:`~planner.snapshot.schema`: the column tables (:data:`COLUMNS`) and cell parsers (enum
  columns through the name tables of :mod:`planner.cluster`, shared with the writer);
* :mod:`~planner.snapshot.names`: what a name or value may hold (shared by reader and writer);
* :mod:`~planner.snapshot.csvfile`: bytes → text → a :class:`Table` of trimmed strings;
* :mod:`~planner.snapshot.records`: the parsed rows, and :func:`named_rows`, the one pass
  every file is read by (cells parsed, names unique, the file's row check);
* :mod:`~planner.snapshot.clusterfile`, :mod:`~planner.snapshot.hostfile`,
  :mod:`~planner.snapshot.vmfile`, :mod:`~planner.snapshot.rulefile`: one file each;
* :mod:`~planner.snapshot.build`: :func:`build_cluster`, the one cluster builder (also used
  by the generator and the tests), reached from the rows through
  :mod:`~planner.snapshot.assemble`;
* :mod:`~planner.snapshot.checks` and :mod:`~planner.snapshot.rulechecks`: whole-cluster
  checks on a built cluster;
* :mod:`~planner.snapshot.reader`: files → rows → cluster, every problem collected;
* :mod:`~planner.snapshot.writer`: cluster → CSV texts (the reader's exact inverse; it refuses
  what could not be read back).
"""

from planner.snapshot.build import HostColumns, VmColumns, build_cluster, cpu_milli
from planner.snapshot.csvfile import Table, find_file, parse_columns, read_table
from planner.snapshot.names import snapshot_name_problems
from planner.snapshot.reader import load_snapshot, read_snapshot, snapshot_digest
from planner.snapshot.records import named_rows
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
    "named_rows",
    "parse_columns",
    "read_snapshot",
    "read_table",
    "snapshot_digest",
    "snapshot_files",
    "snapshot_name_problems",
    "write_snapshot",
]
