"""What the API returns: the spec's `WebSocketConnectionStatus` and an OBBject-like response."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .stats import ConnectionMetrics

if TYPE_CHECKING:
    import pandas

T = TypeVar("T")


class WebSocketConnectionStatus(BaseModel):
    """The spec's status fields, then feeddock's own. With Docker, the pids are container IDs.

    `health`: ok | degraded | restarting | stopped | failed (see orchestrator/client.py);
    `last_error`: what is wrong now while it runs, or why it stopped; `restarts`: automatic
    restarts of its workers so far.
    `metrics`: the counters the connection's workers last reported (`ConnectionMetrics`);
    the same numbers `GET /metrics` serves.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    auth_required: bool
    subscribed_symbols: str
    is_running: bool
    provider_pid: int | str | None
    is_broadcasting: bool
    broadcast_address: str | None
    broadcast_pid: int | str | None
    results_file: str | None
    table_name: str | None
    save_results: bool
    health: Literal["ok", "degraded", "restarting", "stopped", "failed"] = "ok"
    last_error: str | None = None
    restarts: int = 0
    metrics: ConnectionMetrics | None = None

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value}" for key, value in self.model_dump().items())
        return f"WebSocketConnectionStatus({fields})"

    __str__ = __repr__


def _new_id() -> str:
    # Time-ordered like OpenBB's ids: 48 bits of milliseconds, then random bits.
    millis = time.time_ns() // 1_000_000
    return str(uuid.UUID(int=(millis << 80) | (uuid.uuid4().int & ((1 << 80) - 1))))


def _as_plain(item: Any) -> Any:
    if isinstance(item, BaseModel):
        return item.model_dump()
    return item


class OBBject(BaseModel, Generic[T]):
    """The response of every endpoint: `results` plus provenance, like OpenBB's OBBject."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str = Field(default_factory=_new_id)
    results: T
    provider: str | None = None
    warnings: list[str] | None = None
    chart: None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    def _rows(self) -> list[Any]:
        results: Any = self.results
        if results is None:
            return []
        return list(results) if isinstance(results, list) else [results]

    def to_dict(self, orient: Literal["records", "list"] = "records") -> Any:
        """Results as plain Python: `records` is a list of dicts, `list` a dict of columns."""
        if orient not in ("records", "list"):
            raise ValueError("orient must be 'records' or 'list'")
        try:
            frame = self.to_df(index=None)
        except ImportError:
            rows = [_as_plain(row) for row in self._rows()]
            if orient == "records":
                return rows
            columns: dict[str, list[Any]] = {}
            for row in rows:
                for key in row:
                    columns.setdefault(key, [])
            return {key: [row.get(key) for row in rows] for key in columns}
        # Missing values come back as None, as in the results, not as NaN.
        frame = frame.astype(object).where(frame.notna(), None)
        return frame.to_dict(orient="records" if orient == "records" else "list")

    def to_df(self, index: str | None = None) -> pandas.DataFrame:
        """Results as a pandas DataFrame (needs `pip install feeddock[pandas]`)."""
        import pandas  # optional dependency

        rows = [_as_plain(row) for row in self._rows()]
        if rows and not isinstance(rows[0], dict):
            rows = [{"results": row} for row in rows]
        frame = pandas.DataFrame.from_records(rows)
        if index is not None and index in frame.columns:
            frame = frame.set_index(index)
        return frame

    def __repr__(self) -> str:
        def short(value: Any) -> str:
            text = repr(value)
            return text if len(text) <= 80 else text[:77] + "..."

        lines = ["OBBject[T]", "", f"id: {self.id}"]
        results: Any = self.results
        if isinstance(results, BaseModel):
            results = results.model_dump()
        if isinstance(results, list) and results and isinstance(results[0], BaseModel):
            results = [row.model_dump() for row in results]
        lines += [
            f"results: {short(results) if not isinstance(results, str) else results}",
            f"provider: {self.provider}",
            f"warnings: {self.warnings}",
            f"chart: {self.chart}",
            f"extra: {short(self.extra)}",
        ]
        return "\n".join(lines)

    __str__ = __repr__
