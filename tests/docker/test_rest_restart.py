"""With the Docker runtime, connections survive a restart of the REST service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from ..conftest import need_docker
from ..helpers import free_port, wait_until

API = "/api/v1/websockets"


class Service:
    """`feeddock serve` as its own process, as the compose service runs it."""

    def __init__(self, instance: str) -> None:
        self.port = free_port()
        feeddock = str(Path(sys.executable).with_name("feeddock"))
        env = {
            **os.environ,
            "FEEDDOCK_RUNTIME": "docker",
            "FEEDDOCK_INSTANCE": instance,
            "FEEDDOCK_QUIET": "1",
        }
        self.process = subprocess.Popen(
            [feeddock, "serve", "--port", str(self.port)], env=env, stdout=subprocess.DEVNULL
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        wait_until(self._healthy, timeout=30)

    def _healthy(self) -> bool:
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.http.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def test_connections_survive_a_restart_of_the_rest_service(demo_market):
    market = demo_market()  # accepts any key (the directory's `market` wants "good-key")
    need_docker()
    instance = f"pytest-rest-{uuid.uuid4().hex[:8]}"
    first = Service(instance)
    try:
        created = first.http.post(
            f"{API}/create_connection",
            json={
                "provider": "demo",
                "name": "survivor",
                "symbol": "aapl",
                "url": market.url,
                "auth_token": "s3cret",
            },
        )
        assert created.status_code == 200, created.text
        container = created.json()["results"]["provider_pid"]
    finally:
        first.stop()

    second = Service(instance)
    try:
        token = {"name": "survivor", "auth_token": "s3cret"}
        status = second.http.get(f"{API}/get_client_status", params=token).json()["results"]
        assert status[0]["is_running"] is True
        assert status[0]["provider_pid"] == container
        assert second.http.get(f"{API}/get_results", params={"name": "survivor"}).status_code == 401
        wait_until(lambda: second.http.get(f"{API}/get_results", params=token).json()["results"])
        subscribed = second.http.post(f"{API}/subscribe", params={**token, "symbol": "msft"})
        assert subscribed.json()["results"]["subscribed_symbols"] == "AAPL,MSFT"
        killed = second.http.post(f"{API}/kill", params=token)
        assert killed.json()["results"] == "Clients survivor killed."
    finally:
        second.stop()
