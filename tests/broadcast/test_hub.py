"""The fan-out core, without sockets: frames built once, one shared buffer, the slow-listener
policy and the memory budget, checked with fake sinks."""

from __future__ import annotations

import orjson
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from broadcast_image.framing import (
    MAX_NDJSON_BYTES,
    Framing,
    make_entry,
    parse_symbols,
    segments,
    text_frame,
)
from broadcast_image.hub import ENTRY_OVERHEAD, GAP_CLOSE_CODE, SLOW_CLOSE_CODE, Hub, Limits


class FakeSink:
    """A socket that takes everything until `full` is set."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.full = False
        self.writes = 0

    @property
    def writable(self) -> bool:
        return not self.full

    def write(self, data: bytes) -> None:
        self.data += data
        self.writes += 1

    def buffered(self) -> int:
        return 0


def parse_frames(data: bytes) -> list[str]:
    """Decode what a server sent, with the websockets library's own frame parser."""
    reader = StreamReader()
    reader.feed_data(bytes(data))
    texts = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        with pytest.raises(StopIteration) as parsed:
            next(parser)  # all the bytes are there: the generator returns at once
        frame: Frame = parsed.value.value
        assert frame.opcode is Opcode.TEXT and frame.fin
        texts.append(bytes(frame.data).decode())
    return texts


def rows(*symbols: str, start: int = 1, pad: int = 0) -> list[tuple[int, bytes]]:
    return [
        (start + i, orjson.dumps({"symbol": s, "n": start + i, "pad": "x" * pad}))
        for i, s in enumerate(symbols)
    ]


def messages(batch: list[tuple[int, bytes]]) -> list[str]:
    return [m.decode() for _, m in batch]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_frames_we_build_are_what_a_websockets_client_reads(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)  # `size` bytes of UTF-8
    assert parse_frames(text_frame(text.encode())) == [text]


def test_per_record_segments_hold_one_frame_per_matching_record_and_advance_over_the_rest() -> None:
    batch = rows("AAPL", "MSFT", "aapl", "NVDA")
    entries = [make_entry(m, "aapl" if b"AAPL" in m.upper() else "x") for _, m in batch]
    [segment] = segments(entries, 10, 10, 14, Framing.RECORD, frozenset({"aapl"}))
    assert (segment.end, segment.records, segment.frames) == (14, 2, 2)
    assert parse_frames(segment.data) == [messages(batch)[0], messages(batch)[2]]
    [nothing] = segments(entries, 10, 10, 14, Framing.RECORD, frozenset({"spy"}))
    assert (nothing.end, nothing.data, nothing.records) == (14, b"", 0)


def test_per_record_segments_are_cut_near_the_cap_between_records() -> None:
    batch = rows(*["A"] * 10, pad=100)
    entries = [make_entry(m) for _, m in batch]
    cut = list(segments(entries, 0, 0, 10, Framing.RECORD, None, cap=500))
    assert [s.records for s in cut] == [4, 4, 2]
    assert [s.end for s in cut] == [4, 8, 10]
    assert [m for s in cut for m in parse_frames(s.data)] == messages(batch)


def test_ndjson_segments_are_one_frame_of_newline_joined_records_under_the_size_limit() -> None:
    batch = rows(*["A"] * 3000, pad=400)
    entries = [make_entry(m) for _, m in batch]
    cut = list(segments(entries, 0, 0, len(entries), Framing.NDJSON, None, cap=10**9))
    frames = [parse_frames(s.data) for s in cut]
    assert all(len(f) == 1 and len(f[0]) <= MAX_NDJSON_BYTES for f in frames)
    assert "\n".join(f[0] for f in frames).split("\n") == messages(batch)
    assert sum(s.records for s in cut) == 3000
    assert [s.frames for s in cut] == [1] * len(cut)


def test_symbol_filters_compare_symbol_keys() -> None:
    assert parse_symbols(None) is None
    assert parse_symbols(" * ") is None
    assert parse_symbols("btc-usd, MSFT,,") == frozenset({"btcusd", "msft"})


def test_publish_writes_the_same_bytes_once_built_to_every_listener_of_a_group() -> None:
    hub = Hub(Limits())
    a, b, c = FakeSink(), FakeSink(), FakeSink()
    plain = [hub.register(n, Framing.RECORD, None, s) for n, s in (("a", a), ("b", b))]
    pair = hub.register("c", Framing.RECORD, parse_symbols("btc-usd"), c)
    for listener in (*plain, pair):
        listener.live = True
    batch = rows("BTC/USD", "ETH/USD", "BTC/USD")
    hub.publish(batch)
    assert a.data == b.data
    assert parse_frames(a.data) == messages(batch)
    assert parse_frames(c.data) == [messages(batch)[0], messages(batch)[2]]
    assert hub.last_id == 3
    assert hub.log.bytes == 0  # everyone has everything: nothing is kept


def test_a_listener_whose_socket_is_full_keeps_its_position_and_catches_up_in_order() -> None:
    hub = Hub(Limits())
    fast_sink, slow_sink = FakeSink(), FakeSink()
    fast = hub.register("fast", Framing.RECORD, None, fast_sink)
    slow = hub.register("slow", Framing.NDJSON, None, slow_sink)
    fast.live = slow.live = True
    first = rows("A", "B")
    hub.publish(first)
    slow_sink.full = True
    second = rows("C", "D", start=3)
    hub.publish(second)
    assert slow.wake.is_set()
    assert slow.position == 2 and hub.log.head == 4
    assert len(hub.log.entries) - (hub.log.base - hub.log.offset) == 2  # kept for the slow one
    assert hub.catch_up(slow) is False  # still full
    slow_sink.full = False
    assert hub.catch_up(slow) is True
    assert "\n".join(parse_frames(slow_sink.data)).split("\n") == messages(first + second)
    assert parse_frames(fast_sink.data) == messages(first + second)
    assert hub.log.bytes == 0


def test_a_stalled_listener_with_nothing_matching_does_not_fall_behind() -> None:
    hub = Hub(Limits(max_pending_records=5))
    sink = FakeSink()
    listener = hub.register("rare", Framing.RECORD, parse_symbols("spy"), sink)
    listener.live = True
    sink.full = True
    for start in range(1, 40, 4):
        hub.publish(rows("A", "B", "C", "D", start=start))
    assert listener.close_code is None
    assert listener.position == hub.log.head


def test_a_listener_too_far_behind_is_closed_with_1013_and_counted() -> None:
    slow: list[str] = []
    hub = Hub(Limits(max_pending_records=5), on_slow=lambda lis: slow.append(lis.client))
    sink = FakeSink()
    listener = hub.register("slow", Framing.RECORD, None, sink)
    listener.live = True
    sink.full = True
    hub.publish(rows("A", "B", "C"))
    assert listener.close_code is None
    hub.publish(rows("D", "E", "F", start=4))
    assert (listener.close_code, listener.close_reason) == (
        SLOW_CLOSE_CODE,
        "listener too slow: 6 records pending",
    )
    assert listener.closed.is_set()
    assert slow == ["slow"]
    assert hub.stats.slow_closes == 1
    assert hub.listener_count == 0
    assert hub.log.bytes == 0  # nothing is kept for a closed listener


def test_over_the_byte_budget_the_listener_furthest_behind_is_closed_first() -> None:
    record = rows("A", pad=1000)[0][1]
    per_entry = len(make_entry(record).frame) + ENTRY_OVERHEAD
    hub = Hub(Limits(max_buffer_bytes=per_entry * 15))
    sinks = [FakeSink() for _ in range(3)]
    oldest, middle, active = (
        hub.register(name, Framing.RECORD, None, sink)
        for name, sink in zip(["oldest", "middle", "active"], sinks, strict=True)
    )
    for listener in (oldest, middle, active):
        listener.live = True
    sinks[0].full = True
    hub.publish(rows(*["A"] * 10, pad=1000))  # oldest stalls at 0
    sinks[1].full = True
    hub.publish(rows(*["A"] * 4, pad=1000, start=11))  # middle stalls at 10: 14 kept
    assert oldest.close_code is None
    hub.publish(rows(*["A"] * 4, pad=1000, start=15))  # 18 > 15: the oldest goes
    assert oldest.close_code == SLOW_CLOSE_CODE
    assert middle.close_code is None
    assert hub.log.bytes <= per_entry * 15
    assert active.position == hub.log.head


def test_a_gap_closes_every_listener_with_4410_and_is_counted() -> None:
    hub = Hub(Limits())
    listeners = [hub.register(str(i), Framing.RECORD, None, FakeSink()) for i in range(3)]
    assert hub.gap(5, 104) == 3
    assert all(lis.close_code == GAP_CLOSE_CODE for lis in listeners)
    assert (
        listeners[0].close_reason == "records lost: 100 (ids 5-104) deleted before they were read"
    )
    assert (hub.stats.gaps, hub.stats.records_lost) == (1, 100)


def test_listeners_and_distinct_filters_are_capped() -> None:
    hub = Hub(Limits(max_listeners=3, max_filters=1))
    hub.register("a", Framing.RECORD, parse_symbols("aapl"), FakeSink())
    assert hub.refusal(Framing.RECORD, parse_symbols("AAPL")) is None  # the same filter
    assert hub.refusal(Framing.RECORD, None) is None
    reason = hub.refusal(Framing.RECORD, parse_symbols("msft"))
    assert reason is not None and "max_filters" in reason
    hub.register("b", Framing.RECORD, None, FakeSink())
    last = hub.register("c", Framing.RECORD, None, FakeSink())
    reason = hub.refusal(Framing.RECORD, None)
    assert reason == "too many listeners: 3 connected (max_listeners)"
    hub.close(last, SLOW_CLOSE_CODE, "listener too slow")
    assert hub.refusal(Framing.RECORD, None) == reason  # its socket is not gone yet
    hub.release(last)
    assert hub.refusal(Framing.RECORD, None) is None


def test_with_nobody_listening_nothing_is_kept() -> None:
    hub = Hub(Limits())
    hub.publish(rows("A", "B", "C"))
    assert hub.log.bytes == 0 and hub.log.head == 3
    listener = hub.register("late", Framing.RECORD, None, FakeSink())
    assert listener.position == 3
    assert hub.snapshot()["records_read"] == 3
