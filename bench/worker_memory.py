"""Peak memory of a provider worker holding a full buffer plus one max_size frame.

The figures behind `contract.config.worker_memory_limit`. For each (buffer_bytes, max_size)
pair a real worker (`python -m provider_image`, demo provider) is started against the demo
simulator; the results file is locked so that no commit succeeds; 1,000-record frames fill
the buffer (the worker then stops reading, and after `stall_seconds` reads on, dropping the
oldest rows); then one frame just under max_size arrives. The worker's peak RSS (VmHWM) is
printed beside the limit the function derives, and the worker's counters are checked
(received = written + dropped once the lock is gone).

    python bench/worker_memory.py                       # the default pair and two smaller ones
    python bench/worker_memory.py --pairs 32:16 64:16   # buffer MiB : max_size MiB
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

from contract.config import MIB, WorkerConfig, worker_memory_limit
from contract.status import parse_line
from providers.demo.simulator import DemoSimulator

DEMO_RECORD_BYTES = 95  # a demo trade in the wire format is 88-92 characters: just under


def vm(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure (VmRSS, VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


class Worker:
    def __init__(self, simulator: DemoSimulator, directory: str, buffer: int, max_size: int):
        self.path = os.path.join(directory, "results.db")
        config = WorkerConfig(
            provider="demo",
            params={
                "name": "memory",
                "symbol": "aapl",
                "url": simulator.url,
                "connect_kwargs": {"max_size": max_size},
            },
            results_file=self.path,
            limit=None,
            buffer_bytes=buffer,
            stall_seconds=3.0,
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "provider_image"],
            env={**os.environ, **config.environment(), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.last: dict[str, dict[str, object]] = {}
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(20):
            raise SystemExit("the worker did not become ready")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            status = parse_line(line)
            if status is None:
                continue
            self.last[status.event] = {**status.data, "message": status.message}
            if status.event == "ready":
                self.ready.set()

    def stop(self) -> dict[str, object]:
        self.process.terminate()
        self.process.wait(30)
        time.sleep(0.1)
        return self.last.get("stopped", {})


def measure(simulator: DemoSimulator, buffer: int, max_size: int) -> tuple[int, int, int]:
    """(idle RSS, peak RSS, records in the big frame) for one worker."""
    with tempfile.TemporaryDirectory(prefix="feeddock-memory-") as directory:
        worker = Worker(simulator, directory, buffer, max_size)
        idle = vm(worker.process.pid, "VmRSS")
        lock = sqlite3.connect(worker.path, timeout=10, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # no commit of the worker succeeds from now on
        fill = 3 * buffer // (140 + 64)  # rows are ~140 characters; three buffers' worth
        threading.Thread(target=simulator.flood, args=(fill, 1000), daemon=True).start()
        stable, previous = 0, 0
        while stable < 6:  # RSS no longer grows: the buffer is full and reading stopped
            time.sleep(0.5)
            current = vm(worker.process.pid, "VmRSS")
            stable = stable + 1 if abs(current - previous) < MIB else 0
            previous = current
        big = (max_size - 1024) // (DEMO_RECORD_BYTES + 1)
        simulator.flood(big, big)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            received = worker.last.get("stats", {}).get("received", 0)
            if isinstance(received, int) and received >= fill + big:
                break
            time.sleep(0.5)
        peak = vm(worker.process.pid, "VmHWM")
        if os.environ.get("VERBOSE"):
            print(worker.last.get("stats"), fill, big)
        lock.execute("ROLLBACK")
        lock.close()
        stopped = worker.stop()
        if os.environ.get("VERBOSE"):
            print(stopped)
        counted = int(stopped.get("written", 0)) + int(stopped.get("dropped", 0))  # type: ignore[call-overload]
        if stopped.get("received") != counted or stopped.get("lost"):
            print(f"  counters do not add up: {orjson.dumps(stopped).decode()}")
        return idle, peak, big


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--pairs",
        nargs="*",
        default=["32:16", "8:16", "32:4"],
        help="buffer_bytes:max_size pairs, in MiB",
    )
    args = parser.parse_args()
    simulator = DemoSimulator(rate=0).start()
    print(f"{'buffer MiB':>10}{'max_size MiB':>13}{'records':>9}{'idle MiB':>10}"
          f"{'peak MiB':>10}{'limit MiB':>11}{'spare':>7}")  # fmt: skip
    try:
        for pair in args.pairs:
            buffer_mib, size_mib = (int(part) for part in pair.split(":"))
            idle, peak, records = measure(simulator, buffer_mib * MIB, size_mib * MIB)
            limit = worker_memory_limit(buffer_mib * MIB, size_mib * MIB)
            print(
                f"{buffer_mib:>10}{size_mib:>13}{records:>9,}{idle / MIB:>10.1f}"
                f"{peak / MIB:>10.1f}{limit / MIB:>11.0f}{limit / peak:>7.2f}"
            )
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
