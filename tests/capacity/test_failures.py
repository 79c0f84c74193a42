"""Capacity planning on one cluster: scenarios, settling, maintenance, growth, added hosts,
CPU generations.  Toys follow tests/failover/test_engine.py: 60,000 MB for VMs per host."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given

from planner.capacity import (
    FailureOptions,
    HostShape,
    add_generation,
    add_hosts,
    analyze_failures,
    failure_scenarios,
    growth_limit,
    min_additional_hosts,
    n1_safe,
    retire_oldest,
    rolling_maintenance,
    scale_demand,
)
from planner.capacity.failures import _unrank
from planner.catalog import default_catalog
from planner.cluster import Cluster, CompatMode, HostState, MoveKind, Vendor, VmState
from planner.snapshot import load_snapshot
from tests.strategies import HostSpec, VmSpec, clusters, make_cluster

MEM, RES = 64000, 4000


def host(name: str, **kw: object) -> HostSpec:
    """A 16-LP host with 60,000 MB for VMs."""
    args: dict[str, object] = {
        "logical_processors": 16,
        "memory_mb": MEM,
        "memory_reserve_mb": RES,
        **kw,
    }
    return HostSpec(name, **args)  # type: ignore[arg-type]


def vm(name: str, on: str, mem: int, **kw: object) -> VmSpec:
    """A VM with little CPU so memory decides."""
    kw.setdefault("cpu_milli", 100)
    return VmSpec(name, on, memory_mb=mem, **kw)  # type: ignore[arg-type]


def spread(n_hosts: int, per_host: int, vm_mb: int) -> Cluster:
    """``n_hosts`` hosts, each with ``per_host`` VMs of ``vm_mb``."""
    hosts = [host(f"H{i}") for i in range(n_hosts)]
    vms = [vm(f"V{i}-{j}", f"H{i}", vm_mb) for i in range(n_hosts) for j in range(per_host)]
    return make_cluster(hosts, vms)


# ----------------------------------------------------------------------------- scenarios
def test_unrank_matches_lexicographic_combinations() -> None:
    for n, k in ((5, 2), (6, 3), (7, 1)):
        combos = list(itertools.combinations(range(n), k))
        assert [_unrank(r, n, k) for r in range(math.comb(n, k))] == combos


def test_scenarios_enumerate_then_sample_with_a_seed() -> None:
    c = spread(8, 1, 1000)
    sc, info = failure_scenarios(c, FailureOptions(failures=2, fault_domains=False))
    assert sum(s.kind == "N+1" for s in sc) == 8
    assert sum(s.kind == "N+2" for s in sc) == 28 and not info["N+2"]["sampled"]
    opt = FailureOptions(failures=3, max_scenarios_per_k=10, seed=7, fault_domains=False)
    a, info = failure_scenarios(c, opt)
    b, _ = failure_scenarios(c, opt)
    assert [s.hosts for s in a] == [s.hosts for s in b]
    n2 = [s.hosts for s in a if s.kind == "N+2"]
    n3 = [s.hosts for s in a if s.kind == "N+3"]
    assert len(n2) == len(set(n2)) == 10 and len(n3) == 10
    assert all(len(set(h)) == 2 for h in n2) and n2 == sorted(n2)
    assert info["N+3"]["sampled"] and info["N+3"]["combinations"] == 56
    other, _ = failure_scenarios(
        c, FailureOptions(failures=3, max_scenarios_per_k=10, seed=8, fault_domains=False)
    )
    assert [s.hosts for s in other] != [s.hosts for s in a]


def test_fault_domain_scenarios_and_down_hosts() -> None:
    c = make_cluster(
        [
            host("A1", fault_domain="RA"),
            host("A2", fault_domain="RA"),
            host("B1", fault_domain="RB"),
            host("X", state=HostState.DOWN),
        ],
        [],
    )
    sc, _ = failure_scenarios(c, FailureOptions())
    assert [s.name for s in sc] == ["N+1:A1", "N+1:A2", "N+1:B1", "domain:RA"]


# ----------------------------------------------------------------------------- settling
def test_analyze_failures_survivable_and_not() -> None:
    ok = analyze_failures(spread(3, 2, 10000))  # 20,000 per host: survivable
    assert ok.safe() and ok.proven()
    assert {o.settled_by for o in ok.outcomes} == {"greedy"}
    assert all(o.max_memory_pct_after == pytest.approx(100 * 34000 / MEM) for o in ok.outcomes)
    bad = analyze_failures(spread(3, 3, 15000))  # 45,000 per host: one VM is left out
    assert not bad.safe() and bad.proven()
    assert all(o.settled_by == "bound" and len(o.not_restarted) == 1 for o in bad.outcomes)
    assert bad.worst() is not None and not bad.worst().survivable  # type: ignore[union-attr]


def test_exact_check_turns_a_greedy_miss_into_survivable() -> None:
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [
            vm("HI1", "H0", 3000, priority=3000),
            vm("HI2", "H0", 3000, priority=3000),
            vm("MED", "H0", 8000, priority=2000),
            vm("F1", "H1", 50000),
            vm("F2", "H2", 50000),
        ],
    )
    rep = analyze_failures(c, FailureOptions(fault_domains=False))
    o = rep.outcomes[0]
    assert o.settled_by == "cpsat-feasible" and o.survivable and o.proven
    # 50,000 + 8,000 + reserve 4,000 on the fuller survivor.
    assert o.max_memory_pct_after == pytest.approx(100 * 62000 / MEM)
    screen_only = analyze_failures(c, FailureOptions(fault_domains=False, exact=False))
    assert screen_only.outcomes[0].settled_by == "greedy-incomplete"
    assert not screen_only.outcomes[0].survivable and not screen_only.proven()


def test_exact_loss_can_be_smaller_than_what_the_cluster_does() -> None:
    # H1 and H2 have 10,000 MB left.  H0 fails with two High 3,000 MB VMs and two Medium
    # 8,000 MB VMs (22,000 > 20,000: not survivable).  The simulated restart spreads the
    # Highs (7,000 left on each) and then neither Medium fits: two left out.  Both Highs on
    # one node and one Medium on the other leaves only one Medium out -- the optimum, since
    # the two Mediums never fit together with anything else.
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [
            vm("HI1", "H0", 3000, priority=3000),
            vm("HI2", "H0", 3000, priority=3000),
            vm("ME1", "H0", 8000),
            vm("ME2", "H0", 8000),
            vm("F1", "H1", 50000),
            vm("F2", "H2", 50000),
        ],
    )
    rep = analyze_failures(c, FailureOptions(fault_domains=False, exact_loss=True))
    o = rep.outcomes[0]
    assert o.settled_by == "bound" and not o.survivable
    assert o.not_restarted_by_priority == (0, 2, 0)
    assert o.min_not_restarted == (0, 1, 0) and o.min_loss_proven
    row = o.to_row()
    assert row["vms_not_restarted"] == 2 and row["min_not_restarted"] == 1
    # F1 (50,000 MB) fits nowhere when H1 fails: the minimum is that one VM.
    assert rep.outcomes[1].min_not_restarted == (0, 1, 0)
    plain = analyze_failures(c, FailureOptions(fault_domains=False))
    assert plain.outcomes[0].min_not_restarted is None


def test_threshold_makes_survivable_stricter() -> None:
    c = spread(3, 2, 10000)  # after a failure: 34,000 / 64,000 = 53.1 %
    assert analyze_failures(c, FailureOptions(threshold_pct=60)).safe()
    rep = analyze_failures(c, FailureOptions(threshold_pct=50))
    assert not rep.safe()
    assert all(o.restarts_all and o.hosts_over_threshold_after == 2 for o in rep.outcomes)


def test_noautostart_never_makes_a_scenario_unsurvivable() -> None:
    c = make_cluster(
        [host("H0"), host("H1")], [vm("NAS", "H0", 59000, priority=0), vm("FULL", "H1", 59000)]
    )
    rep = analyze_failures(c, FailureOptions(fault_domains=False))
    o = rep.outcomes[0]
    assert o.survivable and o.noautostart_off == 1 and o.vms_to_restart == 0
    assert not rep.outcomes[1].survivable  # FULL has nowhere to go


# ----------------------------------------------------------------------------- maintenance
def test_rolling_maintenance_threshold_moves_and_hardest() -> None:
    # H0 holds 2 x 10,000 MB, H1 1 x 10,000, H2 2 x 15,000 plus an Off VM.  Drains spread by
    # headroom: draining H2 sends 15,000 to H1 (25,000) and 15,000 to H0 (35,000): the
    # highest load of any drain, 39,000 / 64,000 = 60.9 %.  Every drain moves exactly the
    # drained host's VMs.
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [
            vm("A", "H0", 10000),
            vm("B", "H0", 10000),
            vm("C", "H1", 10000),
            vm("E", "H2", 15000),
            vm("F", "H2", 15000),
            vm("G", "H2", 10000, state=VmState.OFF),
        ],
    )
    rep = rolling_maintenance(c, level="low")
    assert rep.all_feasible
    assert [d.moves for d in rep.drains] == [2, 1, 3]
    assert rep.total_moves == 6
    assert rep.drains[2].quick_moves == 1 and rep.drains[2].live_moves == 2
    assert rep.hardest is not None and rep.hardest.host == "H2"
    assert rep.hardest.max_memory_pct_after == pytest.approx(100 * 39000 / MEM)
    # At 55 % a host may hold 0.55 x 64,000 - 4,000 = 31,200 MB of VMs.  H2's two 15,000 MB
    # VMs then fit neither together (H1: 40,000) nor apart (H0: 35,000); no bound sees it
    # (30,000 <= 11,200 + 21,200), the exact check proves it.  H0's drain still fits on H1.
    tight = rolling_maintenance(c, threshold_pct=55)
    assert [d.feasible for d in tight.drains] == [True, True, False]
    assert tight.drains[2].settled_by == "cpsat-infeasible" and tight.drains[2].proven
    assert tight.hardest is not None and tight.hardest.host == "H2"
    assert tight.to_dict()["infeasible"] == ["H2"]


def test_maintenance_by_the_optimizer_may_move_other_vms() -> None:
    # small4: DC01 (on HV02) may run only on HV01 or HV02, and HV01 is above 80 % CPU.  The
    # cluster's own drain (only HV02's VMs move) cannot keep HV01 under the threshold; the
    # optimizer first moves load off HV01.  HV04 holds a pinned VM: no engine drains it.
    c = load_snapshot_small4()
    own = rolling_maintenance(c, level="low")
    best = rolling_maintenance(c, level="low", engine="optimizer")
    assert [d.host for d in own.drains] == [d.host for d in best.drains]
    assert not own.drains[1].feasible and best.drains[1].feasible
    assert best.drains[1].moves > own.drains[1].moves
    assert not best.drains[3].feasible and best.drains[3].proven
    assert best.drains[1].max_cpu_pct_after <= 80.0 + 1e-9
    with pytest.raises(ValueError):
        rolling_maintenance(c, engine="guess")


def test_drain_uses_live_compatibility_and_downtime() -> None:
    hosts = [host("I0"), host("A1", vendor=Vendor.AMD), host("I2")]
    c = make_cluster(
        hosts,
        [
            vm("V", "I0", 10000),
            vm("W", "I0", 10000, allow_downtime=True, possible_owners=("I0", "A1")),
        ],
    )
    rep = rolling_maintenance(c, threshold_pct=100)
    d = rep.drains[0]
    assert d.feasible and d.live_moves == 1 and d.downtime_moves == 1
    assert c.vm_move_kind[1, 1] == MoveKind.SHUTDOWN
    pinned = make_cluster(hosts, [vm("P", "I0", 1000, pinned=True)])
    assert rolling_maintenance(pinned).drains[0].blocked == ("P",)


# ----------------------------------------------------------------------------- growth
def test_scale_demand_rounds_up_and_is_monotone() -> None:
    c = make_cluster([host("H0")], [vm("A", "H0", 1001, cpu_milli=333)])
    prev_cpu, prev_mem = 0, 0
    for p in range(50, 300, 7):
        s = scale_demand(c, p / 100)
        assert s.vm_memory_mb[0] == math.ceil(1001 * p / 100)
        assert s.vm_cpu_milli[0] >= prev_cpu and s.vm_memory_mb[0] >= prev_mem
        prev_cpu, prev_mem = int(s.vm_cpu_milli[0]), int(s.vm_memory_mb[0])
    assert scale_demand(c, 2.0, 1.0).vm_memory_mb[0] == 1001
    with pytest.raises(ValueError):
        scale_demand(c, -1)


def test_growth_limit_hand_derived() -> None:
    # Three hosts, two 10,000 MB VMs each.  A failure sends one VM to each survivor:
    # 30,000 x g <= 60,000  <=>  g <= 2.00.  At 2.01 a VM is 20,100 MB and 60,300 > 60,000.
    c = spread(3, 2, 10000)
    gl = growth_limit(c)
    assert gl.breaks_at == pytest.approx(2.01) and gl.max_safe == pytest.approx(2.0)
    assert gl.proven and gl.safe_now
    assert n1_safe(scale_demand(c, 2.0)) == (True, True)
    assert n1_safe(scale_demand(c, 2.01))[0] is False


def test_a_survivor_over_capacity_before_the_failure_makes_the_scenario_unsurvivable() -> None:
    # H0 holds 50,000 MB, H1 and H2 hold 10,000 MB each (60,000 MB for VMs per host).
    # Growth 1.25 puts H0 at 62,500 MB > 60,000: it is over hard capacity before any failure,
    # so losing H1 or H2 (H0 survives, still over) is not survivable; losing H0 itself is
    # (its five 12,500 MB VMs fit: H1 and H2 take them, 12,500 + 3 x 12,500 <= 60,000 each).
    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm(f"A{i}", "H0", 10000) for i in range(5)] + [vm("B", "H1", 10000), vm("C", "H2", 10000)],
    )
    grown = scale_demand(c, 1.25)
    rep = analyze_failures(grown)
    by = {o.scenario: o for o in rep.outcomes}
    assert by["N+1:H0"].survivable and by["N+1:H0"].hosts_over_capacity_after == 0
    for lost in ("N+1:H1", "N+1:H2"):
        assert by[lost].restarts_all and not by[lost].survivable
        assert by[lost].hosts_over_capacity_after == 1
    assert n1_safe(grown) == (False, True)
    # At 1.20 H0 holds exactly 60,000 MB (at capacity, not over); losing H1 sends B
    # (12,000 MB) to H2 (24,000 MB); losing H0 spreads its five 12,000 MB VMs over H1 and H2,
    # each ending with at most 4 VMs = 48,000 MB.
    assert n1_safe(scale_demand(c, 1.2)) == (True, True)


def test_growth_limit_below_today() -> None:
    # Three VMs of 15,000 g MB per host.  After a failure its three VMs go to two survivors,
    # so one survivor takes two: 45,000 g + 30,000 g <= 60,000  <=>  g <= 0.80.
    gl = growth_limit(spread(3, 3, 15000))
    assert not gl.safe_now
    assert gl.max_safe == pytest.approx(0.8) and gl.breaks_at == pytest.approx(0.81)
    alone = growth_limit(make_cluster([host("H0")], [vm("A", "H0", 1000)]))
    assert not alone.safe_now and alone.max_safe is None


def test_growth_safety_is_monotone_on_a_grid() -> None:
    c = load_snapshot_small4()
    verdicts = [n1_safe(scale_demand(c, p / 100))[0] for p in range(80, 200, 10)]
    # once unsafe, never safe again
    first_bad = verdicts.index(False) if False in verdicts else len(verdicts)
    assert all(not v for v in verdicts[first_bad:])
    gl = growth_limit(c)
    assert gl.breaks_at is not None and gl.max_safe is not None
    assert n1_safe(scale_demand(c, gl.max_safe))[0]
    assert not n1_safe(scale_demand(c, gl.breaks_at))[0]


@given(clusters(max_hosts=4, max_vms=8, allow_non_up_hosts=False))
def test_exact_n1_safety_is_monotone_in_growth_and_in_added_hosts(c: Cluster) -> None:
    """The two facts the bisections rely on, on random valid clusters."""
    verdicts = []
    for f in (0.5, 1.0, 1.5, 2.5):
        safe, proven = n1_safe(scale_demand(c, f), FailureOptions(exact_time_limit_s=5))
        assume(proven)
        verdicts.append(safe)
    assert verdicts == sorted(verdicts, reverse=True)  # True... then False...
    model = "EPYC-Milan" if (c.host_vendor == Vendor.AMD).all() else "Icelake-Server"
    grown = scale_demand(c, 1.5)
    # Failures do not rebalance: a host over capacity after the growth stays over whatever
    # is added, so the second fact only holds when none is.
    assume(
        not (
            (grown.host_load_milli() > grown.host_cpu_capacity_milli)
            | (grown.host_mem_used_mb() > grown.host_memory_mb)
        ).any()
    )
    by_k = []
    for k in range(3):
        safe, proven = n1_safe(add_hosts(grown, model, k), FailureOptions(exact_time_limit_s=5))
        assume(proven)
        by_k.append(safe)
    assert by_k == sorted(by_k)  # False... then True...


def load_snapshot_small4() -> Cluster:
    from tests.conftest import SMALL4

    return load_snapshot(SMALL4)


# ----------------------------------------------------------------------------- added hosts
def test_add_hosts_shape_features_and_owners() -> None:
    c = make_cluster(
        [host("H0"), host("H1", memory_mb=128000)],
        [vm("A", "H0", 1000), vm("R", "H0", 1000, possible_owners=("H0",))],
    )
    big = add_hosts(c, "Skylake-Server", 2)
    assert big.n_hosts == 4 and big.host_names[2:] == (
        "NEW-Skylake-Server-1",
        "NEW-Skylake-Server-2",
    )
    assert big.host_memory_mb[2] == 128000  # the largest existing host's shape
    feats = {big.features[i] for i in np.flatnonzero(big.host_features[3])}
    assert feats == default_catalog().get("Skylake-Server").features  # type: ignore[union-attr]
    assert big.vm_possible[0, 2:].all() and not big.vm_possible[1, 2:].any()
    assert len(set(big.host_fault_domain.tolist())) == 4
    with pytest.raises(ValueError):
        add_hosts(c, "NoSuchCpu", 1)


def test_min_additional_hosts_hand_derived() -> None:
    # Two hosts, five 10,000 MB VMs each (50,000 of 60,000).  When one fails, the survivor
    # takes one VM; new hosts of 20,000 MB for VMs take two each, so the other four need
    # two new hosts.  One is not enough (proved by the total-demand bound).
    c = spread(2, 5, 10000)
    shape = HostShape(16, 24000, 4000)
    r = min_additional_hosts(c, "Icelake-Server", shape=shape)
    assert r.needed == 2 and r.proven
    assert n1_safe(add_hosts(c, "Icelake-Server", 1, shape)) == (False, True)
    assert n1_safe(add_hosts(c, "Icelake-Server", 2, shape)) == (True, True)
    assert min_additional_hosts(spread(3, 2, 10000), "Icelake-Server").needed == 0


def test_min_additional_hosts_reports_when_hosts_cannot_help() -> None:
    # A VM that may only run on its own host can never restart elsewhere.
    c = make_cluster([host("H0"), host("H1")], [vm("R", "H0", 1000, possible_owners=("H0",))])
    r = min_additional_hosts(c, "Icelake-Server", max_hosts=3)
    assert r.needed is None and r.searched_up_to == 3


# ----------------------------------------------------------------------------- generations
def _common_cluster() -> Cluster:
    hosts = [host("H0", cpu_model="Icelake-Server"), host("H1", cpu_model="Icelake-Server")]
    return make_cluster(
        hosts,
        [
            vm("C10", "H0", 1000, compat=CompatMode.COMMON, config_version_x10=100),
            vm("C9", "H0", 1000, compat=CompatMode.COMMON, config_version_x10=90),
            vm("N", "H1", 1000),
        ],
    )


def test_adding_an_older_generation_lowers_the_common_set() -> None:
    c = _common_cluster()
    cat = default_catalog()
    ice = cat.get("Icelake-Server").features  # type: ignore[union-attr]
    sky = cat.get("Skylake-Server").features  # type: ignore[union-attr]
    g = add_generation(c, "Skylake-Server")
    assert set(g.features_lost) == ice - sky and g.features_gained == ()
    assert g.affected_vms == 1 and g.affected_sample == ("C10",)  # C9 falls back to minimum
    # C10 still presents the Icelake common set: Skylake is no target until it reboots; N
    # (no compatibility mode) never is.
    assert g.not_live_target_until_reboot == 1 and g.never_live_target == 1
    # Newer is not always a superset: Sapphire Rapids dropped features Ice Lake had (MPX).
    spr = cat.get("SapphireRapids").features  # type: ignore[union-attr]
    newer = add_generation(c, "SapphireRapids")
    assert set(newer.features_lost) == ice - spr
    assert newer.affected_vms == (1 if ice - spr else 0)
    same = add_generation(c, "Icelake-Server", 3)
    assert same.features_lost == () and same.affected_vms == 0
    assert same.never_live_target == 0 and same.count == 3
    amd = add_generation(c, "EPYC-Milan")
    assert amd.features_lost == () and amd.never_live_target == 0


def test_retire_oldest_gains_features_and_checks_the_rest() -> None:
    hosts = [
        host("S0", cpu_model="Skylake-Server"),
        host("I1", cpu_model="Icelake-Server"),
        host("I2", cpu_model="Icelake-Server"),
        host("I3", cpu_model="Icelake-Server"),
    ]
    c = make_cluster(hosts, [vm("C", "S0", 10000, compat=CompatMode.COMMON), vm("D", "I1", 10000)])
    r = retire_oldest(c)
    cat = default_catalog()
    ice = cat.get("Icelake-Server").features  # type: ignore[union-attr]
    sky = cat.get("Skylake-Server").features  # type: ignore[union-attr]
    assert r.retired_hosts == ("S0",) and r.models == ("Skylake-Server",)
    assert set(r.features_gained["INTEL"]) == ice - sky
    assert r.benefiting_vms == 1 and r.relocation_feasible and r.moves == 1
    assert r.n1_safe_after is True
    assert r.memory_mb_removed == MEM and r.logical_processors_removed == 16
    # No VM is stuck before or after: three Icelake nodes remain for live migration.
    assert r.no_live_target_before == 0 and r.no_live_target_after == 0
    one_gen = retire_oldest(_common_cluster())
    assert one_gen.retired_hosts == () and one_gen.n1_safe_after is None


# ----------------------------------------------------------------------------- over time
def test_survival_over_time_counts_samples() -> None:
    # Three hosts with 60,000 MB for VMs, one 30,000 MB VM each; at the last two of ten
    # samples H0's VM holds 55,000 MB.  Normally any failed host's VM fits on a survivor
    # (30,000 + 30,000 = 60,000).  At those two samples: H1 failing sends B to H2 (H0 is
    # too full) -- survivable, the same for H2; H0 failing sends 55,000 MB to a host holding
    # 30,000 MB -- lost.  So N+1 holds at 8 of 10 samples, and only H0's scenario is lost.
    from planner.capacity.overtime import survival_over_time
    from planner.history.model import LoadHistory

    c = make_cluster(
        [host("H0"), host("H1"), host("H2")],
        [vm("A", "H0", 30000), vm("B", "H1", 30000), vm("C", "H2", 30000)],
    )
    t = 10
    mem = np.tile(c.vm_mem_load_mb.astype(np.int32), (t, 1))
    mem[-2:, 0] = 55000
    h = LoadHistory(
        np.arange(t, dtype=np.int64) * 300,
        300,
        np.tile(c.vm_cpu_load_milli.astype(np.int32), (t, 1)),
        mem,
        np.tile(c.host_cpu_base_milli.astype(np.int32), (t, 1)),
        np.ones(3, bool),
        np.zeros(3, bool),
    )
    r = survival_over_time(c, h)
    assert (r.samples, r.survivable_samples) == (10, 8)
    assert r.worst_scenarios == {"N+1:H0": 2}
    assert "80.0 %" in r.sentence()


def test_restart_needs_boot_memory() -> None:
    # H1 fails; its VM B holds 10,000 MB but boots with 50,000 MB (Dynamic Memory startup).
    # H0 has 60,000 MB for VMs and holds 30,000: room for 10,000, not for 50,000.
    c = make_cluster([host("H0"), host("H1")], [vm("A", "H0", 30000), vm("B", "H1", 10000)])
    boot = c.replace(vm_memory_startup_mb=np.array([30000, 50000], dtype=np.int64))
    assert analyze_failures(c).outcomes[1].survivable
    by = {o.scenario: o for o in analyze_failures(boot).outcomes}
    assert not by["N+1:H1"].survivable
