"""How the Docker runtime follows containers: no thread or poll per container, every line once
and in order, the exit once after the last line, a broken attach stream resumed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker.api.client
import pytest

from orchestrator.record import INSTANCE_LABEL
from orchestrator.runtime import WorkerState
from orchestrator.runtime.docker import DockerHandle, DockerRuntime
from orchestrator.runtime.docker.engine import CALL_THREADS

from ..conftest import SESSION_INSTANCE
from ..helpers import wait_until


class Recorder:
    """A sink that keeps what it was told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.exited = threading.Event()

    def on_line(self, line: str) -> None:
        assert not self.exited.is_set(), f"line after exit: {line!r}"
        self.events.append(("line", line))

    def on_exit(self, state: WorkerState) -> None:
        self.events.append(("exit", state))
        self.exited.set()

    def on_problem(self, message: str | None) -> None:
        self.events.append(("problem", message))

    @property
    def lines(self) -> list[str]:
        return [value for kind, value in self.events if kind == "line"]


@pytest.fixture
def shell(docker_runtime: DockerRuntime) -> Iterator[Any]:
    """`shell(script)` creates (not starts) a container running `sh -c script`."""
    api = docker_runtime.engine.api
    created: list[str] = []

    def create(script: str) -> tuple[str, str]:
        name = f"feeddock-cluster_follow-{uuid.uuid4().hex[:8]}"
        container = api.create_container(
            docker_runtime.images["provider"],
            name=name,
            entrypoint=["/bin/sh", "-c", script],
            labels={INSTANCE_LABEL: SESSION_INSTANCE},
            stdin_open=True,
            detach=True,
            healthcheck={"test": ["NONE"]},
            host_config=api.create_host_config(network_mode="none"),
        )
        created.append(container["Id"])
        return str(container["Id"]), name

    yield create
    for container in created:
        docker_runtime.remove(container)


def follow(runtime: DockerRuntime, container: tuple[str, str], sink: Recorder) -> DockerHandle:
    handle = runtime._handle(container[0], container[1], sink)
    handle.open()
    runtime.engine.api.start(container[0])
    return handle


def test_every_line_arrives_once_in_order_then_the_exit_once(docker_runtime, shell):
    sink = Recorder()
    script = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done; echo oops >&2; exit 3"
    follow(docker_runtime, shell(script), sink)

    assert sink.exited.wait(20)
    # stdout in order; stderr is a separate pipe, so its line may come anywhere among them.
    assert [line for line in sink.lines if line != "oops"] == [f"line {i}" for i in range(300)]
    assert sink.lines.count("oops") == 1
    kinds = [kind for kind, _ in sink.events]
    assert kinds.count("exit") == 1 and kinds[-1] == "exit"
    assert sink.events[-1][1].exit_code == 3


def test_a_broken_attach_stream_is_resumed_without_losing_or_repeating_lines(
    docker_runtime, shell, monkeypatch
):
    sink = Recorder()
    script = "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); sleep 0.01; done; sleep 60"
    handle = follow(docker_runtime, shell(script), sink)
    wait_until(lambda: len(sink.lines) >= 100, timeout=20)
    # Slow the recovery down so that lines are printed both before the new attach (only in
    # the log) and between the attach and the log read (in both).
    recovered: dict[str, list[str]] = {}
    attach, recent = docker_runtime.engine.attach, handle._recent_lines

    def slow_attach(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return attach(*args, **kwargs)

    def slow_recent(count: int) -> list[str]:
        time.sleep(0.3)
        recovered["log"] = recent(count)
        return recovered["log"]

    monkeypatch.setattr(docker_runtime.engine, "attach", slow_attach)
    monkeypatch.setattr(handle, "_recent_lines", slow_recent)
    stream = handle._stream
    assert stream is not None
    stream.sock.shutdown(2)  # as if the engine or the network dropped the connection

    wait_until(lambda: len(sink.lines) >= 400, timeout=30)
    time.sleep(0.2)  # nothing more may come: the script prints no more lines
    assert sink.lines == [f"line {i}" for i in range(400)]
    assert len(recovered["log"]) > 130  # the recovery had lines to merge at both ends
    assert handle._stream is not stream and not sink.exited.is_set()
    # stdin still works through the new connection.
    handle.send("ignored")
    state = handle.stop(1)
    assert state.running is False and sink.exited.is_set()


def test_following_takes_a_few_threads_and_no_engine_calls_whatever_the_containers(
    docker_runtime, shell, monkeypatch
):
    calls: list[str] = []
    request = docker.api.client.APIClient.request

    def counted(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"{method} {url.split('/v1.', 1)[-1]}")
        return request(self, method, url, *args, **kwargs)

    before = {thread.name for thread in threading.enumerate()}
    sinks = [Recorder() for _ in range(6)]
    handles = [follow(docker_runtime, shell("echo up; sleep 60"), sink) for sink in sinks]
    wait_until(lambda: all(sink.lines == ["up"] for sink in sinks), timeout=30)

    monkeypatch.setattr(docker.api.client.APIClient, "request", counted)
    time.sleep(2)
    assert calls == []  # nothing is polled while containers run
    added = {thread.name for thread in threading.enumerate()} - before
    assert len(added) <= 2 + CALL_THREADS, added
    for handle in handles:
        handle.release()
