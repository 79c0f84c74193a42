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

Unknown keys and bad values are reported as errors (a :class:`planner.diagnostics.Report`),
never raised at the user.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from planner.diagnostics import Report

TIER_ORDER = ("excess", "anti_affinity", "migration", "balance")
BUILTIN = ("rebalance", "drain", "strict")



def _models_dir() -> Path:
    """``models/`` of a checkout, or its copy shipped in the package (``planner/models``)."""
    here = Path(__file__).resolve().parent
    for d in (here.parent / "models", here / "models"):
        if (d / "rebalance.toml").is_file():
            return d
    return here / "models"


MODELS_DIR = _models_dir()


@dataclass(frozen=True)
class Profile:
    """One model profile (see the module docstring for the file format)."""

    name: str = "rebalance"
    tiers: tuple[str, ...] = TIER_ORDER
    shutdown_penalty_mb: int = 1_048_576
    allow_shutdown: bool = True
    anti_affinity: str = "cluster"
    time_limit_s: float = 60.0
    workers: int = 1
    deterministic: bool = True
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
    "solver": {"time_limit_s": (int, float), "workers": int, "deterministic": bool},
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
            if isinstance(val, bool) and want is not bool and bool not in (
                    want if isinstance(want, tuple) else (want,)):
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
            rep.error(fname, f"tiers must be a non-empty subset of {list(TIER_ORDER)}",
                      column="tiers", value=tiers)
        elif [t for t in TIER_ORDER if t in tiers] != list(tiers):
            rep.error(fname, f"tiers must keep the order {list(TIER_ORDER)}", column="tiers",
                      value=tiers)
        else:
            kw["tiers"] = tuple(tiers)
    if kw.get("anti_affinity", "cluster") not in ("cluster", "hard", "soft"):
        rep.error(fname, "must be cluster, hard or soft", column="anti_affinity",
                  value=kw["anti_affinity"])
    for key, lo in (("workers", 1), ("shutdown_penalty_mb", 0)):
        if key in kw and int(kw[key]) < lo:  # type: ignore[call-overload]
            rep.error(fname, f"must be at least {lo}", column=key, value=kw[key])
    if "time_limit_s" in kw and float(kw["time_limit_s"]) <= 0:  # type: ignore[arg-type]
        rep.error(fname, "must be positive", column="time_limit_s", value=kw["time_limit_s"])
    if not rep.valid:
        return None, rep
    if "time_limit_s" in kw:
        kw["time_limit_s"] = float(kw["time_limit_s"])  # type: ignore[arg-type]
    return Profile(**kw), rep  # type: ignore[arg-type]


