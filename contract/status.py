"""Status lines: readable in `docker logs`, parsed exactly by the orchestrator.

Each line is `<ROLE> <LEVEL>:` padded to 20 columns, the human message, a TAB, then a compact
JSON object with at least `event`, `level` and `message`. A person reads the text; the
orchestrator reads the JSON and never guesses from the text:

    PROVIDER INFO:      Authorization: Success	{"event":"authorized","level":"INFO",...}
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TextIO

import orjson

SEPARATOR = "\t"
LABEL_WIDTH = 20


class Level(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Status:
    """One parsed status line: its level, its event name, its message and its other fields."""

    level: Level
    event: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # the human part, as printed

    def _fields(self) -> dict[str, Any]:
        return {"event": self.event, "level": self.level, "message": self.message}

    def __getitem__(self, key: str) -> Any:
        """`status["event"]`, `status["message"]` or any other field of the JSON part."""
        fields = self._fields()
        return fields[key] if key in fields else self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        fields = self._fields()
        return fields[key] if key in fields else self.data.get(key, default)


def format_line(role: str, level: Level | str, event: str, message: str, **data: Any) -> str:
    level = Level(level.upper())
    label = f"{role} {level.value}:".ljust(LABEL_WIDTH)
    payload = {"event": event, "level": level.value, "message": message, **data}
    # The message may not contain our separator or a newline: one event, one line.
    text = message.replace("\n", " ").replace(SEPARATOR, " ")
    return f"{label}{text}{SEPARATOR}{orjson.dumps(payload).decode()}"


def _level_of(payload: dict[str, Any], head: str) -> Level:
    raw = payload.get("level")
    if isinstance(raw, str) and raw in Level.__members__:
        return Level(raw)
    # Lines from workers that predate the `level` field: the label says it.
    for level in (Level.ERROR, Level.WARNING):
        if f" {level.value}:" in head[: LABEL_WIDTH + 4]:
            return level
    return Level.INFO


def parse_line(line: str) -> Status | None:
    """The status a line carries, or None for any other output."""
    head, sep, tail = line.rstrip("\r\n").rpartition(SEPARATOR)
    if not sep or not tail.startswith("{"):
        return None
    try:
        payload = orjson.loads(tail)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        return None
    data = {k: v for k, v in payload.items() if k not in ("event", "level", "message")}
    message = payload.get("message")
    return Status(
        level=_level_of(payload, head),
        event=payload["event"],
        message="" if message is None else str(message),
        data=data,
        text=head.strip(),
    )


def human_part(line: str) -> str:
    head, sep, tail = line.rstrip("\r\n").rpartition(SEPARATOR)
    return head if sep and tail.startswith("{") else line.rstrip("\r\n")


# Rate limiting of noisy kinds (`emit(..., throttle=...)`): per event name, at most
# THROTTLE_BURST lines per THROTTLE_WINDOW_SECONDS; the rest are counted, then summarised.
THROTTLE_WINDOW_SECONDS = 10.0
THROTTLE_BURST = 5
SUPPRESSED_EVENT = "suppressed"


@dataclass
class _Window:
    """One event kind's current rate-limit window."""

    start: float
    level: Level
    noun: str
    shown: int = 0
    suppressed: int = 0


class Reporter:
    """Thread-safe writer of status lines (a worker's writer thread reports too).

    A line emitted with `throttle="unreadable frames"` is rate-limited per event name: the
    first THROTTLE_BURST of a window are printed, the others only counted, and once the window
    is over one `suppressed` line says "N more unreadable frames in the last 10 s" (with `kind`
    and `count` in its JSON). `flush()` prints the summaries of windows that have ended; a
    worker calls it periodically and with `force=True` before it exits, so no count is lost.
    """

    def __init__(
        self,
        role: str = "PROVIDER",
        stream: TextIO | None = None,
        *,
        window: float = THROTTLE_WINDOW_SECONDS,
        burst: int = THROTTLE_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.role = role
        self.stream = stream or sys.stdout
        self.window = window
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._broken = False
        self._windows: dict[str, _Window] = {}

    def emit(
        self,
        level: Level | str,
        event: str,
        message: str,
        *,
        throttle: str | None = None,
        **data: Any,
    ) -> None:
        level = Level(level.upper())
        with self._lock:
            if throttle is not None and not self._admit(level, event, throttle):
                return  # counted; formatting is skipped too, so a flood costs little
            self._write(format_line(self.role, level, event, message, **data))

    def _admit(self, level: Level, event: str, noun: str) -> bool:
        """Whether a throttled line is printed now (called under the lock)."""
        now = self._clock()
        window = self._windows.get(event)
        if window is None or now - window.start >= self.window:
            if window is not None:
                self._summarise(event, window)
            window = self._windows[event] = _Window(now, level, noun)
        if window.shown < self.burst:
            window.shown += 1
            return True
        window.suppressed += 1
        return False

    def _summarise(self, event: str, window: _Window) -> None:
        if window.suppressed:
            self._write(
                format_line(
                    self.role,
                    window.level,
                    SUPPRESSED_EVENT,
                    f"{window.suppressed} more {window.noun} in the last {self.window:g} s",
                    kind=event,
                    count=window.suppressed,
                    window=self.window,
                )
            )
            window.suppressed = 0

    def flush(self, *, force: bool = False) -> None:
        """Print the summary of every window that has ended (every window when `force`)."""
        now = self._clock()
        with self._lock:
            for event, window in list(self._windows.items()):
                if force or now - window.start >= self.window:
                    self._summarise(event, window)
                    del self._windows[event]

    def _write(self, line: str) -> None:
        if self._broken:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            # Nobody reads our output any more (the parent died): keep working silently.
            self._broken = True

    def info(self, event: str, message: str, **data: Any) -> None:
        self.emit(Level.INFO, event, message, **data)

    def warning(self, event: str, message: str, **data: Any) -> None:
        self.emit(Level.WARNING, event, message, **data)

    def error(self, event: str, message: str, **data: Any) -> None:
        self.emit(Level.ERROR, event, message, **data)


__all__ = [
    "SUPPRESSED_EVENT",
    "THROTTLE_BURST",
    "THROTTLE_WINDOW_SECONDS",
    "Level",
    "Reporter",
    "Status",
    "format_line",
    "human_part",
    "parse_line",
]
