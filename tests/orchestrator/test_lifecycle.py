"""The Python API's lifecycle over fake workers that speak the real worker contract."""

from __future__ import annotations

import pytest

from contract.commands import parse_command
from contract.config import WorkerConfig
from orchestrator import (
    ConnectionExistsError,
    ConnectionNotFoundError,
    PortInUseError,
    StateError,
    UnauthorizedError,
    WebSocketsAPI,
    WorkerError,
)
from orchestrator.runtime.fake import FakeEngine

from .conftest import create


def test_create_returns_the_status_the_worker_reported(api: WebSocketsAPI) -> None:
    create(api, symbol="aapl, msft")
    status = api.get_client_status("demo").results[0]
    assert status.is_running and status.subscribed_symbols == "AAPL,MSFT"
    assert status.provider_pid is not None


def test_subscribe_goes_to_the_worker_and_its_answer_is_the_subscribed_set(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api)
    response = api.subscribe("demo", "nvda,aapl")
    assert response.results.subscribed_symbols == "AAPL,MSFT,NVDA"
    assert response.warnings == ["demo was already subscribed to: AAPL"]
    command = parse_command(engine.find("demo").received[-1])
    assert (command.action, command.symbols) == ("subscribe", ["nvda", "aapl"])
    assert api.unsubscribe("demo", "msft").results.subscribed_symbols == "AAPL,NVDA"


def test_changes_while_stopped_are_handed_to_the_next_start(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api)
    api.stop_connection("demo")
    response = api.subscribe("demo", "spy")
    assert response.warnings == ["demo is not running: the change applies when it is restarted."]
    api.unsubscribe("demo", "aapl")
    restarted = api.restart_connection("demo").results
    assert restarted.subscribed_symbols == "MSFT,SPY"
    config = WorkerConfig.model_validate_json(engine.find("demo").spec.env[WorkerConfig.ENV])
    assert config.symbols == ["AAPL", "MSFT"]
    assert [(c.action, c.symbols) for c in config.changes] == [
        ("subscribe", ["spy"]),
        ("unsubscribe", ["aapl"]),
    ]


def test_a_worker_that_dies_shows_stopped_with_its_reason(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api, restart_policy="no")
    engine.crash("demo", code=137)
    status = api.get_client_status("demo").results[0]
    assert not status.is_running and status.provider_pid is None
    assert (status.health, status.last_error) == ("failed", "worker exited with code 137")
    assert api.get_client("demo").results.last_error == "worker exited with code 137"


def test_an_oom_kill_is_named_as_such(api: WebSocketsAPI, engine: FakeEngine) -> None:
    create(api, restart_policy="no")
    engine.crash("demo", code=137, oom=True)
    error = api.get_client("demo").results.last_error
    assert error is not None and "out of memory" in error


def test_refused_credentials_raise_the_providers_words_and_leave_nothing(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    engine.refusals["demo"] = "invalid key"
    with pytest.raises(UnauthorizedError, match="invalid key"):
        create(api)
    assert engine.running() == []
    with pytest.raises(ConnectionNotFoundError):
        api.get_client_status("demo")


def test_a_worker_that_never_gets_ready_is_stopped_and_reported(
    api: WebSocketsAPI, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDDOCK_CONNECT_TIMEOUT", "0.05")
    engine.never_ready.add("demo")
    with pytest.raises(WorkerError, match=r"was not ready within 0\.05 s"):
        create(api)
    assert engine.running() == []


def test_names_are_unique_and_unknown_names_are_not_found(api: WebSocketsAPI) -> None:
    create(api)
    with pytest.raises(ConnectionExistsError, match="'demo' already exists"):
        create(api)
    with pytest.raises(ConnectionNotFoundError) as missing:
        api.get_results("nope")
    assert str(missing.value) == "No connection named 'nope'."


def test_restart_stops_the_running_worker_first(api: WebSocketsAPI, engine: FakeEngine) -> None:
    create(api)
    old = engine.find("demo")
    api.restart_connection("demo")
    assert not old.running and engine.find("demo").running
    assert [w.spec.connection for w in engine.running("provider")] == ["demo"]


def test_broadcast_starts_stops_and_refuses_a_taken_port(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api, broadcast_port=7001, start_broadcast=True)
    status = api.get_client_status("demo").results[0]
    assert status.is_broadcasting and status.broadcast_address == "ws://127.0.0.1:7001"
    with pytest.raises(StateError, match="already broadcasting"):
        api.start_broadcasting("demo")
    api.stop_broadcasting("demo")
    assert engine.running("broadcast") == []
    with pytest.raises(StateError, match="not broadcasting"):
        api.stop_broadcasting("demo")


def test_kill_removes_every_worker_and_the_name(api: WebSocketsAPI, engine: FakeEngine) -> None:
    create(api, broadcast_port=7002, start_broadcast=True)
    assert api.kill("demo").results == "Clients demo killed."
    assert engine.running() == []
    with pytest.raises(ConnectionNotFoundError):
        api.kill("demo")


def test_tokens_guard_every_call(api: WebSocketsAPI) -> None:
    from orchestrator import AuthTokenError
    from orchestrator.errors import WrongAuthTokenError

    create(api, auth_token="s3cret")
    with pytest.raises(AuthTokenError, match="requires its auth_token"):
        api.get_results("demo")
    with pytest.raises(WrongAuthTokenError, match="wrong auth_token"):
        api.get_results("demo", auth_token="nope")
    assert api.get_client_status("all").results == []
    assert api.get_client_status("all", auth_token="s3cret").results[0].auth_required


def test_the_broadcast_server_starts_beside_the_provider_and_goes_when_the_provider_fails(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    """create_connection starts both workers at once; a provider that cannot start takes the
    broadcast server it started with it, and leaves no name behind."""
    engine.refusals["refused"] = "bad key"
    with pytest.raises(UnauthorizedError):
        create(api, name="refused", broadcast_port=7003, start_broadcast=True)
    started = [w for w in engine.workers.values() if w.spec.connection == "refused"]
    assert sorted(w.role for w in started) == ["broadcast", "provider"]
    assert engine.running() == []
    with pytest.raises(ConnectionNotFoundError):
        api.get_client_status("refused")


def test_a_taken_broadcast_port_fails_the_create_and_leaves_nothing_running(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api, name="first", broadcast_port=7004, start_broadcast=True)
    with pytest.raises(PortInUseError):
        create(api, name="second", broadcast_port=7004, start_broadcast=True)
    assert [w.spec.connection for w in engine.running()] == ["first", "first"]
