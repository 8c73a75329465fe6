"""Names are reserved before anything is started for them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from orchestrator.errors import CapacityError, ConnectionExistsError
from orchestrator.registry import Registry


@dataclass
class Item:
    name: str


def test_a_reserved_name_is_taken_until_released() -> None:
    registry: Registry[Item] = Registry()
    with registry.reserve("a"):
        with pytest.raises(ConnectionExistsError):
            registry.add(Item("a"))
        with pytest.raises(ConnectionExistsError), registry.reserve("a"):
            pass
    with registry.reserve("a") as slot:  # released: an empty slot keeps nothing
        slot.fill(Item("a"))
    assert registry.get("a") == Item("a")


def test_a_failure_inside_the_reservation_leaves_no_trace() -> None:
    registry: Registry[Item] = Registry()

    def create_then_fail() -> None:
        with registry.reserve("b") as slot:
            slot.fill(Item("b"))
            raise RuntimeError("start failed")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert registry.find("b") is None


def test_reservations_count_against_the_cap() -> None:
    registry: Registry[Item] = Registry()
    with registry.reserve("x", capacity=1), pytest.raises(CapacityError):
        registry.reserve("y", capacity=1).__enter__()
