from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import Table, WorkerProcess, free_port, start_broadcast


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


@pytest.fixture
def table(results_file: Path) -> Iterator[Table]:
    table = Table(results_file)
    yield table
    table.close()


@pytest.fixture
def processes() -> Iterator[list[WorkerProcess]]:
    """Every child a test starts; all killed after it, whatever happened."""
    started: list[WorkerProcess] = []
    yield started
    for process in started:
        process.kill()


@pytest.fixture
def broadcast(
    results_file: Path, processes: list[WorkerProcess]
) -> Callable[..., tuple[WorkerProcess, str]]:
    """Start a broadcast server on a free port; waits for its `listening` line."""

    def start(token: str | None = None, **config: Any) -> tuple[WorkerProcess, str]:
        port = config.pop("port", None) or free_port()
        config.setdefault("sleep_time", 0.05)
        process = start_broadcast(results_file, port, token, **config)
        processes.append(process)
        event = process.wait_event("listening")
        return process, str(event["address"])

    return start
