"""The connections one orchestrator process manages, by name, with real reservations.

A name is taken the moment `reserve` returns, before anything is started for it, so of many
concurrent creates of one name exactly one proceeds and the others get the same
`ConnectionExistsError` at once, before they create a worker or a temp directory. A cap, when
given, counts reserved names too, so concurrent creates cannot pass it either.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from .errors import CapacityError, ConnectionExistsError, ConnectionNotFoundError


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


@dataclass
class Slot(Generic[T]):
    """A reserved name; `fill` it with the connection once that exists."""

    name: str
    item: T | None = None

    def fill(self, item: T) -> None:
        self.item = item


def exists_error(name: str) -> ConnectionExistsError:
    return ConnectionExistsError(
        f"A connection named {name!r} already exists. Use restart_connection, or kill it first."
    )


def not_found_error(name: str) -> ConnectionNotFoundError:
    # Never lists other names: a caller learns nothing about connections it cannot open.
    return ConnectionNotFoundError(f"No connection named {name!r}.")


class Registry(Generic[T]):
    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self._reserved: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def reserve(self, name: str, *, capacity: int | None = None) -> Iterator[Slot[T]]:
        """Hold `name` while the block creates the connection; keep it if the slot is filled."""
        with self._lock:
            if name in self._items or name in self._reserved:
                raise exists_error(name)
            if capacity is not None and len(self._items) + len(self._reserved) >= capacity:
                raise CapacityError(f"This server holds its maximum of {capacity} connections.")
            self._reserved.add(name)
        slot: Slot[T] = Slot(name)
        try:
            yield slot
        except BaseException:
            with self._lock:
                self._reserved.discard(name)
            raise
        with self._lock:
            self._reserved.discard(name)
            if slot.item is not None:
                self._items[name] = slot.item

    def add(self, item: T) -> None:
        """Register an existing connection (adoption) under its name."""
        with self._lock:
            if item.name in self._items or item.name in self._reserved:
                raise exists_error(item.name)
            self._items[item.name] = item

    def get(self, name: str) -> T:
        with self._lock:
            item = self._items.get(name)
        if item is None:
            raise not_found_error(name)
        return item

    def find(self, name: str) -> T | None:
        with self._lock:
            return self._items.get(name)

    def remove(self, name: str) -> T | None:
        with self._lock:
            return self._items.pop(name, None)

    def all(self) -> list[T]:
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


__all__ = ["Registry", "Slot", "exists_error", "not_found_error"]
