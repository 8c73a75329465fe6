"""Faults become the exception tree, and the exception tree becomes one HTTP status each."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from orchestrator import ParameterError, RuntimeUnavailableError, WebSocketsAPI, errors
from orchestrator.rest.errors import STATUS, status_for
from orchestrator.runtime.fake import FakeEngine

from .conftest import create


def test_every_exception_of_the_tree_has_its_own_status() -> None:
    classes = [
        getattr(errors, name)
        for name in errors.__all__
        if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), Exception)
    ]
    assert set(classes) == set(STATUS)
    assert status_for(errors.WrongAuthTokenError("x")) == 403
    assert status_for(errors.AuthTokenError("x")) == 401
    assert status_for(errors.StorageFullError("x")) == 507
    assert status_for(errors.ResultsLockedError("x")) == 409
    assert status_for(errors.UnknownProviderError("x", ["demo"])) == 400


def test_a_locked_results_file_is_a_quick_clear_error(
    api: WebSocketsAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contract import results

    monkeypatch.setattr(results, "READER_BUSY_SECONDS", 0.2)
    create(api, name="locked", results_file=str(tmp_path / "r.db"))
    holder = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(errors.ResultsLockedError, match="is locked"):
            api.clear_results("locked")
        assert time.monotonic() - started < 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert api.clear_results("locked").results == "0 results cleared from locked."


def test_a_file_that_is_not_a_database_is_named(api: WebSocketsAPI, tmp_path: Path) -> None:
    create(api, name="garbage", results_file=str(tmp_path / "g.db"))
    (tmp_path / "g.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(errors.ResultsUnavailableError, match="cannot be used"):
        api.get_results("garbage")


@pytest.mark.parametrize("table", ["sqlite_master", "sqlite_sequence", "SQLITE_x"])
def test_tables_sqlite_reserves_are_refused_up_front(api: WebSocketsAPI, table: str) -> None:
    with pytest.raises(ParameterError, match="SQLite reserves") as refused:
        create(api, name="reserved", table_name=table)
    assert refused.value.field == "table_name"


def test_an_engine_that_does_not_answer_is_runtime_unavailable(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    engine.down = True
    with pytest.raises(RuntimeUnavailableError):
        create(api, name="nowhere")
