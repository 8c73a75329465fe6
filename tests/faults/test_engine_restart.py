"""The Docker engine stops and starts again under running connections.

A private engine (tests/engines.py) is stopped with SIGTERM, as a service manager stops it:
it stops every container. While it is down, REST answers 503 JSON for what needs the engine
and the status says the connection is degraded; when it is back, supervision restarts the
workers on the same results file and records flow again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from orchestrator import WebSocketsAPI
from orchestrator.rest import Settings
from orchestrator.runtime.docker import DockerRuntime, Engine
from providers.demo.simulator import DemoSimulator

from ..conftest import SESSION_INSTANCE, need_docker
from ..engines import PrivateEngine, docker_daemon_available
from ..helpers import free_port, row_ids, wait_until
from ..rest.conftest import LiveServer

API = "/api/v1/websockets"
pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def engine() -> Iterator[PrivateEngine]:
    need_docker()
    if not docker_daemon_available():
        pytest.skip("a private dockerd needs the dockerd binary and root")
    runtime = DockerRuntime(instance=SESSION_INSTANCE)
    private = PrivateEngine(list(runtime.images.values()))
    runtime.close()
    try:
        private.start()
        private.load_images()
        yield private
    finally:
        private.destroy()


def test_connections_come_back_after_an_engine_restart(engine: PrivateEngine, demo_market) -> None:
    market: DemoSimulator = demo_market(rate=200)
    runtime = DockerRuntime(instance=SESSION_INSTANCE, engine=Engine(engine.url))
    api = WebSocketsAPI(runtime=runtime)
    with LiveServer(api, Settings()) as server:
        http = httpx.Client(base_url=server.url, timeout=60)
        port = free_port()
        created = http.post(
            f"{API}/create_connection",
            json={"provider": "demo", "name": "engine_restart", "symbol": "aapl,msft",
                  "url": market.url, "limit": None, "start_broadcast": True,
                  "broadcast_port": port},
        )  # fmt: skip
        assert created.status_code == 200, created.text
        before = created.json()["results"]
        results = before["results_file"]
        wait_until(lambda: len(row_ids(results)) > 20)

        engine.stop()
        down = wait_until(
            lambda: (
                (s := http.get(f"{API}/get_client_status").json()["results"][0])["health"] != "ok"
                and s
            ),
            timeout=20,
        )
        assert down["health"] in ("degraded", "restarting")
        refused = http.post(
            f"{API}/create_connection",
            json={"provider": "demo", "name": "while_down", "symbol": "a", "url": market.url},
        )
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "RuntimeUnavailableError"
        stopped_at = len(row_ids(results))

        restarted_at = time.monotonic()
        engine.start()
        back = wait_until(
            lambda: (
                (s := http.get(f"{API}/get_client_status").json()["results"][0])["is_running"]
                and s["is_broadcasting"]
                and s["health"] == "ok"
                and s
            ),
            timeout=60,
        )
        recovery = time.monotonic() - restarted_at
        assert back["restarts"] >= 1
        assert back["provider_pid"] != before["provider_pid"]
        assert back["results_file"] == results
        assert back["subscribed_symbols"] == "AAPL,MSFT"
        wait_until(lambda: len(row_ids(results)) > stopped_at + 20)
        print(f"engine restart: connection and broadcast back {recovery:.1f} s after start")
        assert http.post(f"{API}/kill", params={"name": "engine_restart"}).status_code == 200
        http.close()
    api.shutdown()
    runtime.close()
