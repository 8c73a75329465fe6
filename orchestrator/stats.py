"""What the orchestrator keeps of the counters workers print in their periodic `stats` lines.

The provider worker reports records received, written, dropped, invalid, unreadable,
reconnects, the time of its newest record and its commit lag; the broadcast server reports
listeners, frames and records sent, slow-listener closes, gaps and buffered bytes. The exact
set belongs to the workers (contract: any numeric field of a `stats` line is a figure), so
this module keeps whatever numbers a line carries and never needs to change when a worker
adds one.

A worker prints a `stats` line whenever a counter changed (every few seconds at most) and a
heartbeat line when nothing changed for a long while, so the absence of a line means nothing
moved. `records_per_second` relies on that: it divides what `written` grew by over the last
RATE_WINDOW seconds by the time up to *now*, and so decays to zero when the lines stop.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RATE_WINDOW_SECONDS = 10.0
RATE_FIELD = "written"
SAMPLES = 64

Figures = dict[str, float]


def numeric_fields(data: Mapping[str, Any]) -> Figures:
    """The numeric fields of a status line (booleans, strings and nulls left out)."""
    return {
        key: float(value)
        for key, value in data.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


class StatsHistory:
    """The latest `stats` lines of one worker: what it reported and when it arrived."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, Figures]] = deque(maxlen=SAMPLES)
        self._lock = threading.Lock()

    def add(self, data: Mapping[str, Any], at: float | None = None) -> None:
        """Keep one line's figures; `at` is when the worker printed it (default: now)."""
        figures = numeric_fields(data)
        with self._lock:
            self._samples.append((self._clock() if at is None else at, figures))

    def latest(self) -> tuple[float, Figures] | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    def rate(self, field: str = RATE_FIELD, window: float = RATE_WINDOW_SECONDS) -> float | None:
        """How fast `field` grew over the last `window` seconds, per second, up to now."""
        now = self._clock()
        with self._lock:
            samples = [(at, f[field]) for at, f in self._samples if field in f]
        if not samples:
            return None
        # The newest sample at least `window` old is the base; else the oldest one there is.
        base = samples[0]
        for sample in samples:
            if sample[0] <= now - window:
                base = sample
        elapsed = now - base[0]
        if elapsed <= 0:
            return None
        return max(0.0, (samples[-1][1] - base[1]) / elapsed)


def unsaved_note(history: StatsHistory, ended_at: float | None = None) -> str | None:
    """For a provider worker that ended without its final counters (kill -9, OOM): what may
    be lost, from its last `stats` line (what it held then: received, not yet written nor
    dropped) and its age (what arrived since was never reported). None without any line."""
    latest = history.latest()
    if latest is None:
        return None
    at, figures = latest
    held = figures.get("received", 0) - figures.get("written", 0) - figures.get("dropped", 0)
    age = (time.time() if ended_at is None else ended_at) - at
    return (
        f"records it received after its last report ({age:.1f} s before it ended, "
        f"{max(held, 0):,.0f} then not yet committed) and did not commit are lost"
    )


class ConnectionMetrics(BaseModel):
    """`metrics` in a connection's status: the counters its workers last reported.

    `provider` and `broadcast` hold every numeric field of the worker's latest `stats` line
    (e.g. `received`, `written`, `dropped`, `invalid`, `reconnects`, `commit_lag`;
    `listeners`, `frames_sent`, `records_sent`, `slow_closes`); empty until the worker's first
    line, and for a worker that is not running. `labels` are the labels of the connection's
    series in `GET /metrics`.
    """

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str] = Field(
        description="Prometheus labels of this connection's series: connection, provider."
    )
    provider: Figures = Field(default_factory=dict, description="Provider worker counters.")
    broadcast: Figures = Field(default_factory=dict, description="Broadcast server counters.")
    provider_reported_at: float | None = Field(
        default=None, description="Unix time of the provider worker's latest stats line."
    )
    broadcast_reported_at: float | None = Field(
        default=None, description="Unix time of the broadcast server's latest stats line."
    )
    records_per_second: float | None = Field(
        default=None, description="Records written per second over the last 10 s."
    )


def connection_metrics(
    labels: dict[str, str],
    provider: StatsHistory | None,
    broadcast: StatsHistory | None,
) -> ConnectionMetrics:
    """The metrics of one connection from its running workers' histories."""
    fields: dict[str, Any] = {"labels": labels}
    for role, history in (("provider", provider), ("broadcast", broadcast)):
        latest = history.latest() if history is not None else None
        if latest is not None:
            fields[f"{role}_reported_at"], fields[role] = latest
    if provider is not None:
        rate = provider.rate()
        fields["records_per_second"] = None if rate is None else round(rate, 3)
    return ConnectionMetrics(**fields)


__all__ = [
    "RATE_WINDOW_SECONDS",
    "ConnectionMetrics",
    "StatsHistory",
    "connection_metrics",
    "numeric_fields",
]
