"""Merging a container's log with what was already delivered, after an attach stream broke.

Lines carry no position, so overlaps are found by content: the last lines delivered are
looked for in the log's last lines, and a new stream's first lines are looked for at the log's
end. Matching a window of up to `len(seen)` lines (64 by default) makes a false match need as
many identical lines in a row.
"""

from __future__ import annotations

from collections.abc import Sequence


def after_seen(seen: Sequence[str], log: Sequence[str]) -> list[str]:
    """The lines of `log` (a container's last lines) printed after the last of `seen`.

    With nothing in common (nothing seen yet, or more printed than `log` holds), all of `log`.
    """
    if not seen:
        return list(log)
    for end in range(len(log), 0, -1):
        width = min(end, len(seen))
        if list(log[end - width : end]) == list(seen[-width:]):
            return list(log[end:])
    return list(log)


def not_yet_seen(fresh: Sequence[str], log: Sequence[str]) -> list[str]:
    """`fresh` (a new stream's first lines) without its start that `log` already ends with."""
    for width in range(min(len(fresh), len(log)), 0, -1):
        if list(fresh[:width]) == list(log[-width:]):
            return list(fresh[width:])
    return list(fresh)


__all__ = ["after_seen", "not_yet_seen"]
