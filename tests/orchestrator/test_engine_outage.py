"""A Docker handle across an engine outage, step by step: what its sink hears between the
engine answering again and the container's state being confirmed.

The engine's call threads are replaced by a queue the test runs by hand, so the moment in
between (the engine answers, the inspect has not run yet) can be looked at. A CI run once caught
that moment through REST: a worker stopped by the engine restart said `is_running` and `ok`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.runtime import WorkerState
from orchestrator.runtime.docker import DockerHandle

ENGINE_DOWN = "the Docker engine does not answer: connection refused"


class QueuedEngine:
    """The parts of `Engine` a handle calls, with `call_soon` run by the test."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.pending: list[Callable[[], None]] = []
        self.api = self

    def call_soon(self, call: Callable[[], None]) -> None:
        self.pending.append(call)

    def run_pending(self) -> None:
        while self.pending:
            self.pending.pop(0)()

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        return {"Id": container_id, "State": self.state}


class Watcher:
    def watch(self, container_id: str, listener: object) -> None: ...

    def unwatch(self, container_id: str) -> None: ...

    def kick(self) -> None: ...


class Sink:
    """Keeps the runtime problem the way the worker monitor does: one, or none."""

    def __init__(self) -> None:
        self.problem: str | None = None
        self.exit: WorkerState | None = None

    def on_line(self, line: str) -> None: ...

    def on_problem(self, message: str | None) -> None:
        self.problem = message

    def on_exit(self, state: WorkerState) -> None:
        self.exit = state

    @property
    def looks_healthy(self) -> bool:
        """What the status would say: running (no exit yet) and nothing wrong."""
        return self.exit is None and self.problem is None


def handle_through_an_outage(state: dict[str, Any]) -> tuple[DockerHandle, QueuedEngine, Sink]:
    engine, sink = QueuedEngine(state), Sink()
    handle = DockerHandle(
        engine,  # type: ignore[arg-type]
        Watcher(),  # type: ignore[arg-type]
        "c0ffee",
        "feeddock-outage-provider",
        sink,
        remove=lambda _id: None,
    )
    handle.on_engine_lost(ENGINE_DOWN)
    assert sink.problem == ENGINE_DOWN and not sink.looks_healthy
    return handle, engine, sink


def test_a_container_stopped_during_the_outage_never_looks_healthy_before_its_exit() -> None:
    handle, engine, sink = handle_through_an_outage({"Running": False, "ExitCode": 143})

    handle.on_engine_back(running=False)
    assert not sink.looks_healthy
    assert sink.problem == "the container stopped while the Docker engine was away"

    engine.run_pending()  # the inspect confirms the death
    assert sink.exit is not None and sink.exit.exit_code == 143 and not sink.exit.running


def test_a_container_that_kept_running_is_healthy_again_once_the_engine_answers() -> None:
    handle, engine, sink = handle_through_an_outage({"Running": True})

    handle.on_engine_back(running=True)
    assert sink.looks_healthy  # no inspect needed: the list said it runs
    assert len(engine.pending) == 1  # its output is attached again on a call thread


def test_a_container_started_again_before_the_inspect_is_healthy_again() -> None:
    # The engine's list said stopped; by the time of the inspect somebody ran `docker start`.
    handle, engine, sink = handle_through_an_outage({"Running": False, "ExitCode": 0})
    handle.on_engine_back(running=False)
    engine.state = {"Running": True}

    engine.run_pending()
    assert sink.looks_healthy
