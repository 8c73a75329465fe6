"""Ingest benchmark: how fast does a provider worker commit a flood of messages to SQLite?

A local demo-market server floods one real worker (started through the Python API, exactly as
a user would) with trades whose `date` is the moment their frame was sent. This script tails
the results file every millisecond and reports:

- throughput: messages committed per second while flooding as fast as the server can send;
- delay: p50/p99 from frame sent to row visible in SQLite, at a steady paced rate.

    python bench/ingest.py                      # defaults: 200,000 messages, pace 50,000/s
    python bench/ingest.py --count 500000 --batch 100 --rate 80000
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import threading
import time
from datetime import datetime

import orjson

os.environ.setdefault("FEEDDOCK_QUIET", "1")

from orchestrator import WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime import select_runtime
from providers.demo.simulator import DemoSimulator


class Tail:
    """Follows the results table, recording when each row became visible."""

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, timeout=10)
        self.last_id = self.connection.execute(
            "SELECT coalesce(max(id), 0) FROM records"
        ).fetchone()[0]
        self.delays_ms: list[float] = []
        self.rows = 0
        self.first_seen: float | None = None
        self.last_seen: float | None = None

    def poll(self) -> int:
        rows = self.connection.execute(
            "SELECT id, message FROM records WHERE id > ? ORDER BY id", (self.last_id,)
        ).fetchall()
        if not rows:
            return 0
        seen = time.time()
        if self.first_seen is None:
            self.first_seen = seen
        self.last_seen = seen
        self.last_id = rows[-1][0]
        self.rows += len(rows)
        for _, message in rows:
            sent = datetime.fromisoformat(orjson.loads(message)["date"]).timestamp()
            self.delays_ms.append((seen - sent) * 1000)
        return len(rows)

    def follow(self, expected: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.rows < expected and time.monotonic() < deadline:
            if not self.poll():
                time.sleep(0.001)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_phase(
    api: WebSocketsAPI,
    simulator: DemoSimulator,
    name: str,
    count: int,
    batch: int,
    rate: float | None,
) -> dict[str, float]:
    conn = api.create_connection(
        provider="demo", name=name, symbol="aapl", url=simulator.url, limit=None
    )
    tail = Tail(conn.results.results_file)
    started = time.time()
    sender = threading.Thread(target=simulator.flood, args=(count, batch, rate))
    sender.start()
    tail.follow(count, timeout=max(60.0, count / 5000))
    sender.join()
    status = api.get_client(name).results
    api.kill(name)
    elapsed = (tail.last_seen or time.time()) - started
    return {
        "committed": tail.rows,
        "lost": count - tail.rows,
        "rate": tail.rows / elapsed if elapsed else 0.0,
        "p50": statistics.median(tail.delays_ms) if tail.delays_ms else float("nan"),
        "p99": percentile(tail.delays_ms, 0.99) if tail.delays_ms else float("nan"),
        "max": max(tail.delays_ms) if tail.delays_ms else float("nan"),
        "running": float(status.is_running),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200_000, help="messages per phase")
    parser.add_argument("--batch", type=int, default=50, help="messages per WebSocket frame")
    parser.add_argument("--rate", type=float, default=50_000, help="paced phase rate (msg/s)")
    parser.add_argument(
        "--runtime", choices=["process", "docker"], default="process", help="where the worker runs"
    )
    args = parser.parse_args()

    simulator = DemoSimulator(rate=0).start()
    api = WebSocketsAPI(Registry(), runtime=select_runtime(args.runtime))
    try:
        print(
            f"feeddock ingest benchmark: {args.count:,} messages per phase, "
            f"{args.batch} per frame, {args.runtime} runtime, {os.cpu_count()} CPUs"
        )
        flood = run_phase(api, simulator, "flood", args.count, args.batch, None)
        paced = run_phase(api, simulator, "paced", args.count, args.batch, args.rate)
    finally:
        api.shutdown()
        simulator.stop()

    header = (
        f"{'phase':<22}{'committed':>11}{'lost':>7}{'msg/s':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    print(header)
    print("-" * len(header))
    for label, result in (("flood (max speed)", flood), (f"paced {args.rate:,.0f}/s", paced)):
        print(
            f"{label:<22}{result['committed']:>11,.0f}{result['lost']:>7,.0f}{result['rate']:>11,.0f}"
            f"{result['p50']:>9.1f}{result['p99']:>9.1f}{result['max']:>9.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
