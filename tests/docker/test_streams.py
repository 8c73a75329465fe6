"""Attach frames to lines, and merging a container's log after a broken attach stream."""

from __future__ import annotations

import struct

from orchestrator.runtime.docker.resume import after_seen, not_yet_seen
from orchestrator.runtime.docker.streams import FrameDecoder


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(payload)) + payload


def test_frames_split_anywhere_give_whole_lines_per_stream():
    data = frame(1, b"one\ntw") + frame(2, b"err ") + frame(1, b"o\n") + frame(2, b"line\n")
    decoder = FrameDecoder()
    lines = []
    for i in range(len(data)):  # one byte at a time: headers and payloads cut everywhere
        lines += decoder.feed(data[i : i + 1])
    # stdout's "tw" + "o" make one line; stderr's fragment is never glued to it.
    assert lines == ["one", "two", "err line"]
    assert decoder.flush() == []


def test_an_unfinished_line_is_kept_until_the_stream_ends():
    decoder = FrameDecoder()
    assert decoder.feed(frame(1, b"done\r\nhalf")) == ["done"]
    assert decoder.flush() == ["half"]


def test_invalid_utf8_is_replaced_not_fatal():
    assert FrameDecoder().feed(frame(1, b"caf\xe9\n")) == ["caf\ufffd"]


def test_the_log_after_the_last_delivered_lines_is_what_was_missed():
    seen = ["a", "b", "c"]
    assert after_seen(seen, ["x", "a", "b", "c", "d", "e"]) == ["d", "e"]
    assert after_seen(seen, ["b", "c"]) == []
    assert after_seen([], ["a", "b"]) == ["a", "b"]  # nothing delivered yet: all of it
    assert after_seen(seen, ["q", "r"]) == ["q", "r"]  # no overlap: a gap longer than the log


def test_repeated_lines_match_on_the_whole_window_not_one_line():
    seen = ["tick", "ack 1", "tick"]
    log = ["tick", "ack 1", "tick", "tick", "ack 2", "tick"]
    assert after_seen(seen, log) == ["tick", "ack 2", "tick"]


def test_a_new_streams_first_lines_already_in_the_log_are_dropped():
    log = ["a", "b", "c"]
    assert not_yet_seen(["b", "c", "d"], log) == ["d"]
    assert not_yet_seen(["d", "e"], log) == ["d", "e"]
    assert not_yet_seen([], log) == []
