"""A real RecordWriter on a real SQLite file, fed through its RowBuffer; lines captured."""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contract.status import Reporter, Status, parse_line
from provider_image.buffer import RowBuffer, chunk_of
from provider_image.writer import RecordWriter


class Lines(io.StringIO):
    def statuses(self, event: str | None = None) -> list[Status]:
        found = [parse_line(line) for line in self.getvalue().splitlines()]
        return [s for s in found if s is not None and (event is None or s.event == event)]


class Harness:
    def __init__(self, path: Path, **options: Any) -> None:
        self.path = path
        self.lines = Lines()
        self.buffer = RowBuffer(options.pop("max_bytes", 10**9), options.pop("max_backlog", 60.0))
        self.writer = RecordWriter(
            str(path),
            "records",
            limit=options.pop("limit", None),
            buffer=self.buffer,
            batch_size=options.pop("batch_size", 10_000),
            reporter=Reporter("PROVIDER", self.lines),
            **options,
        )
        self.writer.start()

    def put(self, rows: list[str]) -> None:
        self.buffer.put(chunk_of(rows, time.monotonic()))


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    started: list[Harness] = []

    def start(path: Path | None = None, **options: Any) -> Harness:
        harness = Harness(path or tmp_path / "results.db", **options)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.writer.close(timeout=1)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted after the test (needs root: skipped with the reason if not)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)
