"""Concurrent REST callers on both runtimes: one winner per name, no stray worker."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import httpx

from ..helpers import labelled_containers, worker_processes

API = "/api/v1/websockets"


def test_twenty_concurrent_creates_of_one_name_give_one_success_and_nineteen_409s(
    serve, market, runtime_name
):
    http = serve()
    name = f"race-{runtime_name}"
    body = {"provider": "demo", "name": name, "symbol": "aapl", "url": market.url}
    start = threading.Barrier(20)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def create() -> None:
        start.wait()
        response = http.post(f"{API}/create_connection", json=body)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=create) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 19, [r.text for r in responses if r.status_code != 409]
    refusals = {r.text for r in responses if r.status_code == 409}
    assert len(refusals) == 1
    assert "ConnectionExistsError" in refusals.pop()
    assert len(list(Path(tempfile.gettempdir()).glob(f"feeddock-{name}-*"))) == 1
    if runtime_name == "process":
        assert len(worker_processes()) == 1
    else:
        assert len(labelled_containers(f"feeddock.connection={name}")) == 1
    assert http.post(f"{API}/kill", params={"name": name}).status_code == 200
