"""The last lines a worker printed, numbered, for `feeddock logs` through a server.

Docker keeps every line itself (`docker logs`); the process runtime keeps none. The monitor
of each running worker keeps the newest LINES lines here so the REST API can show them, and
follow them by asking for the lines after the last number it saw.
"""

from __future__ import annotations

import threading
from collections import deque

LINES = 1000


class LogTail:
    def __init__(self, size: int = LINES) -> None:
        self._lines: deque[str] = deque(maxlen=size)
        self._count = 0  # lines ever added: the number of the next line
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line.rstrip("\r\n"))
            self._count += 1

    def after(self, seen: int | None = None, tail: int | None = None) -> tuple[list[str], int]:
        """Lines numbered `seen` and later (all kept ones when None), at most the `tail` last.

        Returns them and the number to pass as `seen` next time. A `seen` past the end comes
        from an earlier worker of the connection (a restart numbers from 0): all lines then.
        """
        with self._lock:
            lines, count = list(self._lines), self._count
        if seen is not None and seen > count:
            seen = 0
        first_kept = count - len(lines)
        start = first_kept if seen is None else max(seen, first_kept)
        selected = lines[start - first_kept :]
        if tail is not None:
            selected = selected[-tail:] if tail > 0 else []
        return selected, count


__all__ = ["LINES", "LogTail"]
