"""Docker capacity: how many demo connections does this machine hold with records flowing to all?

Every connection is a real provider container (Docker runtime, host network) streaming from one
local demo-market simulator. The script measures:

- the median time of the first 5 `create_connection` calls;
- memory of one provider and one broadcast container (`docker stats --no-stream`);
- a ramp: add connections `--step` at a time; after each step, measure every connection's
  rows/s over `--window` seconds. A step holds when every connection still gets at least half
  the rate one connection got at the first step. The ramp stops at `--max`, at the first step
  that does not hold, or when a create fails, and reports the last step that held.

Everything it starts carries the label feeddock.orchestrator=<bench instance> and is removed at
the end, whatever happened (results files included).

    python bench/docker_capacity.py                  # step 10, up to 100 connections
    python bench/docker_capacity.py --step 20 --max 200 --rate 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("FEEDDOCK_QUIET", "1")

from orchestrator import FeeddockError, WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime.docker import DockerRuntime
from providers.demo.simulator import DemoSimulator


def max_id(path: str) -> int:
    with sqlite3.connect(path, timeout=10) as connection:
        return int(connection.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stats(container: str) -> str:
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}} cpu {{.CPUPerc}}", container],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or out.stderr.strip()


def cleanup(instance: str) -> None:
    """Remove every container of this run, and the temp results they name (interrupted runs)."""
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=feeddock.orchestrator={instance}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not found:
        return
    temp_dirs = subprocess.run(
        ["docker", "inspect", "-f", '{{index .Config.Labels "feeddock.temp_dir"}}', *found],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    subprocess.run(["docker", "rm", "-f", *found], capture_output=True, check=False)
    for temp_dir in temp_dirs:
        if "/feeddock-" in temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=10, help="connections added per step")
    parser.add_argument("--max", type=int, default=100, help="stop after this many")
    parser.add_argument("--rate", type=float, default=10, help="messages/s per connection")
    parser.add_argument("--window", type=float, default=5, help="seconds for every count to grow")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:6]
    instance, prefix = f"bench-{run}", f"cap{run}-"
    runtime = DockerRuntime(instance=instance)
    api = WebSocketsAPI(Registry(), runtime=runtime)
    market = DemoSimulator(rate=args.rate).start()
    files: dict[str, str] = {}
    create_times: list[float] = []
    held = 0
    baseline = 0.0
    try:
        engine = runtime.engine.version()
        print(f"docker {engine}, {os.cpu_count()} CPUs, per container: {runtime.limits}")

        def create(index: int) -> None:
            name = f"{prefix}{index}"
            started = time.perf_counter()
            status = api.create_connection(
                provider="demo", name=name, symbol="aapl,msft", api_key="k", url=market.url
            ).results
            create_times.append(time.perf_counter() - started)
            files[name] = status.results_file

        for index in range(5):
            create(index)
        median = statistics.median(create_times[:5])
        each = ", ".join(f"{t * 1000:.0f}" for t in create_times[:5])
        print(f"create_connection, first 5: median {median * 1000:.0f} ms ({each} ms)", flush=True)

        port = free_port()
        api.start_broadcasting(f"{prefix}0", port=port)
        time.sleep(3)
        first = api.get_client_status(f"{prefix}0").results[0]
        print(f"provider container memory: {stats(str(first.provider_pid))}")
        print(f"broadcast container memory: {stats(str(first.broadcast_pid))}", flush=True)
        api.stop_broadcasting(f"{prefix}0")

        target = args.step
        while target <= args.max:
            try:
                while len(files) < target:
                    create(len(files))
            except FeeddockError as exc:
                print(f"{target}: create_connection failed at {len(files)}: {exc}")
                break
            # Rows per second of every connection over the window; all must keep up with at
            # least half the rate one connection gets on an idle machine (the first step).
            before = {name: max_id(path) for name, path in files.items()}
            started = time.monotonic()
            time.sleep(args.window)
            elapsed = time.monotonic() - started
            rates = {n: (max_id(files[n]) - before[n]) / elapsed for n in files}
            baseline = baseline or statistics.median(rates.values())
            slow = sorted(n for n, r in rates.items() if r < baseline / 2)
            recent = create_times[-args.step :]
            print(
                f"{len(files):4d} connections: rows/s per connection min "
                f"{min(rates.values()):.1f} median {statistics.median(rates.values()):.1f}, "
                f"{len(files) - len(slow)} at >= half the idle rate; create p50 "
                f"{statistics.median(recent) * 1000:.0f} ms; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if slow:
                print(f"below half the idle rate ({baseline / 2:.1f} rows/s): {len(slow)}")
                break
            held = len(files)
            target += args.step
        print(f"held: {held} concurrent connections with records flowing to all of them")
        return 0
    finally:
        api.shutdown()
        runtime.close()
        cleanup(instance)
        market.stop()
        for leftover in Path(tempfile.gettempdir()).glob(f"feeddock-{prefix}*"):
            shutil.rmtree(leftover, ignore_errors=True)  # a create interrupted by Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
