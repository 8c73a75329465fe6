"""The connection lifecycle through the Python API, as the README shows it.

Every test runs the real worker process against a real local WebSocket server (the demo
market simulator on a free port) and reads the real SQLite results file.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator import (
    AuthTokenError,
    ConnectionExistsError,
    ConnectionNotFoundError,
    ParameterError,
    UnauthorizedError,
    UnknownProviderError,
    WebSocketsAPI,
    WorkerError,
)
from providers.demo.simulator import DemoSimulator

from .helpers import kill_worker, row_ids, wait_until, worker_alive


@pytest.fixture
def market(demo_market: Callable[..., DemoSimulator]) -> DemoSimulator:
    """A demo market that accepts only "good-key"."""
    return demo_market(rate=200, api_keys={"good-key"})


def subscriptions(market: DemoSimulator) -> list[dict[str, object]]:
    return [m for m in market.received if isinstance(m, dict) and m.get("action") != "login"]


def connect(websockets: WebSocketsAPI, market: DemoSimulator, name: str = "demo", **kwargs: object):
    arguments: dict[str, object] = {"symbol": "aapl,msft", "api_key": "good-key", **kwargs}
    return websockets.create_connection(provider="demo", name=name, url=market.url, **arguments)


def test_create_connection_returns_the_spec_status_once_streaming(websockets, market):
    conn = connect(websockets, market, name="stocks_demo")

    status = conn.results.model_dump()
    # The spec's fields in the spec's order, then feeddock's own (health, ..., metrics).
    assert list(status)[:11] == [
        "name",
        "auth_required",
        "subscribed_symbols",
        "is_running",
        "provider_pid",
        "is_broadcasting",
        "broadcast_address",
        "broadcast_pid",
        "results_file",
        "table_name",
        "save_results",
    ]
    assert list(status)[11:] == ["health", "last_error", "restarts", "metrics"]
    assert (status["health"], status["last_error"], status["restarts"]) == ("ok", None, 0)
    assert status["name"] == "stocks_demo"
    assert status["subscribed_symbols"] == "AAPL,MSFT"
    assert status["is_running"] is True
    assert worker_alive(status["provider_pid"])
    assert status["table_name"] == "records"
    assert conn.provider == "demo"
    assert "api_key" not in str(conn.extra) and "good-key" not in str(conn.extra)
    # Ready means logged in and the subscription sent.
    market.wait_for(lambda m: len(m.received) >= 2)
    assert market.received[:2] == [
        {"action": "login", "key": "good-key"},
        {"action": "subscribe", "symbols": ["AAPL", "MSFT"], "feeds": ["trade", "quote"]},
    ]


def test_get_results_returns_clean_records(websockets, market):
    connect(websockets, market)
    wait_until(lambda: len(websockets.get_results("demo").results) >= 20)

    response = websockets.get_results("demo")
    frame = response.to_df()
    assert {"date", "symbol", "type", "exchange"} <= set(frame.columns)
    assert set(frame["symbol"]) <= {"AAPL", "MSFT"}
    assert set(frame["type"]) <= {"trade", "quote"}
    assert str(frame["date"].dt.tz) == "UTC"
    last = response.to_dict("records")[-1]
    assert last["exchange"] == "DEMO"


def test_limit_keeps_exactly_the_newest_records(websockets, market):
    conn = connect(websockets, market, limit=15)
    path = conn.results.results_file
    wait_until(lambda: len(market.received) and market.last_sequence >= 60)
    wait_until(lambda: len(row_ids(path)) == 15)

    ids = row_ids(path)
    assert len(ids) == 15
    assert ids == list(range(ids[-1] - 14, ids[-1] + 1))
    sequences = [r.sequence for r in websockets.get_results("demo").results]
    assert sequences == sorted(sequences)


def test_clear_results_while_streaming(websockets, market):
    conn = connect(websockets, market, limit=None)
    path = conn.results.results_file
    before = wait_until(lambda: row_ids(path) if len(row_ids(path)) >= 10 else None)

    cleared = websockets.clear_results("demo").results

    count = int(cleared.split()[0])
    assert cleared == f"{count} results cleared from demo."
    assert count >= len(before)
    # Streaming goes on into the same table, and ids are never reused.
    after = wait_until(lambda: row_ids(path))
    assert min(after) > before[-1]
    assert websockets.get_client_status("demo").results[0].is_running


def test_subscribe_and_unsubscribe_reach_the_server_while_streaming(websockets, market):
    connect(websockets, market)

    status = websockets.subscribe("demo", symbol="nvda,aapl")
    assert status.results.subscribed_symbols == "AAPL,MSFT,NVDA"
    assert status.warnings == ["demo was already subscribed to: AAPL"]
    market.wait_for_message(
        lambda m: m == {"action": "subscribe", "symbols": ["NVDA"], "feeds": ["trade", "quote"]}
    )
    wait_until(lambda: any(r.symbol == "NVDA" for r in websockets.get_results("demo").results))

    status = websockets.unsubscribe("demo", symbol="msft")
    assert status.results.subscribed_symbols == "AAPL,NVDA"
    market.wait_for_message(lambda m: m == {"action": "unsubscribe", "symbols": ["MSFT"]})


def test_stop_then_restart_keeps_results_and_subscriptions(websockets, market):
    conn = connect(websockets, market, limit=None)
    websockets.subscribe("demo", symbol="spy")
    wait_until(lambda: len(websockets.get_results("demo").results) >= 10)
    old_pid = conn.results.provider_pid

    stopped = websockets.stop_connection("demo").results
    assert stopped.is_running is False and stopped.provider_pid is None
    assert not worker_alive(old_pid)
    kept = len(websockets.get_results("demo").results)
    assert kept >= 10

    restarted = websockets.restart_connection("demo").results
    assert restarted.is_running is True
    assert restarted.provider_pid != old_pid
    assert restarted.subscribed_symbols == "AAPL,MSFT,SPY"
    assert restarted.results_file == conn.results.results_file
    market.wait_for(lambda m: subscriptions(m)[-1]["symbols"] == ["AAPL", "MSFT", "SPY"])
    wait_until(lambda: len(websockets.get_results("demo").results) > kept)


def test_server_side_close_is_followed_by_reconnect_and_resubscribe(websockets, market):
    connect(websockets, market, limit=None)
    websockets.subscribe("demo", symbol="nvda")
    market.wait_for(lambda m: m.connections_opened == 1)

    market.close_connections()

    market.wait_for(lambda m: m.connections_opened == 2 and len(subscriptions(m)) >= 3)
    assert market.received[-2:] == [
        {"action": "login", "key": "good-key"},
        {"action": "subscribe", "symbols": ["AAPL", "MSFT", "NVDA"], "feeds": ["trade", "quote"]},
    ]
    count = len(websockets.get_results("demo").results)
    wait_until(lambda: len(websockets.get_results("demo").results) > count)
    sequences = [r.sequence for r in websockets.get_results("demo").results]
    assert len(sequences) == len(set(sequences))
    assert websockets.get_client_status("demo").results[0].is_running


def test_get_client_controls_the_connection_directly(websockets, market):
    connect(websockets, market)
    client = websockets.get_client("demo").results

    assert repr(client).startswith("WebSocketClient(provider=demo")
    assert "symbol=AAPL,MSFT" in repr(client)
    assert client.is_running
    client.disconnect()
    assert not client.is_running
    client.subscribe("eurusd")  # applies when it starts again
    client.connect()
    assert client.is_running
    market.wait_for(lambda m: subscriptions(m)[-1]["symbols"] == ["AAPL", "MSFT", "EURUSD"])


def test_get_client_status_for_all_connections(websockets, market):
    connect(websockets, market, name="one")
    connect(websockets, market, name="two", symbol="spy")
    websockets.stop_connection("two")

    rows = websockets.get_client_status("all").to_dict("records")
    assert [(r["name"], r["is_running"]) for r in rows] == [("one", True), ("two", False)]
    assert rows[1]["provider_pid"] is None


@pytest.mark.parametrize("save_results", [False, True])
def test_kill_removes_the_temp_results_unless_saved(websockets, market, save_results):
    conn = connect(websockets, market, save_results=save_results)
    path = Path(conn.results.results_file)
    pid = conn.results.provider_pid
    wait_until(lambda: len(row_ids(str(path))) > 0)

    assert websockets.kill("demo").results == "Clients demo killed."

    assert not worker_alive(pid)
    assert path.exists() is save_results
    with pytest.raises(ConnectionNotFoundError):
        websockets.get_client_status("demo")
    if save_results:  # the kept temp dir also holds SQLite's -wal/-shm files
        shutil.rmtree(path.parent)


def test_results_file_and_table_name_are_honoured(websockets, market, tmp_path):
    target = tmp_path / "ticks.db"
    connect(websockets, market, results_file=str(target), table_name="ticks", save_results=True)
    wait_until(lambda: len(row_ids(str(target), "ticks")) >= 3)
    websockets.kill("demo")
    assert target.exists()


def test_auth_token_is_required_on_every_call(websockets, market):
    conn = connect(websockets, market, auth_token="s3cret")
    assert conn.results.auth_required is True

    with pytest.raises(AuthTokenError, match="requires its auth_token"):
        websockets.get_results("demo")
    with pytest.raises(AuthTokenError, match="wrong auth_token"):
        websockets.subscribe("demo", symbol="spy", auth_token="guess")
    with pytest.raises(AuthTokenError):
        websockets.kill("demo", auth_token="guess")
    assert websockets.get_client_status("all").results == []

    assert websockets.get_client_status("demo", auth_token="s3cret").results[0].is_running
    assert websockets.kill("demo", auth_token="s3cret").results == "Clients demo killed."


def test_provider_refusing_the_key_raises_its_reason(websockets, market):
    with pytest.raises(UnauthorizedError, match="invalid key"):
        connect(websockets, market, api_key="bad-key")
    with pytest.raises(ConnectionNotFoundError):
        websockets.get_client_status("demo")


def test_credentials_come_from_the_environment(websockets, market, monkeypatch):
    monkeypatch.setenv("DEMO_API_KEY", "good-key")
    websockets.create_connection(provider="demo", name="env", symbol="spy", url=market.url)
    market.wait_for(lambda m: len(m.received) >= 1)
    assert market.received[0] == {"action": "login", "key": "good-key"}


def test_errors_name_what_is_wrong_and_what_is_allowed(websockets, market):
    with pytest.raises(UnknownProviderError, match=r"Available providers: .*demo"):
        websockets.create_connection(provider="nope", name="x", symbol="aapl")
    with pytest.raises(ParameterError, match="'asset_type' input should be 'stock', 'fx' or"):
        connect(websockets, market, asset_type="bond")
    with pytest.raises(ParameterError, match="'limit'"):
        connect(websockets, market, limit=0)
    with pytest.raises(ParameterError, match="unknown parameter 'simbol'"):
        websockets.create_connection(provider="demo", name="x", simbol="aapl")
    with pytest.raises(ParameterError, match="'connect_kwargs' is not valid JSON"):
        connect(websockets, market, connect_kwargs="{nope")
    connect(websockets, market, connect_kwargs='{"ping_interval": 5}')
    with pytest.raises(ConnectionExistsError, match="already exists"):
        connect(websockets, market)
    with pytest.raises(ConnectionNotFoundError, match="No connection named 'ghost'"):
        websockets.stop_connection("ghost")


def test_unreachable_server_fails_within_the_connect_timeout(websockets, monkeypatch):
    monkeypatch.setenv("FEEDDOCK_CONNECT_TIMEOUT", "2")
    # Whichever comes first: the timeout, or the second failed attempt.
    with pytest.raises(WorkerError, match=r"not ready within 2 s|could not connect \(2 attempts\)"):
        websockets.create_connection(
            provider="demo", name="nowhere", symbol="aapl", url="ws://127.0.0.1:9"
        )


def test_a_dead_worker_shows_as_stopped_with_its_last_error(websockets, market):
    conn = connect(websockets, market)
    pid = conn.results.provider_pid
    kill_worker(pid)

    wait_until(lambda: not websockets.get_client_status("demo").results[0].is_running)
    client = websockets.get_client("demo").results
    wait_until(lambda: client.last_error)
    # SIGKILL: a process reports -9, a container 128 + 9.
    killed = -9 if isinstance(pid, int) else 137
    # ...and, once it printed counters, what it may have lost (see tests/faults).
    assert client.last_error.startswith(f"worker exited with code {killed}")
