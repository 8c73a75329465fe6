"""Pure protocol of the demo market (see the package docstring for the wire format)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from ..protocol import (
    Authorized,
    Event,
    Heartbeat,
    Info,
    Message,
    ProviderError,
    ProviderProtocol,
    Records,
    Unauthorized,
)
from .models import DemoData, DemoQueryParams


class DemoProtocol(ProviderProtocol[DemoQueryParams]):
    name: ClassVar[str] = "demo"
    arrays_are_batches: ClassVar[bool] = True

    def endpoint(self) -> str:
        # Only reachable when a simulator runs; the orchestrator starts one and sets `url`.
        return "ws://127.0.0.1:8765"

    def _feeds(self) -> list[str]:
        feed = self.params.feed
        return ["trade", "quote"] if feed == "all" else [feed]

    def on_open(self, symbols: Sequence[str]) -> list[Message]:
        return [orjson.dumps({"action": "login", "key": self.api_key or "demo"}).decode()]

    def subscribe(self, symbols: Sequence[str]) -> list[Message]:
        payload = {"action": "subscribe", "symbols": [self.canonical_symbol(s) for s in symbols]}
        payload["feeds"] = self._feeds()
        return [orjson.dumps(payload).decode()]

    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]:
        payload = {"action": "unsubscribe", "symbols": [self.canonical_symbol(s) for s in symbols]}
        return [orjson.dumps(payload).decode()]

    def receive(self, frame: Message) -> list[Event]:
        parsed = self.decode(frame)
        if isinstance(parsed, ProviderError):
            return [parsed]
        items = parsed if isinstance(parsed, list) else [parsed]
        events: list[Event] = []
        records: list[DemoData] = []
        for item in items:
            kind = item.get("ev") if isinstance(item, dict) else None
            if kind in ("trade", "quote"):
                record = self.validate(DemoData, item, item)  # the model reads wire names
                if record is not None:
                    records.append(record)
            elif kind == "heartbeat":
                events.append(Heartbeat())
            elif kind == "status":
                events.append(self._status(item))
            else:
                events.append(ProviderError(f"unexpected message: {item!r}"))
        if records:
            events.append(Records(list(records)))
        return events

    @staticmethod
    def _status(item: dict[str, Any]) -> Event:
        status = item.get("status")
        message = str(item.get("message", ""))
        if status == "authorized":
            return Authorized()
        if status == "unauthorized":
            return Unauthorized(message or "invalid key")
        if status == "error":
            return ProviderError(message)
        if status == "connected":
            return Heartbeat()  # the worker already reports the open connection
        return Info(message)
