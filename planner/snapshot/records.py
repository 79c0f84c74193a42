"""Parsed rows of hosts.csv, vms.csv and affinity_rules.csv, with the name lookups the
reader resolves references through (shared by the reader and the whole-cluster checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class HostRows:
    rows: list[dict[str, Any]]
    index: dict[str, int]
    features: list[frozenset[str]]
    file: str
    #: False when host names cannot be known (no ``name`` column): references are not checked.
    names_known: bool = True
    #: Casefolded names on rows that were rejected for another reason (already reported).
    unresolved: set[str] = field(default_factory=set)


@dataclass
class VmRows:
    rows: list[dict[str, Any]]
    index: dict[str, int]
    host: list[int]
    possible: list[tuple[int, ...]]
    preferred: list[tuple[int, ...]]
    file: str
    names_known: bool = True
    unresolved: set[str] = field(default_factory=set)


@dataclass
class RuleRows:
    rows: list[dict[str, Any]]
    members: list[tuple[int, ...]]
    file: str
