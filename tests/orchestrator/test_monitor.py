"""The monitor keeps what a worker's status lines say, and why it ended."""

from __future__ import annotations

from contract.status import Level, format_line
from orchestrator.monitor import WorkerMonitor
from orchestrator.runtime import WorkerState


def line(level: Level, event: str, message: str = "", **data: object) -> str:
    return format_line("PROVIDER", level, event, message, **data)


def test_ready_errors_and_symbols_come_from_the_json_part() -> None:
    monitor = WorkerMonitor(echo=False)
    monitor.on_line("plain output is shown, not parsed")
    monitor.on_line(line(Level.INFO, "ready", "Streaming", symbols="AAPL,MSFT"))
    monitor.on_line(line(Level.ERROR, "write_failed", "disk full"))
    assert monitor.ready and monitor.last_error == "disk full"
    assert monitor.latest_symbols() == ["AAPL", "MSFT"]


def test_a_fatal_event_ends_the_wait_for_readiness() -> None:
    monitor = WorkerMonitor(echo=False)
    monitor.on_line(line(Level.ERROR, "unauthorized", "bad key"))
    assert monitor.wait_ready(0.01) and monitor.fatal_event is not None


def test_the_exit_reason_is_kept_and_listeners_hear_it_once() -> None:
    monitor = WorkerMonitor(echo=False)
    heard: list[WorkerState] = []
    monitor.add_exit_listener(heard.append)
    monitor.on_exit(WorkerState(running=False, exit_code=137, oom_killed=True))
    monitor.on_exit(WorkerState(running=False, exit_code=0))
    assert monitor.exited and len(heard) == 1
    assert monitor.last_error == "the worker ran out of memory and was killed (OOM)"


def test_waiting_for_an_event_returns_none_when_the_worker_ends() -> None:
    monitor = WorkerMonitor(echo=False)
    monitor.on_exit(WorkerState(running=False, exit_code=1))
    assert monitor.wait_event(lambda s: s.event == "ready", 1.0) is None
