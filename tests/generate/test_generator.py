"""Tests of the synthetic cluster generator and ``hvplan generate``."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.catalog import default_catalog
from planner.checks import anti_affinity_pairs, placement_violations, rule_violations
from planner.cli import app
from planner.cluster import CPU_UNITS, Cluster, CompatMode, RuleType, Vendor, VmState
from planner.generate import (
    LP_TIERS,
    MEMORY_TIERS_MB,
    GeneratorError,
    GeneratorOptions,
    bitbrains_trace,
    generate_cluster,
    option_problems,
)
from planner.loadmodel import host_loads
from planner.snapshot import read_snapshot, snapshot_files, write_snapshot

runner = CliRunner()


def _gen(**kw: object) -> Cluster:
    return generate_cluster(GeneratorOptions(**kw))  # type: ignore[arg-type]


def _assert_same(a: Cluster, b: Cluster) -> None:
    """Every field equal (arrays element-wise), except where the cluster was read from."""
    for f in dataclasses.fields(Cluster):
        if f.name in ("source", "snapshot_sha256"):
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype.kind == y.dtype.kind, f.name
            assert np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


@pytest.fixture(scope="module")
def medium() -> Cluster:
    """16 hosts / 1,000 VMs with default options."""
    return _gen(hosts=16, vms=1000, seed=7)


@pytest.fixture(scope="module")
def large() -> Cluster:
    """The largest supported size: 64 hosts / 8,000 VMs."""
    return _gen(hosts=64, vms=8000, seed=11, vendors="mixed")


# ----------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_cluster() -> None:
    opts = GeneratorOptions(hosts=8, vms=300, seed=42, vendors="mixed")
    _assert_same(generate_cluster(opts), generate_cluster(opts))


def test_different_seeds_give_different_clusters() -> None:
    a = _gen(hosts=8, vms=300, seed=1)
    b = _gen(hosts=8, vms=300, seed=2)
    assert not (
        np.array_equal(a.vm_host, b.vm_host) and np.array_equal(a.vm_memory_mb, b.vm_memory_mb)
    )


# ----------------------------------------------------------------------------- round trip
def test_write_read_round_trip_has_no_errors_and_is_equal(medium: Cluster, tmp_path: Path) -> None:
    write_snapshot(medium, tmp_path)
    back, report = read_snapshot(tmp_path)
    assert report.errors == []
    assert back is not None
    # The only warnings allowed are the disabled rules the generator adds on purpose.
    assert all("disabled" in w.message for w in report.warnings)
    _assert_same(medium, back)


# ----------------------------------------------------------------------------- placement
@pytest.mark.parametrize(
    "kw",
    [
        dict(hosts=16, vms=1000, seed=7),
        dict(hosts=6, vms=200, seed=3, vendors="mixed", hot_vendor="amd"),
        dict(
            hosts=10,
            vms=500,
            seed=5,
            hot_fraction=0.5,
            load_pct=60,
            rule_density=0.4,
            enforced_anti_affinity=True,
        ),
        dict(hosts=3, vms=40, seed=9, fault_domains=0),
    ],
)
def test_initial_placement_breaks_no_hard_rule(kw: dict[str, object]) -> None:
    c = _gen(**kw)
    hard = [v for v in placement_violations(c) if v.hard]
    assert hard == []
    # Disabled rules hold too: every rule the generator writes is satisfiable.
    assert rule_violations(c, include_disabled=True) == []
    assert anti_affinity_pairs(c) == []


def test_large_cluster_respects_capacity_and_rules(large: Cluster) -> None:
    assert large.n_hosts == 64 and large.n_vms == 8000
    assert [v for v in placement_violations(large) if v.hard] == []
    assert {RuleType(r.rule_type) for r in large.rules} == set(RuleType)
    # No VM is a member of two rules, so no pair of rules can contradict each other.
    members = [m for r in large.rules for m in r.members]
    assert len(members) == len(set(members))


def test_rule_density_is_the_share_of_running_vms_in_rules(medium: Cluster) -> None:
    in_rules = sum(len(r.members) for r in medium.rules)
    running = int((medium.vm_state == VmState.RUNNING).sum())
    assert in_rules == pytest.approx(0.10 * running, abs=1)
    assert all(medium.vm_state[m] == VmState.RUNNING for r in medium.rules for m in r.members)


def test_rules_have_the_shape_of_their_type(medium: Cluster) -> None:
    fd = medium.host_fault_domain
    for r in medium.rules:
        hosts = medium.vm_host[list(r.members)]
        if r.rule_type == RuleType.SAME_NODE:
            assert len(set(hosts.tolist())) == 1
        elif r.rule_type == RuleType.DIFFERENT_NODE:
            assert len(set(hosts.tolist())) == len(hosts)
        elif r.rule_type == RuleType.SAME_FAULT_DOMAIN:
            assert len(set(fd[hosts].tolist())) == 1
        else:
            assert len(set(fd[hosts].tolist())) == len(hosts)


# ----------------------------------------------------------------------------- loads
@pytest.mark.parametrize(
    ("hosts", "vms", "frac", "hot", "load"),
    [
        (20, 1200, 0.2, 78.0, 50.0),  # "about a fifth of the nodes over Medium (70 %)"
        (10, 600, 0.5, 80.0, 60.0),  # heavy imbalance
        (16, 800, 0.0, 70.0, 45.0),  # balanced
    ],
)
def test_hot_fraction_and_mean_load(
    hosts: int, vms: int, frac: float, hot: float, load: float
) -> None:
    c = _gen(hosts=hosts, vms=vms, seed=4, hot_fraction=frac, hot_load_pct=hot, load_pct=load)
    loads = host_loads(c)
    over = (loads.cpu_pct > hot) | (loads.memory_pct > hot)
    assert int(over.sum()) == int(np.floor(frac * hosts + 0.5))
    # Hot hosts are above the level in both resources, the others below it in both.
    assert ((loads.cpu_pct > hot) == over).all()
    assert ((loads.memory_pct > hot) == over).all()
    assert loads.cpu_pct.mean() == pytest.approx(load, abs=1.5)
    assert loads.memory_pct.mean() == pytest.approx(load, abs=1.5)
    assert loads.cpu_pct.max() <= 100 and loads.memory_pct.max() <= 100


def test_hot_vendor_makes_only_that_vendor_hot() -> None:
    c = _gen(hosts=8, vms=400, seed=2, vendors="mixed", hot_vendor="amd", hot_fraction=0.25)
    loads = host_loads(c)
    over = loads.cpu_pct > 85
    assert over.sum() == 2
    assert (c.host_vendor[over] == Vendor.AMD).all()


def test_hot_hosts_keep_a_live_migration_target(medium: Cluster) -> None:
    # Every VM on a hot host that is not pinned can reach another host without downtime.
    over = host_loads(medium).cpu_pct > 85
    on_hot = over[medium.vm_host] & ~medium.vm_pinned
    assert (medium.vm_live_targets[on_hot] > 0).all()


# ----------------------------------------------------------------------------- sizes
def test_host_sizes_models_and_names(large: Cluster) -> None:
    assert set(large.host_lp.tolist()) <= set(LP_TIERS)
    assert set(large.host_memory_mb.tolist()) <= set(MEMORY_TIERS_MB)
    assert large.host_lp.min() >= 32 and large.host_lp.max() <= 128
    gb = large.host_memory_mb // 1024
    assert gb.min() >= 256 and gb.max() <= 1536
    cat = default_catalog()
    for h, model in enumerate(large.host_cpu_model):
        cm = cat.get(model)
        assert cm is not None and cm.vendor == large.host_vendor[h]
        feats = {large.features[i] for i in np.flatnonzero(large.host_features[h])}
        assert feats == cm.features
    assert set(large.host_cpu_model) == {
        "Cascadelake-Server",
        "Icelake-Server",
        "SapphireRapids",
        "EPYC-Rome",
        "EPYC-Milan",
        "EPYC-Genoa",
    }
    assert large.host_names[0] == "HV01" and large.host_names[-1] == "HV64"
    assert large.vm_names[0] == "vm-0001" and large.vm_names[-1] == "vm-8000"
    assert len(large.fault_domains) == 4


def test_vm_sizes_come_from_the_trace(large: Cluster) -> None:
    trace = bitbrains_trace()
    assert set(large.vm_vcpus.tolist()) <= set(trace.vcpus.tolist())
    assert (large.vm_memory_mb % 512 == 0).all() and large.vm_memory_mb.min() >= 512
    usage = large.vm_cpu_milli / (large.vm_vcpus * CPU_UNITS / 100)
    assert usage.min() >= 0 and usage.max() <= 100


def test_generations_option_is_used() -> None:
    c = _gen(hosts=6, vms=200, generations=("Skylake-Server", "Icelake-Server"))
    assert c.host_cpu_model == ("Skylake-Server",) * 3 + ("Icelake-Server",) * 3


def test_fractions_are_as_asked(large: Cluster) -> None:
    v = large.n_vms
    assert int(large.vm_allow_downtime.sum()) == round(0.10 * v)
    assert int(large.vm_pinned.sum()) == round(0.02 * v)
    assert int((large.vm_state != VmState.RUNNING).sum()) == round(0.05 * v)
    compat = np.bincount(large.vm_compat, minlength=3) / v
    assert compat[CompatMode.MINIMUM] == pytest.approx(0.20, abs=0.03)
    assert compat[CompatMode.COMMON] == pytest.approx(0.15, abs=0.03)
    versions = set((large.vm_config_version_x10 / 10).tolist())
    assert min(versions) >= 9.0 and max(versions) <= 12.0 and min(versions) < 10
    assert len(large.aa_class_names) == v // 200
    # Pinned VMs are never rule members, and restricted owners keep the current host.
    members = {m for r in large.rules for m in r.members}
    assert not members & set(np.flatnonzero(large.vm_pinned).tolist())
    assert large.vm_possible[np.arange(v), large.vm_host].all()
    assert (~large.vm_possible.all(axis=1)).sum() == round(0.03 * v)


def test_networks_have_management_and_two_live_migration_networks(medium: Cluster) -> None:
    assert any(n.role == 3 for n in medium.networks)
    assert sum(n.live_migration_order is not None for n in medium.networks) == 2


# ----------------------------------------------------------------------------- bad options
@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        (dict(hosts=129, vms=100), "hosts must be from 1 to 128"),
        (dict(hosts=2, vms=3000), "do not fit on 2 hosts"),
        (dict(hosts=4, vms=100, generations=("Nope",)), "unknown CPU model 'Nope'"),
        (dict(hosts=4, vms=100, vendors="intel", generations=("EPYC-Rome",)), "do not match"),
        (dict(hosts=4, vms=100, rule_density=1.5), "rule_density must be a fraction"),
        (dict(hosts=4, vms=100, compat_minimum=0.7, compat_common=0.5), "must not exceed 1"),
        (dict(hosts=10, vms=500, load_pct=80, hot_load_pct=78, hot_fraction=0.2), "too high"),
        (dict(hosts=4, vms=100, fault_domains=5), "fault_domains must be from 0 to"),
    ],
)
def test_bad_options_are_reported(kw: dict[str, object], needle: str) -> None:
    opts = GeneratorOptions(**kw)  # type: ignore[arg-type]
    assert any(needle in p for p in option_problems(opts))
    with pytest.raises(GeneratorError, match=needle.replace("(", r"\(")):
        generate_cluster(opts)


def test_too_few_vms_for_the_hosts_is_an_error() -> None:
    with pytest.raises(GeneratorError, match="too few"):
        _gen(hosts=16, vms=10)


# ----------------------------------------------------------------------------- CLI
def test_cli_writes_a_valid_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    r = runner.invoke(
        app, ["generate", "--hosts", "6", "--vms", "150", "--seed", "3", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "6 hosts, 150 VMs" in r.stdout
    cluster, report = read_snapshot(out)
    assert cluster is not None and report.valid
    _assert_same(cluster, generate_cluster(GeneratorOptions(hosts=6, vms=150, seed=3)))
    v = runner.invoke(app, ["validate", str(out)])
    assert v.exit_code == 0


def test_cli_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    args = ["generate", "--hosts", "4", "--vms", "60", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    before = (out / "vms.csv").read_text()
    r = runner.invoke(app, [*args[:-2], "--seed", "5", "--out", str(out)])
    assert r.exit_code == 1
    assert "not empty" in r.stderr and "--force" in r.stderr
    assert (out / "vms.csv").read_text() == before
    r = runner.invoke(app, [*args, "--seed", "5", "--force", "--rule-density", "0"])
    assert r.exit_code == 0, r.output
    assert (out / "vms.csv").read_text() != before
    # A file of the earlier snapshot that the new one does not have must not linger.
    assert not (out / "affinity_rules.csv").exists()


def test_cli_bad_options_exit_1_without_traceback(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    r = runner.invoke(app, ["generate", "--hosts", "2", "--vms", "5000", "--out", str(out)])
    assert r.exit_code == 1
    assert "do not fit on 2 hosts" in r.stderr
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert not out.exists()
    r = runner.invoke(
        app, ["generate", "--hosts", "4", "--vms", "100", "--generation", "Zen9", "--out", str(out)]
    )
    assert r.exit_code == 1 and "unknown CPU model 'Zen9'" in r.stderr


def test_cli_usage_error_exits_2(tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["generate", "--hosts", "0", "--vms", "10", "--out", str(tmp_path / "x")]
    )
    assert r.exit_code == 2


def test_cli_json_summary(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "generate",
            "--hosts",
            "5",
            "--vms",
            "100",
            "--hot-fraction",
            "0.4",
            "--out",
            str(tmp_path / "s"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["hosts"] == 5 and d["vms"] == 100 and d["hosts_over_hot_load"] == 2


def test_cli_level_and_comma_separated_generations(tmp_path: Path) -> None:
    # A fifth of the nodes above 78 % at the Medium level: exactly those are over 70 %.
    out = tmp_path / "s"
    r = runner.invoke(
        app,
        [
            "generate",
            "--hosts",
            "10",
            "--vms",
            "500",
            "--hot-fraction",
            "0.2",
            "--hot-load-pct",
            "78",
            "--level",
            "medium",
            "--generation",
            "Icelake-Server,SapphireRapids",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    cluster, _ = read_snapshot(out)
    assert cluster is not None and cluster.settings.auto_balancer_level == 2
    assert set(cluster.host_cpu_model) == {"Icelake-Server", "SapphireRapids"}
    st = json.loads(runner.invoke(app, ["status", str(out), "--json"]).stdout)
    assert sum(h["over_threshold"] for h in st["hosts"]) == 2


# ----------------------------------------------------------------------------- examples
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "data" / "examples"


def _readme_commands() -> dict[str, list[str]]:
    """The ``hvplan generate`` commands recorded in data/README.md, by output directory."""
    text = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    for block in re.findall(r"```\n(hvplan generate.*?)```", text, flags=re.S):
        args = shlex.split(block.replace("\\\n", " "))[1:]
        out[args[args.index("--out") + 1]] = args
    return out


def test_readme_records_a_command_for_every_generated_example() -> None:
    assert set(_readme_commands()) == {
        "data/examples/mixed-intel",
        "data/examples/mixed-vendor",
        "data/examples/gen16x1000",
    }


@pytest.mark.parametrize("target", sorted(_readme_commands()))
def test_generated_examples_match_their_recorded_command(target: str, tmp_path: Path) -> None:
    args = _readme_commands()[target]
    args[args.index("--out") + 1] = str(tmp_path / "snap")
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    shipped = REPO / target
    names = sorted(p.name for p in shipped.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "snap").iterdir())
    for n in names:
        assert (tmp_path / "snap" / n).read_text() == (shipped / n).read_text(), n


@pytest.mark.parametrize(
    ("name", "over"),
    [
        ("small4", ["HV01"]),
        ("mixed-intel", ["HV01"]),
        ("mixed-vendor", ["HV05", "HV06"]),
        ("gen16x1000", ["HV08", "HV09", "HV11"]),
    ],
)
def test_examples_are_valid_and_show_the_documented_hot_hosts(name: str, over: list[str]) -> None:
    r = runner.invoke(app, ["status", str(EXAMPLES / name), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [h["name"] for h in d["hosts"] if h["over_threshold"]] == over
    assert not [v for v in d["violations"] if v.get("hard")]


# ----------------------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hosts=st.integers(1, 10),
    vms=st.integers(0, 400),
    seed=st.integers(0, 2**32),
    vendors=st.sampled_from(["intel", "amd", "mixed"]),
    hot_fraction=st.floats(0.0, 0.6),
    hot_load_pct=st.floats(60.0, 90.0),
    load_pct=st.floats(20.0, 70.0),
    rule_density=st.floats(0.0, 0.5),
    stopped_fraction=st.floats(0.0, 0.3),
    pinned_fraction=st.floats(0.0, 0.2),
    enforced=st.booleans(),
)
def test_any_options_give_a_sound_cluster_or_a_clear_error(
    hosts: int,
    vms: int,
    seed: int,
    vendors: str,
    hot_fraction: float,
    hot_load_pct: float,
    load_pct: float,
    rule_density: float,
    stopped_fraction: float,
    pinned_fraction: float,
    enforced: bool,
) -> None:
    opts = GeneratorOptions(
        hosts=hosts,
        vms=vms,
        seed=seed,
        vendors=vendors,
        hot_fraction=hot_fraction,
        hot_load_pct=hot_load_pct,
        load_pct=load_pct,
        rule_density=rule_density,
        stopped_fraction=stopped_fraction,
        pinned_fraction=pinned_fraction,
        enforced_anti_affinity=enforced,
    )
    try:
        c = generate_cluster(opts)
    except GeneratorError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
        return
    assert [v for v in placement_violations(c) if v.hard] == []
    assert rule_violations(c, include_disabled=True) == []
    loads = host_loads(c)
    over = (loads.cpu_pct > hot_load_pct) | (loads.memory_pct > hot_load_pct)
    assert int(over.sum()) == opts.n_hot
    files_a = snapshot_files(c)
    back = load_snapshot_texts(files_a)
    _assert_same(c, back)


def load_snapshot_texts(files: dict[str, str]) -> Cluster:
    """Read a snapshot given as file texts (through a temporary directory)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            (Path(d) / name).write_text(text, encoding="utf-8")
        cluster, report = read_snapshot(Path(d))
    assert cluster is not None, report.errors
    assert report.errors == []
    return cluster


# ----------------------------------------------------------------------------- variety
def test_skew_spreads_the_hot_hosts_higher_with_the_same_count() -> None:
    base = dict(hosts=16, vms=1000, seed=3, hot_fraction=0.3, load_pct=55, hot_load_pct=75)
    flat, steep = _gen(**base), _gen(**base, skew=1.0)
    lf, ls = host_loads(flat), host_loads(steep)
    over_f = (lf.cpu_pct > 75) | (lf.memory_pct > 75)
    over_s = (ls.cpu_pct > 75) | (ls.memory_pct > 75)
    assert over_f.sum() == over_s.sum() == 5
    # Without skew the hot hosts stay within 75 + 2 + 6 %; with full skew they reach higher.
    assert lf.memory_pct[over_f].max() <= 83.5
    assert ls.memory_pct[over_s].max() > lf.memory_pct[over_f].max() + 2
    assert ls.memory_pct.mean() == pytest.approx(55, abs=1.5)
    _assert_same(steep, _gen(**base, skew=1.0))


def test_broken_rule_fraction_breaks_only_different_rules_and_keeps_them_enabled() -> None:
    c = _gen(hosts=16, vms=1000, seed=2, rule_density=0.3, broken_rule_fraction=0.5)
    broken = {v.rule for v in rule_violations(c)}
    assert broken
    kinds = {RuleType(r.rule_type) for r in c.rules if r.name in broken}
    assert kinds <= {RuleType.DIFFERENT_NODE, RuleType.DIFFERENT_FAULT_DOMAIN}
    assert all(r.enabled for r in c.rules if r.name in broken)
    n_diff = sum(
        r.enabled and r.rule_type in (RuleType.DIFFERENT_NODE, RuleType.DIFFERENT_FAULT_DOMAIN)
        for r in c.rules
    )
    assert 0.25 * n_diff <= len(broken) <= 0.75 * n_diff
    assert [v for v in placement_violations(c) if v.hard and v.rule is None] == []


@pytest.mark.parametrize(
    ("vendors", "n", "models"),
    [
        ("intel", 1, {"Cascadelake-Server"}),
        ("intel", 2, {"Cascadelake-Server", "Icelake-Server"}),
        ("mixed", 2, {"Cascadelake-Server", "Icelake-Server", "EPYC-Rome", "EPYC-Milan"}),
        ("amd", 3, {"EPYC-Rome", "EPYC-Milan", "EPYC-Genoa"}),
    ],
)
def test_cpu_generations_take_the_oldest_of_each_vendor(
    vendors: str, n: int, models: set[str]
) -> None:
    c = _gen(hosts=8, vms=400, seed=1, vendors=vendors, cpu_generations=n)
    assert set(c.host_cpu_model) == models


def test_aa_class_size_and_restricted_owner_list_size() -> None:
    c = _gen(
        hosts=16,
        vms=1000,
        seed=4,
        aa_class_size=2,
        restricted_owners_fraction=0.05,
        restricted_owners_hosts=3,
    )
    assert {len(m) for m in c.aa_class_members} == {2}
    restricted = ~c.vm_possible.all(axis=1)
    assert restricted.sum() > 0
    assert set(c.vm_possible[restricted].sum(axis=1).tolist()) <= {2, 3}
    assert (c.vm_possible[restricted].sum(axis=1) == 3).mean() > 0.5


def test_more_than_64_hosts_for_scaling_studies() -> None:
    c = _gen(hosts=80, vms=4000, seed=1, vendors="mixed")
    assert c.n_hosts == 80 and [v for v in placement_violations(c) if v.hard] == []


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        (dict(skew=1.5), "skew must be a fraction"),
        (dict(broken_rule_fraction=-0.1), "broken_rule_fraction must be a fraction"),
        (dict(cpu_generations=4), "cpu_generations must be 1, 2 or 3"),
        (dict(aa_class_size=1), "aa_class_size must be at least 2"),
        (dict(restricted_owners_hosts=0), "restricted_owners_hosts must be at least 1"),
    ],
)
def test_bad_variety_options_are_reported(kw: dict[str, object], needle: str) -> None:
    opts = GeneratorOptions(hosts=4, vms=100, **kw)  # type: ignore[arg-type]
    assert any(needle in p for p in option_problems(opts))


def test_cli_variety_options_reach_the_generator(tmp_path: Path) -> None:
    out = tmp_path / "s"
    args = [
        "--hosts",
        "8",
        "--vms",
        "400",
        "--seed",
        "5",
        "--skew",
        "0.5",
        "--broken-rule-fraction",
        "0.3",
        "--rule-density",
        "0.3",
        "--cpu-generations",
        "2",
        "--aa-class-size",
        "2",
        "--restricted-owners-hosts",
        "2",
    ]
    r = runner.invoke(app, ["generate", *args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    cluster, report = read_snapshot(out)
    assert cluster is not None and report.errors == []
    _assert_same(
        cluster,
        generate_cluster(
            GeneratorOptions(
                hosts=8,
                vms=400,
                seed=5,
                skew=0.5,
                broken_rule_fraction=0.3,
                rule_density=0.3,
                cpu_generations=2,
                aa_class_size=2,
                restricted_owners_hosts=2,
            )
        ),
    )


# ----------------------------------------------------------------------------- pinned output
_PINNED = [
    (
        dict(
            hosts=6,
            vms=90,
            seed=3,
            vendors="mixed",
            skew=0.7,
            broken_rule_fraction=0.5,
            cpu_generations=2,
            aa_class_size=3,
            restricted_owners_hosts=2,
            restricted_owners_fraction=0.2,
            rule_density=0.4,
            anti_affinity_classes=4,
            enforced_anti_affinity=True,
            balancer_level=2,
        ),
        "5406b2fc747f1e06a93ce3e88c547f83d00f16fb2536b97ea5affd51980acaa4",
    ),
    (
        dict(
            hosts=4,
            vms=40,
            seed=11,
            vendors="amd",
            fault_domains=2,
            hot_vendor="amd",
            hot_fraction=0.25,
            pinned_fraction=0.1,
            stopped_fraction=0.2,
            downtime_fraction=0.3,
            disabled_rule_fraction=0.5,
            rule_density=0.5,
            compat_minimum=0.4,
            compat_common=0.4,
        ),
        "18fd51b5f2ab9e077fda611a14dc372e5c34bd93db4316ce4efde8d918881ec0",
    ),
]


@pytest.mark.parametrize(("kw", "digest"), _PINNED)
def test_generated_snapshot_files_are_pinned(
    kw: dict[str, object], digest: str, tmp_path: Path
) -> None:
    """The same options and seed give byte-identical snapshot files, release after release
    (a change of the generator's draws must be deliberate: re-pin and say so)."""
    import hashlib

    write_snapshot(_gen(**kw), tmp_path)
    h = hashlib.sha256()
    for p in sorted(tmp_path.iterdir()):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    assert h.hexdigest() == digest
