"""Shared fixtures: a fresh Python API per test, torn down with everything it started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator import WebSocketsAPI
from orchestrator.api import teardown
from orchestrator.registry import Registry


@pytest.fixture
def websockets() -> Iterator[WebSocketsAPI]:
    """`obb.websockets` as a user gets it, isolated per test; every connection is killed after."""
    api = WebSocketsAPI(Registry())
    yield api
    api.registry.shutdown(teardown)
