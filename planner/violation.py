"""The one violation type of ``status``, both verifiers, the plan reader and the reference
hard-rule check: indices inside, names only at the edge.

A :class:`Violation` names what it is about by index: VMs (``vms``), nodes (``hosts``), and
the affinity rule or legacy anti-affinity class (``rule``, a :class:`RuleRef`: which table,
which row).  Names are produced in one place, :meth:`Violation.to_dict`, given the
:class:`~planner.cluster.Cluster` the indices refer to; every output (``status --json``,
``verify --json`` and its text form, the HTML report, ``summary.json``'s
``rules_left_broken``) renders through it.  The one exception is input that has no index --
a plan row naming a VM or node the snapshot does not have, a rule summary.json names that
does not exist --: that text travels verbatim in :attr:`Violation.unresolved`.

The ``kind`` of every violation is one key of :data:`KINDS` (checked when it is built), and
:func:`dedupe` keeps one violation per mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from planner.cluster import RuleType
from planner.diagnostics import Problem, Report

if TYPE_CHECKING:
    from planner.cluster import Cluster

#: The one vocabulary of violation kinds, shared by ``status``, both verifiers, the plan
#: reader and the reference hard-rule check (SPEC §6 ``kind``).  Each mistake in a plan is
#: reported under exactly one of them.
KINDS: dict[str, str] = {
    # files and identity
    "plan_file": "a plan file is missing, unreadable or has a bad row/column/value",
    "snapshot": "the plan was made from another snapshot (snapshot_sha256 differs)",
    "summary": "summary.json is malformed or disagrees with plan.csv",
    "objective": "an objective term of summary.json does not recompute",
    "runbook": "plan.ps1 or rollback.ps1 does not carry the moves it must",
    # steps
    "order": "steps are not numbered 1, 2, ... or waves go back",
    "unknown": "a step refers to an unknown VM or node",
    "twice_in_wave": "a VM moves twice in one wave",
    "wrong_source": "a step starts where the VM is not",
    "no_op": "a step moves a VM to the node it is on",
    "move_kind": "the migration type is not the one SPEC §3 gives (or the move is impossible)",
    "memory_mb": "plan.csv gives a VM another memory size",
    "migration_limit": "a node takes part in more live migrations at once than its limit",
    "placement": "the plan does not end on placement.csv",
    "move_budget": "the plan moves more VMs than its max_moves budget",
    # placement and state rules (final and intermediate)
    "capacity_cpu": "a node needs more CPU than it has",
    "capacity_memory": "a node needs more memory than it has (after its reserve)",
    "running_vms": "a node runs more VMs than host_max_running_vms",
    "possible_owners": "a VM is on a node that is not one of its possible owners",
    "config_version": "a VM is on a node whose OS cannot run its configuration version",
    "pinned": "a pinned VM moves",
    "held": "a VM the planning problem holds in place (its move is blocked) moves",
    "host_not_up": "a VM moves onto a Paused or Down node, or stays running on a Down node",
    "drained": "a VM is on (or moves onto) a drained node",
    "same_node": "SameNode rule members are apart",
    "same_fault_domain": "SameFaultDomain rule members are in different fault domains",
    "different_node": "DifferentNode rule members share a node",
    "different_fault_domain": "DifferentFaultDomain rule members share a fault domain",
    "anti_affinity": "legacy anti-affinity class members share a node",
}

#: Kinds that only restate a problem already reported for the same VM (a step skipped as
#: wrong then also ends elsewhere): dropped when that VM already has a violation.
CONSEQUENCE_KINDS = frozenset({"placement"})

#: Kinds judged per node (one violation per node), the others per rule or per VM.
PER_HOST_KINDS = frozenset({"capacity_cpu", "capacity_memory", "running_vms", "migration_limit"})

#: Kinds of affinity rules and legacy anti-affinity classes.
RULE_KINDS = frozenset(
    {"same_node", "same_fault_domain", "different_node", "different_fault_domain", "anti_affinity"}
)

#: The kind of a broken affinity rule, by rule type.
RULE_TYPE_KINDS: dict[RuleType, str] = {
    RuleType.SAME_NODE: "same_node",
    RuleType.DIFFERENT_NODE: "different_node",
    RuleType.SAME_FAULT_DOMAIN: "same_fault_domain",
    RuleType.DIFFERENT_FAULT_DOMAIN: "different_fault_domain",
}


class RuleTable(Enum):
    """Which table of :class:`~planner.cluster.Cluster` a :class:`RuleRef` indexes."""

    #: ``Cluster.rules`` (affinity rules).
    AFFINITY = "affinity"
    #: ``Cluster.aa_class_names`` (legacy anti-affinity classes).
    ANTI_AFFINITY = "anti_affinity"


@dataclass(frozen=True, order=True)
class RuleRef:
    """An affinity rule or a legacy anti-affinity class, by index.

    Attributes
    ----------
    table:
        :attr:`RuleTable.AFFINITY` (an index into ``Cluster.rules``) or
        :attr:`RuleTable.ANTI_AFFINITY` (into ``Cluster.aa_class_names``).
    index:
        The row of that table.
    """

    table: RuleTable
    index: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", int(self.index))

    @classmethod
    def affinity(cls, r: int) -> RuleRef:
        """Affinity rule ``r`` (``Cluster.rules[r]``)."""
        return cls(RuleTable.AFFINITY, r)

    @classmethod
    def anti_affinity(cls, k: int) -> RuleRef:
        """Legacy anti-affinity class ``k`` (``Cluster.aa_class_names[k]``)."""
        return cls(RuleTable.ANTI_AFFINITY, k)

    def name(self, cluster: Cluster) -> str:
        """The rule's or class's name in ``cluster``."""
        if self.table is RuleTable.AFFINITY:
            return cluster.rules[self.index].name
        return cluster.aa_class_names[self.index]


def rule_refs(cluster: Cluster, name: str) -> tuple[RuleRef, ...]:
    """Every affinity rule and anti-affinity class named exactly ``name`` (input → index)."""
    rules = [RuleRef.affinity(i) for i, r in enumerate(cluster.rules) if r.name == name]
    classes = [RuleRef.anti_affinity(k) for k, n in enumerate(cluster.aa_class_names) if n == name]
    return tuple(rules + classes)


@dataclass(frozen=True)
class Unresolved:
    """Names read from the user's input that match nothing in the snapshot (no index).

    Attributes
    ----------
    vm, host, rule:
        The text as read (a plan row's VM or node, a rule summary.json names), else None.
    """

    vm: str | None = None
    host: str | None = None
    rule: str | None = None


@dataclass(frozen=True)
class Violation:
    """One broken rule or limit, or one mistake in a plan: indices inside.

    Built only from indices (numpy integers and other iterables are normalised to tuples
    of ``int``); names come out of :meth:`to_dict`.  ``hard`` violations make a plan or
    placement unacceptable.

    Attributes
    ----------
    kind:
        One key of :data:`KINDS` (anything else raises ``ValueError``).
    message:
        One line for a human, naming what is wrong (names in the text are for reading).
    vms:
        Indices of the VMs concerned (``Cluster.vm_names``), the first one the main one.
    hosts:
        Indices of the nodes concerned (``Cluster.host_names``).
    rule:
        The affinity rule or anti-affinity class concerned, if any.
    hard:
        False for what is only reported (a disabled rule, soft anti-affinity).
    step:
        The plan step concerned, if any.
    unresolved:
        Input text with no index (a plan row's unknown VM or node), if any.
    """

    kind: str
    message: str
    vms: tuple[int, ...] = ()
    hosts: tuple[int, ...] = ()
    rule: RuleRef | None = None
    hard: bool = True
    step: int | None = None
    unresolved: Unresolved | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown violation kind {self.kind!r} (see planner.violation.KINDS)")
        object.__setattr__(self, "vms", _indices(self.vms))
        object.__setattr__(self, "hosts", _indices(self.hosts))
        object.__setattr__(self, "hard", bool(self.hard))
        if self.step is not None:
            object.__setattr__(self, "step", int(self.step))

    @property
    def key(self) -> tuple[str, str, int | str]:
        """What the violation is about: one mistake, one key (see :func:`dedupe`)."""
        if self.rule is not None:
            return self.kind, self.rule.table.value, self.rule.index
        if self.unresolved is not None and self.unresolved.rule is not None:
            return self.kind, "rule name", self.unresolved.rule
        if self.kind in PER_HOST_KINDS and self.hosts:
            return self.kind, "host", self.hosts[0]
        if self.vms:
            return self.kind, "vm", self.vms[0]
        return self.kind, "message", self.message

    def to_dict(self, cluster: Cluster) -> dict[str, Any]:
        """The violation for output, the indices named from ``cluster`` (the one edge).

        Parameters
        ----------
        cluster:
            The snapshot the indices refer to.

        Returns
        -------
        dict[str, Any]
            ``kind``, ``step``, ``vm`` and ``host`` (the first VM / node, SPEC §6
            ``verify --json``), ``rule``, ``vms``, ``hosts`` (SPEC §6 ``status --json``),
            ``message`` and ``hard``.  Unresolved input text stands where a name would.
        """
        u = self.unresolved or Unresolved()
        vms = [cluster.vm_names[v] for v in self.vms] + ([u.vm] if u.vm is not None else [])
        hosts = [cluster.host_names[h] for h in self.hosts]
        hosts += [u.host] if u.host is not None else []
        return {
            "kind": self.kind,
            "step": self.step,
            "vm": vms[0] if vms else None,
            "host": hosts[0] if hosts else None,
            "rule": self.rule.name(cluster) if self.rule is not None else u.rule,
            "vms": vms,
            "hosts": hosts,
            "message": self.message,
            "hard": self.hard,
        }


def _indices(xs: Iterable[Any]) -> tuple[int, ...]:
    out = tuple(int(x) for x in xs)
    if any(x < 0 for x in out):
        raise ValueError(f"negative index in a violation: {out}")
    return out


def plan_file_violations(
    report: Report, steps: dict[int, int] | None = None, cluster: Cluster | None = None
) -> list[Violation]:
    """The problems of ``report`` as verifier violations (kind ``plan_file``).

    Parameters
    ----------
    report:
        The problems found reading the plan files.
    steps:
        Spreadsheet row → step of plan.csv: a plan.csv row's violation carries its step.
    cluster:
        The snapshot the files were read against: a ``vm``, ``source``, ``target`` or
        ``host`` cell naming something it does not have is kept as
        :class:`~planner.violation.Unresolved` text.

    Returns
    -------
    list[Violation]
        One per bad row of a file (its cells together), one per file-wide problem.
    """
    grouped: dict[tuple[str, int | None], list[Problem]] = {}
    for p in report.errors:
        key = (p.file, p.row) if p.row is not None else (p.file, -len(grouped) - 1)
        grouped.setdefault(key, []).append(p)
    out = []
    for (file, _), ps in grouped.items():
        row = ps[0].row
        head = file if row is None else f"{file}, row {row}"
        cells = "; ".join(str(p).removeprefix(head).lstrip(", :") for p in ps)
        step = (steps or {}).get(row) if file == "plan.csv" and row is not None else None
        out.append(
            Violation(
                "plan_file",
                f"{head}: {cells}" if row is not None else str(ps[0]),
                step=step,
                unresolved=None if cluster is None else _unresolved(cluster, ps),
            )
        )
    return out


def _unresolved(cluster: Cluster, problems: Sequence[Problem]) -> Unresolved | None:
    """The VM and node names of a bad row that the snapshot does not have."""
    vm = host = None
    for p in problems:
        text = "" if p.value is None else str(p.value)
        if not text.strip():
            continue  # an empty cell names nothing
        if p.column == "vm" and vm is None and text.casefold() not in cluster.vm_index:
            vm = text
        elif p.column in ("source", "target", "host") and host is None:
            host = None if text.casefold() in cluster.host_index else text
    return None if vm is None and host is None else Unresolved(vm=vm, host=host)


def dedupe(violations: Iterable[Violation]) -> list[Violation]:
    """Keep the first violation per :attr:`Violation.key`, and drop a consequence (kind in
    :data:`CONSEQUENCE_KINDS`) about a VM that already has a violation."""
    seen: set[tuple[str, str, int | str]] = set()
    named: set[int] = set()
    out: list[Violation] = []
    for v in violations:
        if v.key in seen:
            continue
        if v.kind in CONSEQUENCE_KINDS and v.vms and v.vms[0] in named:
            continue
        seen.add(v.key)
        named.update(v.vms[:1])
        out.append(v)
    return out


__all__ = [
    "CONSEQUENCE_KINDS",
    "KINDS",
    "PER_HOST_KINDS",
    "RULE_KINDS",
    "RULE_TYPE_KINDS",
    "RuleRef",
    "RuleTable",
    "Unresolved",
    "Violation",
    "dedupe",
    "plan_file_violations",
    "rule_refs",
]
