"""When the Python process that created connections ends, its workers end with it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .helpers import pid_alive, wait_until

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from orchestrator import obb

    conn = obb.websockets.create_connection(provider="demo", name="orphan", symbol="aapl")
    status = conn.results
    print(json.dumps({"pid": status.provider_pid, "file": status.results_file}), flush=True)
    if sys.argv[1] == "wait":
        time.sleep(120)
    """
)


def start(mode: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    info = json.loads(process.stdout.readline())
    assert pid_alive(int(info["pid"]))
    return process, info


def simulator_pids() -> set[int]:
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "providers.demo.simulator" in text and "--exit-on-stdin-eof" in text:
            found.add(int(cmdline.parent.name))
    return found


def test_normal_exit_stops_workers_and_removes_temp_results():
    before = simulator_pids()
    process, info = start("exit")
    assert process.wait(30) == 0
    assert not pid_alive(int(info["pid"]))
    assert not Path(str(info["file"])).exists()
    wait_until(lambda: not (simulator_pids() - before))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_workers_and_removes_temp_results(signum):
    process, info = start("wait")
    process.send_signal(signum)
    process.wait(30)
    assert not pid_alive(int(info["pid"]))
    assert not Path(str(info["file"])).exists()


def test_a_killed_parent_leaves_no_worker_behind():
    process, info = start("wait")
    process.kill()
    process.wait(30)
    # The worker notices its stdin closing and exits on its own.
    wait_until(lambda: not pid_alive(int(info["pid"])), timeout=15)
    # The parent had no chance to delete its temp directory; remove it for the test.
    results = Path(str(info["file"]))
    for path in results.parent.glob("*"):
        path.unlink()
    results.parent.rmdir()
