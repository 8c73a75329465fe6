"""The results file's owner: an exclusive `flock` on `<results_file>-lock`.

The provider worker takes the lock before it writes and holds it for its whole life (the
kernel drops it when the process ends, however it ends), so two connections never write one
file, whichever orchestrator, tenant or machine user started them. The orchestrator probes
the lock before it starts a worker (`is_held`), to refuse early with a clear error; the
worker's own lock is what closes the race between two such probes.

A lock file beside the database, not the database itself: SQLite uses POSIX record locks on
the database, which `flock` would mix with on some file systems (NFS emulates flock with them).

The lock file is also the commit signal: after each commit the writer sets its timestamps
(`signal_commit`), an inotify ATTRIB event that the broadcast server reads as "a commit is
visible now". The WAL's own write events come several per commit and before the commit can be
read (the WAL index in `-shm` is updated through shared memory, which inotify does not see).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_SUFFIX = "-lock"


def lock_path(results_file: str) -> Path:
    return Path(results_file + LOCK_SUFFIX)


def hold(results_file: str) -> int | None:
    """Take the lock for this process's lifetime: its file descriptor, or None when held."""
    # Read-only is enough for flock, and lets a worker lock a file another user created.
    fd = os.open(lock_path(results_file), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def is_held(results_file: str) -> bool:
    """Whether a live process holds the lock (a worker writing the file) right now."""
    try:
        fd = os.open(lock_path(results_file), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False  # a holder creates the file first
    except OSError:
        return False  # unreadable: the worker's own lock still decides
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing releases a probe's lock
    return False


def open_signal(results_file: str) -> int | None:
    """A descriptor for `signal_commit`, or None when the lock file is missing or unreadable."""
    try:
        return os.open(lock_path(results_file), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def signal_commit(fd: int) -> bool:
    """Tell watchers a commit is visible (the lock file's timestamps); False when not allowed.

    Another descriptor than the lock's own: closing it later does not release the `flock`,
    which belongs to the lock's open file description.
    """
    try:
        os.utime(fd)
    except OSError:  # a lock file of another user: watchers fall back to the WAL's events
        return False
    return True


__all__ = ["LOCK_SUFFIX", "hold", "is_held", "lock_path", "open_signal", "signal_commit"]
