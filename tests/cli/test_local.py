"""Connection commands with no server: the local Docker engine, through re-adoption.

Every command is a new process: it adopts the containers an earlier command left (by label,
instance FEEDDOCK_INSTANCE), acts, and exits leaving them running.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from providers.demo.simulator import DemoSimulator

from ..conftest import SESSION_INSTANCE, need_docker
from ..helpers import free_port, labelled_containers, wait_until
from .conftest import FEEDDOCK, Run, cli_env, make_run

pytestmark = pytest.mark.docker


@pytest.fixture
def local() -> Run:
    need_docker()
    # The session's instance: whatever a failed test leaves is removed at the end.
    return make_run(FEEDDOCK_INSTANCE=SESSION_INSTANCE, FEEDDOCK_RUNTIME="docker")


def running_containers(name: str) -> list[str]:
    return [
        c
        for c in labelled_containers(f"feeddock.connection={name}")
        if subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", c], capture_output=True, text=True
        ).stdout.strip()
        == "true"
    ]


def test_commands_manage_docker_connections_without_a_server(local: Run, market: DemoSimulator):
    port = free_port()
    created = local(
        "create", "demo", "ops_local1", "-s", "aapl,msft", "--url", market.url,
        "--broadcast", "--port", str(port),
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert len(running_containers("ops_local1")) == 2  # they outlive the command

    row = local("ls").stdout.splitlines()[1].split()
    assert row[:6] == ["ops_local1", "demo", "AAPL,MSFT", "yes", "yes", f"ws://127.0.0.1:{port}"]
    assert "subscribed to AAPL,MSFT,BTCUSD" in local("subscribe", "ops_local1", "btcusd").stdout
    status = json.loads(local("status", "ops_local1", "--json").stdout)
    assert status["subscribed_symbols"] == "AAPL,MSFT,BTCUSD"
    assert status["provider_pid"][:12] in running_containers("ops_local1")

    wait_until(lambda: len(json.loads(local("results", "ops_local1", "--json").stdout)) >= 3)
    assert len(json.loads(local("results", "ops_local1", "--tail", "2", "--json").stdout)) == 2
    logs = local("logs", "ops_local1", "--tail", "50").stdout
    assert "Authorization: Success" in logs and "Subscribed to: BTCUSD" in logs
    assert "Stream results from" in local("logs", "ops_local1", "--broadcast").stdout
    follower = subprocess.Popen(
        [FEEDDOCK, "logs", "ops_local1", "-f", "--tail", "1"],
        env=cli_env(FEEDDOCK_INSTANCE=SESSION_INSTANCE, FEEDDOCK_RUNTIME="docker"),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    assert follower.stdout.readline().startswith("PROVIDER INFO:")
    local("subscribe", "ops_local1", "ethusd")
    seen = [follower.stdout.readline() for _ in range(2)]
    assert any("Subscribed to: ETHUSD" in line for line in seen), seen
    follower.send_signal(signal.SIGINT)
    assert follower.wait(10) == 0

    assert local("stop", "ops_local1").stdout.startswith("ops_local1: stopped")
    assert local("ls").stdout.splitlines()[1].split()[3] == "no"
    assert len(running_containers("ops_local1")) == 1  # the broadcast keeps serving
    assert local("restart", "ops_local1").stdout.startswith("ops_local1: running")
    assert local("kill", "ops_local1").stdout.strip() == "Clients ops_local1 killed."
    assert labelled_containers("feeddock.connection=ops_local1") == []


def test_a_worker_that_died_shows_its_last_error(local: Run, market: DemoSimulator):
    assert local("create", "demo", "ops_local2", "-s", "aapl", "--url", market.url).returncode == 0
    subprocess.run(["docker", "kill", "feeddock.default.ops_local2-provider"], check=True)
    row = local("ls").stdout.splitlines()[1]
    assert row.split()[3] == "no" and "exited with code 137" in row
    assert local("kill", "ops_local2").returncode == 0


def test_the_demo_market_needs_a_url_without_a_server(local: Run):
    refused = local("create", "demo", "ops_local3", "-s", "aapl")
    assert refused.returncode == 2
    assert "built-in simulator runs inside the process" in refused.stderr
    assert labelled_containers("feeddock.connection=ops_local3") == []
    unknown = local("create", "nope", "ops_local3", "-s", "aapl")
    assert unknown.returncode == 2 and unknown.stderr.startswith("Error: Unknown provider 'nope'")


def test_the_process_runtime_cannot_serve_the_command_line():
    refused = make_run(FEEDDOCK_RUNTIME="process")("ls")
    assert refused.returncode == 7
    assert refused.stderr.strip().startswith("Error: FEEDDOCK_RUNTIME=process cannot serve")
