"""A real uvicorn server on a free loopback port, serving the REST app over a test API."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from orchestrator import WebSocketsAPI
from orchestrator.rest import Settings, create_app

from ..helpers import free_port, wait_until


class LiveServer:
    def __init__(
        self,
        api: WebSocketsAPI | None = None,
        settings: Settings | None = None,
        *,
        app: FastAPI | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app or create_app(api, settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve(websockets: WebSocketsAPI) -> Iterator[Callable[..., httpx.Client]]:
    """`serve(**settings)` starts the REST app and returns an HTTP client for it."""
    servers: list[LiveServer] = []
    clients: list[httpx.Client] = []

    def start(**settings: object) -> httpx.Client:
        server = LiveServer(websockets, Settings.model_validate(settings)).__enter__()
        servers.append(server)
        client = httpx.Client(base_url=server.url, timeout=60)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.__exit__()
