"""CPU model catalog: feature sets per CPU model, and the per-vendor baseline.

The catalog ships inside the package (``planner/resources/cpu_models.csv``, built from
libvirt's x86 CPU map; a copy for browsing is ``data/cpu_models.csv``).  Feature names use
QEMU/libvirt spelling.

The *vendor baseline* that stands for Hyper-V's MinimumFeatureSet is the intersection of the
feature sets of every catalog model of that vendor (for Intel: Nehalem's 31 features; for AMD
the intersection of Opteron G3 … EPYC Turin).  It is a conservative stand-in: Microsoft does
not publish the exact set, but it is guaranteed to be offered by every catalogued CPU.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from planner.cluster import Vendor

_VENDOR_BY_CATALOG_NAME = {"intel": Vendor.INTEL, "amd": Vendor.AMD, "hygon": Vendor.HYGON}


@dataclass(frozen=True)
class CpuModel:
    """One catalog entry."""

    name: str
    vendor: Vendor
    features: frozenset[str]


@dataclass(frozen=True)
class CpuCatalog:
    """CPU models by case-insensitive name, plus the per-vendor baselines."""

    models: tuple[CpuModel, ...]

    def get(self, name: str) -> CpuModel | None:
        """Look a model up by name, ignoring case; ``None`` when unknown."""
        return self._by_name.get(name.strip().casefold())

    @property
    def _by_name(self) -> dict[str, CpuModel]:
        return {m.name.casefold(): m for m in self.models}

    def baseline(self, vendor: Vendor) -> frozenset[str]:
        """MinimumFeatureSet stand-in: features every catalog model of ``vendor`` offers."""
        sets = [m.features for m in self.models if m.vendor == vendor]
        if not sets:
            return frozenset()
        out = set(sets[0])
        for s in sets[1:]:
            out &= s
        return frozenset(out)

    def names(self, vendor: Vendor | None = None) -> list[str]:
        """Model names (optionally of one vendor), in catalog order (oldest first)."""
        return [m.name for m in self.models if vendor is None or m.vendor == vendor]


def read_catalog(path: Path) -> CpuCatalog:
    """Read a catalog CSV with columns ``model, vendor, features`` (space-separated)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    models = []
    for r in rows:
        vendor = _VENDOR_BY_CATALOG_NAME[r["vendor"].strip().lower()]
        models.append(CpuModel(r["model"].strip(), vendor, frozenset(r["features"].split())))
    return CpuCatalog(tuple(models))


@cache
def default_catalog() -> CpuCatalog:
    """The catalog that ships with hvplan (cached)."""
    ref = resources.files("planner.resources").joinpath("cpu_models.csv")
    with resources.as_file(ref) as p:
        return read_catalog(Path(p))
