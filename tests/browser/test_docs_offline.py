"""`/docs` renders every operation with no internet: Swagger UI's assets come from a package."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator import WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.rest import Settings
from orchestrator.runtime.fake import FakeRuntime

from ..rest.conftest import LiveServer
from .conftest import screenshot_path


@pytest.fixture
def server() -> Iterator[LiveServer]:
    api = WebSocketsAPI(Registry(), runtime=FakeRuntime())
    with LiveServer(api, Settings()) as running:
        yield running
    api.shutdown()


@pytest.mark.parametrize("page_path", ["/docs", "/redoc"])
def test_the_api_docs_render_their_operations_offline(
    browser_page: Any, server: LiveServer, page_path: str
):
    page = browser_page
    elsewhere: list[str] = []
    local = (server.url, f"blob:{server.url}", "data:")
    page.on(
        "request",
        lambda request: None if request.url.startswith(local) else elsewhere.append(request.url),
    )
    page.goto(f"{server.url}{page_path}")
    if page_path == "/docs":
        page.wait_for_selector(".opblock", timeout=20_000)
        operations = page.locator(".opblock-summary-path").all_inner_texts()
    else:
        page.wait_for_selector("[data-section-id]", timeout=20_000)
        operations = page.locator("[data-section-id^='tag/websockets/operation']").all()
    shot = screenshot_path(f"docs{page_path.replace('/', '-')}.png")
    page.screenshot(path=str(shot), full_page=False)
    print(f"screenshot: {shot}")
    # ReDoc's "API docs by Redocly" footer asks for its logo from a CDN; it renders without it.
    assert [url for url in elsewhere if not url.endswith("/redoc/logo-mini.svg")] == []
    if page_path == "/docs":
        assert elsewhere == []
    if page_path == "/docs":
        for endpoint in ("create_connection", "get_client_status", "subscribe", "kill", "logs"):
            assert any(text.endswith(f"/{endpoint}") for text in operations), operations
        assert "/metrics" in operations
    else:
        assert len(operations) >= 10
