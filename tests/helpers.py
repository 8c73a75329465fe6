"""Small test utilities: polling with a deadline, reading a results file directly."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll `check()` until it returns something truthy; fail with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def row_ids(path: str, table: str = "records") -> list[int]:
    with sqlite3.connect(path, timeout=10) as connection:
        return [row[0] for row in connection.execute(f"SELECT id FROM {table} ORDER BY id")]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def worker_alive(worker_id: int | str) -> bool:
    """A provider/broadcast pid (process runtime) or container id (Docker) that still runs."""
    if isinstance(worker_id, int):
        return pid_alive(worker_id)
    state = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", worker_id],
        capture_output=True,
        text=True,
        check=False,
    )
    return state.stdout.strip() == "true"


def kill_worker(worker_id: int | str) -> None:
    """SIGKILL a worker process, or `docker kill` its container."""
    if isinstance(worker_id, int):
        os.kill(worker_id, 9)
    else:
        subprocess.run(["docker", "kill", worker_id], capture_output=True, check=True)


def worker_processes(module: str = "provider_image") -> list[int]:
    """Live child processes of this test process running `python -m <module>`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().split(") ", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == os.getpid() and module.encode() in argv:
            found.append(int(entry))
    return found


def labelled_containers(label: str) -> list[str]:
    """Ids of the containers (running or not) carrying `label` (key=value)."""
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()
