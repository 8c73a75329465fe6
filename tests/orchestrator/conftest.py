"""The orchestrator on the fake runtime: lifecycle, adoption, concurrency and errors in ms."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from orchestrator import WebSocketsAPI
from orchestrator.runtime.fake import FakeEngine, FakeRuntime


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def make_api(engine: FakeEngine) -> Iterator[Callable[..., WebSocketsAPI]]:
    """`make_api(survives_exit=..., max_connections=...)`: an API over the shared fake engine."""
    made: list[WebSocketsAPI] = []

    def make(*, survives_exit: bool = False, **options: object) -> WebSocketsAPI:
        api = WebSocketsAPI(
            runtime=FakeRuntime(engine, survives_exit=survives_exit),
            **options,  # type: ignore[arg-type]
        )
        made.append(api)
        return api

    yield make
    for api in made:
        api.shutdown()


@pytest.fixture
def api(make_api: Callable[..., WebSocketsAPI]) -> WebSocketsAPI:
    return make_api()


def create(api: WebSocketsAPI, name: str = "demo", **options: object) -> None:
    arguments = {"symbol": "aapl,msft", "url": "ws://127.0.0.1:9", **options}
    api.create_connection(provider="demo", name=name, **arguments)
