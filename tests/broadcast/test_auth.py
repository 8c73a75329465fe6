"""Listener auth: the token from the environment, compared in constant time, never logged."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from .helpers import Listener, Table, WorkerProcess

Start = Callable[..., tuple[WorkerProcess, str]]
TOKEN = "s3cr3t-token-value"


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        pytest.param("", None, id="missing"),
        pytest.param("?auth_token=wrong", None, id="wrong-query"),
        pytest.param("", {"Authorization": "Bearer wrong"}, id="wrong-header"),
        pytest.param("", {"Authorization": f"Basic {TOKEN}"}, id="not-bearer"),
    ],
)
async def test_listener_without_the_right_token_is_refused_with_the_reason(
    broadcast: Start, query: str, headers: dict[str, str] | None
) -> None:
    process, url = broadcast(token=TOKEN)
    async with connect(url + "/" + query, additional_headers=headers) as websocket:
        with pytest.raises(ConnectionClosedError) as refused:
            await websocket.recv()
    assert refused.value.rcvd is not None
    assert refused.value.rcvd.code == 1008
    assert refused.value.rcvd.reason == "invalid or missing auth_token"
    event = process.wait_event("refused")
    assert event["reason"] == "invalid or missing auth_token"
    process.stop()
    assert TOKEN not in process.output()


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        pytest.param(f"?auth_token={TOKEN}", None, id="query"),
        pytest.param("", {"Authorization": f"Bearer {TOKEN}"}, id="header"),
    ],
)
async def test_listener_with_the_token_in_query_or_header_gets_records(
    table: Table, broadcast: Start, query: str, headers: dict[str, str] | None
) -> None:
    process, url = broadcast(token=TOKEN)
    listener = await Listener(url + "/" + query, additional_headers=headers).open()
    expected = table.insert(3)
    await listener.wait_count(3)
    assert listener.lines == expected
    await listener.close()
    process.wait_event("closed")
    process.stop()
    assert TOKEN not in process.output()


async def test_open_server_accepts_listeners_with_or_without_a_token(
    table: Table, broadcast: Start
) -> None:
    _, url = broadcast()
    plain = await Listener(url).open()
    with_token = await Listener(f"{url}/?auth_token=anything").open()
    expected = table.insert(2)
    for listener in (plain, with_token):
        await listener.wait_count(2)
        assert listener.lines == expected
        await listener.close()


async def test_invalid_replay_is_refused_with_a_reason(broadcast: Start) -> None:
    _, url = broadcast()
    async with connect(f"{url}/?replay=lots") as websocket:
        with pytest.raises(ConnectionClosedError) as refused:
            await websocket.recv()
    assert refused.value.rcvd is not None
    assert refused.value.rcvd.code == 4400
    assert "replay" in refused.value.rcvd.reason
