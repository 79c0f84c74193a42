"""Model profiles: objective tiers, enabled constraint options and solver parameters.

Profiles are TOML files.  The built-in ones live in ``models/`` at the repository root
(``rebalance`` is the default, ``drain`` and ``strict``); ``--model PATH.toml`` loads any
other file with the same keys::

    name = "rebalance"
    [objective]
    tiers = ["excess", "anti_affinity", "migration", "balance"]   # lexicographic order
    shutdown_penalty_mb = 1048576
    [constraints]
    allow_shutdown = true            # plan Shutdown moves for VMs with allow_downtime
    anti_affinity = "cluster"        # "cluster" (cluster.csv decides), "hard" or "soft"
    [solver]
    time_limit_s = 60.0
    workers = 1
    deterministic = true
    # optional: the share of the time limit each solve stage may use (see SolverBudget)
    restricted_share = 0.25

The tier ``rules`` (affinity rules and enforced anti-affinity classes broken now and left
broken, SPEC §3) is always the first tier; a profile may name it or leave it out.

Unknown keys and bad values are reported as errors (a :class:`planner.diagnostics.Report`),
never raised at the user.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from planner.diagnostics import Report

#: Every objective tier, in lexicographic order (SPEC §3).
TIER_ORDER = ("rules", "excess", "anti_affinity", "migration", "balance")
BUILTIN = ("rebalance", "drain", "strict")
#: CP-SAT deterministic time per second of the time limit (``deterministic_time_per_second``):
#: what one CP-SAT worker gains per CPU second of a whole 30 s plan (Python stages included),
#: measured on the six benchmark clusters on this 2-core machine with a core to itself
#: (OR-Tools 9.15; load average 2.2, CPU time = wall time): b64-rules 0.58, b128-big 0.56,
#: b16-skew 0.45 (its full model counted at ``full_model_det_scale``), b32-mixed 0.39,
#: b64-mild 0.21.  0.55 makes the deterministic budget of the clusters whose search ends by
#: it (b64-rules, b128-big) end at about the wall limit.  Per model: cover models
#: 0.37-0.60, restricted model 0.39-0.49, large-neighbourhood rounds 0.18-0.87, full model
#: 2.5.
DEFAULT_PER_SECOND = 0.55


def _models_dir() -> Path:
    """``models/`` of a checkout, or its copy shipped in the package (``planner/models``)."""
    here = Path(__file__).resolve().parent
    for d in (here.parent / "models", here / "models"):
        if (d / "rebalance.toml").is_file():
            return d
    return here / "models"


MODELS_DIR = _models_dir()


@dataclass(frozen=True)
class SolverBudget:
    """How the time limit is shared between the solve stages (keys of ``[solver]``).

    Every stage is bounded in CP-SAT deterministic time, not in wall-clock time (same input,
    seed and limit, same plan, whatever the machine's load; the wall clock is only a hard
    cap): the run has ``deterministic_time_per_second`` times its time limit.  Every share is
    a fraction of that or of what is left of it; every other number is in seconds, turned
    into deterministic time by the same factor, or directly in deterministic time units.
    """

    #: Deterministic time per second of the time limit: the one factor between the user's
    #: ``--time-limit`` and every stage budget (see :data:`DEFAULT_PER_SECOND`).
    deterministic_time_per_second: float = DEFAULT_PER_SECOND

    #: Share of the time limit the per-node cover models of the bounds may use, in total.
    cover_share: float = 0.25
    #: Longest single cover model (s).
    cover_max_seconds: float = 2.0
    #: Share of the time limit for the one decomposition solve at the bounds.
    decomposition_share: float = 0.15
    #: Share of the time left that the restricted model (all its solves) may use (0.25 of
    #: the deterministic time is about what 0.5 of the wall clock gave on a loaded machine,
    #: and leaves the full model, when one follows, the time to prove b16-skew).
    restricted_share: float = 0.25
    #: Share of the time limit for the restricted model's first solve at the bounds.
    targeted_share: float = 0.25
    #: Shortest budget of a solve at the bounds (s).
    min_targeted_seconds: float = 0.5
    #: Share of the time left that LNS may use when a full model may follow.
    lns_share: float = 0.5
    #: Longest time of one LNS round (s; deterministic, by the factor).
    lns_round_seconds: float = 5.0
    #: CP-SAT deterministic time of one LNS round (keeps rounds reproducible).
    lns_deterministic_time: float = 1.0
    #: CP-SAT deterministic time of the full model per unit of the run's budget: its search
    #: gains deterministic time about five times faster per CPU second than the other models
    #: (b16-skew: 2.5 against 0.4-0.6), so without this it would get a fifth of the time
    #: the other stages leave it.
    full_model_det_scale: float = 5.0
    #: Share of the time limit for isolating an infeasibility core, and its range (s).
    explain_share: float = 1.0 / 3.0
    explain_min_seconds: float = 2.0
    explain_max_seconds: float = 20.0
    #: Placement Booleans above which restricted/full models give way to LNS.
    large_model_booleans: int = 40_000


BUDGET_KEYS = tuple(SolverBudget.__dataclass_fields__)


@dataclass(frozen=True)
class Profile:
    """One model profile (see the module docstring for the file format)."""

    name: str = "rebalance"
    tiers: tuple[str, ...] = TIER_ORDER[1:]
    shutdown_penalty_mb: int = 1_048_576
    allow_shutdown: bool = True
    anti_affinity: str = "cluster"
    time_limit_s: float = 60.0
    workers: int = 1
    deterministic: bool = True
    budget: SolverBudget = SolverBudget()
    source: str = "built-in defaults"

    def enforce_anti_affinity(self, cluster_setting: bool) -> bool:
        """Whether legacy anti-affinity is hard for a cluster with ``cluster_setting``."""
        if self.anti_affinity == "hard":
            return True
        if self.anti_affinity == "soft":
            return False
        return cluster_setting


_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "": {"name": str, "description": str},
    "objective": {"tiers": list, "shutdown_penalty_mb": int},
    "constraints": {"allow_shutdown": bool, "anti_affinity": str},
    "solver": {
        "time_limit_s": (int, float),
        "workers": int,
        "deterministic": bool,
        **{k: (int, float) for k in BUDGET_KEYS},
    },
}


def profile_path(name_or_path: str) -> Path:
    """The file of a built-in profile name, or the given path."""
    if name_or_path in BUILTIN:
        return MODELS_DIR / f"{name_or_path}.toml"
    return Path(name_or_path)


def load_profile(name_or_path: str | None = None) -> tuple[Profile | None, Report]:
    """Read a profile by built-in name or path; ``(None, report)`` when it has errors."""
    rep = Report()
    if name_or_path is None:
        name_or_path = "rebalance"
    path = profile_path(name_or_path)
    fname = str(path)
    if not path.is_file():
        rep.error(fname, f"model profile not found (built-in: {', '.join(BUILTIN)})")
        return None, rep
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        rep.error(fname, f"not a readable TOML file: {e}")
        return None, rep
    kw: dict[str, object] = {"source": fname}
    for section, value in data.items():
        items: list[tuple[str, object]]
        if isinstance(value, dict):
            if section not in _SCHEMA or section == "":
                rep.error(fname, "unknown section", column=section)
                continue
            items = list(value.items())
            schema = _SCHEMA[section]
        else:
            items = [(section, value)]
            schema = _SCHEMA[""]
        for key, val in items:
            if key not in schema:
                rep.error(fname, "unknown key", column=key, value=val)
                continue
            want = schema[key]
            if (
                isinstance(val, bool)
                and want is not bool
                and bool not in (want if isinstance(want, tuple) else (want,))
            ):
                rep.error(fname, "wrong type", column=key, value=val)
                continue
            if not isinstance(val, want):
                rep.error(fname, "wrong type", column=key, value=val)
                continue
            if key != "description":
                kw[key] = val
    tiers = kw.get("tiers")
    if tiers is not None:
        assert isinstance(tiers, list)
        bad = [t for t in tiers if t not in TIER_ORDER]
        if bad or not tiers:
            rep.error(
                fname,
                f"tiers must be a non-empty subset of {list(TIER_ORDER)}",
                column="tiers",
                value=tiers,
            )
        elif [t for t in TIER_ORDER if t in tiers] != list(tiers):
            rep.error(
                fname, f"tiers must keep the order {list(TIER_ORDER)}", column="tiers", value=tiers
            )
        else:
            kw["tiers"] = tuple(tiers)
    if kw.get("anti_affinity", "cluster") not in ("cluster", "hard", "soft"):
        rep.error(
            fname,
            "must be cluster, hard or soft",
            column="anti_affinity",
            value=kw["anti_affinity"],
        )
    for key, lo in (("workers", 1), ("shutdown_penalty_mb", 0)):
        if key in kw and int(kw[key]) < lo:  # type: ignore[call-overload]
            rep.error(fname, f"must be at least {lo}", column=key, value=kw[key])
    if "time_limit_s" in kw and float(kw["time_limit_s"]) <= 0:  # type: ignore[arg-type]
        rep.error(fname, "must be positive", column="time_limit_s", value=kw["time_limit_s"])
    budget: dict[str, float | int] = {}
    for key in BUDGET_KEYS:
        if key in kw:
            val = kw.pop(key)
            assert isinstance(val, int | float)
            if val <= 0 or (key.endswith("_share") and val > 1):
                rep.error(
                    fname,
                    "must be in (0, 1]" if key.endswith("_share") else "must be positive",
                    column=key,
                    value=val,
                )
            budget[key] = int(val) if key == "large_model_booleans" else float(val)
    if budget:
        kw["budget"] = SolverBudget(**budget)  # type: ignore[arg-type]
    if not rep.valid:
        return None, rep
    if "time_limit_s" in kw:
        kw["time_limit_s"] = float(kw["time_limit_s"])  # type: ignore[arg-type]
    return Profile(**kw), rep  # type: ignore[arg-type]
