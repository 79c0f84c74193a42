"""Files → rows → cluster: :func:`read_snapshot` and :func:`load_snapshot`.

Every problem is collected: cell-level ones (types, ranges, names), cross-file references,
then the whole-cluster checks (:mod:`planner.snapshot.checks`).  When some rows are bad, the
whole-cluster checks still run on the good rows, so one pass shows everything.  Rule members
that are not VMs (Cluster Shared Volumes, other groups) are kept as ``Rule.other_members``
with a warning.  The cluster carries ``snapshot_sha256`` over the files as read.
"""

from __future__ import annotations

import difflib
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from planner.catalog import CpuCatalog, default_catalog
from planner.cluster import (
    ANY_CONFIG_VERSION,
    VENDOR_CPUID,
    Cluster,
    ClusterSettings,
    Network,
    NetworkRole,
    Rule,
    RuleType,
    VmState,
    default_memory_reserve_mb,
)
from planner.diagnostics import InvalidInput, Report
from planner.snapshot.build import HostColumns, VmColumns, build_cluster, cpu_milli
from planner.snapshot.checks import cluster_checks
from planner.snapshot.csvfile import Table, find_file, parse_columns, read_table
from planner.snapshot.records import HostRows, RuleRows, VmRows
from planner.snapshot.schema import (
    CLUSTER_COLS,
    COLUMNS,
    FILES,
    HISTORY_FILES,
    HOST_COLS,
    MAX_LOGICAL_PROCESSORS,
    MAX_NODES,
    MAX_VMS,
    NETWORK_COLS,
    RULE_COLS,
    VM_COLS,
)


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
    settings, cname = _cluster_settings(tables["cluster.csv"], d, report)
    hosts = _hosts(tables["hosts.csv"], cat, report)
    vms = _vms(tables["vms.csv"], hosts, report)
    rules = _rules(tables["affinity_rules.csv"], vms, report)
    networks = _networks(tables["networks.csv"], report)
    if hosts is None or vms is None:
        return None, report
    if report.valid:
        cluster = _cluster_of(cname, settings, hosts, vms, rules, networks, cat, d)
        cluster_checks(cluster, vms, rules, report)
        history = _history(d, cluster, report) if report.valid else None
        if not report.valid:
            return None, report
        return cluster.replace(history=history, snapshot_sha256=snapshot_digest(d, read)), report
    if not any(p.file == hosts.file for p in report.errors) and hosts.rows:
        # Hosts are sound: check the sound VMs and rules as a whole too, so that the user
        # sees every problem in one pass.  Dropping bad rows can only hide whole-cluster
        # problems, never invent one.
        good_vms, good_rules = _good_subset(vms, rules, report)
        partial = _cluster_of(cname, settings, hosts, good_vms, good_rules, networks, cat, d)
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


def _cluster_settings(table: Table | None, d: Path, report: Report) -> tuple[ClusterSettings, str]:
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


def _hosts(table: Table | None, cat: CpuCatalog, report: Report) -> HostRows | None:
    if table is None:
        return None
    rows = parse_columns(table, HOST_COLS, report)
    if not rows and not table.skipped:
        report.error(table.file, "no hosts: the file has a header but no data rows")
    index: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    features: list[frozenset[str]] = []
    unresolved = table.skipped_values("name")
    for r in rows:
        num = r["_row"]
        duplicate = False
        if r["name"] is not None:
            key = r["name"].casefold()
            if key in index:
                first = kept[index[key]]["_row"]
                report.error(
                    table.file,
                    f"duplicate host name (names ignore case; first on row {first})",
                    row=num,
                    column="name",
                    value=r["name"],
                    expected="a host name not used on another row",
                )
                duplicate = True
        # Every check below runs even when the name is bad, so that one pass shows all the
        # problems of the row.
        vendor = r["cpu_vendor"]
        mem, reserve = r["memory_mb"], r["memory_reserve_mb"]
        if mem is not None and reserve is None and "memory_reserve_mb" not in r.get("_bad", ()):
            r["memory_reserve_mb"] = reserve = default_memory_reserve_mb(mem)
        if mem is not None and reserve is not None and reserve >= mem:
            report.error(
                table.file,
                f"memory_reserve_mb must be below memory_mb ({mem})",
                row=num,
                column="memory_reserve_mb",
                value=reserve,
                expected=f"an integer from 0 to {mem - 1}",
            )
            r.setdefault("_bad", set()).add("memory_reserve_mb")
        lp = r["logical_processors"]
        if lp is not None and lp > MAX_LOGICAL_PROCESSORS:
            report.warning(
                table.file,
                f"more than {MAX_LOGICAL_PROCESSORS} logical "
                "processors per host is beyond Hyper-V's limit",
                row=num,
                column="logical_processors",
                value=lp,
            )
        if r["fault_domain"] is None:
            r["fault_domain"] = r["name"]
        model_name = r["cpu_model"] or ""
        explicit = r["cpu_features"]
        model = cat.get(model_name) if model_name else None
        if model_name and model is None and not explicit:
            report.warning(
                table.file,
                "CPU model is not in the catalog and cpu_features is "
                "empty; the vendor's minimum feature set is assumed",
                row=num,
                column="cpu_model",
                value=model_name,
            )
        if model is not None and vendor is not None and model.vendor != vendor:
            report.error(
                table.file,
                f"CPU model {model.name} is made by "
                f"{VENDOR_CPUID[model.vendor]}, not {VENDOR_CPUID[vendor]}",
                row=num,
                column="cpu_model",
                value=model_name,
            )
        if explicit:
            feats = frozenset(explicit)
        elif model is not None:
            feats = model.features
        else:
            if not model_name:
                report.warning(
                    table.file,
                    "no cpu_model or cpu_features: the vendor's minimum feature set is assumed",
                    row=num,
                    column="cpu_model",
                )
            feats = cat.baseline(vendor) if vendor is not None else frozenset()
        if r["name"] is None or duplicate:
            if r["name"] is not None:
                unresolved.add(r["name"].casefold())
            continue
        index[r["name"].casefold()] = len(kept)
        kept.append(r)
        features.append(feats)
    if len(kept) > MAX_NODES:
        report.warning(
            table.file, f"{len(kept)} nodes; a failover cluster supports at most {MAX_NODES}"
        )
    return HostRows(kept, index, features, table.file, "name" in table.header, unresolved)


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
    if lo > start:
        col = "memory_minimum_mb" if given["memory_minimum_mb"] else "memory_startup_mb"
        report.error(
            file,
            f"Dynamic Memory needs memory_minimum_mb <= memory_startup_mb ({lo} > {start})",
            row=row,
            column=col,
            value=r[col],
            expected=f"minimum <= {start} <= maximum",
        )
        bad.add(col)
    if start > hi:
        col = "memory_maximum_mb" if given["memory_maximum_mb"] else "memory_startup_mb"
        report.error(
            file,
            f"Dynamic Memory needs memory_startup_mb <= memory_maximum_mb ({start} > {hi})",
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


def _vms(table: Table | None, hosts: HostRows | None, report: Report) -> VmRows | None:
    if table is None:
        return None
    rows = parse_columns(table, VM_COLS, report)
    index: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    host: list[int] = []
    possible: list[tuple[int, ...]] = []
    preferred: list[tuple[int, ...]] = []
    unresolved = table.skipped_values("name")
    check_refs = hosts is not None and hosts.names_known
    for r in rows:
        num = r["_row"]
        duplicate = False
        if r["name"] is not None:
            key = r["name"].casefold()
            if key in index:
                first = kept[index[key]]["_row"]
                report.error(
                    table.file,
                    f"duplicate VM name (names ignore case; first on row {first})",
                    row=num,
                    column="name",
                    value=r["name"],
                    expected="a VM name not used on another row",
                )
                duplicate = True
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
        if r["name"] is None or duplicate:
            if r["name"] is not None:
                unresolved.add(r["name"].casefold())
            continue
        index[r["name"].casefold()] = len(kept)
        kept.append(r)
        host.append(h)
        possible.append(po)
        preferred.append(pr)
    if len(kept) > MAX_VMS:
        report.warning(
            table.file,
            f"{len(kept)} VMs; a failover cluster supports at most {MAX_VMS} running VMs",
        )
    return VmRows(
        kept, index, host, possible, preferred, table.file, "name" in table.header, unresolved
    )


def _close_vm_hint(name: str, vms: VmRows) -> str:
    """``" (is it VM 'SQL01'?)"`` when a VM's name is close to ``name``."""
    close = difflib.get_close_matches(name.casefold(), list(vms.index), n=1, cutoff=0.8)
    if not close:
        return ""
    return f" (is it VM '{vms.rows[vms.index[close[0]]]['name']}'?)"


def _rules(table: Table | None, vms: VmRows | None, report: Report) -> RuleRows:
    if table is None:
        return RuleRows([], [], "affinity_rules.csv")
    rows = parse_columns(table, RULE_COLS, report)
    seen: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    members: list[tuple[int, ...]] = []
    check_refs = vms is not None and vms.names_known
    for r in rows:
        num = r["_row"]
        duplicate = False
        if r["name"] is not None:
            key = r["name"].casefold()
            if key in seen:
                report.error(
                    table.file,
                    f"duplicate rule name (names ignore case; first on row {seen[key]})",
                    row=num,
                    column="name",
                    value=r["name"],
                    expected="a rule name not used on another row",
                )
                duplicate = True
            else:
                seen[key] = num
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
        if r["name"] is None or duplicate:
            continue
        kept.append(r)
        members.append(tuple(mem))
    return RuleRows(kept, members, table.file)


def _networks(table: Table | None, report: Report) -> list[Network]:
    if table is None:
        return []
    rows = parse_columns(table, NETWORK_COLS, report)
    seen: set[str] = set()
    out: list[Network] = []
    for r in rows:
        if r["name"] is not None:
            if r["name"].casefold() in seen:
                report.error(
                    table.file,
                    "duplicate network name (names ignore case)",
                    row=r["_row"],
                    column="name",
                    value=r["name"],
                )
                continue
            seen.add(r["name"].casefold())
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
            continue
        out.append(Network(r["name"], NetworkRole(r["role"]), lmo, float(r["bandwidth_gbps"])))
    if rows and len(out) == len(rows):
        # Per DOMAIN.md: the cluster IP address needs a ClusterAndClient network, and one
        # live-migration network is a single point of failure for live migration.
        if not any(n.role == NetworkRole.CLUSTER_AND_CLIENT for n in out):
            report.warning(
                table.file,
                "no ClusterAndClient network: the cluster IP address cannot come online",
                column="role",
            )
        if all(n.role == NetworkRole.NONE for n in out):
            report.warning(
                table.file,
                "every network has role None: the nodes have no "
                "network for cluster traffic (heartbeats)",
                column="role",
            )
        lm = [n for n in out if n.live_migration_order is not None]
        if not lm:
            report.warning(
                table.file,
                "no network is used for live migration "
                "(live_migration_order is empty everywhere, or only on role None "
                "networks): live migration is impossible, Running VMs move only "
                "with downtime (allow_downtime)",
                column="live_migration_order",
            )
        elif len(lm) == 1:
            report.warning(
                table.file,
                "only one live-migration network: live migration "
                "stops when it fails (two are recommended)",
                column="live_migration_order",
                value=lm[0].name,
            )
    return out


def _good_subset(vms: VmRows, rules: RuleRows, report: Report) -> tuple[VmRows, RuleRows]:
    """The VMs and rules whose rows have no error, with indices renumbered."""
    bad_rows = {(p.file, p.row) for p in report.errors}
    keep = [
        i
        for i, r in enumerate(vms.rows)
        if "_bad" not in r
        and (vms.file, r["_row"]) not in bad_rows
        and all(r[c.name] is not None for c in VM_COLS if c.name != "config_version")
        and r["config_version"] is not None
    ]
    new_of = {old: new for new, old in enumerate(keep)}
    good_vms = VmRows(
        [vms.rows[i] for i in keep],
        {k: new_of[i] for k, i in vms.index.items() if i in new_of},
        [vms.host[i] for i in keep],
        [vms.possible[i] for i in keep],
        [vms.preferred[i] for i in keep],
        vms.file,
    )
    rows: list[dict[str, Any]] = []
    members: list[tuple[int, ...]] = []
    for r, m in zip(rules.rows, rules.members, strict=True):
        if (
            "_bad" in r
            or (rules.file, r["_row"]) in bad_rows
            or r["rule_type"] is None
            or r["enabled"] is None
        ):
            continue
        rows.append(r)
        members.append(tuple(new_of[v] for v in m if v in new_of))
    return good_vms, RuleRows(rows, members, rules.file)


def _cluster_of(
    name: str,
    settings: ClusterSettings,
    hosts: HostRows,
    vms: VmRows,
    rules: RuleRows,
    networks: list[Network],
    cat: CpuCatalog,
    d: Path,
) -> Cluster:
    """The parsed rows as a cluster, through the one builder."""
    hr, vr = hosts.rows, vms.rows

    def col(rows: list[dict[str, Any]], key: str) -> list[Any]:
        return [r[key] for r in rows]

    lp = col(hr, "logical_processors")
    h = HostColumns(
        names=col(hr, "name"),
        vendor=col(hr, "cpu_vendor"),
        logical_processors=lp,
        memory_mb=col(hr, "memory_mb"),
        state=col(hr, "state"),
        fault_domain=col(hr, "fault_domain"),
        cpu_model=[r["cpu_model"] or "" for r in hr],
        features=hosts.features,
        memory_reserve_mb=col(hr, "memory_reserve_mb"),
        cpu_base_milli=cpu_milli(lp, col(hr, "cpu_base_pct")),
        max_vm_migrations=col(hr, "max_vm_migrations"),
        max_config_version_x10=[
            ANY_CONFIG_VERSION
            if r["max_config_version"] is None
            else round(r["max_config_version"] * 10)
            for r in hr
        ],
        max_running_vms=col(hr, "max_running_vms"),
    )
    vcpus = col(vr, "vcpus")
    v = VmColumns(
        names=col(vr, "name"),
        host=vms.host,
        vcpus=vcpus,
        memory_mb=col(vr, "memory_mb"),
        state=col(vr, "state"),
        priority=col(vr, "priority"),
        cpu_milli=cpu_milli(vcpus, col(vr, "cpu_usage_pct")),
        config_version_x10=[round(r["config_version"] * 10) for r in vr],
        compat=col(vr, "compat_mode"),
        possible_owners=vms.possible,
        preferred_owners=vms.preferred,
        anti_affinity_classes=col(vr, "anti_affinity_class_names"),
        allow_downtime=col(vr, "allow_downtime"),
        pinned=col(vr, "pinned"),
        dynamic_memory=col(vr, "dynamic_memory"),
        memory_startup_mb=col(vr, "memory_startup_mb"),
        memory_minimum_mb=col(vr, "memory_minimum_mb"),
        memory_maximum_mb=col(vr, "memory_maximum_mb"),
    )
    rule_objs = [
        Rule(r["name"], RuleType(r["rule_type"]), bool(r["enabled"]), m, tuple(r.get("_other", ())))
        for r, m in zip(rules.rows, rules.members, strict=True)
    ]
    return build_cluster(
        name, h, v, settings=settings, rules=rule_objs, networks=networks, catalog=cat, source=d
    )


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
