"""End-to-end latency of the broadcast path: simulator -> provider worker -> SQLite -> broadcast
server -> listeners.

    .venv/bin/python bench/broadcast.py                      # the full table
    .venv/bin/python bench/broadcast.py --framings record --rates 5000 --listeners 10,20

Both framings by default: `record` (one record per frame, what any WebSocket client gets) and
`ndjson` (batches, what `listen()` asks for). Latency is the listener's receive time minus the
record's `date`, which the demo simulator sets to the moment it sent the frame. Every record is
checked: loss, duplicates and order use the simulator's sequence number. Listeners run in
separate processes (asyncio, several per process) with a lean client that only timestamps
bytes; frames are decoded after each case. `goal` checks the issue's targets (p99 <= 25 ms:
ndjson at 10,000/s and record at 1,000/s with 50 listeners) and, for other per-record cases,
p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import math
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contract.status import parse_line  # noqa: E402
from providers.demo.simulator import DemoSimulator  # noqa: E402

BIN_SECONDS = 0.0001  # latency histogram resolution: 0.1 ms
SEQUENCE = re.compile(r'"sequence":(\d+)')
DATE = re.compile(r'"date":"([^"]+)"')


# -- listener child ------------------------------------------------------------------------


@dataclass
class Tally:
    """What one listener saw."""

    first: int
    count: int
    received: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    next: int = 0
    seen: bytearray = field(default_factory=bytearray)
    histogram: Counter[int] = field(default_factory=Counter)
    frames: int = 0

    def __post_init__(self) -> None:
        self.next = self.first
        self.seen = bytearray(self.count)

    def frame(self, text: str, received_at: float, dates: dict[str, float]) -> None:
        sequences = [int(s) for s in SEQUENCE.findall(text)]
        n = len(sequences)
        self.received += n
        self.frames += 1
        if sequences == list(range(self.next, self.next + n)):  # the normal case, checked in C
            lo, hi = self.next - self.first, self.next - self.first + n
            if lo >= 0 and hi <= self.count:
                self.seen[lo:hi] = b"\x01" * n
            self.next += n
        else:
            for sequence in sequences:
                index = sequence - self.first
                if sequence < self.next:
                    self.out_of_order += 1
                if 0 <= index < self.count:
                    if self.seen[index]:
                        self.duplicates += 1
                    self.seen[index] = 1
                self.next = max(self.next, sequence + 1)
        for date, group in itertools.groupby(DATE.findall(text)):
            sent_at = dates.get(date)
            if sent_at is None:
                sent_at = dates[date] = datetime.fromisoformat(date).timestamp()
            self.histogram[int((received_at - sent_at) / BIN_SECONDS)] += sum(1 for _ in group)

    @property
    def done(self) -> bool:
        return self.next >= self.first + self.count

    def summary(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "unique": self.seen.count(1),
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "frames": self.frames,
            "histogram": dict(self.histogram),
        }


class RawListener:
    """A lean WebSocket client: the handshake, then bytes with their arrival time.

    Frames are decoded after the run, so what a listener process measures is when bytes
    arrived, not how fast Python parses frames (with the websockets client, 50 listeners of
    per-record frames at 10,000/s would cost the harness 500,000 parses a second on 2 cores).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.chunks: list[tuple[bytes, float]] = []

    @classmethod
    async def open(cls, url: str) -> RawListener:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        reader, writer = await asyncio.open_connection(host, port, limit=2**22)
        key = base64.b64encode(os.urandom(16)).decode()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"{url}: {head.splitlines()[0]!r}")
        return cls(reader, writer)

    async def read(self, total: int) -> None:
        """Until `total` records arrived (counted without decoding frames)."""
        got = 0
        while got < total:
            chunk = await self.reader.read(2**20)
            if not chunk:
                return
            self.chunks.append((chunk, time.time()))
            got += chunk.count(b'"sequence":')

    def frames(self) -> list[tuple[str, float]]:
        """Each text frame, with the arrival time of its last byte."""
        buffer = bytearray()
        frames: list[tuple[str, float]] = []
        for chunk, received_at in self.chunks:
            buffer += chunk
            i, n = 0, len(buffer)
            while n - i >= 2:
                opcode, length, header = buffer[i] & 0x0F, buffer[i + 1] & 0x7F, 2
                if length == 126:
                    length, header = int.from_bytes(buffer[i + 2 : i + 4]), 4
                elif length == 127:
                    length, header = int.from_bytes(buffer[i + 2 : i + 10]), 10
                if n - i < header + length:
                    break
                if opcode == 1:  # text; pings and the rest are not records
                    text = buffer[i + header : i + header + length].decode()
                    frames.append((text, received_at))
                i += header + length
            del buffer[:i]
        return frames

    def close(self) -> None:
        self.writer.close()


async def _child(url: str, count: int) -> None:
    connections = [await RawListener.open(url) for _ in range(count)]
    print("READY", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    _, first, total, deadline_s = line.split()
    deadline = time.monotonic() + float(deadline_s)
    tallies = [Tally(int(first), int(total)) for _ in connections]
    dates: dict[str, float] = {}
    tasks = [asyncio.create_task(c.read(int(total))) for c in connections]
    await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
    for task in tasks:
        task.cancel()
    for connection, tally in zip(connections, tallies, strict=True):
        connection.close()
        for text, received_at in connection.frames():
            tally.frame(text, received_at, dates)
    sys.stdout.write(
        orjson.dumps([t.summary() for t in tallies], option=orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )
    sys.stdout.flush()


async def _probe(results_file: str) -> None:
    """Tail the table every millisecond: when records become visible, without the broadcast."""
    import sqlite3

    connection = sqlite3.connect(results_file, isolation_level=None)
    (last_id,) = connection.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()
    print("READY", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    _, first, total, deadline_s = line.split()
    deadline = time.monotonic() + float(deadline_s)
    tally = Tally(int(first), int(total))
    dates: dict[str, float] = {}
    while not tally.done and time.monotonic() < deadline:
        rows = connection.execute(
            "SELECT id, message FROM records WHERE id > ? ORDER BY id", (last_id,)
        ).fetchall()
        if rows:
            last_id = rows[-1][0]
            tally.frame("\n".join(m for _, m in rows), time.time(), dates)
        await asyncio.sleep(0.001)
    connection.close()
    sys.stdout.write(orjson.dumps([tally.summary()], option=orjson.OPT_NON_STR_KEYS).decode())
    sys.stdout.write("\n")
    sys.stdout.flush()


# -- orchestration -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """A `python -m` child whose status lines are collected."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = parse_line(line)
            if event is not None:
                with self._cond:
                    self.events.append(event)
                    self._cond.notify_all()

    def wait_event(self, kind: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event["event"] == kind:
                        return event
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.proc.args}: no {kind!r}: {self.events[-5:]}")
                self._cond.wait(0.2)

    def count(self, kind: str) -> int:
        with self._cond:
            return sum(1 for e in self.events if e["event"] == kind)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError(f"listener child {proc.pid} said nothing in {timeout}s")
    return proc.stdout.readline()


def percentile(histogram: Counter[int], fraction: float) -> float:
    total = sum(histogram.values())
    target = max(1, math.ceil(total * fraction))
    running = 0
    for bucket in sorted(histogram):
        running += histogram[bucket]
        if running >= target:
            return (bucket + 1) * BIN_SECONDS * 1000
    return float("nan")


# The goals: p99 at sleep_time=0.25 with 50 listeners.
GOALS_MS = {("ndjson", 10_000): 25.0, ("record", 1_000): 25.0}
HOLDS_MS = 100.0  # per-record: the largest rate x listeners under this p99 is reported


@dataclass
class Result:
    framing: str
    rate: int
    listeners: int
    sleep_time: float
    sent: int
    stored_p50: float
    stored_p99: float
    p50: float
    p99: float
    worst: float
    min_received: int
    records_per_frame: float
    lost: int
    duplicates: int
    out_of_order: int
    server_cpu: float  # % of one core used by the broadcast server while the case ran

    @property
    def goal(self) -> str:
        limit = GOALS_MS.get((self.framing, self.rate)) if self.listeners >= 50 else None
        if limit is None and self.framing == "record":
            limit = HOLDS_MS
        if limit is None:
            return ""
        ok = self.p99 <= limit and not (self.lost or self.duplicates or self.out_of_order)
        return f"{'yes' if ok else 'NO'} (<={limit:.0f})"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_case(
    simulator: DemoSimulator,
    results_file: str,
    url: str,
    server_pid: int,
    framing: str,
    rate: int,
    listeners: int,
    sleep_time: float,
    duration: float,
    per_process: int,
) -> Result:
    sizes = [per_process] * (listeners // per_process)
    if listeners % per_process:
        sizes.append(listeners % per_process)
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", f"{url}/?format={framing}", str(size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for size in sizes
    ]
    probe = subprocess.Popen(
        [sys.executable, __file__, "--probe", results_file],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    children.append(probe)
    try:
        for child in children:
            if _readline(child, 30).strip() != "READY":
                raise RuntimeError("listener child failed to connect")
        count = int(rate * duration)
        first = simulator.last_sequence + 1  # the next trade's sequence number
        for child in children:
            assert child.stdin is not None
            child.stdin.write(f"GO {first} {count} {duration + 15}\n")
            child.stdin.flush()
        cpu_before, started = cpu_seconds(server_pid), time.monotonic()
        simulator.flood(count, batch=max(1, rate // 100), rate=rate)
        summaries: list[dict[str, Any]] = []
        for child in children[:-1]:
            summaries += orjson.loads(_readline(child, duration + 30))
        [stored] = orjson.loads(_readline(probe, duration + 30))
        server_cpu = (cpu_seconds(server_pid) - cpu_before) / (time.monotonic() - started)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
    histogram: Counter[int] = Counter()
    for summary in summaries:
        histogram.update({int(k): v for k, v in summary["histogram"].items()})
    worst = (max(histogram) + 1) * BIN_SECONDS * 1000 if histogram else float("nan")
    stored_histogram = Counter({int(k): v for k, v in stored["histogram"].items()})
    received = sum(s["received"] for s in summaries)
    frames = sum(s["frames"] for s in summaries)
    return Result(
        server_cpu=server_cpu * 100,
        framing=framing,
        records_per_frame=received / frames if frames else float("nan"),
        stored_p50=percentile(stored_histogram, 0.50),
        stored_p99=percentile(stored_histogram, 0.99),
        rate=rate,
        listeners=listeners,
        sleep_time=sleep_time,
        sent=count,
        p50=percentile(histogram, 0.50),
        p99=percentile(histogram, 0.99),
        worst=worst,
        min_received=min(s["received"] for s in summaries),
        lost=sum(count - s["unique"] for s in summaries),
        duplicates=sum(s["duplicates"] for s in summaries),
        out_of_order=sum(s["out_of_order"] for s in summaries),
    )


def print_table(results: list[Result]) -> None:
    header = (
        f"{'framing':>7} {'rate/s':>7} {'listeners':>9} {'sleep_time':>10} {'sent':>7} "
        f"{'stored p50/p99':>14} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'recv/listener':>13} {'rec/frame':>9} {'lost':>5} {'dup':>4} {'disorder':>8} "
        f"{'server cpu':>10} {'goal':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.framing:>7} {r.rate:>7} {r.listeners:>9} {r.sleep_time:>10} {r.sent:>7} "
            f"{f'{r.stored_p50:.1f}/{r.stored_p99:.1f}':>14} {r.p50:>8.1f} "
            f"{r.p99:>8.1f} {r.worst:>8.1f} {r.min_received:>13} {r.records_per_frame:>9.1f} "
            f"{r.lost:>5} {r.duplicates:>4} {r.out_of_order:>8} {f'{r.server_cpu:.0f} %':>10} "
            f"{r.goal:>10}",
            flush=True,
        )


def numbers(text: str, kind: type[Any]) -> list[Any]:
    return [kind(item) for item in text.split(",") if item]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rates", default="1000,10000", help="messages/s, comma-separated")
    parser.add_argument("--listeners", default="1,50", help="listener counts, comma-separated")
    parser.add_argument("--sleep-times", default="0.25", help="seconds, comma-separated")
    parser.add_argument(
        "--framings",
        default="record,ndjson",
        help="record (one record per frame, the default) and/or ndjson (batches)",
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of flood per case")
    parser.add_argument("--per-process", type=int, default=10, help="listeners per process")
    parser.add_argument("--child", nargs=2, metavar=("URL", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--probe", metavar="RESULTS_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        asyncio.run(_probe(args.probe))
        return 0
    if args.child:
        asyncio.run(_child(args.child[0], int(args.child[1])))
        return 0

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="feeddock-bench-") as tmp:
        results_file = str(Path(tmp) / "bench.db")
        simulator = DemoSimulator(rate=0)
        simulator.start()
        provider_config = {
            "provider": "demo",
            "params": {"name": "bench", "symbol": "aapl", "url": simulator.url},
            "results_file": results_file,
            "limit": None,
        }
        provider = Child(
            ["-m", "provider_image"],
            {"FEEDDOCK_CONFIG": orjson.dumps(provider_config).decode(), "FEEDDOCK_API_KEY": "x"},
        )
        try:
            provider.wait_event("ready")
            for sleep_time in numbers(args.sleep_times, float):
                config = {
                    "results_file": results_file,
                    "port": free_port(),
                    "sleep_time": sleep_time,
                }
                broadcast = Child(
                    ["-m", "broadcast_image"],
                    {"FEEDDOCK_BROADCAST_CONFIG": orjson.dumps(config).decode()},
                )
                try:
                    url = str(broadcast.wait_event("listening")["address"])
                    for framing, rate, listeners in itertools.product(
                        args.framings.split(","),
                        numbers(args.rates, int),
                        numbers(args.listeners, int),
                    ):
                        result = run_case(
                            simulator,
                            results_file,
                            url,
                            broadcast.proc.pid,
                            framing,
                            rate,
                            listeners,
                            sleep_time,
                            args.duration,
                            args.per_process,
                        )
                        results.append(result)
                        print(f"measured: {result}", file=sys.stderr, flush=True)
                    if broadcast.count("slow_listener"):
                        print(f"note: {broadcast.count('slow_listener')} slow-listener drops")
                finally:
                    broadcast.stop()
            if provider.count("dropped"):
                print("note: the provider worker reported dropped records")
        finally:
            provider.stop()
            simulator.stop()
    print()
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
