"""A tenant's own Docker network: its containers join it, and listeners still reach them.

Only networks these tests create (or let feeddock create) and loopback are ever used: the
simulator runs as a container on the tenant's network.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator import WebSocketsAPI, listen
from orchestrator.registry import Registry
from orchestrator.runtime.docker import DockerRuntime

from ..conftest import SESSION_INSTANCE, need_docker
from ..helpers import free_port, row_ids, wait_until
from .conftest import docker, inspect

SIMULATOR_PORT = 8765


def run_simulator(network: str, name: str) -> None:
    """The demo market as a container on `network`, reachable there as `name`."""
    image = os.environ.get("FEEDDOCK_PROVIDER_IMAGE") or "feeddock-provider:latest"
    docker(
        "run", "-d", "--name", name, "--network", network,
        "--label", f"feeddock.orchestrator={SESSION_INSTANCE}",
        "--entrypoint", "/opt/venv/bin/python", image,
        "-m", "providers.demo.simulator", "--host", "0.0.0.0",
        "--port", str(SIMULATOR_PORT), "--rate", "50",
    )  # fmt: skip
    wait_until(lambda: "listening on" in docker("logs", name), timeout=20)


def address_on(container: str, network: str) -> str:
    return str(inspect(container)["NetworkSettings"]["Networks"][network]["IPAddress"])


@pytest.fixture
def cleanup() -> Iterator[dict[str, list[str]]]:
    made: dict[str, list[str]] = {"containers": [], "networks": []}
    yield made
    for container in made["containers"]:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    for network in made["networks"]:
        subprocess.run(["docker", "network", "rm", network], capture_output=True, check=False)


def network_api(tenant: str, network: str) -> WebSocketsAPI:
    runtime = DockerRuntime(instance=SESSION_INSTANCE, tenant=tenant, network=network)
    return WebSocketsAPI(Registry(), runtime=runtime)


def test_a_tenant_on_an_internal_network_made_by_the_test(cleanup: dict[str, Any]) -> None:
    need_docker()
    tag = uuid.uuid4().hex[:6]
    network, simulator, tenant = f"tenants-int-{tag}", f"tenants-sim-{tag}", f"tni{tag}"
    docker("network", "create", "--internal", network)
    cleanup["networks"].append(network)
    cleanup["containers"].append(simulator)
    run_simulator(network, simulator)
    api = network_api(tenant, network)
    try:
        status = api.create_connection(
            provider="demo", name="tenants_net", symbol="aapl", limit=None,
            url=f"ws://{address_on(simulator, network)}:{SIMULATOR_PORT}",
            start_broadcast=True, broadcast_port=free_port(),
        ).results  # fmt: skip
        wait_until(lambda: len(row_ids(status.results_file or "")) > 5)
        for container in (str(status.provider_pid), str(status.broadcast_pid)):
            details = inspect(container)
            assert details["HostConfig"]["NetworkMode"] == network
            assert list(details["NetworkSettings"]["Networks"]) == [network]
        # Docker publishes nothing from an internal network: listeners on it use the
        # broadcast container's address there.
        port = int((status.broadcast_address or "").rsplit(":", 1)[1])
        broadcast = address_on(str(status.broadcast_pid), network)
        assert listen(f"ws://{broadcast}:{port}", file=io.StringIO(), max_records=3) == 3
        api.kill("tenants_net")
    finally:
        api.shutdown()
    # feeddock removes nothing it did not create: the test's network is still there.
    assert docker("network", "inspect", "-f", "{{.Name}}", network).strip() == network


def test_feeddock_creates_a_missing_network_and_publishes_the_broadcast_port(
    cleanup: dict[str, Any],
) -> None:
    need_docker()
    tag = uuid.uuid4().hex[:6]
    network, simulator, tenant = f"tenants-made-{tag}", f"tenants-sim-{tag}", f"tnm{tag}"
    cleanup["networks"].append(network)
    cleanup["containers"].append(simulator)
    api = network_api(tenant, network)
    port = free_port()
    created: dict[str, Any] = {}

    def create() -> None:
        # The simulator is reached by its name on the tenant's network; it starts only once
        # feeddock has made the network, and the worker reconnects until it answers.
        created["status"] = api.create_connection(
            provider="demo", name="tenants_made", symbol="aapl", limit=None,
            url=f"ws://{simulator}:{SIMULATOR_PORT}", start_broadcast=True, broadcast_port=port,
        ).results  # fmt: skip

    creating = threading.Thread(target=create)
    creating.start()
    try:
        wait_until(
            lambda: (
                subprocess.run(
                    ["docker", "network", "inspect", network], capture_output=True, check=False
                ).returncode
                == 0
            ),
            timeout=30,
        )
        labels = inspect_network(network)["Labels"]
        assert labels == {"feeddock.network": tenant}
        run_simulator(network, simulator)
        creating.join(60)
        status = created["status"]
        assert status.broadcast_address == f"ws://127.0.0.1:{port}"
        details = inspect(str(status.broadcast_pid))
        assert details["HostConfig"]["NetworkMode"] == network
        assert details["HostConfig"]["PortBindings"] == {
            f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        }
        # The same address as with host networking, published on the host's loopback.
        assert listen(status.broadcast_address, file=io.StringIO(), max_records=3) == 3
        api.kill("tenants_made")
    finally:
        creating.join(60)
        api.shutdown()
    # Created by feeddock, and still not removed by it: other connections may use it.
    assert inspect_network(network)["Name"] == network


def inspect_network(network: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(docker("network", "inspect", network))[0]
    return found
