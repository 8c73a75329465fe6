"""No silent gaps: the read position is published for the writer, and rows deleted before they
were read anyway close every listener with 4410 and are counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from broadcast_image.tailer import CURSOR_ROWS
from contract import cursor

from .helpers import Listener, Table, WorkerProcess

Start = Callable[..., tuple[WorkerProcess, str]]


def insert_and_delete(table: Table, count: int) -> None:
    """`count` rows committed already deleted: ids used, rows never visible to a reader."""
    table.connection.execute("BEGIN IMMEDIATE")
    table.connection.executemany(
        'INSERT INTO "records" (message) VALUES (?)', [("{}",) for _ in range(count)]
    )
    table.connection.execute("DELETE FROM \"records\" WHERE message = '{}'")
    table.connection.execute("COMMIT")


async def test_rows_deleted_before_they_were_read_close_listeners_with_4410_and_are_counted(
    table: Table, broadcast: Start
) -> None:
    process, url = broadcast(stats_seconds=0.2)
    listeners = [await Listener(url).open(), await Listener(f"{url}/?format=ndjson").open()]
    before = table.insert(10)
    for listener in listeners:
        await listener.wait_count(10)
    insert_and_delete(table, 5)  # ids 11-15
    after = table.insert(3)
    for listener in listeners:
        closed = await listener.wait_closed()
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4410
        assert closed.rcvd.reason == "records lost: 5 (ids 11-15) deleted before they were read"
        assert listener.lines == before  # an in-order prefix, then the close
    gap = await asyncio.to_thread(process.wait_event, "gap")
    assert (gap["first_id"], gap["last_id"], gap["missed"]) == (11, 15, 5)
    assert gap["listeners_closed"] == 2
    stats = await asyncio.to_thread(process.wait_event, "stats", 10, 1, lambda e: e["gaps"] == 1)
    assert stats["records_lost"] == 5
    # A listener that comes back goes on from there, without the records it cannot have.
    again = await Listener(url).open()
    later = table.insert(2)
    await again.wait_count(2)
    assert again.lines == later
    assert after[0] not in again.lines
    await again.close()


async def until_published(results_file: Path, last_id: int, within: float) -> None:
    deadline = time.monotonic() + within
    while cursor.read(str(results_file), "records") != last_id:
        assert time.monotonic() < deadline, "the read position did not follow the reads"
        await asyncio.sleep(0.05)


async def test_the_read_position_is_published_refreshed_while_idle_and_withdrawn_on_stop(
    results_file: Path, table: Table, broadcast: Start
) -> None:
    table.insert(7)
    process, url = broadcast(sleep_time=0.25)
    assert cursor.read(str(results_file), "records") == 7  # published at start
    listener = await Listener(url).open()
    table.insert(5)
    await listener.wait_count(5)
    # A few rows: published within REFRESH_SECONDS (not after every read).
    await until_published(results_file, 12, within=cursor.REFRESH_SECONDS + 2)
    # CURSOR_ROWS rows: at once.
    table.insert(CURSOR_ROWS)
    await listener.wait_count(5 + CURSOR_ROWS)
    await until_published(results_file, 12 + CURSOR_ROWS, within=1.5)
    stamp = orjson.loads(cursor.cursor_path(str(results_file)).read_bytes())["time"]
    await asyncio.sleep(cursor.REFRESH_SECONDS + 1)  # idle: nothing new to read
    refreshed = orjson.loads(cursor.cursor_path(str(results_file)).read_bytes())
    assert refreshed["last_id"] == 12 + CURSOR_ROWS
    assert refreshed["time"] > stamp
    await listener.close()
    assert await asyncio.to_thread(process.stop) == 0
    assert not cursor.cursor_path(str(results_file)).exists()
