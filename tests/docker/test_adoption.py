"""A new orchestrator process re-adopts the containers an earlier one left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator import AuthTokenError, ParameterError, WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime.docker import DockerRuntime
from providers.demo.simulator import DemoSimulator

from ..conftest import SESSION_INSTANCE
from ..helpers import free_port, wait_until, worker_alive
from .conftest import containers, docker

FIRST_ORCHESTRATOR = textwrap.dedent(
    """
    import json, sys
    from orchestrator import obb

    ws = obb.websockets
    ws.create_connection(
        provider="demo", name="adopted", symbol="aapl,msft", api_key="good-key", url=sys.argv[1],
        auth_token="tok", broadcast_port=int(sys.argv[2]), start_broadcast=True, limit=None,
    )
    status = ws.subscribe("adopted", symbol="spy", auth_token="tok").results
    print(json.dumps(status.model_dump()), flush=True)
    # Exits normally: atexit runs, and must leave Docker connections running.
    """
)


def run_first_orchestrator(market: DemoSimulator, port: int) -> dict[str, object]:
    env = {
        **os.environ,
        "FEEDDOCK_RUNTIME": "docker",
        "FEEDDOCK_INSTANCE": SESSION_INSTANCE,
        "FEEDDOCK_QUIET": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", FIRST_ORCHESTRATOR, market.url, str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return status


def new_orchestrator(runtime: DockerRuntime) -> WebSocketsAPI:
    return WebSocketsAPI(Registry(), runtime=runtime)


def test_a_replaced_orchestrator_adopts_running_containers(api, market):
    port = free_port()
    first = run_first_orchestrator(market, port)
    provider_id, broadcast_id = str(first["provider_pid"]), str(first["broadcast_pid"])
    # The first orchestrator has exited; its containers and results have not.
    assert worker_alive(provider_id) and worker_alive(broadcast_id)
    assert Path(str(first["results_file"])).exists()

    # `api` is the replacement orchestrator (same instance label, empty registry).
    assert api.get_client_status("all").results == []  # token-protected: hidden
    with pytest.raises(AuthTokenError):
        api.get_results("adopted", auth_token="wrong")
    status = api.get_client_status("adopted", auth_token="tok").results[0]
    assert status.is_running and status.provider_pid == provider_id
    assert status.is_broadcasting and status.broadcast_pid == broadcast_id
    assert status.broadcast_address == f"ws://127.0.0.1:{port}"
    assert status.subscribed_symbols == "AAPL,MSFT,SPY"
    assert status.results_file == first["results_file"]
    assert status.auth_required is True

    count = len(api.get_results("adopted", auth_token="tok").results)
    wait_until(lambda: len(api.get_results("adopted", auth_token="tok").results) > count)

    api.subscribe("adopted", symbol="nvda", auth_token="tok")
    market.wait_for_message(lambda m: m.get("action") == "subscribe" and m["symbols"] == ["NVDA"])

    # The credential went to the container's stdin only: nobody kept it, so a restart asks
    # for it, before it stops anything.
    with pytest.raises(ParameterError, match="api_key") as refused:
        api.restart_connection("adopted", auth_token="tok")
    assert refused.value.field == "api_key"
    assert worker_alive(provider_id)
    restarted = api.restart_connection("adopted", auth_token="tok", api_key="good-key").results
    assert restarted.is_running and restarted.provider_pid != provider_id
    assert not worker_alive(provider_id)
    market.wait_for_message(
        lambda m: m.get("action") == "subscribe" and m["symbols"] == ["AAPL", "MSFT", "SPY", "NVDA"]
    )

    api.stop_broadcasting("adopted", auth_token="tok")
    assert not worker_alive(broadcast_id)
    api.kill("adopted", auth_token="tok")
    assert containers("adopted") == []
    assert not Path(str(first["results_file"])).exists()


def test_a_provider_that_crashed_while_nobody_watched_is_adopted_as_stopped(docker_runtime, market):
    first = new_orchestrator(docker_runtime)
    status = first.create_connection(
        provider="demo",
        name="crashed",
        symbol="aapl",
        api_key="good-key",
        url=market.url,
        restart_policy="no",
    ).results
    client = first.get_client("crashed").results
    client.release()  # the first orchestrator goes away without stopping anything
    first.registry.remove("crashed")
    docker("kill", str(status.provider_pid))

    second = new_orchestrator(docker_runtime)
    adopted = second.get_client_status("crashed").results[0]
    assert adopted.is_running is False and adopted.provider_pid is None
    assert second.get_client("crashed").results.last_error == "worker exited with code 137"
    assert second.restart_connection("crashed", api_key="good-key").results.is_running
    second.kill("crashed")
    assert containers("crashed") == []


def test_a_provider_that_crashed_unwatched_is_restarted_by_the_next_orchestrator(
    docker_runtime, market, monkeypatch
):
    # The credential never reaches `docker inspect`: the next orchestrator takes it from
    # where the user keeps it (here the provider's environment variable).
    monkeypatch.setenv("DEMO_API_KEY", "good-key")
    first = new_orchestrator(docker_runtime)
    status = first.create_connection(
        provider="demo", name="revived", symbol="aapl", api_key="good-key", url=market.url
    ).results
    first.get_client("revived").results.release()
    first.registry.remove("revived")
    docker("kill", str(status.provider_pid))

    second = new_orchestrator(docker_runtime)
    back = wait_until(
        lambda: (s := second.get_client_status("revived").results[0]).is_running and s,
        timeout=15,
    )
    assert back.provider_pid != status.provider_pid and back.restarts == 1
    assert back.results_file == status.results_file and back.subscribed_symbols == "AAPL"
    market.wait_for(lambda m: m.connections_opened == 2)
    second.kill("revived")
    assert containers("revived") == []


def test_containers_no_record_explains_are_reported_and_left_alone(
    docker_runtime, market, monkeypatch
):
    shown: list[str] = []
    monkeypatch.setattr("orchestrator.console.show", lambda line, level=0: shown.append(line))
    first = new_orchestrator(docker_runtime)
    first.create_connection(
        provider="demo", name="mixed", symbol="aapl", api_key="good-key", url=market.url
    )
    first.get_client("mixed").results.release()
    first.registry.remove("mixed")
    label = ["--label", f"feeddock.orchestrator={SESSION_INSTANCE}"]
    ghost = docker(
        "create", "--name", "feeddock.default.ghost-provider", *label,
        "--label", "feeddock.connection=ghost", "--label", "feeddock.role=provider",
        "feeddock-provider:latest",
    ).strip()  # fmt: skip
    stray = docker(
        "create", "--name", "feeddock-mixed-broadcast", *label,  # made before tenants: `default`
        "--label", "feeddock.connection=mixed", "--label", "feeddock.role=broadcast",
        "--label", "feeddock.schema=1", "--label", "feeddock.provider=demo",
        "--label", "feeddock.params={}", "--label", "feeddock.results_file=/elsewhere.db",
        "feeddock-broadcast:latest",
    ).strip()  # fmt: skip
    try:
        second = new_orchestrator(docker_runtime)
        names = [s.name for s in second.get_client_status("all").results]
        assert names == ["mixed"]
        assert second.get_client_status("mixed").results[0].is_broadcasting is False
        warnings = [line for line in shown if "is not adopted" in line]
        assert len(warnings) == 2
        assert any("feeddock.default.ghost-provider" in w and "docker rm -f" in w for w in warnings)
        assert any("feeddock-mixed-broadcast" in w and "disagrees" in w for w in warnings)
        assert worker_alive(ghost) is False and docker("ps", "-aq", "--filter", f"id={ghost}")
        second.kill("mixed")
    finally:
        subprocess.run(["docker", "rm", "-f", ghost, stray], capture_output=True, check=False)
