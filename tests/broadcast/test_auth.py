"""Listener auth and refusals: answered before the WebSocket is accepted, with the reason.

A refused listener gets an HTTP status and the reason as the body, and costs the server
nothing else: it is never registered, buffered for, or counted as a listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .helpers import Listener, Table, WorkerProcess

Start = Callable[..., tuple[WorkerProcess, str]]
TOKEN = "s3cr3t-token-value"


async def refusal(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=headers):
            pass
    response = refused.value.response
    return response.status_code, bytes(response.body or b"").decode()


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        pytest.param("", None, id="missing"),
        pytest.param("?auth_token=wrong", None, id="wrong-query"),
        pytest.param("", {"Authorization": "Bearer wrong"}, id="wrong-header"),
        pytest.param("", {"Authorization": f"Basic {TOKEN}"}, id="not-bearer"),
    ],
)
async def test_listener_without_the_right_token_is_refused_with_401_and_the_reason(
    broadcast: Start, query: str, headers: dict[str, str] | None
) -> None:
    process, url = broadcast(token=TOKEN)
    assert await refusal(url + "/" + query, headers) == (401, "invalid or missing auth_token")
    event = process.wait_event("refused")
    assert (event["status"], event["reason"]) == (401, "invalid or missing auth_token")
    process.stop()
    assert TOKEN not in process.output()
    assert process.wait_event("stopped")["listeners"] == 0


async def test_a_flood_of_refused_handshakes_registers_nothing_and_is_reported_in_summary(
    table: Table, broadcast: Start
) -> None:
    process, url = broadcast(token=TOKEN, stats_seconds=0.2)
    good = await Listener(f"{url}/?auth_token={TOKEN}").open()
    for _ in range(5):
        await asyncio.gather(*(refusal(url) for _ in range(40)))
    expected = table.insert(3)
    await good.wait_count(3)
    assert good.lines == expected
    stats = await asyncio.to_thread(
        process.wait_event, "stats", 10, 1, lambda e: e["refused"] == 200
    )
    assert stats["listeners"] == 1
    # Refusals are summarised (at most one line a second), not one line each.
    assert sum(1 for e in process.events if e["event"] == "refused") < 20
    await good.close()


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


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("replay=lots", "invalid query parameter: replay must be a non-negative integer"),
        ("replay=-1", "invalid query parameter: replay must be a non-negative integer"),
        ("format=xml", "invalid query parameter: format must be 'record' or 'ndjson'"),
    ],
)
async def test_invalid_options_are_refused_with_400_and_the_reason(
    broadcast: Start, query: str, reason: str
) -> None:
    _, url = broadcast()
    assert await refusal(f"{url}/?{query}") == (400, reason)


async def test_listeners_and_filters_past_their_caps_are_refused_with_503(
    table: Table, broadcast: Start
) -> None:
    _, url = broadcast(max_listeners=3, max_filters=1)
    first = await Listener(f"{url}/?symbol=aapl").open()
    status, reason = await refusal(f"{url}/?symbol=msft")
    assert status == 503
    assert reason.startswith("too many distinct symbol filters: 1 in use (max_filters)")
    same_filter = await Listener(f"{url}/?symbol=AAPL").open()
    unfiltered = await Listener(url).open()
    assert await refusal(url) == (503, "too many listeners: 3 connected (max_listeners)")
    expected = table.insert(2)
    for listener in (first, same_filter, unfiltered):
        await listener.wait_count(2)
        assert listener.lines == expected
        await listener.close()
