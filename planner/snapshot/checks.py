"""Whole-cluster checks of a snapshot, on the built cluster.

Errors are what makes every plan impossible for a VM (it fits no host, it may run on no host)
or plain contradictions in the files (a pinned VM on a node that is not its owner).  Rules
and enforced anti-affinity classes that cannot hold now or ever (more running members than
nodes, SameNode against DifferentNode, pinned members apart or together) are warnings: a plan
repairs what it can and names the rules it leaves broken (tier 0); ``--strict-rules`` makes
them infeasible.  Rules are judged over their running (Running or Paused) members
(:mod:`planner.snapshot.rulechecks`).
"""

from __future__ import annotations

import numpy as np

from planner.cluster import CPU_UNITS, VM_STATE_NAMES, Cluster, HostState, VmState
from planner.diagnostics import Report
from planner.snapshot.records import RuleRows, VmRows
from planner.snapshot.rulechecks import enforced_anti_affinity_checks, rule_checks
from planner.snapshot.schema import MAX_RUNNING_VMS_PER_HOST


def cluster_checks(cluster: Cluster, vms: VmRows, rules: RuleRows, report: Report) -> None:
    """Checks that need the whole cluster: sizes, owners, pinned VMs, rule contradictions.

    Errors here are problems that make every plan impossible for a VM or that are plain
    inconsistencies in the files.  Rules that cannot be satisfied now are warnings: the
    planner repairs what it can and names what it leaves broken.
    """
    nh = cluster.n_hosts
    if nh == 0:
        return
    state = cluster.host_state
    if not cluster.host_keeps.any():
        report.error(
            "hosts.csv", "every host is Down: no VM can run and no plan is possible", column="state"
        )
    elif not cluster.host_up.any():
        report.warning(
            "hosts.csv", "no host is Up (the others are Paused): nothing can move", column="state"
        )
    run = cluster.vm_consumes
    per_host_running = np.bincount(
        cluster.vm_host[run & (state[cluster.vm_host] != HostState.DOWN)], minlength=nh
    )
    limit = cluster.host_max_running_vms
    for h in np.flatnonzero(per_host_running > limit):
        report.warning(
            "hosts.csv",
            f"{per_host_running[h]} running VMs on one host; at most "
            f"{limit[h]} may run there (max_running_vms; Hyper-V's limit is "
            f"{MAX_RUNNING_VMS_PER_HOST}): a plan must move the others",
            column="name",
            value=cluster.host_names[h],
        )
    for h in np.flatnonzero(limit > MAX_RUNNING_VMS_PER_HOST):
        report.warning(
            "hosts.csv",
            f"max_running_vms is above Hyper-V's limit of "
            f"{MAX_RUNNING_VMS_PER_HOST} running VMs per node",
            column="max_running_vms",
            value=int(limit[h]),
        )
    endable = _endable(cluster)
    if cluster.n_vms:
        _vm_fit_checks(cluster, vms, endable, report)
        _vm_state_checks(cluster, vms, report)
    if cluster.settings.enforced_anti_affinity:
        enforced_anti_affinity_checks(cluster, vms, endable, report)
    rule_checks(cluster, rules, endable, report)


def _endable(cluster: Cluster) -> np.ndarray:
    """bool (V, H): hosts each VM may end on by owners, node state and configuration
    version alone (move kinds, capacity and rules aside): the Up possible owners that run
    its version, and its own node when it may stay there (as :attr:`Cluster.vm_allowed`,
    without computing the move kinds)."""
    v_idx = np.arange(cluster.n_vms)
    cur = cluster.vm_host
    ok = cluster.vm_possible & cluster.vm_version_admitted
    stay = ok[v_idx, cur] & cluster.host_keeps[cur]
    stay |= cluster.vm_on_down_host & ~cluster.vm_consumes
    ok &= cluster.host_up[None, :]
    ok[v_idx, cur] = stay
    return ok


def _vm_fit_checks(cluster: Cluster, vms: VmRows, endable: np.ndarray, report: Report) -> None:
    """VMs larger than every host, and running VMs with no host they may end on."""
    too_big = _oversized(cluster, vms, report)
    nowhere = ~endable.any(axis=1) & ~too_big & bool(cluster.host_up.any())
    _nowhere_checks(cluster, vms, nowhere, report)
    # A running VM that fits some host but none it may end on.  One started from a Down
    # node needs its boot memory there.
    check = cluster.vm_consumes & ~too_big & endable.any(axis=1)
    if check.any():
        _fits_none_checks(cluster, vms, endable, np.flatnonzero(check), report)


def _owners(cluster: Cluster, vms: VmRows, v: int | np.integer) -> str:
    return ";".join(cluster.host_names[h] for h in vms.possible[v])


def _oversized(cluster: Cluster, vms: VmRows, report: Report) -> np.ndarray:
    """Report the VMs larger than every host (memory, vCPUs, CPU demand); bool V of them."""
    vf = vms.file
    rows = [r["_row"] for r in vms.rows]
    mem, vc, cpu = cluster.vm_memory_mb, cluster.vm_vcpus, cluster.vm_cpu_milli
    max_mem = int(cluster.host_memory_free_mb.max())
    max_lp = int(cluster.host_lp.max())
    max_cpu = int(cluster.host_cpu_free_milli.max())
    big_mem = mem > max_mem
    many_vc = vc > max_lp
    big_cpu = ~many_vc & (cpu > max_cpu)
    for v in np.flatnonzero(big_mem):
        report.error(
            vf,
            f"VM needs {mem[v]} MB but the largest host has {max_mem} MB for VMs "
            "(after its reserve): it fits on no host",
            row=rows[v],
            column="memory_mb",
            value=int(mem[v]),
        )
    for v in np.flatnonzero(many_vc):
        report.error(
            vf,
            f"VM has more vCPUs than any host has logical processors ({max_lp})",
            row=rows[v],
            column="vcpus",
            value=int(vc[v]),
        )
    for v in np.flatnonzero(big_cpu):
        report.error(
            vf,
            f"VM's CPU demand ({cpu[v] / CPU_UNITS:g} logical processors) is "
            f"larger than any host's free CPU ({max_cpu / CPU_UNITS:g}): it fits on "
            "no host",
            row=rows[v],
            column="cpu_usage_pct",
            value=vms.rows[v]["cpu_usage_pct"],
        )
    return np.asarray(big_mem | many_vc | big_cpu, dtype=bool)


def _nowhere_checks(cluster: Cluster, vms: VmRows, nowhere: np.ndarray, report: Report) -> None:
    """VMs with no host they may end on: an error for a running one, a warning for one that
    could not be started."""
    run = cluster.vm_consumes
    for v in np.flatnonzero(nowhere & run):
        col, val = (
            ("possible_owners", _owners(cluster, vms, v))
            if vms.possible[v]
            else ("config_version", vms.rows[v]["config_version"])
        )
        report.error(
            vms.file,
            "the VM cannot run anywhere: " + _nowhere_reason(cluster, int(v)),
            row=vms.rows[v]["_row"],
            column=col,
            value=val,
        )
    for v in np.flatnonzero(nowhere & ~run & ~cluster.vm_on_down_host):
        report.warning(
            vms.file,
            "none of the VM's possible owners is Up and runs its "
            "configuration version: it could not be started",
            row=vms.rows[v]["_row"],
            column="possible_owners",
            value=_owners(cluster, vms, v),
        )


def _fits_none_checks(
    cluster: Cluster, vms: VmRows, endable: np.ndarray, idx: np.ndarray, report: Report
) -> None:
    """Running VMs ``idx`` that fit no host they may end on (errors)."""
    mem, vc, cpu = cluster.vm_memory_mb, cluster.vm_vcpus, cluster.vm_cpu_milli
    need = np.where(cluster.vm_on_down_host, cluster.vm_boot_memory_mb, mem)[idx]
    fit = (
        (need[:, None] <= cluster.host_memory_free_mb[None, :])
        & (cpu[idx, None] <= cluster.host_cpu_free_milli[None, :])
        & (vc[idx, None] <= cluster.host_lp[None, :])
        & endable[idx]
    )
    for v in idx[~fit.any(axis=1)]:
        size = (
            f"VM ({mem[v]} MB, {vc[v]} vCPUs, {cpu[v] / CPU_UNITS:g} logical processors of demand)"
        )
        row = vms.rows[v]["_row"]
        if vms.possible[v]:
            report.error(
                vms.file,
                f"{size} fits on none of the possible owners it may run on",
                row=row,
                column="possible_owners",
                value=_owners(cluster, vms, v),
            )
        else:
            report.error(
                vms.file,
                f"{size} fits on none of the hosts it may run on (Up, or "
                "its own Paused host, running its configuration version)",
                row=row,
                column="memory_mb",
                value=int(mem[v]),
            )


def _nowhere_reason(cluster: Cluster, v: int) -> str:
    """Why a running VM has no host it may end on (for the message)."""
    h = int(cluster.vm_host[v])
    where = (
        "it is listed on Down node " + cluster.host_names[h] + " and must be started "
        "elsewhere, but "
        if cluster.vm_on_down_host[v]
        else ""
    )
    owners_up = cluster.vm_possible[v] & cluster.host_up
    if not owners_up.any():
        return where + "none of its possible owners is Up"
    return (
        where + f"none of its Up possible owners runs configuration version "
        f"{cluster.vm_config_version_x10[v] / 10:g} (max_config_version)"
    )


def _vm_state_checks(cluster: Cluster, vms: VmRows, report: Report) -> None:
    """Owners, pinned VMs and host states that are odd now (warnings, with one error)."""
    vf, hn = vms.file, cluster.host_names
    rows = [r["_row"] for r in vms.rows]
    nv = cluster.n_vms
    cur = cluster.vm_host
    possible, pinned, run = cluster.vm_possible, cluster.vm_pinned, cluster.vm_consumes
    on_owner = possible[np.arange(nv), cur]
    down = cluster.vm_on_down_host
    for v in np.flatnonzero(pinned & ~on_owner):
        report.error(
            vf,
            f"VM is pinned to {hn[cur[v]]}, which is not one of its possible "
            "owners: it can neither stay nor move",
            row=rows[v],
            column="pinned",
            value="true",
        )
    for v in np.flatnonzero(~pinned & ~on_owner & ~down):
        report.warning(
            vf,
            f"VM {cluster.vm_names[v]} runs on {hn[cur[v]]}, which is not one "
            "of its possible owners; a plan will move it",
            row=rows[v],
            column="host",
            value=hn[cur[v]],
        )
    for v in np.flatnonzero(run & down & ~pinned):
        report.warning(
            vf,
            f"VM is {VM_STATE_NAMES[VmState(cluster.vm_state[v])]} on "
            f"{hn[cur[v]]}, which is Down: it is not running there; a plan starts "
            "it on another node (a Start move, with its memory_startup_mb)",
            row=rows[v],
            column="state",
            value=VM_STATE_NAMES[VmState(cluster.vm_state[v])],
        )
    for v in np.flatnonzero(run & down & pinned):
        report.warning(
            vf,
            f"VM is pinned to {hn[cur[v]]}, which is Down: it must be started "
            "elsewhere, which pinning forbids; no plan is possible while it is "
            "pinned",
            row=rows[v],
            column="pinned",
            value="true",
        )
    own_version = cluster.vm_version_admitted[np.arange(nv), cur]
    for v in np.flatnonzero(run & ~own_version & ~down):
        report.warning(
            vf,
            f"VM's configuration version "
            f"{cluster.vm_config_version_x10[v] / 10:g} is above the "
            f"max_config_version of its host {hn[cur[v]]} "
            f"({cluster.host_max_config_version_x10[cur[v]] / 10:g}); a plan "
            "moves it",
            row=rows[v],
            column="config_version",
            value=vms.rows[v]["config_version"],
        )
    vc, lp = cluster.vm_vcpus, cluster.host_lp
    for v in np.flatnonzero(run & (vc > lp[cur]) & (vc <= lp.max())):
        report.warning(
            vf,
            f"VM has more vCPUs than its host {hn[cur[v]]} has logical "
            f"processors ({lp[cur[v]]}); Hyper-V cannot run it there",
            row=rows[v],
            column="vcpus",
            value=int(vc[v]),
        )
    explicit = [bool(p) for p in vms.possible]
    for v in np.flatnonzero(explicit):
        odd = [hn[h] for h in vms.preferred[v] if not possible[v, h]]
        if odd:
            report.warning(
                vf,
                "preferred owner is not one of the VM's possible owners; it is ignored",
                row=rows[v],
                column="preferred_owners",
                value=";".join(odd),
            )
