"""The Docker runtime against a real engine: stdin, ids, labels, secrets, stop, crash, cleanup."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from contract.status import parse_line
from orchestrator import RuntimeUnavailableError, WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime import select_runtime
from orchestrator.runtime.docker import DockerRuntime
from providers.demo.simulator import DemoSimulator

from ..conftest import SESSION_INSTANCE
from ..helpers import free_port, row_ids, wait_until, worker_alive
from .conftest import containers, docker, inspect


def connect(api: WebSocketsAPI, market: DemoSimulator, name: str = "dk", **kwargs: object):
    arguments: dict[str, object] = {"symbol": "aapl,msft", "api_key": "good-key", **kwargs}
    return api.create_connection(provider="demo", name=name, url=market.url, **arguments)


def test_provider_container_keeps_stdin_open_across_attaches(api, market):
    connect(api, market)

    config = inspect("feeddock.default.dk-provider")["Config"]
    assert config["OpenStdin"] is True
    assert config["StdinOnce"] is False
    assert config["Tty"] is False
    # Several commands, each after the previous one was acknowledged: stdin never hit EOF.
    for symbol in ("NVDA", "SPY", "EURUSD"):
        api.subscribe("dk", symbol=symbol.lower())
        market.wait_for_message(lambda m, s=symbol: m.get("symbols") == [s])
    assert inspect("feeddock.default.dk-provider")["State"]["Running"] is True


def test_provider_and_broadcast_pids_are_the_container_ids(api, market):
    port = free_port()
    status = connect(api, market, broadcast_port=port, start_broadcast=True).results

    assert status.provider_pid == inspect("feeddock.default.dk-provider")["Id"]
    assert status.broadcast_pid == inspect("feeddock.default.dk-broadcast")["Id"]
    assert status.broadcast_address == f"ws://127.0.0.1:{port}"
    assert len(str(status.provider_pid)) == 64


def test_subscribe_while_streaming_reaches_the_simulator_in_wire_format(api, market):
    connect(api, market)
    wait_until(lambda: len(api.get_results("dk").results) >= 5)

    status = api.subscribe("dk", symbol="nvda,btcusd").results
    assert status.subscribed_symbols == "AAPL,MSFT,NVDA,BTCUSD"
    market.wait_for_message(
        lambda m: (
            m == {"action": "subscribe", "symbols": ["NVDA", "BTCUSD"], "feeds": ["trade", "quote"]}
        )
    )
    api.unsubscribe("dk", symbol="aapl")
    market.wait_for_message(lambda m: m == {"action": "unsubscribe", "symbols": ["AAPL"]})
    wait_until(lambda: any(r.symbol == "BTCUSD" for r in api.get_results("dk").results))


def test_containers_are_named_and_labelled_and_hold_no_credential(api, market):
    port = free_port()
    connect(api, market, auth_token="tok-s3cret", broadcast_port=port, start_broadcast=True)

    for role in ("provider", "broadcast"):
        details = inspect(f"feeddock.default.dk-{role}")
        labels = details["Config"]["Labels"]
        assert labels["feeddock.connection"] == "dk"
        assert labels["feeddock.role"] == role
        assert labels["feeddock.provider"] == "demo"
        assert labels["feeddock.orchestrator"] == SESSION_INSTANCE
        assert labels["feeddock.tenant"] == "default"
        assert labels["feeddock.results_file"].endswith("results.db")
        assert labels["feeddock.auth_token_hash"].startswith("sha256:")
        assert details["HostConfig"]["NetworkMode"] == "host"
        assert details["HostConfig"]["Memory"] == 256 * 1024 * 1024
        assert details["HostConfig"]["NanoCpus"] == 1_000_000_000
        assert details["HostConfig"]["PidsLimit"] == 256
        directory = str(Path(labels["feeddock.results_file"]).parent)
        assert f"{directory}:{directory}:rw" in details["HostConfig"]["Binds"]
        visible = orjson.dumps(details).decode()  # all of `docker inspect`, environment included
        logs = (
            docker("logs", details["Id"])
            + subprocess.run(
                ["docker", "logs", details["Id"]], capture_output=True, text=True, check=True
            ).stderr
        )
        for secret in ("good-key", "tok-s3cret"):
            assert secret not in visible
            assert secret not in logs
        # The secrets went to stdin: the environment only says so.
        assert "FEEDDOCK_SECRETS=stdin" in details["Config"]["Env"]
    found = docker("ps", "-q", "--filter", "label=feeddock.connection=dk")
    assert len(found.split()) == 2


def test_temp_results_belong_to_the_image_user_when_the_orchestrator_is_root(api, market):
    status = connect(api, market).results
    config = inspect("feeddock.default.dk-provider")["Config"]
    directory = Path(status.results_file).parent
    if os.geteuid() == 0:
        assert config["User"] == "10001:10001"
        assert directory.stat().st_uid == 10001
    else:
        assert config["User"] == f"{os.geteuid()}:{os.getegid()}"
    assert inspect("feeddock.default.dk-provider")["HostConfig"]["CapDrop"] == ["ALL"]


def test_docker_stop_exits_within_2_s_with_every_received_record_committed(api, market):
    status = connect(api, market, limit=None, symbol="*").results
    wait_until(lambda: len(row_ids(status.results_file)) >= 200)
    container = str(status.provider_pid)

    started = time.monotonic()
    docker("stop", container)
    elapsed = time.monotonic() - started

    assert elapsed < 2.0, f"docker stop took {elapsed:.2f} s"
    state = inspect(container)["State"]
    assert state["Running"] is False and state["ExitCode"] == 0
    events = [parse_line(line) for line in docker("logs", container).splitlines()]
    stopped = [e for e in events if e and e["event"] == "stopped"]
    assert len(stopped) == 1
    assert stopped[0]["dropped"] == 0
    assert stopped[0]["written"] == stopped[0]["received"] > 0
    assert len(row_ids(status.results_file)) == stopped[0]["written"]
    wait_until(lambda: not api.get_client_status("dk").results[0].is_running)


def test_containers_run_without_exec_healthchecks_by_default(api, market):
    status = connect(api, market).results

    details = inspect(str(status.provider_pid))
    # Each check would be an exec (about 0.1 s of engine CPU): the orchestrator knows the
    # worker's health from its status lines, so the image's check and heartbeat are off.
    assert details["Config"]["Healthcheck"]["Test"] == ["NONE"]
    assert "FEEDDOCK_HEARTBEAT_FILE=" in details["Config"]["Env"]
    assert "Health" not in details["State"]


def test_the_images_healthcheck_can_be_kept_at_an_interval(market, monkeypatch):
    monkeypatch.setenv("FEEDDOCK_DOCKER_HEALTHCHECK", "1")
    runtime = DockerRuntime(instance=SESSION_INSTANCE)
    api = WebSocketsAPI(Registry(), runtime=runtime)
    try:
        status = connect(api, market).results
        container = str(status.provider_pid)
        assert inspect(container)["Config"]["Healthcheck"]["Interval"] == 1_000_000_000
        wait_until(lambda: inspect(container)["State"]["Health"]["Status"] == "healthy", 20)
        assert "connected" in _health(container)
    finally:
        api.shutdown()
        runtime.close()


def _health(container: str) -> str:
    probe = subprocess.run(
        ["docker", "exec", container, "/opt/venv/bin/python", "-m", "provider_image.health"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout


def test_a_killed_provider_container_shows_not_running_with_its_last_error(api, market):
    status = connect(api, market, restart_policy="no").results
    docker("kill", str(status.provider_pid))

    wait_until(lambda: not api.get_client_status("dk").results[0].is_running)
    client = api.get_client("dk").results
    assert client.last_error == "worker exited with code 137"
    failed = api.get_client_status("dk").results[0]
    assert (failed.provider_pid, failed.health) == (None, "failed")
    assert failed.last_error == "worker exited with code 137"
    # restart replaces the dead container (same deterministic name).
    restarted = api.restart_connection("dk").results
    assert restarted.is_running and restarted.provider_pid != status.provider_pid


def test_stop_and_restart_wait_for_the_old_container_to_be_gone(api, market):
    status = connect(api, market).results
    old = str(status.provider_pid)

    api.stop_connection("dk")
    assert not worker_alive(old)
    assert containers("dk") == []
    api.restart_connection("dk")
    assert len(containers("dk")) == 1
    # One login per start: the provider never saw two live sessions for the key.
    market.wait_for(lambda m: m.connections_opened == 2)


def test_kill_removes_every_container_of_the_connection_and_its_temp_results(api, market):
    status = connect(api, market, broadcast_port=free_port(), start_broadcast=True).results
    assert len(containers("dk")) == 2

    api.kill("dk")

    assert containers("dk") == []
    assert not Path(status.results_file).exists()
    assert not Path(status.results_file).parent.exists()


def test_a_missing_image_is_refused_naming_the_build_command(market):
    runtime = DockerRuntime(
        instance=SESSION_INSTANCE,
        images={"provider": "feeddock-provider:no-such-tag", "broadcast": "feeddock-broadcast:x"},
    )
    api = WebSocketsAPI(Registry(), runtime=runtime)
    with pytest.raises(RuntimeUnavailableError, match="feeddock images build"):
        connect(api, market)
    assert containers("dk") == []
    runtime.close()


def test_an_engine_that_does_not_answer_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(RuntimeUnavailableError, match="Docker is not available"):
        select_runtime("docker")
    monkeypatch.setattr("orchestrator.runtime._announced", _FreshEvent())
    assert select_runtime("auto").name == "process"


class _FreshEvent:
    def __init__(self) -> None:
        self.value = False

    def is_set(self) -> bool:
        return self.value

    def set(self) -> None:
        self.value = True
