"""compose/compose.yaml: `up --build` serves the REST API, and a connection runs beside it.

Runs with whichever Compose the machine has: v2 (`docker compose`) or Debian's v1
(`docker-compose`, which refuses a top-level `name:`; scripts/test.sh installs it). The
project, its orchestrator image, its REST port, its results directory and its instance label
are this test's own; everything is torn down after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import SESSION_INSTANCE, docker_required, need_docker
from ..helpers import free_port, labelled_containers, wait_until
from .conftest import inspect

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "compose.yaml"

pytestmark = pytest.mark.docker


def compose_command() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    problem = "no Compose: run scripts/ensure-tools.sh docker-compose"
    if docker_required():
        pytest.fail(f"FEEDDOCK_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
    pytest.skip(problem)


class Deployment:
    def __init__(self, results_dir: Path) -> None:
        self.command = compose_command()
        self.project = f"ops-compose-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        provider_image = os.environ.get("FEEDDOCK_PROVIDER_IMAGE", "feeddock-provider:latest")
        self.image = f"feeddock-orchestrator:{self.project}"
        self.env = {
            **os.environ,
            "FEEDDOCK_API_PORT": str(self.port),
            "FEEDDOCK_ORCHESTRATOR_IMAGE": self.image,
            "FEEDDOCK_PROVIDER_IMAGE": provider_image,
            "FEEDDOCK_INSTANCE": SESSION_INSTANCE,
            "FEEDDOCK_RESULTS_DIR": str(results_dir),
        }

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, "-p", self.project, "-f", str(COMPOSE_FILE), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    need_docker()
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    deployed = Deployment(results_dir)
    yield deployed
    logs = deployed.run("logs", "--no-color", timeout=60)
    down = deployed.run("down", "--timeout", "20", timeout=120)
    subprocess.run(["docker", "rmi", "-f", deployed.image], capture_output=True, check=False)
    assert down.returncode == 0, down.stderr
    print(logs.stdout[-3000:])


def test_compose_up_serves_rest_and_runs_a_connection_beside_it(deployment: Deployment):
    up = deployment.run("up", "-d", "--build")
    assert up.returncode == 0, up.stdout + up.stderr
    wait_until(deployment.healthy, timeout=60, interval=0.5)
    with httpx.Client(base_url=deployment.url, timeout=60) as http:
        created = http.post(
            "/api/v1/websockets/create_connection",
            json={"provider": "demo", "name": "ops_compose", "symbol": "aapl,msft"},
        )
        assert created.status_code == 200, created.text
        provider_id = created.json()["results"]["provider_pid"]
        sibling = inspect(provider_id)
        assert sibling["Name"] == "/feeddock.default.ops_compose-provider"
        assert sibling["Config"]["Image"] == deployment.env["FEEDDOCK_PROVIDER_IMAGE"]
        assert sibling["State"]["Running"]
        assert sibling["Config"]["Labels"]["feeddock.orchestrator"] == SESSION_INSTANCE
        wait_until(
            lambda: http.get("/api/v1/websockets/get_results?name=ops_compose").json()["results"],
            timeout=30,
        )
        killed = http.post("/api/v1/websockets/kill?name=ops_compose")
        assert killed.status_code == 200, killed.text
    assert labelled_containers("feeddock.connection=ops_compose") == []
