"""The dashboard at `/` in a real Chromium: a live demo connection, its chart, its buttons.

The REST app runs under uvicorn over the process runtime; the demo connection broadcasts, and
the page reads it with the browser's own WebSocket. The screenshot is saved to
.cache/screenshots/dashboard.png (the path is printed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator import WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.rest import Settings
from orchestrator.runtime import ProcessRuntime
from providers.demo.simulator import DemoSimulator

from ..helpers import free_port, wait_until
from ..rest.conftest import LiveServer
from .conftest import screenshot_path

KEY = "ops-dashboard-key"


@pytest.fixture
def api() -> Iterator[WebSocketsAPI]:
    websockets = WebSocketsAPI(Registry(), runtime=ProcessRuntime())
    yield websockets
    websockets.shutdown()


@pytest.fixture
def server(api: WebSocketsAPI) -> Iterator[LiveServer]:
    with LiveServer(api, Settings(server_api_key=KEY)) as running:
        yield running


def status(api: WebSocketsAPI, name: str) -> Any:
    return api.get_client_status(name).results[0]


def test_the_dashboard_shows_a_live_connection_and_its_buttons_work(
    browser_page: Any, server: LiveServer, api: WebSocketsAPI, market: DemoSimulator
):
    port = free_port()
    api.create_connection(
        provider="demo", name="ops_dash1", symbol="aapl,msft", url=market.url,
        start_broadcast=True, broadcast_port=port, sleep_time=0.05,
    )  # fmt: skip
    page = browser_page
    page.goto(server.url)
    page.fill("#api-key", KEY)
    page.click("#credentials button[type=submit]")

    row = page.locator("#connections tr[data-name=ops_dash1]")
    row.wait_for(timeout=10_000)
    cells = row.locator("td").all_inner_texts()
    assert cells[:6] == ["ops_dash1", "demo", "AAPL,MSFT", "yes", "yes", f"ws://127.0.0.1:{port}"]

    row.click()
    page.wait_for_function(
        "Number(document.querySelector('#chart').dataset.points) >= 20", timeout=20_000
    )
    page.wait_for_function("document.querySelectorAll('#latest tbody tr').length >= 2")
    assert set(
        page.locator("#latest tbody tr").evaluate_all("rs => rs.map(r => r.dataset.symbol)")
    ) == {"AAPL", "MSFT"}
    assert "live from ws://127.0.0.1" in page.inner_text("#stream-state")
    # The counters come from the worker's stats lines (every 2 s): records committed so far.
    page.wait_for_function(
        "Number(document.querySelector('#connections tr[data-name=ops_dash1] td:nth-child(7)')"
        ".textContent.replace(/,/g, '')) > 0",
        timeout=20_000,
    )
    shot = screenshot_path("dashboard.png")
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    page.fill("#symbols", "nflx")
    page.click("button[data-action=subscribe]")
    wait_until(lambda: "NFLX" in status(api, "ops_dash1").subscribed_symbols)
    page.wait_for_function(
        "document.querySelector('#latest tbody tr[data-symbol=NFLX]') !== null", timeout=20_000
    )
    page.click("button[data-action=stop_connection]")
    wait_until(lambda: not status(api, "ops_dash1").is_running)
    page.wait_for_function("document.querySelector('#detail-state').textContent === 'stopped'")
    assert "stop_connection ops_dash1: done" in page.inner_text("#message")


def test_one_record_per_frame_and_batched_frames_both_reach_the_chart(
    browser_page: Any, server: LiveServer
):
    page = browser_page
    page.goto(server.url)
    page.wait_for_function("typeof receive === 'function'")
    one = '{"symbol":"AAPL","last_price":1.5,"date":"2026-01-01T00:00:00Z"}'
    batch = '{"symbol":"AAPL","last_price":1.6}\n{"symbol":"MSFT","bid_price":2,"ask_price":3}\n'
    page.evaluate("([a, b]) => { receive(a); receive(b); }", [one, batch])
    assert page.evaluate("state.points") == 3
    assert page.evaluate("state.series.get('MSFT')") == [2.5]


def test_a_wrong_key_is_said_on_the_page(browser_page: Any, server: LiveServer):
    page = browser_page
    page.goto(server.url)
    page.fill("#api-key", "wrong")
    page.click("#credentials button[type=submit]")
    page.wait_for_function("document.querySelector('#message').textContent.includes('403')")
    assert "WrongAuthTokenError" in page.inner_text("#message")
