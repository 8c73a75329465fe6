"""`listen()` and `alisten()` against a real broadcast server."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from orchestrator.errors import AuthTokenError
from orchestrator.listen import alisten, listen, listener_url, mask_url

from .helpers import Table, WorkerProcess, free_port

Start = Callable[..., tuple[WorkerProcess, str]]


async def _wait_open(process: WorkerProcess, count: int = 1) -> None:
    await asyncio.to_thread(process.wait_event, "open", 10, count)


async def test_listen_prints_each_record_as_a_line_and_returns_after_max_records(
    table: Table, broadcast: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    process, url = broadcast(token="tok")
    out = io.StringIO()
    task = asyncio.create_task(asyncio.to_thread(listen, url, "tok", file=out, max_records=25))
    await _wait_open(process)
    expected = table.insert(20) + table.insert(10)
    assert await asyncio.wait_for(task, 15) == 25
    assert out.getvalue().splitlines() == expected[:25]
    assert f"Listening for messages from {url}" in capsys.readouterr().err


async def test_listen_masks_a_token_given_in_the_url(
    table: Table, broadcast: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    process, url = broadcast(token="hidden")
    out = io.StringIO()
    task = asyncio.create_task(
        asyncio.to_thread(listen, f"{url}/?auth_token=hidden", file=out, max_records=1)
    )
    await _wait_open(process)
    table.insert(1)
    assert await asyncio.wait_for(task, 15) == 1
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert "auth_token=***" in err


async def test_listen_raises_auth_token_error_with_the_servers_reason(broadcast: Start) -> None:
    _, url = broadcast(token="right")
    with pytest.raises(AuthTokenError, match="invalid or missing auth_token"):
        await asyncio.wait_for(asyncio.to_thread(listen, url, "wrong", file=io.StringIO()), 15)


async def test_alisten_yields_parsed_records_with_filter_and_replay(
    table: Table, broadcast: Start
) -> None:
    process, url = broadcast()
    history = table.insert(3, symbol="MSFT")
    table.insert(3, symbol="AAPL")
    await asyncio.sleep(0.2)
    received: list[dict[str, object]] = []

    async def consume() -> None:
        async for record in alisten(url, symbol="msft", replay=2, max_records=4):
            received.append(record)

    task = asyncio.create_task(consume())
    await _wait_open(process)
    table.insert(2, symbol="AAPL")
    live = table.insert(2, symbol="msft")
    await asyncio.wait_for(task, 15)
    assert received == [orjson.loads(m) for m in history[-2:] + live]


async def test_alisten_reconnects_when_the_server_restarts(
    table: Table, broadcast: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    process, url = broadcast()
    port = int(url.rsplit(":", 1)[1])
    received: list[dict[str, object]] = []
    first = asyncio.Event()

    async def consume() -> None:
        async for record in alisten(url, max_records=2):
            received.append(record)
            first.set()

    task = asyncio.create_task(consume())
    await _wait_open(process)
    table.insert(1)
    await asyncio.wait_for(first.wait(), 10)
    assert await asyncio.to_thread(process.stop) == 0
    restarted, _ = broadcast(port=port)
    await _wait_open(restarted)  # the client's backoff brings it back
    [last] = table.insert(1)
    await asyncio.wait_for(task, 30)
    assert received[-1] == orjson.loads(last)


def test_listener_url_adds_filter_replay_and_batches_and_masks_tokens() -> None:
    assert listener_url("ws://127.0.0.1:6666", "aapl,msft", 5, batched=True) == (
        "ws://127.0.0.1:6666/?symbol=aapl%2Cmsft&replay=5&format=ndjson"
    )
    assert listener_url("http://h:1/?replay=9&x=1&format=record") == "ws://h:1/?x=1"
    assert mask_url("ws://h:1/?a=1&auth_token=abc&b=2") == "ws://h:1/?a=1&auth_token=***&b=2"


async def test_listen_asks_for_batches_and_still_prints_one_record_per_line(
    table: Table, broadcast: Start
) -> None:
    process, url = broadcast(sleep_time=0.2, wake_on_commit=False)
    out = io.StringIO()
    task = asyncio.create_task(asyncio.to_thread(listen, url, file=out, max_records=300))
    await _wait_open(process)
    assert process.wait_event("open")["format"] == "ndjson"
    expected = table.insert(300)  # one commit: one batched frame
    assert await asyncio.wait_for(task, 15) == 300
    assert out.getvalue().splitlines() == expected
    stats = (
        await asyncio.to_thread(process.wait_event, "stopped", 15) if process.stop() == 0 else {}
    )
    assert stats["records_sent"] == 300
    assert stats["frames_sent"] < 300


FEEDDOCK = str(Path(sys.executable).with_name("feeddock"))


def test_feeddock_listen_says_when_it_connects_and_each_retry_as_it_happens() -> None:
    """Nothing listens on the port: every attempt is announced when it starts, every failure
    when it happens, with the delay before the next attempt."""
    url = f"ws://127.0.0.1:{free_port()}"
    started = time.monotonic()
    listener = subprocess.Popen(
        [FEEDDOCK, "listen", url],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "FEEDDOCK_RUNTIME": "process"},
    )
    try:
        assert listener.stderr is not None
        lines: list[tuple[float, str]] = []
        while len(lines) < 4:
            line = listener.stderr.readline()
            assert line, f"listen exited early: {lines}"
            lines.append((time.monotonic(), line.strip()))
    finally:
        listener.terminate()
        listener.wait(10)
    texts = [text for _, text in lines]
    assert texts[0] == f"Listening for messages from {url}"
    assert texts[1] == f"connecting to {url} ..."
    failed = re.fullmatch(rf"Cannot reach {url}; reconnecting in ([\d.]+) seconds: .*", texts[2])
    assert failed is not None, texts[2]
    assert texts[3] == f"connecting to {url} (attempt 2) ..."
    # The first attempt is announced as soon as the program runs (its imports take the rest),
    # the second when it starts, after the announced delay.
    assert lines[1][0] - started < 5
    delay = float(failed.group(1))
    assert delay - 0.2 <= lines[3][0] - lines[2][0] <= delay + 1.5
