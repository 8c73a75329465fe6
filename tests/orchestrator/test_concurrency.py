"""Concurrent callers: one winner per name, caps that hold, nothing left behind by losers."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from orchestrator import ConnectionExistsError, WebSocketsAPI
from orchestrator.errors import CapacityError
from orchestrator.runtime.fake import FakeEngine

from .conftest import create


def race(count: int, call: Callable[[int], object]) -> list[object]:
    """Run `call(i)` for i in range(count) in threads released at the same moment."""
    start = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = call(index)
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def temp_dirs(name: str) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"feeddock-{name}-*"))


def test_twenty_creates_of_one_name_give_one_winner(api: WebSocketsAPI, engine: FakeEngine) -> None:
    name = "race-one-name"
    outcomes = race(20, lambda _: create(api, name=name))
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert outcomes.count(None) == 1
    assert len(losers) == 19
    assert all(isinstance(o, ConnectionExistsError) for o in losers)
    assert {str(o) for o in losers} == {
        f"A connection named {name!r} already exists. Use restart_connection, or kill it first."
    }
    assert len(engine.running("provider")) == 1
    assert len(temp_dirs(name)) == 1


def test_the_connection_cap_holds_under_concurrent_creates(
    make_api: Callable[..., WebSocketsAPI], engine: FakeEngine
) -> None:
    api = make_api(max_connections=2)
    outcomes = race(10, lambda i: create(api, name=f"capped-{i}"))
    assert outcomes.count(None) == 2
    assert sum(isinstance(o, CapacityError) for o in outcomes) == 8
    assert len(engine.running("provider")) == 2
    assert len(api.registry) == 2


def test_a_failed_create_frees_its_name(api: WebSocketsAPI, engine: FakeEngine) -> None:
    engine.refusals["retry"] = "bad key"
    outcomes = race(5, lambda _: create(api, name="retry"))
    assert all(isinstance(o, Exception) for o in outcomes)
    del engine.refusals["retry"]
    create(api, name="retry")
    assert temp_dirs("retry") and len(temp_dirs("retry")) == 1
