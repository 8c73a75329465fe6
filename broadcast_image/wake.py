"""Wakes the tailer when a commit lands in the results file, instead of waiting out `sleep_time`.

feeddock's writer signals each commit once it is visible (`contract.lock.signal_commit`: the
timestamps of `<results_file>-lock`). Any other writer is heard through the WAL: SQLite in WAL
mode appends every commit to `<results_file>-wal`, so a write there means "something may be
being committed" (several events per commit, the first before the commit can be read). Once a
commit signal has been seen, the WAL's events are ignored (`signals_commits`): one wake per
commit, read at once, instead of several reads and rechecks.

We watch the results file's directory with inotify (through `asyncinotify`: asyncio-native,
its file descriptor sits in the event loop, no thread and no timer, so an idle server wakes for
nothing) and keep only events about the results file, its WAL and its lock file. inotify works
on the inode, so a writer in another container that shares the bind-mounted directory wakes us
too, as does a writer process on the same host.

Notifications are a hint, never the only path: the tailer still reads at least every
`sleep_time`, so a lost notification (a full inotify queue, a file system without inotify
such as some network mounts, or `wake_on_commit=False`) costs latency, not records.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from asyncinotify import Inotify, Mask

from contract.lock import LOCK_SUFFIX

_MASK = (
    Mask.MODIFY
    | Mask.ATTRIB
    | Mask.CREATE
    | Mask.MOVED_TO
    | Mask.DELETE
    | Mask.MOVED_FROM
    | Mask.ONLYDIR
)


class CommitWatcher:
    def __init__(self, results_file: str, changed: asyncio.Event) -> None:
        path = Path(results_file)
        self.directory = path.parent
        self.database = Path(path.name)
        self.wal = Path(path.name + "-wal")
        self.lock = Path(path.name + LOCK_SUFFIX)
        self.changed = changed
        self.signals_commits = False  # the writer signals its commits: WAL events are noise
        self._inotify: Inotify | None = None

    @property
    def watching(self) -> bool:
        return self._inotify is not None

    def start(self) -> str | None:
        """Start watching; None on success, else why not (the tailer polls meanwhile)."""
        if self._inotify is not None:
            return None
        inotify: Inotify | None = None
        try:
            inotify = Inotify()
            inotify.add_watch(self.directory, _MASK)
        except OSError as exc:
            if inotify is not None:
                inotify.close()
            return f"cannot watch {self.directory}: {exc.strerror or exc}"
        except AttributeError:  # asyncinotify finds no inotify in this C library (not Linux)
            return "inotify is not available on this system"
        self._inotify = inotify
        return None

    async def run(self) -> None:
        """Set `changed` on each event about the results file, until the watch ends."""
        inotify = self._inotify
        if inotify is None:
            return
        try:
            async for event in inotify:
                if Mask.IGNORED in event.mask:  # the directory went away
                    self.changed.set()
                    return
                if event.name == self.lock and Mask.ATTRIB in event.mask:
                    self.signals_commits = True
                    self.changed.set()
                # Any change to the WAL, until the writer signals its commits; the database
                # file only when it appears or goes (its MODIFY events are checkpoints, which
                # add no rows).
                elif (
                    (event.name == self.wal and not self.signals_commits)
                    or (
                        event.name == self.database and not event.mask & (Mask.MODIFY | Mask.ATTRIB)
                    )
                    or Mask.Q_OVERFLOW in event.mask
                ):
                    self.changed.set()
        finally:
            self.close()

    def close(self) -> None:
        inotify, self._inotify = self._inotify, None
        if inotify is not None:
            with contextlib.suppress(OSError):
                inotify.close()


__all__ = ["CommitWatcher"]
