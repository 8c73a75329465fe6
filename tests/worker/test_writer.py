"""The writer thread commits batches exactly, trims around the broadcast cursor, and reports
failing commits at once and their recovery, without losing a row it could keep."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from contract import cursor, lock
from provider_image import writer as writer_module

from ..helpers import wait_until
from .conftest import Harness


def stored(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as connection:
        return list(connection.execute("SELECT id, message FROM records ORDER BY id"))


def numbered(start: int, count: int) -> list[str]:
    return [orjson.dumps({"n": n}).decode() for n in range(start, start + count)]


def test_rows_are_stored_exactly_and_in_order(writer: Callable[..., Harness]) -> None:
    tricky = ['{"s":"é\\u00e9 \\"quoted\\" back\\\\slash\\nline","n":1e400}', '{"emoji":"📈"}']
    harness = writer()
    harness.put(numbered(0, 500) + tricky)
    harness.put(numbered(500, 500))
    wait_until(lambda: harness.writer.written == 1002)

    rows = stored(harness.path)
    assert [message for _, message in rows] == numbered(0, 500) + tricky + numbered(500, 500)
    assert [row_id for row_id, _ in rows] == list(range(1, 1003))


def test_limit_keeps_the_newest_rows(writer: Callable[..., Harness]) -> None:
    harness = writer(limit=100)
    for start in range(0, 1000, 250):
        harness.put(numbered(start, 250))
    wait_until(lambda: harness.writer.written == 1000)
    assert [message for _, message in stored(harness.path)] == numbered(900, 100)


def test_rows_the_broadcast_server_has_not_read_stay_beyond_limit(
    writer: Callable[..., Harness], tmp_path: Path
) -> None:
    path = tmp_path / "results.db"
    cursor.publish(str(path), "records", 300)  # the broadcast server has read ids 1..300
    harness = writer(path, limit=100, hold_max_rows=1000)
    harness.put(numbered(0, 1000))
    wait_until(lambda: harness.writer.written == 1000)
    assert stored(path)[0][0] == 301  # 700 rows kept beyond `limit`: none unread is trimmed

    cursor.publish(str(path), "records", 1000)  # it caught up: limit applies again
    harness.put(numbered(1000, 10))
    wait_until(lambda: harness.writer.written == 1010)
    assert [row_id for row_id, _ in stored(path)] == list(range(911, 1011))


def test_rows_held_for_a_slow_reader_are_bounded(
    writer: Callable[..., Harness], tmp_path: Path
) -> None:
    path = tmp_path / "results.db"
    cursor.publish(str(path), "records", 0)
    harness = writer(path, limit=100, hold_max_rows=200)
    harness.put(numbered(0, 1000))
    wait_until(lambda: harness.writer.written == 1000)
    assert len(stored(path)) == 300  # limit + hold_max_rows, then trimmed anyway


def test_a_stale_cursor_is_ignored(writer: Callable[..., Harness], tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    stale = time.time() - cursor.STALE_AFTER_SECONDS - 1
    cursor.publish(str(path), "records", 0, now=stale)  # a broadcast server that died
    harness = writer(path, limit=100)
    harness.put(numbered(0, 1000))
    wait_until(lambda: harness.writer.written == 1000)
    assert len(stored(path)) == 100


def test_a_held_lock_is_reported_at_once_and_its_release_as_recovery(
    writer: Callable[..., Harness],
) -> None:
    harness = writer()
    harness.put(numbered(0, 10))
    wait_until(lambda: harness.writer.written == 10)
    lock = sqlite3.connect(harness.path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    blocked = time.monotonic()
    harness.put(numbered(10, 10))

    failed = wait_until(lambda: harness.lines.statuses("write_failed"), timeout=5)[0]
    assert time.monotonic() - blocked < 2.0
    assert failed["problem"] == "locked" and failed.level == "ERROR"
    time.sleep(1.5)  # retries with the same problem are not reported again
    assert len(harness.lines.statuses("write_failed")) == 1

    lock.execute("ROLLBACK")
    lock.close()
    recovered = wait_until(lambda: harness.lines.statuses("write_recovered"), timeout=5)[0]
    assert recovered["failed_seconds"] > 1.0
    wait_until(lambda: harness.writer.written == 20)
    assert [message for _, message in stored(harness.path)] == numbered(0, 20)


def test_a_full_disk_is_reported_and_writing_resumes_when_space_returns(
    writer: Callable[..., Harness], small_disk: Path
) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 1_200_000)
    harness = writer(small_disk / "results.db")
    batch = 0
    while not harness.lines.statuses("write_failed") and batch < 200:
        harness.put(numbered(batch * 500, 500))
        batch += 1
        time.sleep(0.01)
    failed = wait_until(lambda: harness.lines.statuses("write_failed"))[0]
    assert failed["problem"] == "full"

    filler.unlink()
    wait_until(lambda: harness.lines.statuses("write_recovered"), timeout=5)
    wait_until(lambda: harness.writer.written == batch * 500, timeout=10)
    with sqlite3.connect(harness.path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT count(*) FROM records").fetchone() == (batch * 500,)


def test_close_with_a_failing_disk_ends_in_time_and_counts_the_rows_as_lost(
    writer: Callable[..., Harness],
) -> None:
    harness = writer()
    lock = sqlite3.connect(harness.path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    harness.put(numbered(0, 30))
    harness.put(numbered(30, 20))
    wait_until(lambda: harness.lines.statuses("write_failed"))

    started = time.monotonic()
    harness.writer.close(timeout=0.5)
    assert time.monotonic() - started < 3.5
    lock.close()
    assert (harness.writer.written, harness.writer.lost) == (0, 50)
    abandoned = harness.lines.statuses("write_abandoned")
    assert [s["lost"] for s in abandoned] == [50]


def test_a_slow_writer_checkpoints_rarely_and_a_busy_one_each_round(
    writer: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each checkpoint costs two fsyncs: a trickle of rows waits CHECKPOINT_IDLE_SECONDS.
    monkeypatch.setattr(writer_module, "CHECKPOINT_SECONDS", 0.02)
    monkeypatch.setattr(writer_module, "CHECKPOINT_IDLE_SECONDS", 3.0)
    monkeypatch.setattr(writer_module, "CHECKPOINT_ROWS", 100)
    harness = writer()
    started = time.monotonic()
    for start in range(0, 10):
        harness.put(numbered(start, 1))
        wait_until(lambda count=start + 1: harness.writer.written == count)
    time.sleep(0.3)  # 15 rounds of CHECKPOINT_SECONDS
    assert harness.writer.checkpoints == 0
    wait_until(lambda: harness.writer.checkpoints == 1, timeout=8)
    assert time.monotonic() - started >= 2.5

    harness.put(numbered(10, 100))  # CHECKPOINT_ROWS since the last one: due next round
    wait_until(lambda: harness.writer.checkpoints == 2, timeout=1.5)  # not 3 s
    with sqlite3.connect(harness.path) as connection:
        assert connection.execute("SELECT count(*) FROM records").fetchone() == (110,)


def test_each_commit_is_signalled_through_the_lock_file(
    writer: Callable[..., Harness], tmp_path: Path
) -> None:
    """The broadcast server wakes on the lock file's timestamps (contract.lock.signal_commit)."""
    path = tmp_path / "results.db"
    held = lock.hold(str(path))  # as the worker does before its writer starts
    assert held is not None
    stamp = lock.lock_path(str(path))
    os.utime(stamp, ns=(0, 0))
    harness = writer(path)
    harness.put(numbered(0, 10))
    wait_until(lambda: harness.writer.written == 10)
    assert stamp.stat().st_mtime_ns > 0
    assert lock.is_held(str(path))  # the signal's own descriptor left the lock alone
    os.close(held)
