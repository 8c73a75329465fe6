"""Swarm tests: a real single-node swarm in a network namespace of its own (tests/engines.py).

The swarm's engine is a second dockerd started for the session and removed after it, with the
feeddock images loaded from the machine's engine. Its tasks use host networking inside that
namespace, so simulators listen on `host_address` (the machine's end of the veth pair) and
broadcast servers on 0.0.0.0, reached at `node_address`. Without root, dockerd, `ip` or
`nsenter` these tests skip with the reason, unless FEEDDOCK_REQUIRE_SWARM=1 (scripts/test.sh),
which makes that a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orchestrator import WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime.docker import DockerRuntime
from orchestrator.runtime.swarm import SwarmConfig, SwarmRuntime
from providers.demo.simulator import DemoSimulator

from ..conftest import SESSION_INSTANCE, need_docker
from ..engines import SwarmEngine, swarm_available

REQUIRE_SWARM_ENV = "FEEDDOCK_REQUIRE_SWARM"
GOOD_KEY = "cluster2-swarm-key"
pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def swarm_engine() -> Iterator[SwarmEngine]:
    need_docker()
    problem = swarm_available()
    if problem is not None:
        if os.environ.get(REQUIRE_SWARM_ENV, "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{REQUIRE_SWARM_ENV}=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    images = DockerRuntime(instance=SESSION_INSTANCE)
    engine = SwarmEngine(list(images.images.values()))
    images.close()
    try:
        engine.start()
        engine.load_images()
        yield engine
    finally:
        engine.destroy()


def swarm_runtime(engine: SwarmEngine, tenant: str = "default", **config: Any) -> SwarmRuntime:
    settings = SwarmConfig.model_validate({"manager": {"url": engine.url}, **config})
    return SwarmRuntime(instance=SESSION_INSTANCE, tenant=tenant, config=settings)


@pytest.fixture
def runtime(swarm_engine: SwarmEngine) -> Iterator[SwarmRuntime]:
    found = swarm_runtime(swarm_engine)
    yield found
    found.close()


@pytest.fixture
def api(runtime: SwarmRuntime, swarm_engine: SwarmEngine) -> Iterator[WebSocketsAPI]:
    websockets = WebSocketsAPI(Registry(), runtime=runtime)
    yield websockets
    websockets.shutdown()
    leftovers = swarm_engine.docker("service", "ls", "-q").split()
    if leftovers:  # a failed test's services: remove them so the next test starts clean
        swarm_engine.docker("service", "rm", *leftovers, check=False)


@pytest.fixture
def market(demo_market: Callable[..., DemoSimulator], swarm_engine: SwarmEngine) -> DemoSimulator:
    """A demo market on the machine's end of the veth pair (the only address tasks reach),
    which accepts one key: a worker streams only if its secrets line reached it."""
    return demo_market(host=swarm_engine.host_address, rate=200, api_keys={GOOD_KEY})


def inspect(engine: SwarmEngine, *args: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(engine.docker(*args))[0]
    return found
