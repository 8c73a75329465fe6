"""Broadcasting through the Python API: start/stop independent of the provider, and `listen`."""

from __future__ import annotations

import asyncio
import io
import socket
import threading

import pytest

from contract.results import connect as open_results
from orchestrator import (
    AuthTokenError,
    ParameterError,
    PortInUseError,
    StateError,
    WebSocketsAPI,
    listen,
)
from orchestrator.listen import alisten

from .helpers import free_port, port_is_free, wait_until


def stored_sequences(path: str) -> list[int]:
    import orjson

    connection = open_results(path)
    try:
        rows = connection.execute("SELECT message FROM records ORDER BY id").fetchall()
    finally:
        connection.close()
    return [orjson.loads(row[0])["sequence"] for row in rows]


class Collector:
    """A real listener in a background thread, keeping every record it receives."""

    def __init__(self, url: str, **options: object) -> None:
        self.records: list[dict[str, object]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, options), daemon=True)
        self._thread.start()

    def _run(self, url: str, options: dict[str, object]) -> None:
        async def consume() -> None:
            async for record in alisten(url, **options):  # type: ignore[arg-type]
                self.records.append(record)
                if self._stop.is_set():
                    return

        try:
            asyncio.run(consume())
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_start_broadcast_with_the_connection_and_listen(websockets: WebSocketsAPI, market):
    port = free_port()
    conn = websockets.create_connection(
        provider="demo",
        name="live",
        symbol="aapl",
        url=market.url,
        start_broadcast=True,
        broadcast_port=port,
        sleep_time=0.05,
    )
    status = conn.results
    assert status.is_broadcasting is True
    assert status.broadcast_address == f"ws://127.0.0.1:{port}"
    assert status.broadcast_pid is not None
    assert status.broadcast_pid != status.provider_pid

    out = io.StringIO()
    assert listen(status.broadcast_address, file=out, max_records=5) == 5
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert all('"symbol":"AAPL"' in line for line in lines)


def test_listener_gets_every_record_once_across_provider_stop_restart_and_clear(
    websockets: WebSocketsAPI, market
):
    port = free_port()
    conn = websockets.create_connection(
        provider="demo",
        name="steady",
        symbol="aapl,msft",
        url=market.url,
        limit=None,
        start_broadcast=True,
        broadcast_port=port,
        sleep_time=0.05,
    )
    path = conn.results.results_file
    listener = Collector(f"ws://127.0.0.1:{port}")
    wait_until(lambda: len(listener.records) >= 10)

    stopped = websockets.stop_connection("steady").results
    assert stopped.is_running is False
    assert stopped.is_broadcasting is True
    websockets.clear_results("steady")
    restarted = websockets.restart_connection("steady").results
    assert restarted.is_broadcasting is True
    wait_until(lambda: len(stored_sequences(path)) >= 20)
    websockets.stop_connection("steady")

    last = stored_sequences(path)[-1]
    wait_until(lambda: listener.records and listener.records[-1]["sequence"] == last)
    listener.stop()
    received = [r["sequence"] for r in listener.records]
    assert len(received) == len(set(received)), "a record arrived twice"
    assert received == sorted(received), "records arrived out of order"
    # Every record stored after the clear reached the listener.
    assert set(stored_sequences(path)) <= set(received)


def test_stop_broadcasting_keeps_the_provider_and_frees_the_port(websockets, market):
    port = free_port()
    websockets.create_connection(
        provider="demo",
        name="quiet",
        symbol="aapl",
        url=market.url,
        start_broadcast=True,
        broadcast_port=port,
    )
    status = websockets.stop_broadcasting("quiet").results
    assert status.is_broadcasting is False
    assert status.broadcast_address is None
    assert status.broadcast_pid is None
    assert status.is_running is True
    wait_until(lambda: port_is_free(port))
    with pytest.raises(StateError, match="not broadcasting"):
        websockets.stop_broadcasting("quiet")

    again = websockets.start_broadcasting("quiet", port=port).results
    assert again.broadcast_address == f"ws://127.0.0.1:{port}"


def test_a_port_in_use_is_named(websockets, market):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        websockets.create_connection(provider="demo", name="p", symbol="aapl", url=market.url)
        with pytest.raises(PortInUseError, match=f"Port {port} on 127.0.0.1 is already in use"):
            websockets.start_broadcasting("p", port=port)
    assert websockets.get_client_status("p").results[0].is_broadcasting is False


def test_uvicorn_kwargs_pass_through_and_reserved_keys_are_refused(websockets, market):
    websockets.create_connection(provider="demo", name="u", symbol="aapl", url=market.url)
    with pytest.raises(ParameterError, match="may not set port"):
        websockets.start_broadcasting("u", port=free_port(), uvicorn_kwargs={"port": 1})
    port = free_port()
    status = websockets.start_broadcasting(
        "u", port=port, uvicorn_kwargs='{"ws_ping_interval": 5, "timeout_keep_alive": 2}'
    ).results
    assert status.is_broadcasting


def test_listeners_must_present_the_connection_token(websockets, market):
    port = free_port()
    websockets.create_connection(
        provider="demo",
        name="secret",
        symbol="aapl",
        url=market.url,
        auth_token="s3cret",
        start_broadcast=True,
        broadcast_port=port,
    )
    address = f"ws://127.0.0.1:{port}"
    with pytest.raises(AuthTokenError):
        listen(address, file=io.StringIO(), max_records=1)
    with pytest.raises(AuthTokenError):
        listen(address, auth_token="guess", file=io.StringIO(), max_records=1)
    out = io.StringIO()
    assert listen(address, auth_token="s3cret", file=out, max_records=2) == 2
    assert "s3cret" not in out.getvalue()


def test_kill_stops_the_broadcast_too(websockets, market):
    port = free_port()
    websockets.create_connection(
        provider="demo",
        name="gone",
        symbol="aapl",
        url=market.url,
        start_broadcast=True,
        broadcast_port=port,
    )
    websockets.kill("gone")
    wait_until(lambda: port_is_free(port))
