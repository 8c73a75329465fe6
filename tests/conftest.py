"""Shared fixtures: a fresh Python API per test, on each runtime, torn down with all it started.

`websockets` is parametrised over the runtimes (`process`, `docker`), so every test that uses it
runs on both. The Docker half needs an engine and the feeddock images (`feeddock images build`,
or scripts/test.sh): without them it is skipped with the reason, unless FEEDDOCK_REQUIRE_DOCKER=1
(CI), which turns the skip into a failure.

Docker containers started by this session carry `feeddock.orchestrator=<SESSION_INSTANCE>`; the
session ends by removing every one of them (and their temp results), whatever happened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest

from orchestrator import WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime import ProcessRuntime, Runtime
from providers.demo.simulator import DemoSimulator

# Tests that build an API without choosing a runtime get the embedded one.
os.environ.setdefault("FEEDDOCK_RUNTIME", "process")

RUNTIMES = ["process", "docker"]
REQUIRE_DOCKER_ENV = "FEEDDOCK_REQUIRE_DOCKER"
SESSION_INSTANCE = f"pytest-{uuid.uuid4().hex[:10]}"


def docker_required() -> bool:
    return os.environ.get(REQUIRE_DOCKER_ENV, "").lower() in ("1", "true", "yes")


@cache
def docker_problem() -> str | None:
    """Why the Docker runtime cannot be tested here, or None."""
    try:
        from orchestrator.runtime.docker import BUILD_COMMAND, DockerRuntime, engine_answers
    except ImportError as exc:
        return f"docker-py is not installed: {exc}"
    problem = engine_answers()
    if problem is not None:
        return f"no Docker engine answers ({problem}); run scripts/ensure-docker.sh"
    runtime = DockerRuntime(instance=SESSION_INSTANCE)
    try:
        missing = runtime.missing_images()
    finally:
        runtime.close()
    if missing:
        return f"missing images {', '.join(missing)}: run `{BUILD_COMMAND}`"
    return None


def need_docker() -> None:
    """Skip (or fail, under FEEDDOCK_REQUIRE_DOCKER=1) when Docker cannot be tested."""
    problem = docker_problem()
    if problem is None:
        return
    if docker_required():
        pytest.fail(f"{REQUIRE_DOCKER_ENV}=1 but {problem}", pytrace=False)
    pytest.skip(problem)


def docker_runtime() -> Runtime:
    from orchestrator.runtime.docker import DockerRuntime

    need_docker()
    return DockerRuntime(instance=SESSION_INSTANCE)


def make_runtime(name: str) -> Runtime:
    return ProcessRuntime() if name == "process" else docker_runtime()


@pytest.fixture(params=RUNTIMES)
def runtime_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def websockets(runtime_name: str, request: pytest.FixtureRequest) -> Iterator[WebSocketsAPI]:
    """`obb.websockets` as a user gets it, isolated per test; every connection is killed after."""
    runtime = make_runtime(runtime_name)
    api = WebSocketsAPI(Registry(), runtime=runtime)
    yield api
    if runtime_name == "docker" and getattr(request.node, "failed_call", False):
        dump_container_logs()
    api.shutdown()
    runtime.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None]:  # pragma: no cover - reporting glue
    report = yield
    if getattr(report, "when", None) == "call" and getattr(report, "failed", False):
        item.failed_call = True  # type: ignore[attr-defined]
    return report


def session_container_ids() -> list[str]:
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=feeddock.orchestrator={SESSION_INSTANCE}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.split()


def dump_container_logs() -> None:
    """On a failed Docker test: show what each of the session's containers said."""
    for container in session_container_ids():
        logs = subprocess.run(
            ["docker", "logs", "--tail", "40", container],
            capture_output=True,
            text=True,
            check=False,
        )
        print(f"--- docker logs --tail 40 {container[:12]} ---\n{logs.stdout}{logs.stderr}")


@pytest.fixture(scope="session", autouse=True)
def session_containers() -> Iterator[None]:
    """Removes every container (and temp results dir) this test session left behind."""
    yield
    if shutil.which("docker") is None or docker_problem() is not None:
        return
    for container in session_container_ids():
        temp_dir = subprocess.run(
            ["docker", "inspect", "-f", '{{index .Config.Labels "feeddock.temp_dir"}}', container],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
        if temp_dir.startswith(("/tmp/", "/var/tmp/")) and "feeddock-" in temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def demo_market() -> Iterator[Callable[..., DemoSimulator]]:
    """`demo_market(**options)` starts a demo-market simulator on a free port, stopped after."""
    started: list[DemoSimulator] = []

    def start(**options: Any) -> DemoSimulator:
        simulator = DemoSimulator(**{"rate": 100, **options}).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def market(demo_market: Callable[..., DemoSimulator]) -> DemoSimulator:
    """A demo market that accepts any key, streaming 100 messages/s."""
    return demo_market()
