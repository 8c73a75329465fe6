"""Fault tests: a numbered feed process and real workers, both cleaned up after each test."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..worker.conftest import small_disk
from .feed import Feed
from .worker import WorkerProcess


@pytest.fixture
def feed() -> Iterator[Feed]:
    started = Feed()
    yield started
    started.close()


@pytest.fixture
def start_worker(feed: Feed) -> Iterator[Callable[..., WorkerProcess]]:
    """`start_worker(results_file, **config)`: a worker streaming from the feed, once ready."""
    workers: list[WorkerProcess] = []

    def start(results_file: Path, **config: Any) -> WorkerProcess:
        worker = WorkerProcess(str(results_file), feed.url, **config)
        workers.append(worker)
        worker.wait_event("ready")
        return worker

    yield start
    for worker in workers:
        worker.close()


def numbers(results_file: Path | str) -> list[int]:
    """The record numbers committed, in id order."""
    with sqlite3.connect(results_file, timeout=10) as connection:
        rows = connection.execute(
            "SELECT json_extract(message, '$.sequence') FROM records ORDER BY id"
        ).fetchall()
    return [int(row[0]) for row in rows]


__all__ = ["numbers", "small_disk"]
