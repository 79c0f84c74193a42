"""One enum ↔ text table per enum (issue 10 item 5): every name the writer writes is one the
reader reads as the same value, and the other users take their names from the same tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from planner import cluster as cl
from planner.snapshot import schema

TABLES: list[tuple[str, Mapping[Any, str], Callable[[str], Any]]] = [
    ("host state", cl.HOST_STATE_NAMES, schema._HOST_STATE),
    ("VM state", cl.VM_STATE_NAMES, schema._VM_STATE),
    ("priority", cl.PRIORITY_NAMES, schema._PRIORITY),
    ("vendor", cl.VENDOR_CPUID, schema._VENDOR),
    ("compat mode", cl.COMPAT_NAMES, schema._COMPAT),
    ("rule type", cl.RULE_TYPE_NAMES, schema._RULE_TYPE),
    ("network role", cl.NETWORK_ROLE_NAMES, schema._ROLE),
    ("balancer mode", cl.AUTO_BALANCER_MODE_NAMES, schema._BAL_MODE),
    ("balancer level", cl.AUTO_BALANCER_LEVEL_NAMES, schema._BAL_LEVEL),
]


@pytest.mark.parametrize(("what", "names", "parse"), TABLES, ids=[t[0] for t in TABLES])
def test_every_name_reads_back_as_its_value(
    what: str, names: Mapping[Any, str], parse: Callable[[str], Any]
) -> None:
    for value, name in names.items():
        assert parse(name) == value, (what, name)
        assert parse(name.upper()) == value, (what, name)  # names ignore case
    with pytest.raises(schema.BadValue):
        parse("NoSuchName")


def test_numbers_read_as_their_value_where_the_column_takes_numbers() -> None:
    for names, parse in [
        (cl.PRIORITY_NAMES, schema._PRIORITY),
        (cl.RULE_TYPE_NAMES, schema._RULE_TYPE),
        (cl.NETWORK_ROLE_NAMES, schema._ROLE),
        (cl.AUTO_BALANCER_MODE_NAMES, schema._BAL_MODE),
        (cl.AUTO_BALANCER_LEVEL_NAMES, schema._BAL_LEVEL),
    ]:
        for value in names:
            assert parse(str(int(value))) == value


def test_other_users_take_the_same_names() -> None:
    from planner.failover import PRIORITY_NAMES
    from planner.loadmodel import LEVEL_BY_NUMBER
    from planner.planrows import MOVE_KIND_BY_NAME
    from planner.powershell import MIGRATION_TYPES

    assert {int(k): n for k, n in cl.MOVE_KIND_NAMES.items()} == MIGRATION_TYPES
    assert {n: k for k, n in cl.MOVE_KIND_NAMES.items()} == {
        n: MOVE_KIND_BY_NAME[n.casefold()] for n in cl.MOVE_KIND_NAMES.values()
    }
    assert {k: n.lower() for k, n in cl.PRIORITY_NAMES.items()} == PRIORITY_NAMES
    assert {k: lv.value for k, lv in LEVEL_BY_NUMBER.items()} == {
        k: n.lower() for k, n in cl.AUTO_BALANCER_LEVEL_NAMES.items()
    }
