"""Workers that end unexpectedly are restarted, within bounds; health says how it goes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contract.status import Level
from orchestrator import WebSocketsAPI, supervision
from orchestrator.models import WebSocketConnectionStatus
from orchestrator.runtime.fake import FakeEngine

from ..helpers import wait_until
from .conftest import create


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervision, "BASE_SECONDS", 0.01)


def status(api: WebSocketsAPI, name: str = "demo") -> WebSocketConnectionStatus:
    return api.get_client_status(name).results[0]


def test_a_killed_worker_is_restarted_with_its_file_and_subscriptions(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api)
    api.subscribe("demo", "nvda")
    before = status(api)
    engine.crash("demo", code=137)

    after = wait_until(lambda: status(api).restarts == 1 and status(api), timeout=5)
    assert after.is_running and after.health == "ok" and after.last_error is None
    assert after.provider_pid != before.provider_pid
    assert after.results_file == before.results_file
    assert after.subscribed_symbols == "AAPL,MSFT,NVDA"


def test_a_crash_loop_ends_failed_with_the_last_error(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api)
    engine.crash_on_start.add("demo")
    engine.crash("demo", code=1)

    failed = wait_until(lambda: status(api).health == "failed" and status(api), timeout=5)
    assert not failed.is_running
    assert failed.last_error is not None and "gave up after 5 restarts" in failed.last_error


def test_a_final_refusal_is_not_retried(api: WebSocketsAPI, engine: FakeEngine) -> None:
    create(api)
    worker = engine.find("demo")
    worker.emit(Level.ERROR, "unauthorized", "UnauthorizedError -> key revoked")
    worker.exit(3)
    failed = wait_until(lambda: status(api).health == "failed" and status(api), timeout=5)
    assert failed.last_error == "UnauthorizedError -> key revoked"
    assert failed.restarts == 0 and len(engine.running("provider")) == 0


def test_stopping_on_purpose_is_not_a_failure(api: WebSocketsAPI, engine: FakeEngine) -> None:
    create(api)
    stopped = api.stop_connection("demo").results
    assert (stopped.health, stopped.restarts) == ("stopped", 0)
    assert engine.running("provider") == []


def test_a_dead_broadcast_server_degrades_the_connection_until_it_is_back(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api, broadcast_port=7300, start_broadcast=True)
    first = engine.find("demo", "broadcast")
    first.exit(137, oom=True)
    back = wait_until(
        lambda: engine.find("demo", "broadcast") is not first and status(api).is_broadcasting,
        timeout=5,
    )
    assert back
    assert status(api).health == "ok"


def test_a_broadcast_server_that_stays_dead_is_reported(
    make_api: Callable[..., WebSocketsAPI], engine: FakeEngine
) -> None:
    api = make_api()
    create(api, broadcast_port=7301, start_broadcast=True, restart_policy="no")
    engine.find("demo", "broadcast").exit(137, oom=True)
    degraded = wait_until(lambda: status(api).health == "degraded" and status(api), timeout=5)
    assert degraded.last_error is not None
    assert degraded.last_error.startswith("broadcast server down: the worker ran out of memory")


def test_failing_commits_degrade_until_the_worker_reports_recovery(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api)
    worker = engine.find("demo")
    worker.emit(Level.ERROR, "write_failed", "Could not write 10 records: database or disk is full")
    degraded = status(api)
    assert degraded.health == "degraded" and degraded.is_running
    assert degraded.last_error == "Could not write 10 records: database or disk is full"
    worker.emit(Level.INFO, "write_recovered", "Writing again")
    assert (status(api).health, status(api).last_error) == ("ok", None)


def test_an_adopted_connection_that_died_unwatched_is_restarted(
    make_api: Callable[..., WebSocketsAPI], engine: FakeEngine
) -> None:
    first = make_api(survives_exit=True)
    create(first, name="orphan")
    first.close_at_exit()
    engine.crash("orphan", code=137)

    second = make_api(survives_exit=True)
    back = wait_until(lambda: status(second, "orphan").is_running and status(second, "orphan"))
    assert back.restarts == 1 and back.subscribed_symbols == "AAPL,MSFT"


def test_restarts_wait_for_an_engine_that_does_not_answer(
    api: WebSocketsAPI, engine: FakeEngine
) -> None:
    create(api)
    engine.down = True
    engine.crash("demo", code=0)
    wait_until(lambda: engine.refused_calls > supervision.CRASH_LOOP_RESTARTS + 1, timeout=10)
    assert status(api).health == "restarting"  # an absent engine is no crash loop
    engine.down = False
    back = wait_until(lambda: status(api).is_running and status(api), timeout=10)
    assert back.restarts == 1


def test_the_backoff_grows_and_gives_up_in_a_crash_loop() -> None:
    backoff = supervision.Backoff(base=1.0, cap=3.0, max_restarts=4, window=60)
    delays = [backoff.next_delay(now) for now in (0.0, 1.0, 2.0, 3.0, 4.0)]
    assert [
        d is not None and lo <= d <= hi
        for d, (lo, hi) in zip(delays[:4], [(0.5, 1), (1, 2), (1.5, 3), (1.5, 3)], strict=True)
    ] == [True] * 4
    assert delays[4] is None
    assert backoff.next_delay(100.0) is not None  # the window has passed
