"""Wakes the tailer when a commit lands in the results file, instead of waiting out `sleep_time`.

feeddock's writer signals each commit once it is visible (`contract.lock.signal_commit`: the
timestamps of `<results_file>-lock`). Any other writer is heard through the WAL: SQLite in WAL
mode appends every commit to `<results_file>-wal`, so a write there means "something may be
being committed" (several events per commit, the first before the commit can be read).

Two modes, through `asyncinotify` (asyncio-native: its file descriptor sits in the event loop,
no thread and no timer, so an idle server wakes for nothing):

    directory   at start: the results file's directory, keeping only events about the results
                file, its WAL and its lock file
    lock file   once a commit signal has been seen (`signals_commits`): the lock file alone, for
                its ATTRIB events. One wake per commit, read at once. The directory also holds
                this server's own read cursor, rewritten after each read (three events), the
                WAL (a write per commit) and the checkpoints: at one commit a second the
                directory woke the server about five times per commit, for nothing
                (`notifications` in the stats line counts the events read)

When the writer lets go of the lock file (its descriptors close: it stopped) or the file goes,
it is directory mode again until the next signal; only the directory going ends the watch (the
tailer starts it again at its next read). inotify works on the inode, so a writer in another
container that shares the bind-mounted directory wakes us too, as does a writer process on
the same host.

Notifications are a hint, never the only path: the tailer still reads at least every
`sleep_time`, so a lost notification (a full inotify queue, a file system without inotify
such as some network mounts, or `wake_on_commit=False`) costs latency, not records; a results
file replaced under a running writer is found by that read too.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from asyncinotify import Inotify, Mask, Watch

from contract.lock import LOCK_SUFFIX

# Directory mode: what a commit, or the results file appearing or going, looks like.
_MASK = (
    Mask.MODIFY
    | Mask.ATTRIB
    | Mask.CREATE
    | Mask.MOVED_TO
    | Mask.DELETE
    | Mask.MOVED_FROM
    | Mask.ONLYDIR
)
# Lock-file mode: nothing about the directory's files, only the directory itself going.
_QUIET_MASK = Mask.DELETE_SELF | Mask.MOVE_SELF | Mask.ONLYDIR
# The lock file: ATTRIB is a commit; a close is a writer (or a probe of the lock) letting go.
_LOCK_MASK = Mask.ATTRIB | Mask.CLOSE_NOWRITE | Mask.DELETE_SELF | Mask.MOVE_SELF
_GONE = Mask.IGNORED | Mask.DELETE_SELF | Mask.MOVE_SELF


class CommitWatcher:
    def __init__(self, results_file: str, changed: asyncio.Event) -> None:
        path = Path(results_file)
        self.directory = path.parent
        self.database = Path(path.name)
        self.wal = Path(path.name + "-wal")
        self.lock = Path(path.name + LOCK_SUFFIX)
        self.changed = changed
        self.signals_commits = False  # lock-file mode: a writer that signals holds the file
        self.notifications = 0  # inotify events read (the `stats` line's `notifications`)
        self._inotify: Inotify | None = None
        self._directory_watch: Watch | None = None
        self._lock_watch: Watch | None = None

    @property
    def watching(self) -> bool:
        return self._inotify is not None

    def start(self) -> str | None:
        """Start watching; None on success, else why not (the tailer polls meanwhile)."""
        if self._inotify is not None:
            return None
        inotify: Inotify | None = None
        self.signals_commits, self._lock_watch = False, None
        try:
            inotify = Inotify()
            self._directory_watch = inotify.add_watch(self.directory, _MASK)
        except OSError as exc:
            if inotify is not None:
                inotify.close()
            return f"cannot watch {self.directory}: {exc.strerror or exc}"
        except AttributeError:  # asyncinotify finds no inotify in this C library (not Linux)
            return "inotify is not available on this system"
        self._inotify = inotify
        return None

    async def run(self) -> None:
        """Set `changed` on each event about a commit, until the watch ends."""
        inotify = self._inotify
        if inotify is None:
            return
        try:
            async for event in inotify:
                self.notifications += 1
                if self._lock_watch is not None and event.watch is self._lock_watch:
                    if not self._lock_event(inotify, event.mask):
                        return
                elif event.watch is not self._directory_watch:
                    continue  # the end of a lock file's watch, after its DELETE_SELF
                elif event.mask & _GONE:
                    self.changed.set()  # the directory went away
                    return
                elif event.name == self.lock and event.mask & (Mask.ATTRIB | Mask.CREATE):
                    if self._lock_watch is None:  # else the lock file's own watch tells
                        self.changed.set()
                        if Mask.ATTRIB in event.mask and not self._follow_lock_file(inotify):
                            return
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

    def _lock_event(self, inotify: Inotify, mask: Mask) -> bool:
        """An event of the lock file's own watch; False when the watch must end."""
        self.changed.set()  # a commit; or a writer let go, after its last one: read now
        if mask & _GONE:
            self._lock_watch = None  # gone: its name in the directory tells if it comes back
            return self._mode(inotify, signalled=False)
        if Mask.ATTRIB in mask:
            return self.signals_commits or self._mode(inotify, signalled=True)
        # CLOSE_NOWRITE: the writer stopped (or a probe of the lock came and went): the
        # directory's events again, until the next signal.
        return not self.signals_commits or self._mode(inotify, signalled=False)

    def _follow_lock_file(self, inotify: Inotify) -> bool:
        """The writer signals its commits: watch its lock file, quiet the directory."""
        try:
            self._lock_watch = inotify.add_watch(self.directory / self.lock, _LOCK_MASK)
        except OSError:  # gone already: the directory goes on telling
            return True
        return self._mode(inotify, signalled=True)

    def _mode(self, inotify: Inotify, *, signalled: bool) -> bool:
        """Lock-file mode (signalled) or directory mode: the directory watch's mask (the same
        watch: the kernel replaces its mask). False when the directory went away."""
        try:
            inotify.add_watch(self.directory, _QUIET_MASK if signalled else _MASK)
        except OSError:
            return False
        self.signals_commits = signalled
        return True

    def close(self) -> None:
        inotify, self._inotify = self._inotify, None
        if inotify is not None:
            with contextlib.suppress(OSError):
                inotify.close()


__all__ = ["CommitWatcher"]
