"""Every listener gets every record once, in id order: across clears, provider restarts, filters."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from providers.demo.simulator import DemoSimulator

from .helpers import Listener, Table, WorkerProcess

Start = Callable[..., tuple[WorkerProcess, str]]


async def open_listeners(url: str, count: int) -> list[Listener]:
    return list(await asyncio.gather(*(Listener(url).open() for _ in range(count))))


async def test_each_of_n_listeners_receives_every_record_once_in_order_across_a_clear(
    table: Table, broadcast: Start
) -> None:
    table.insert(5)  # written before the server started: nobody gets these
    _, url = broadcast()
    listeners = await open_listeners(url, 8)
    expected = table.insert(300)
    expected += table.insert(1)
    for listener in listeners:  # rows cleared before the next poll are never broadcast
        await listener.wait_count(len(expected))
    table.clear()  # clear_results: ids go on from where they were
    expected += table.insert(250)
    for _ in range(20):  # many small commits, some landing in the same tick
        expected += table.insert(3)
    for listener in listeners:
        await listener.wait_count(len(expected))
    await asyncio.sleep(0.2)  # nothing more may arrive
    for listener in listeners:
        assert listener.lines == expected
        await listener.close()


async def test_a_frame_with_one_record_is_a_plain_json_object(
    table: Table, broadcast: Start
) -> None:
    _, url = broadcast()
    listener = await Listener(url).open()
    [message] = table.insert(1)
    await listener.wait_count(1)
    assert orjson.loads(listener.lines[0]) == orjson.loads(message)
    await listener.close()


async def test_listener_started_before_the_results_file_exists_gets_records_once_it_appears(
    results_file: Path, broadcast: Start
) -> None:
    _, url = broadcast()
    listener = await Listener(url).open()
    table = Table(results_file)
    try:
        expected = table.insert(20)
        await listener.wait_count(20)
        assert listener.lines == expected
    finally:
        table.close()
        await listener.close()


async def test_replay_sends_the_last_n_records_then_the_live_stream_without_gap_or_duplicate(
    table: Table, broadcast: Start
) -> None:
    _, url = broadcast()
    before = table.insert(30)
    await asyncio.sleep(0.2)  # let the reader pass them, so they are history
    listener = await Listener(f"{url}/?replay=10").open()
    live = table.insert(15)
    await listener.wait_count(25)
    await asyncio.sleep(0.2)
    assert listener.lines == before[-10:] + live
    await listener.close()


async def test_replay_while_records_keep_arriving_has_no_gap_or_duplicate(
    table: Table, broadcast: Start
) -> None:
    _, url = broadcast()
    written = table.insert(50)
    stop = asyncio.Event()

    async def writer() -> None:
        while not stop.is_set():
            written.extend(table.insert(7))
            await asyncio.sleep(0.003)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.1)
    listener = await Listener(f"{url}/?replay=1000").open()
    await asyncio.sleep(0.3)
    stop.set()
    await task
    await listener.wait_for(lambda lis: bool(lis.lines) and lis.lines[-1] == written[-1])
    start = written.index(listener.lines[0])
    assert listener.lines == written[start:]
    await listener.close()


async def test_symbol_filter_is_applied_by_the_server_case_insensitively(
    table: Table, broadcast: Start
) -> None:
    _, url = broadcast()
    both = await Listener(f"{url}/?symbol=aapl,MSFT").open()
    one = await Listener(f"{url}/?symbol=nvda").open()
    everything = await Listener(url).open()
    written: list[tuple[str, str]] = []
    for symbol in ["AAPL", "MSFT", "NVDA", "SPY", "aapl", "Msft"] * 20:
        [message] = table.insert(1, symbol=symbol)
        written.append((symbol.lower(), message))
    await everything.wait_count(len(written))
    await both.wait_count(80)
    await one.wait_count(20)
    await asyncio.sleep(0.2)
    assert both.lines == [m for s, m in written if s in ("aapl", "msft")]
    assert one.lines == [m for s, m in written if s == "nvda"]
    assert everything.lines == [m for _, m in written]
    for listener in (both, one, everything):
        await listener.close()


async def test_replay_respects_the_symbol_filter(table: Table, broadcast: Start) -> None:
    _, url = broadcast()
    spy = [table.insert(1, symbol=s)[0] for s in ["SPY", "AAPL"] * 10]
    await asyncio.sleep(0.2)
    listener = await Listener(f"{url}/?symbol=spy&replay=3").open()
    live = table.insert(2, symbol="spy")
    table.insert(2, symbol="aapl")
    await listener.wait_count(5)
    await asyncio.sleep(0.2)
    history = [m for m in spy if orjson.loads(m)["symbol"] == "SPY"]
    assert listener.lines == history[-3:] + live
    await listener.close()


def _provider_env(sim_url: str, results_file: Path) -> dict[str, str]:
    config: dict[str, Any] = {
        "provider": "demo",
        "params": {"name": "test", "symbol": "aapl", "url": sim_url},
        "results_file": str(results_file),
        "limit": None,
    }
    return {"FEEDDOCK_CONFIG": orjson.dumps(config).decode(), "FEEDDOCK_API_KEY": "demo"}


def _stored(results_file: Path) -> list[str]:
    connection = sqlite3.connect(results_file)
    try:
        return [row[0] for row in connection.execute("SELECT message FROM records ORDER BY id")]
    finally:
        connection.close()


async def test_listeners_keep_receiving_across_a_provider_worker_stop_and_restart(
    results_file: Path, broadcast: Start, processes: list[WorkerProcess]
) -> None:
    """The real demo worker writes; the broadcast outlives it; nothing is lost or repeated."""
    simulator = DemoSimulator(rate=200)
    simulator.start()
    try:
        _, url = broadcast()
        listeners = await open_listeners(url, 3)
        env = _provider_env(simulator.url, results_file)
        for run in range(2):
            worker = WorkerProcess("provider_image", env)
            processes.append(worker)
            await asyncio.to_thread(worker.wait_event, "ready")
            count = len(_stored(results_file)) + 40
            await listeners[0].wait_count(count)
            assert await asyncio.to_thread(worker.stop) == 0, worker.output()
            if run == 0:
                await asyncio.sleep(0.3)  # the broadcast idles while no provider runs
        stored = _stored(results_file)
        for listener in listeners:
            await listener.wait_count(len(stored))
        await asyncio.sleep(0.2)
        for listener in listeners:
            assert listener.lines == stored
            await listener.close()
    finally:
        simulator.stop()


async def bursts(table: Table, total: int, symbols: list[str], seed: int = 3) -> list[str]:
    """Insert `total` records in commits of 1 to 400, with short pauses; returns them."""
    rng = random.Random(seed)
    written: list[str] = []
    while len(written) < total:
        size = min(rng.choice([1, 2, 7, 50, 400]), total - len(written))
        written += table.insert_symbols([rng.choice(symbols) for _ in range(size)])
        await asyncio.sleep(rng.choice([0, 0.001, 0.02]))
    return written


async def test_a_plain_client_gets_each_record_as_one_frame_exactly_as_stored_in_bursts(
    table: Table, broadcast: Start
) -> None:
    """What a browser's WebSocket or `websocat` sees: no query options, one JSON per message."""
    _, url = broadcast(sleep_time=0.25)
    async with connect(url) as plain:  # nothing but the address
        written = await bursts(table, 5000, ["AAPL", "BTC/USD"])
        frames = [await asyncio.wait_for(plain.recv(), 10) for _ in written]
        with pytest.raises(TimeoutError):  # and nothing more
            await asyncio.wait_for(plain.recv(), 0.3)
    assert frames == written
    assert table.messages()[-len(written) :] == written
    parsed = [json.loads(frame) for frame in frames]  # every message parses on its own
    assert [record["n"] for record in parsed] == list(range(parsed[0]["n"], parsed[0]["n"] + 5000))


async def test_a_batched_listener_gets_ndjson_frames_holding_several_records(
    table: Table, broadcast: Start
) -> None:
    _, url = broadcast(sleep_time=0.25)
    batched = await Listener(f"{url}/?format=ndjson").open()
    written = await bursts(table, 3000, ["AAPL"])
    await batched.wait_count(len(written))
    await asyncio.sleep(0.2)
    assert batched.lines == written
    assert len(batched.frames) < len(written)
    assert max(frame.count("\n") + 1 for frame in batched.frames) > 1
    await batched.close()


async def test_mixed_listeners_each_get_exactly_their_records(
    table: Table, broadcast: Start
) -> None:
    """Per-record, batched, filtered (by symbol key: `btc-usd` selects stored `BTC/USD`) and
    replaying listeners side by side, while records arrive in bursts."""
    _, url = broadcast(sleep_time=0.25)
    symbols = ["BTC/USD", "ETH/USD", "AAPL"]
    history = await bursts(table, 300, symbols, seed=1)
    await asyncio.sleep(0.3)  # read by the server: history for the replaying listeners
    listeners = {
        "record": await Listener(url).open(),
        "ndjson": await Listener(f"{url}/?format=ndjson").open(),
        "btc": await Listener(f"{url}/?symbol=btc-usd").open(),
        "btc+aapl ndjson": await Listener(f"{url}/?symbol=BTCUSD,aapl&format=ndjson").open(),
        "replay": await Listener(f"{url}/?replay=40").open(),
        "replay eth ndjson": await Listener(
            f"{url}/?replay=25&symbol=eth/usd&format=ndjson"
        ).open(),
    }
    live = await bursts(table, 4000, symbols, seed=2)

    def only(records: list[str], *wanted: str) -> list[str]:
        return [m for m in records if orjson.loads(m)["symbol"] in wanted]

    expected = {
        "record": live,
        "ndjson": live,
        "btc": only(live, "BTC/USD"),
        "btc+aapl ndjson": only(live, "BTC/USD", "AAPL"),
        "replay": history[-40:] + live,
        "replay eth ndjson": only(history, "ETH/USD")[-25:] + only(live, "ETH/USD"),
    }
    for name, listener in listeners.items():
        await listener.wait_count(len(expected[name]), within=15)
    await asyncio.sleep(0.3)
    for name, listener in listeners.items():
        assert listener.lines == expected[name], name
        if "ndjson" not in name:
            assert listener.frames == listener.lines, name  # one record per frame
        await listener.close()
