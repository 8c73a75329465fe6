"""The connection lifecycle on the Swarm runtime, against a real single-node swarm.

Each worker is a one-replica service; its id is its task's container id on the node's engine.
Every connection here has a provider key (the market refuses any other), so each test also
shows the secrets line reaching its task over the attach.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time

import pytest
import websockets as ws
from websockets.exceptions import InvalidStatus

from orchestrator import WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime.docker import DockerRuntime
from providers.demo.simulator import DemoSimulator

from ..conftest import SESSION_INSTANCE, need_docker
from ..engines import SwarmEngine
from ..helpers import free_port, row_ids, wait_until
from .conftest import GOOD_KEY, inspect, swarm_runtime


def connect(api: WebSocketsAPI, market: DemoSimulator, name: str, **kwargs: object):
    arguments: dict[str, object] = {"symbol": "aapl,msft", "api_key": GOOD_KEY, **kwargs}
    return api.create_connection(provider="demo", name=name, url=market.url, **arguments)


def running(engine: SwarmEngine, container: object) -> bool:
    state = engine.docker("inspect", "-f", "{{.State.Running}}", str(container), check=False)
    return state.strip() == "true"


def services(engine: SwarmEngine, connection: str) -> list[str]:
    found = engine.docker(
        "service",
        "ls",
        "--format",
        "{{.Name}}",
        "--filter",
        f"label=feeddock.connection={connection}",
    )
    return sorted(found.split())


def test_create_streams_records_from_a_labelled_one_replica_service(api, market, swarm_engine):
    status = connect(api, market, "cluster_sw_create").results

    assert status.is_running and status.subscribed_symbols == "AAPL,MSFT"
    task = inspect(swarm_engine, "inspect", str(status.provider_pid))
    labels = task["Config"]["Labels"]
    assert labels["feeddock.connection"] == "cluster_sw_create"
    assert labels["feeddock.role"] == "provider"
    assert labels["feeddock.orchestrator"] == SESSION_INSTANCE
    assert labels["feeddock.node"] == swarm_engine.node_id
    assert task["Config"]["OpenStdin"] is True and task["Config"]["StdinOnce"] is False
    assert task["HostConfig"]["NetworkMode"] == "host"
    service = inspect(swarm_engine, "service", "inspect", labels["com.docker.swarm.service.name"])
    assert service["Spec"]["Labels"]["feeddock.connection"] == "cluster_sw_create"
    template = service["Spec"]["TaskTemplate"]
    assert template["RestartPolicy"]["Condition"] == "none"
    assert f"node.id=={swarm_engine.node_id}" in template["Placement"]["Constraints"]
    assert service["Spec"]["Mode"]["Replicated"]["Replicas"] == 1
    wait_until(lambda: len(row_ids(status.results_file)) > 20, timeout=20)


def test_credentials_reach_the_task_over_its_attach_and_appear_nowhere(api, market, swarm_engine):
    token = "cluster2-swarm-token"
    port = free_port()
    status = connect(
        api, market, "cluster2_sw_secret", auth_token=token, start_broadcast=True,
        broadcast_host="0.0.0.0", broadcast_port=port,
    ).results  # fmt: skip
    wait_until(lambda: len(row_ids(status.results_file)) > 5, timeout=20)  # the key was taken

    for container in (status.provider_pid, status.broadcast_pid):
        task = inspect(swarm_engine, "inspect", str(container))
        assert "FEEDDOCK_SECRETS=stdin" in task["Config"]["Env"]
        service_name = task["Config"]["Labels"]["com.docker.swarm.service.name"]
        service = inspect(swarm_engine, "service", "inspect", service_name)
        logs = subprocess.run(
            ["docker", "-H", swarm_engine.url, "logs", str(container)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        shown = json.dumps([task, service]) + logs.stdout + logs.stderr
        assert GOOD_KEY not in shown and token not in shown

    async def listen(query: str) -> str:
        address = f"ws://{swarm_engine.node_address}:{port}/{query}"
        async with ws.connect(address, open_timeout=10) as listener:
            return str(await asyncio.wait_for(listener.recv(), 10))

    assert '"symbol"' in asyncio.run(listen(f"?auth_token={token}"))
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(listen("?auth_token=wrong"))
    assert refused.value.response.status_code == 401


def test_subscribe_while_streaming_reaches_the_simulator(api, market):
    connect(api, market, "cluster_sw_sub")

    status = api.subscribe("cluster_sw_sub", symbol="nvda,aapl")
    assert status.results.subscribed_symbols == "AAPL,MSFT,NVDA"
    assert status.warnings == ["cluster_sw_sub was already subscribed to: AAPL"]
    market.wait_for_message(
        lambda m: m == {"action": "subscribe", "symbols": ["NVDA"], "feeds": ["trade", "quote"]}
    )
    wait_until(lambda: any(r.symbol == "NVDA" for r in api.get_results("cluster_sw_sub").results))
    api.unsubscribe("cluster_sw_sub", symbol="msft")
    market.wait_for_message(lambda m: m == {"action": "unsubscribe", "symbols": ["MSFT"]})


def test_stop_removes_the_service_and_restart_resumes_on_the_same_file(api, market, swarm_engine):
    first = connect(api, market, "cluster_sw_stop", limit=None).results
    wait_until(lambda: len(row_ids(first.results_file)) >= 10, timeout=20)

    stopped = api.stop_connection("cluster_sw_stop").results
    assert stopped.is_running is False and stopped.provider_pid is None
    assert not running(swarm_engine, first.provider_pid)
    assert services(swarm_engine, "cluster_sw_stop") == []
    kept = len(row_ids(first.results_file))

    restarted = api.restart_connection("cluster_sw_stop").results
    assert restarted.is_running and restarted.provider_pid != first.provider_pid
    assert restarted.results_file == first.results_file
    assert restarted.subscribed_symbols == "AAPL,MSFT"
    wait_until(lambda: len(row_ids(first.results_file)) > kept, timeout=20)


def test_broadcast_runs_beside_the_provider_and_serves_listeners(api, market, swarm_engine):
    port = free_port()
    status = connect(
        api, market, "cluster_sw_bcast", start_broadcast=True, broadcast_host="0.0.0.0",
        broadcast_port=port,
    ).results  # fmt: skip
    assert status.is_broadcasting
    task = inspect(swarm_engine, "inspect", str(status.broadcast_pid))
    assert task["Config"]["Labels"]["feeddock.role"] == "broadcast"
    assert task["Config"]["Labels"]["feeddock.node"] == swarm_engine.node_id
    assert {m["Source"] for m in task["Mounts"]} == {str(status.results_file).rsplit("/", 1)[0]}

    async def listen() -> list[str]:
        address = f"ws://{swarm_engine.node_address}:{port}"
        async with ws.connect(address, open_timeout=10) as listener:
            return [str(await asyncio.wait_for(listener.recv(), 10)) for _ in range(3)]

    received = [asyncio.run(listen()) for _ in range(2)]  # two listeners, one after the other
    assert all(len(frames) == 3 and '"symbol"' in frames[0] for frames in received)
    api.stop_broadcasting("cluster_sw_bcast")
    assert services(swarm_engine, "cluster_sw_bcast") == [
        s for s in services(swarm_engine, "cluster_sw_bcast") if s.endswith("-provider")
    ]


def test_kill_removes_every_service_and_the_temp_results(api, market, swarm_engine):
    status = connect(api, market, "cluster_sw_kill", start_broadcast=True,
                     broadcast_host="0.0.0.0", broadcast_port=free_port()).results  # fmt: skip
    assert len(services(swarm_engine, "cluster_sw_kill")) == 2

    assert api.kill("cluster_sw_kill").results == "Clients cluster_sw_kill killed."
    assert services(swarm_engine, "cluster_sw_kill") == []
    assert not running(swarm_engine, status.provider_pid)
    wait_until(lambda: not __import__("os").path.exists(status.results_file), timeout=5)


def test_a_replaced_orchestrator_adopts_the_running_services(market, swarm_engine):
    port = free_port()
    first_runtime = swarm_runtime(swarm_engine)
    first = WebSocketsAPI(Registry(), runtime=first_runtime)
    created = connect(first, market, "cluster_sw_adopt", start_broadcast=True,
                      broadcast_host="0.0.0.0", broadcast_port=port).results  # fmt: skip
    first.subscribe("cluster_sw_adopt", symbol="spy")
    first.close_at_exit()  # as at exit: Docker-like connections are only let go of
    first_runtime.close()
    assert running(swarm_engine, created.provider_pid)

    runtime = swarm_runtime(swarm_engine)
    second = WebSocketsAPI(Registry(), runtime=runtime)
    try:
        status = second.get_client_status("cluster_sw_adopt").results[0]
        assert status.is_running and status.provider_pid == created.provider_pid
        assert status.is_broadcasting and status.broadcast_pid == created.broadcast_pid
        assert status.subscribed_symbols == "AAPL,MSFT,SPY"
        # Commands and output go through the new orchestrator's attach.
        assert second.subscribe("cluster_sw_adopt", symbol="nvda").results.subscribed_symbols == (
            "AAPL,MSFT,SPY,NVDA"
        )
        market.wait_for_message(lambda m: m.get("symbols") == ["NVDA"])
        second.stop_connection("cluster_sw_adopt")
        assert not running(swarm_engine, created.provider_pid)
    finally:
        second.shutdown()
        runtime.close()


def test_a_crashed_task_is_reported_with_its_last_error(api, market, swarm_engine):
    status = connect(api, market, "cluster_sw_crash", restart_policy="no").results
    swarm_engine.docker("kill", str(status.provider_pid))

    failed = wait_until(
        lambda: (
            (s := api.get_client_status("cluster_sw_crash").results[0]).health == "failed" and s
        ),
        timeout=20,
    )
    assert failed.is_running is False and failed.provider_pid is None
    assert failed.last_error == "worker exited with code 137"


def test_supervision_starts_a_crashed_task_again_as_a_new_service(api, market, swarm_engine):
    status = connect(api, market, "cluster_sw_again", limit=None).results
    swarm_engine.docker("kill", str(status.provider_pid))

    back = wait_until(
        lambda: (
            (s := api.get_client_status("cluster_sw_again").results[0]).restarts >= 1
            and s.is_running
            and s
        ),
        timeout=30,
    )
    assert back.provider_pid != status.provider_pid and back.health == "ok"
    assert services(swarm_engine, "cluster_sw_again")[0].endswith("-provider")
    rows = len(row_ids(status.results_file))
    wait_until(lambda: len(row_ids(status.results_file)) > rows, timeout=20)


def test_create_connection_median_of_five_on_swarm_and_on_docker(api, swarm_engine, market):
    """Ten connections that each stream once created, five per runtime. Speed is not checked
    here (bench/ measures speed): the medians are printed, with -s, for the same run."""
    need_docker()
    docker_runtime = DockerRuntime(instance=SESSION_INSTANCE)
    docker_api = WebSocketsAPI(Registry(), runtime=docker_runtime)
    local = DemoSimulator(rate=200).start()
    medians = {}
    try:
        for label, target, simulator in (("swarm", api, market), ("docker", docker_api, local)):
            times = []
            for index in range(5):
                started = time.perf_counter()
                connect(target, simulator, f"cluster_median_{label}_{index}")
                times.append(time.perf_counter() - started)
            medians[label] = statistics.median(times)
            for index in range(5):
                target.kill(f"cluster_median_{label}_{index}")
    finally:
        docker_api.shutdown()
        docker_runtime.close()
        local.stop()
    print(f"create_connection median of 5: swarm {medians['swarm']:.2f} s, "
          f"docker {medians['docker']:.2f} s")  # fmt: skip


@pytest.mark.parametrize("runtime_name", ["swarm"])
def test_the_swarm_runtime_is_chosen_by_name(runtime_name, swarm_engine, monkeypatch):
    from orchestrator.runtime import select_runtime

    monkeypatch.setenv("FEEDDOCK_SWARM_CONFIG", f'{{"manager": {{"url": "{swarm_engine.url}"}}}}')
    chosen = select_runtime(runtime_name)
    try:
        assert chosen.name == "swarm" and chosen.survives_exit
    finally:
        chosen.close()
