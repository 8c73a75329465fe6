"""Intrinio through the Python API, on both runtimes, against the Intrinio simulator on loopback.

The simulator serves the token endpoint (`/auth`, plain HTTP) and the binary WebSocket on one
free port, as Intrinio's hosts do; `url=simulator.url` makes the worker fetch its token there
too. Readiness is never a sleep: the simulator's records of what it received are waited on, and
stored results are polled under a deadline.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from contract.config import WorkerConfig
from contract.status import Reporter
from orchestrator import ParameterError, UnauthorizedError, WebSocketsAPI
from provider_image.worker import EXIT_OK, Worker
from providers.intrinio import IntrinioData, IntrinioProtocol
from providers.intrinio.simulator import REFUSAL, TOKEN_REFUSAL, UNIVERSE, IntrinioSimulator

KEY = "intrinio-test-key"
DEADLINE_SECONDS = 20.0


@pytest.fixture
def simulator() -> Iterator[IntrinioSimulator]:
    """Requested before `websockets` in each test, so it stops after every connection is killed."""
    server = IntrinioSimulator(api_keys=[KEY], rate=50)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect_intrinio(
    websockets: WebSocketsAPI,
    simulator: IntrinioSimulator,
    name: str = "prov-c_intrinio",
    **params: Any,
) -> None:
    values: dict[str, Any] = {"symbol": "aapl,msft", "url": simulator.url, "api_key": KEY}
    websockets.create_connection(provider="intrinio", name=name, **{**values, **params})


def records(websockets: WebSocketsAPI, name: str = "prov-c_intrinio") -> list[IntrinioData]:
    found = websockets.get_results(name).results
    assert all(isinstance(record, IntrinioData) for record in found)
    return [record for record in found if isinstance(record, IntrinioData)]


def wait_records(
    websockets: WebSocketsAPI,
    check: Callable[[list[IntrinioData]], bool],
    name: str = "prov-c_intrinio",
) -> list[IntrinioData]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = records(websockets, name)
        if check(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; {len(found)} records: {found[-3:]!r}")
        time.sleep(0.05)


def count(simulator: IntrinioSimulator, frame: bytes) -> int:
    return sum(1 for received in simulator.received if received == frame)


# -- through the Python API -----------------------------------------------------------------------


def test_records_land_with_clean_fields_and_types(
    simulator: IntrinioSimulator, websockets: WebSocketsAPI
) -> None:
    connect_intrinio(websockets, simulator)
    simulator.wait_for(lambda s: len(s.received) >= 2)
    assert simulator.received[:2] == [b"J\x00AAPL", b"J\x00MSFT"]
    assert simulator.token_requests == 1
    assert simulator.handshakes == [{"vsn": "1.0.0", "UseNewEquitiesFormat": "v2"}]
    found = wait_records(
        websockets,
        lambda rs: (
            {"trade", "ask", "bid"} <= {r.type for r in rs}
            and {r.symbol for r in rs} == {"AAPL", "MSFT"}
        ),
    )
    for record in found:
        assert isinstance(record.date, datetime)
        assert record.date.tzinfo is not None
        assert abs(record.date.timestamp() - time.time()) < 60
        assert isinstance(record.timestamp, int)
        assert record.timestamp // 1000 == int(record.date.timestamp() * 1e6)  # ns -> µs exact
        assert record.exchange == "V"
        assert record.subprovider == "IEX"
        side = {"trade": "last", "ask": "ask", "bid": "bid"}[record.type]
        assert isinstance(getattr(record, f"{side}_price"), float)
        assert isinstance(getattr(record, f"{side}_size"), float)
        assert (record.volume is not None) is (record.type == "trade")
        others = {"last", "ask", "bid"} - {side}
        assert all(getattr(record, f"{other}_price") is None for other in others)
    status = websockets.get_client_status("prov-c_intrinio").results[0]
    assert status.is_running
    assert status.subscribed_symbols == "AAPL,MSFT"


def test_join_and_leave_frames_are_sent_while_streaming(
    simulator: IntrinioSimulator, websockets: WebSocketsAPI
) -> None:
    connect_intrinio(websockets, simulator)
    wait_records(websockets, lambda rs: {r.symbol for r in rs} == {"AAPL", "MSFT"})

    websockets.subscribe("prov-c_intrinio", "NVDA,aapl")  # AAPL is joined already: only NVDA
    simulator.wait_for_message(lambda m: m == b"J\x00NVDA")
    wait_records(websockets, lambda rs: "NVDA" in {r.symbol for r in rs})

    websockets.unsubscribe("prov-c_intrinio", "msft")
    simulator.wait_for_message(lambda m: m == b"LMSFT")
    simulator.wait_for(lambda s: all("MSFT" not in session.symbols for session in s.sessions))
    mark = simulator.last_timestamp
    found = wait_records(websockets, lambda rs: sum((r.timestamp or 0) > mark for r in rs) >= 20)
    assert {r.symbol for r in found if (r.timestamp or 0) > mark} == {"AAPL", "NVDA"}
    status = websockets.get_client_status("prov-c_intrinio").results[0]
    assert status.subscribed_symbols == "AAPL,NVDA"
    assert simulator.received == [b"J\x00AAPL", b"J\x00MSFT", b"J\x00NVDA", b"LMSFT"]


def test_a_server_close_is_followed_by_reconnect_and_rejoin_without_duplicates(
    simulator: IntrinioSimulator, websockets: WebSocketsAPI
) -> None:
    connect_intrinio(websockets, simulator)
    websockets.subscribe("prov-c_intrinio", "nvda")
    before = len(wait_records(websockets, lambda rs: len(rs) >= 20))
    assert simulator.connections_opened == 1

    simulator.close_connections()
    simulator.wait_for(lambda s: s.connections_opened == 2 and count(s, b"J\x00NVDA") == 2)
    assert [count(simulator, b"J\x00" + s) for s in (b"AAPL", b"MSFT", b"NVDA")] == [2, 2, 2]
    assert simulator.token_requests == 1  # the token is still good: no new request
    found = wait_records(websockets, lambda rs: len(rs) >= before + 40)

    stamps = [r.timestamp or 0 for r in found]
    assert len(stamps) == len(set(stamps)), "duplicate records after the reconnect"
    assert stamps == sorted(stamps)
    assert {r.symbol for r in found[before:]} == {"AAPL", "MSFT", "NVDA"}
    assert websockets.get_client_status("prov-c_intrinio").results[0].is_running


def test_a_refused_token_on_reconnect_fetches_a_new_one_and_rejoins(
    simulator: IntrinioSimulator, websockets: WebSocketsAPI
) -> None:
    connect_intrinio(websockets, simulator)
    wait_records(websockets, lambda rs: len(rs) >= 10)
    simulator.expire_tokens()
    simulator.close_connections()
    simulator.wait_for(lambda s: s.connections_opened == 2 and count(s, b"J\x00MSFT") == 2)
    assert simulator.refused_handshakes == 1
    assert simulator.token_requests == 2
    mark = simulator.last_timestamp
    wait_records(websockets, lambda rs: sum((r.timestamp or 0) > mark for r in rs) >= 10)
    assert websockets.get_client_status("prov-c_intrinio").results[0].is_running


def test_a_wrong_key_raises_unauthorized_with_intrinios_words(
    simulator: IntrinioSimulator, websockets: WebSocketsAPI
) -> None:
    with pytest.raises(UnauthorizedError, match=f"HTTP 401\\): {REFUSAL}"):
        connect_intrinio(websockets, simulator, api_key="wrong-key")
    assert simulator.token_requests == 1
    assert simulator.connections_opened == 0  # never reached the WebSocket
    with pytest.raises(LookupError):
        websockets.get_client_status("prov-c_intrinio")


def test_the_star_joins_the_firehose_and_streams_the_whole_market(
    simulator: IntrinioSimulator, websockets: WebSocketsAPI
) -> None:
    connect_intrinio(websockets, simulator, symbol="*")
    simulator.wait_for_message(lambda m: m == b"J\x00$FIREHOSE")
    found = wait_records(websockets, lambda rs: len({r.symbol for r in rs}) >= 4)
    assert {r.symbol for r in found} <= set(UNIVERSE)
    assert websockets.get_client_status("prov-c_intrinio").results[0].subscribed_symbols == "*"
    websockets.unsubscribe("prov-c_intrinio", "$lobby")  # any firehose spelling
    simulator.wait_for_message(lambda m: m == b"L$FIREHOSE")


def test_trades_only_sets_the_join_flag_and_only_trades_arrive(
    simulator: IntrinioSimulator, websockets: WebSocketsAPI
) -> None:
    connect_intrinio(websockets, simulator, symbol="spy", trades_only=True)
    simulator.wait_for_message(lambda m: m == b"J\x01SPY")
    found = wait_records(websockets, lambda rs: len(rs) >= 15)
    assert {r.type for r in found} == {"trade"}
    volumes = [r.volume or 0 for r in found]
    assert volumes == sorted(volumes)  # the day volume only grows


@pytest.mark.parametrize(
    ("params", "field", "allowed"),
    [
        ({"asset_type": "crypto"}, "asset_type", ["stock"]),
        (
            {"feed": "iex"},
            "feed",
            ["realtime", "delayed_sip", "nasdaq_basic", "cboe_one", "equities_edge"],
        ),
    ],
)
def test_bad_choices_raise_a_parameter_error_listing_the_allowed_values(
    simulator: IntrinioSimulator,
    websockets: WebSocketsAPI,
    params: dict[str, Any],
    field: str,
    allowed: list[str],
) -> None:
    with pytest.raises(ParameterError) as caught:
        connect_intrinio(websockets, simulator, **params)
    assert caught.value.field == field
    assert caught.value.allowed == allowed
    assert simulator.token_requests == 0


# -- the worker's token clock, in-process (24 h cannot pass in a test) ---------------------------


async def test_an_old_token_is_replaced_before_every_reconnect(
    simulator: IntrinioSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(IntrinioProtocol, "token_max_age", 0.0)  # every token is old at once
    config = WorkerConfig(
        provider="intrinio",
        params={"name": "prov-c_clock", "symbol": "aapl", "url": simulator.url},
        results_file=str(tmp_path / "results.db"),
    )
    output = io.StringIO()
    read_end, write_end = os.pipe()  # the worker's stdin, as the process runtime gives it
    monkeypatch.setattr(sys, "stdin", os.fdopen(read_end))
    worker = Worker(config, KEY, Reporter(stream=output))
    running = asyncio.create_task(worker.run())
    await asyncio.to_thread(simulator.wait_for, lambda s: count(s, b"J\x00AAPL") == 1)
    for opened in (2, 3):
        await asyncio.to_thread(simulator.close_connections)
        await asyncio.to_thread(
            simulator.wait_for,
            lambda s, n=opened: s.connections_opened == n and count(s, b"J\x00AAPL") == n,
        )
    assert simulator.token_requests == 3
    assert simulator.refused_handshakes == 0
    os.write(write_end, b'{"event": "subscribe", "symbol": "msft"}\n')
    await asyncio.to_thread(simulator.wait_for, lambda s: s.received[-1] == b"J\x00MSFT")
    os.close(write_end)
    worker.stopping.set()
    assert await asyncio.wait_for(running, DEADLINE_SECONDS) == EXIT_OK
    assert output.getvalue().count('"event":"token"') == 3
    assert KEY not in output.getvalue()


# -- the simulator on its own, with raw clients ---------------------------------------------------


def http_get(url: str) -> tuple[int, str]:
    try:
        with urlopen(url, timeout=DEADLINE_SECONDS) as reply:
            return reply.status, reply.read().decode()
    except HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_the_simulator_serves_tokens_and_refuses_like_intrinio(
    simulator: IntrinioSimulator,
) -> None:
    base = f"http://127.0.0.1:{simulator.port}"
    assert http_get(f"{base}/auth?api_key=nope") == (401, REFUSAL)
    status, token = http_get(f"{base}/auth?api_key={KEY}")
    assert status == 200
    assert token in simulator.tokens
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{simulator.url}?vsn=1.0.0&token=forged&UseNewEquitiesFormat=v2")
    assert refused.value.response.status_code == 401
    assert refused.value.response.body.decode() == TOKEN_REFUSAL
    with pytest.raises(InvalidStatus) as old_format:
        connect(f"{simulator.url}?vsn=1.0.0&token={token}")
    assert old_format.value.response.status_code == 400
    query = f"?vsn=1.0.0&token={token}"
    with connect(simulator.url + query, additional_headers={"UseNewEquitiesFormat": "v2"}) as ws:
        ws.send(b"J\x00AAPL")
        data = ws.recv(timeout=DEADLINE_SECONDS)
        assert isinstance(data, bytes)
        assert 1 <= data[0] <= 3  # message count
        assert data[1] in (0, 1, 2)  # the first message's type
        assert data[4 : 4 + data[3]] == b"AAPL"
        ws.send("hello")
        while isinstance(reply := ws.recv(timeout=DEADLINE_SECONDS), bytes):
            pass
        assert reply.startswith("Invalid message")
        ws.send(b"LAAPL")
    simulator.wait_for(lambda s: s.received[-1] == b"LAAPL")
