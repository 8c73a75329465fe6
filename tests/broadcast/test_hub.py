"""The fan-out core, without sockets: frames, filters, bounds."""

from __future__ import annotations

import asyncio

from broadcast_image.hub import (
    MAX_FRAME_CHARS,
    Hub,
    HubStats,
    Listener,
    build_frames,
    parse_symbols,
)


def rows(*symbols: str, start: int = 1) -> list[tuple[int, str]]:
    return [(start + i, f'{{"symbol":"{s}","n":{start + i}}}') for i, s in enumerate(symbols)]


def test_frames_are_newline_delimited_records_split_under_the_size_limit() -> None:
    messages = ["x" * 100] * 30
    frames = build_frames(messages, limit=1000)
    assert [n for _, n in frames] == [9, 9, 9, 3]
    assert "\n".join(text for text, _ in frames).split("\n") == messages
    assert all(len(text) <= 1000 for text, _ in frames)
    assert build_frames(["y" * 5000], limit=1000) == [("y" * 5000, 1)]


def test_symbol_filter_parsing() -> None:
    assert parse_symbols(None) is None
    assert parse_symbols(" * ") is None
    assert parse_symbols("AAPL, msft,,") == frozenset({"aapl", "msft"})
    assert parse_symbols("BTC/USD,eth-usdt") == frozenset({"btcusd", "ethusdt"})


def test_a_pair_filter_matches_every_spelling_of_the_pair() -> None:
    hub = Hub(100, lambda *_: None)
    listener = hub.listener("c", parse_symbols("btc-usd"))
    hub.register(listener)
    hub.publish(rows("BTC/USD", "ETH/USD", "btcusd", "BTC_USD"))
    text, count = listener.queue[0]
    assert count == 3
    assert [line.split('"')[3] for line in text.split("\n")] == ["BTC/USD", "btcusd", "BTC_USD"]


def test_publish_builds_one_frame_per_filter_and_queues_it_for_each_listener() -> None:
    hub = Hub(100, lambda *_: None)
    all_a, all_b = hub.listener("a", None), hub.listener("b", None)
    only_msft = hub.listener("c", parse_symbols("msft"))
    for listener in (all_a, all_b, only_msft):
        hub.register(listener)
    hub.publish(rows("AAPL", "MSFT", "aapl"))
    assert all_a.queue[0] is all_b.queue[0]  # the same frame object, built once
    assert all_a.queue[0][1] == 3
    assert only_msft.queue[0] == ('{"symbol":"MSFT","n":2}', 1)
    assert hub.last_id == 3


def test_listener_over_the_bound_is_dropped_with_the_reason_and_counted() -> None:
    slow: list[tuple[str, int]] = []

    def on_slow(listener: Listener, stats: HubStats) -> None:
        slow.append((listener.client, stats.slow_disconnects))

    hub = Hub(5, on_slow)
    listener = hub.listener("slow", None)
    hub.register(listener)
    hub.publish(rows("A", "B", "C"))
    hub.publish(rows("D", "E", "F", start=4))
    assert listener.too_slow == "listener too slow: 6 records pending"
    assert listener.dropped.is_set() and not listener.queue
    assert slow == [("slow", 1)]
    assert hub.listener_count == 0


async def test_sender_merges_queued_frames_and_counts_what_it_sent() -> None:
    hub = Hub(1000, lambda *_: None)
    listener = hub.listener("l", None)
    hub.register(listener)
    hub.publish(rows("A", "B"))
    hub.publish(rows("C", start=3))
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    task = asyncio.create_task(listener.run(send))
    await asyncio.sleep(0)
    task.cancel()
    assert sent == ['{"symbol":"A","n":1}\n{"symbol":"B","n":2}\n{"symbol":"C","n":3}']
    assert (listener.sent, listener.pending) == (3, 0)
    assert MAX_FRAME_CHARS >= 512 * 1024
