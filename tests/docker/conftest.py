"""Docker tests: a real engine, the real images, host networking, simulators on 127.0.0.1.

Every container carries the session's `feeddock.orchestrator` label and the root conftest
removes them all at the end; each test also kills what it created.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orchestrator import WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime.docker import DockerRuntime
from providers.demo.simulator import DemoSimulator

from ..conftest import SESSION_INSTANCE, need_docker


@pytest.fixture
def docker_runtime() -> Iterator[DockerRuntime]:
    need_docker()
    runtime = DockerRuntime(instance=SESSION_INSTANCE)
    yield runtime
    runtime.close()


@pytest.fixture
def api(docker_runtime: DockerRuntime) -> Iterator[WebSocketsAPI]:
    websockets = WebSocketsAPI(Registry(), runtime=docker_runtime)
    yield websockets
    websockets.shutdown()


@pytest.fixture
def market(demo_market: Callable[..., DemoSimulator]) -> DemoSimulator:
    """A demo market that accepts only "good-key"."""
    return demo_market(rate=200, api_keys={"good-key"})


def inspect(container: str) -> dict[str, Any]:
    out = subprocess.run(
        ["docker", "inspect", container], capture_output=True, text=True, check=True
    ).stdout
    found: dict[str, Any] = json.loads(out)[0]
    return found


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def containers(connection: str) -> list[str]:
    return docker(
        "ps", "-aq", "--filter", f"label=feeddock.connection={connection}",
        "--filter", f"label=feeddock.orchestrator={SESSION_INSTANCE}",
    ).split()  # fmt: skip
