"""The worker's counters as status lines.

A `stats` line every STATS_SECONDS while any count changes, and otherwise one every
HEARTBEAT_SECONDS (an idle worker costs nothing but a timer). The final `stopped` line carries
the same fields. At any moment `received = written + dropped + lost + buffered` (rows counted
as received but not yet handed to the buffer aside), so after a kill -9 the loss is at most
the last line's `received - written - dropped` plus what arrived since that line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from contract.status import Reporter

from .buffer import RowBuffer
from .intake import Counters
from .writer import RecordWriter

STATS_SECONDS = 2.0
HEARTBEAT_SECONDS = 60.0
# The fields whose change makes a line worth printing.
CHANGING = ("received", "written", "dropped", "lost", "invalid", "unreadable", "reconnects")


def figures(counters: Counters, buffer: RowBuffer, writer: RecordWriter) -> dict[str, Any]:
    """Every counter, for a `stats` or `stopped` line.

    `commit_lag`: the longest receive-to-commit delay (s) since the previous line;
    `backlog`: how long the oldest row not yet committed has waited (s);
    `write_problem`: what failing commits report (None while commits succeed).
    """
    return {
        "received": counters.received,
        "written": writer.written,
        "dropped": buffer.dropped,
        "lost": writer.lost,
        "invalid": counters.invalid,
        "unreadable": counters.unreadable,
        "reconnects": counters.reconnects,
        "buffered": buffer.rows,
        "last_record_time": counters.last_record_time,
        "commit_lag": round(writer.take_max_lag(), 3),
        "backlog": round(buffer.backlog(), 3),
        "write_problem": None if writer.problem is None else writer.problem.value,
    }


def summary(values: dict[str, Any]) -> str:
    text = ", ".join(f"{name} {values[name]:,}" for name in CHANGING)
    return f"{text}; commit lag {values['commit_lag']:.3f} s"


async def report_stats(
    reporter: Reporter,
    read: Callable[[], dict[str, Any]],
    *,
    interval: float = STATS_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> None:
    """Print `stats` lines until cancelled; also prints the rate limiter's pending summaries."""
    last: tuple[Any, ...] | None = None
    last_time = time.monotonic()
    while True:
        await asyncio.sleep(interval)
        reporter.flush()
        values = read()
        key = tuple(values[name] for name in CHANGING)
        now = time.monotonic()
        if key != last or now - last_time >= heartbeat:
            reporter.info("stats", summary(values), **values)
            last, last_time = key, now
