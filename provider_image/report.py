"""Status lines the worker prints: readable in `docker logs`, parseable by the orchestrator.

Each line is `<ROLE> <LEVEL>:` padded to 20 columns, the human message, a TAB, then a compact
JSON object with at least `event`. The orchestrator reads the JSON; a person reads the text:

    PROVIDER INFO:      Authorization: Success	{"event":"authorized"}
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

import orjson

SEPARATOR = "\t"
LABEL_WIDTH = 20


def format_line(role: str, level: str, event: str, message: str, **data: Any) -> str:
    label = f"{role} {level.upper()}:".ljust(LABEL_WIDTH)
    payload = {"event": event, "message": message, **data}
    # The message may not contain our separator or a newline: one event, one line.
    text = message.replace("\n", " ").replace(SEPARATOR, " ")
    return f"{label}{text}{SEPARATOR}{orjson.dumps(payload).decode()}"


def parse_line(line: str) -> dict[str, Any] | None:
    """The JSON part of a status line, or None for any other output."""
    head, sep, tail = line.rstrip("\r\n").rpartition(SEPARATOR)
    if not sep or not tail.startswith("{"):
        return None
    try:
        parsed = orjson.loads(tail)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict) or "event" not in parsed:
        return None
    parsed.setdefault("text", head.strip())
    return parsed


def human_part(line: str) -> str:
    head, sep, tail = line.rstrip("\r\n").rpartition(SEPARATOR)
    return head if sep and tail.startswith("{") else line.rstrip("\r\n")


class Reporter:
    """Thread-safe writer of status lines (the writer thread reports too)."""

    def __init__(self, role: str = "PROVIDER", stream: TextIO | None = None) -> None:
        self.role = role
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._broken = False

    def emit(self, level: str, event: str, message: str, **data: Any) -> None:
        line = format_line(self.role, level, event, message, **data)
        with self._lock:
            if self._broken:
                return
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                # Nobody reads our output any more (the parent died): keep working silently.
                self._broken = True

    def info(self, event: str, message: str, **data: Any) -> None:
        self.emit("INFO", event, message, **data)

    def warning(self, event: str, message: str, **data: Any) -> None:
        self.emit("WARNING", event, message, **data)

    def error(self, event: str, message: str, **data: Any) -> None:
        self.emit("ERROR", event, message, **data)
