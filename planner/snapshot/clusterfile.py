"""cluster.csv and networks.csv: the cluster's settings and its networks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from planner.cluster import ClusterSettings, Network, NetworkRole
from planner.diagnostics import Report
from planner.snapshot.csvfile import Table, parse_columns
from planner.snapshot.records import named_rows
from planner.snapshot.schema import CLUSTER_COLS, NETWORK_COLS


def cluster_settings(table: Table | None, d: Path, report: Report) -> tuple[ClusterSettings, str]:
    """The settings and name of ``cluster.csv`` (defaults, and the directory's name, when
    absent)."""
    name = d.resolve().name or "cluster"
    if table is None:
        return ClusterSettings(), name
    rows = parse_columns(table, CLUSTER_COLS, report)
    if not rows:
        return ClusterSettings(), name
    if len(rows) > 1:
        report.error(table.file, "cluster.csv must have exactly one data row", row=rows[1]["_row"])
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
        "%Y-%m-%dT%H:%M:%SZ"
    ):
        report.warning(
            table.file,
            "collected_utc is in the future: is the collector's clock right?",
            row=r["_row"],
            column="collected_utc",
            value=r["collected_utc"],
        )
    return settings, r["name"] or name


def network_rows(table: Table | None, report: Report) -> list[Network]:
    """The networks of ``networks.csv`` (none when the file is absent)."""
    if table is None:
        return []

    def check(r: dict[str, Any], duplicate: bool) -> Network | None:
        if duplicate:
            return None
        lmo = r["live_migration_order"]
        if lmo is not None and r["role"] == NetworkRole.NONE:
            report.warning(
                table.file,
                "network has role None (not used by the cluster) but "
                "a live_migration_order; it is not used for live migration",
                row=r["_row"],
                column="live_migration_order",
                value=lmo,
            )
            lmo = None
        if r["name"] is None or r["role"] is None or r["bandwidth_gbps"] is None:
            return None
        return Network(r["name"], NetworkRole(r["role"]), lmo, float(r["bandwidth_gbps"]))

    named = named_rows(table, NETWORK_COLS, "network", report, check)
    out = [n for n in named.extra if n is not None]
    if named.parsed and len(out) == named.parsed:
        _network_warnings(out, table.file, report)
    return out


def _network_warnings(out: list[Network], file: str, report: Report) -> None:
    """Cluster-wide warnings on a networks.csv whose every row is sound."""
    # Per DOMAIN.md: the cluster IP address needs a ClusterAndClient network, and one
    # live-migration network is a single point of failure for live migration.
    if not any(n.role == NetworkRole.CLUSTER_AND_CLIENT for n in out):
        report.warning(
            file,
            "no ClusterAndClient network: the cluster IP address cannot come online",
            column="role",
        )
    if all(n.role == NetworkRole.NONE for n in out):
        report.warning(
            file,
            "every network has role None: the nodes have no "
            "network for cluster traffic (heartbeats)",
            column="role",
        )
    lm = [n for n in out if n.live_migration_order is not None]
    if not lm:
        report.warning(
            file,
            "no network is used for live migration "
            "(live_migration_order is empty everywhere, or only on role None "
            "networks): live migration is impossible, Running VMs move only "
            "with downtime (allow_downtime)",
            column="live_migration_order",
        )
    elif len(lm) == 1:
        report.warning(
            file,
            "only one live-migration network: live migration "
            "stops when it fails (two are recommended)",
            column="live_migration_order",
            value=lm[0].name,
        )
