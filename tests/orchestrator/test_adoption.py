"""A new orchestrator process takes over the workers an earlier one left running."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator import WebSocketsAPI
from orchestrator.record import PARAMS_LABEL
from orchestrator.runtime.fake import FakeEngine

from .conftest import create


@pytest.fixture
def first(make_api: Callable[..., WebSocketsAPI]) -> WebSocketsAPI:
    return make_api(survives_exit=True)


def leave(api: WebSocketsAPI) -> None:
    """The orchestrator process ends: workers that survive it are only released."""
    api.close_at_exit()


def test_a_running_connection_is_adopted_with_its_subscriptions(
    first: WebSocketsAPI, make_api: Callable[..., WebSocketsAPI], engine: FakeEngine
) -> None:
    create(first, name="kept", auth_token="tok", broadcast_port=7100, start_broadcast=True)
    first.subscribe("kept", "nvda", auth_token="tok")
    before = first.get_client_status("kept", auth_token="tok").results[0]
    leave(first)

    second = make_api(survives_exit=True)
    after = second.get_client_status("kept", auth_token="tok").results[0]
    assert after == before
    assert after.subscribed_symbols == "AAPL,MSFT,NVDA"
    assert second.subscribe("kept", "spy", auth_token="tok").results.subscribed_symbols == (
        "AAPL,MSFT,NVDA,SPY"
    )
    second.kill("kept", auth_token="tok")
    assert engine.running() == []


def test_a_worker_that_died_unwatched_is_adopted_as_stopped_with_its_reason(
    first: WebSocketsAPI, make_api: Callable[..., WebSocketsAPI], engine: FakeEngine
) -> None:
    create(first, name="crashed", restart_policy="no")
    leave(first)
    engine.crash("crashed", code=137, oom=True)

    second = make_api(survives_exit=True)
    assert second.get_client_status("crashed").results[0].is_running is False
    error = second.get_client("crashed").results.last_error
    assert error is not None and "out of memory" in error
    second.restart_connection("crashed")
    assert second.get_client_status("crashed").results[0].is_running


def test_workers_no_record_explains_are_reported_not_adopted(
    first: WebSocketsAPI,
    make_api: Callable[..., WebSocketsAPI],
    engine: FakeEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    create(first, name="broken")
    results_dir = Path(first.get_client_status("broken").results[0].results_file).parent
    leave(first)
    engine.find("broken").labels[PARAMS_LABEL] = "{not json"
    try:
        second = make_api(survives_exit=True)
        assert second.get_client_status("all").results == []
        assert "feeddock.default.broken-provider" in caplog.text
        assert "is not adopted: unreadable connection record" in caplog.text
    finally:
        shutil.rmtree(results_dir)  # its temp results: no record names them any more


def test_a_process_runtime_leaves_nothing_to_adopt(
    make_api: Callable[..., WebSocketsAPI], engine: FakeEngine
) -> None:
    api = make_api()
    create(api, name="gone")
    leave(api)
    assert engine.running() == []
    assert make_api().get_client_status("all").results == []


def test_a_stopped_connection_is_adopted_with_its_latest_subscriptions(
    first: WebSocketsAPI, make_api: Callable[..., WebSocketsAPI], engine: FakeEngine
) -> None:
    create(first, name="paused", broadcast_port=7101, start_broadcast=True)
    first.subscribe("paused", "nvda")
    first.stop_connection("paused")
    first.subscribe("paused", "spy")  # made while stopped: applies at the next start
    leave(first)

    second = make_api(survives_exit=True)
    adopted = second.get_client_status("paused").results[0]
    assert not adopted.is_running and adopted.is_broadcasting
    assert adopted.subscribed_symbols == "AAPL,MSFT,NVDA"
    restarted = second.restart_connection("paused").results
    assert restarted.subscribed_symbols == "AAPL,MSFT,NVDA,SPY"
