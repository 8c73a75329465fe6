"""The buffer between the receive loop and the writer: bounded in bytes and in age."""

from __future__ import annotations

import threading
import time

from provider_image.buffer import ROW_OVERHEAD_BYTES, Chunk, RowBuffer, chunk_of

ROW = "x" * 36  # 36 characters + 64 overhead = 100 bytes charged


def chunk(rows: int, received: float | None = None, start: int = 0) -> Chunk:
    return chunk_of([f"{start + i:036d}" for i in range(rows)], received or time.monotonic())


def test_rows_are_charged_their_text_plus_the_object_overhead() -> None:
    assert chunk_of([ROW, ROW + ROW], 0.0).size == 36 * 3 + 2 * ROW_OVERHEAD_BYTES


def test_full_once_the_byte_bound_is_reached() -> None:
    buffer = RowBuffer(max_bytes=1000, max_backlog=60)
    assert buffer.put(chunk(9)) is False
    assert buffer.put(chunk(1)) is True
    assert (buffer.rows, buffer.size) == (10, 1000)


def test_full_once_the_oldest_row_has_waited_max_backlog() -> None:
    buffer = RowBuffer(max_bytes=10**9, max_backlog=0.5)
    assert buffer.put(chunk(1, received=time.monotonic() - 0.6)) is True


def test_rows_being_written_still_count_until_done() -> None:
    buffer = RowBuffer(max_bytes=1000, max_backlog=60)
    buffer.put(chunk(10))
    taken = buffer.take(max_rows=100)
    assert [len(c.rows) for c in taken] == [10] and buffer.rows == 0
    assert buffer.full() is True
    buffer.done(committed=True)
    assert buffer.full() is False and buffer.size == 0


def test_take_returns_whole_chunks_up_to_max_rows_and_at_least_one() -> None:
    buffer = RowBuffer(max_bytes=10**9, max_backlog=60)
    for _ in range(3):
        buffer.put(chunk(4))
    assert [len(c.rows) for c in buffer.take(max_rows=9)] == [4, 4]
    buffer.done(committed=True)
    assert [len(c.rows) for c in buffer.take(max_rows=2)] == [4]


async def test_a_paused_receive_loop_wakes_when_the_writer_commits() -> None:
    buffer = RowBuffer(max_bytes=1000, max_backlog=60)
    buffer.put(chunk(10))

    def writer() -> None:
        buffer.take(max_rows=100)
        time.sleep(0.3)
        buffer.done(committed=True)

    thread = threading.Thread(target=writer)
    started = time.monotonic()
    thread.start()
    assert await buffer.wait_for_room(patience=5) is True
    waited = time.monotonic() - started
    thread.join()
    assert 0.25 < waited < 1.0


async def test_waiting_gives_up_after_its_patience() -> None:
    buffer = RowBuffer(max_bytes=1000, max_backlog=60)
    buffer.put(chunk(10))
    started = time.monotonic()
    assert await buffer.wait_for_room(patience=0.3) is False
    assert 0.25 < time.monotonic() - started < 1.0


def test_overflow_drops_the_oldest_rows_beyond_the_bound_and_counts_them() -> None:
    buffer = RowBuffer(max_bytes=1000, max_backlog=0.1)
    for start in range(0, 30, 5):
        buffer.put(chunk(5, received=time.monotonic() - 1, start=start))
    assert buffer.overflow() == 20
    assert buffer.put(chunk(5, start=30)) is False  # never full while overflowing: read on
    assert buffer.dropped == 25 and buffer.rows == 10
    kept = [row for c in buffer.take(max_rows=100) for row in c.rows]
    assert kept == [f"{i:036d}" for i in range(25, 35)]  # the newest rows, in order

    buffer.done(committed=True)  # a commit succeeded: back to waiting instead of dropping
    assert buffer.overflowing is False


def test_a_chunk_larger_than_the_bound_is_kept_even_while_overflowing() -> None:
    buffer = RowBuffer(max_bytes=100, max_backlog=60)
    buffer.overflow()
    buffer.put(chunk(5))
    assert buffer.rows == 5 and buffer.dropped == 0


def test_close_ends_take_once_empty_and_drain_hands_back_the_rest() -> None:
    buffer = RowBuffer(max_bytes=10**9, max_backlog=60)
    buffer.put(chunk(3))
    buffer.close()
    assert len(buffer.take(max_rows=1)) == 1
    buffer.done(committed=True)
    assert buffer.take(max_rows=1) == []
    buffer.put(chunk(2))
    assert [len(c.rows) for c in buffer.drain()] == [2] and buffer.rows == 0
