"""The writer trims only what the broadcast server has read, within a bound."""

from __future__ import annotations

from pathlib import Path

from contract import cursor


def test_without_a_reader_limit_applies_exactly() -> None:
    assert cursor.trim_floor(max_id=5000, limit=1000, reader_id=None, hold_max_rows=100) == 4000


def test_unread_rows_are_kept_beyond_limit() -> None:
    assert cursor.trim_floor(max_id=5000, limit=1000, reader_id=2500, hold_max_rows=10_000) == 2500


def test_a_reader_ahead_of_the_limit_changes_nothing() -> None:
    assert cursor.trim_floor(max_id=5000, limit=1000, reader_id=4990, hold_max_rows=10) == 4000


def test_rows_held_for_the_reader_are_bounded() -> None:
    assert cursor.trim_floor(max_id=50_000, limit=1000, reader_id=10, hold_max_rows=5000) == 44_000


def test_published_position_is_read_back_until_stale(tmp_path: Path) -> None:
    results = str(tmp_path / "results.db")
    assert cursor.read(results, "records") is None
    cursor.publish(results, "records", 42, now=1000.0)
    assert cursor.read(results, "records", now=1001.0) == 42
    assert cursor.read(results, "other", now=1001.0) is None
    assert cursor.read(results, "records", now=1000.0 + cursor.STALE_AFTER_SECONDS + 1) is None
    cursor.withdraw(results)
    assert cursor.read(results, "records", now=1001.0) is None


def test_garbage_in_the_cursor_file_means_no_reader(tmp_path: Path) -> None:
    results = str(tmp_path / "results.db")
    cursor.cursor_path(results).write_text("{not json")
    assert cursor.read(results, "records") is None
