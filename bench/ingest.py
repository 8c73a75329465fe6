"""Ingest benchmark: how fast does a provider worker commit messages to SQLite?

One invocation runs, one after the other on the same machine:

1. the practical-limit probe (`shared/bench/limit_probe.py` in a directory above the checkout,
   or the path given by --probe), run as a subprocess: a minimal receiver built from the same
   parts as the worker;
2. a real provider worker (FMP protocol, started through the Python API as a user would)
   flooded as fast as a sender process can send, with 1 and with 50 records per frame;
3. the same worker paced at --rate messages/s, 1 record per frame (and 50 at --batch-rate),
   reporting frame-sent to row-visible delays p50/p99.

The probe and the 1-per-frame flood run --repeat times, alternating, since this machine's
speed drifts between runs; each round's ratio is printed and the median round reported.

The sender is a separate process speaking FMP's protocol; every trade carries its number (in
`ls`) and its send time in ns (in `t`), so each phase checks that every message was committed
exactly once and measures delays from the rows themselves. Rates: committed messages divided by
the time from the first frame sent to the last row visible, as the probe measures its own.

    python bench/ingest.py                     # 200,000 messages per phase, paced at 30,000/s
    python bench/ingest.py --count 500000 --rate 40000 --runtime docker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

os.environ.setdefault("FEEDDOCK_QUIET", "1")

PROBE_PATH = Path("shared", "bench", "limit_probe.py")  # beside the checkout, or above it


def default_probe() -> Path | None:
    """`shared/bench/limit_probe.py` in the nearest directory above the checkout that has it."""
    for parent in Path(__file__).resolve().parents[1:]:
        if (parent / PROBE_PATH).is_file():
            return parent / PROBE_PATH
    return None


TRADE = '{"s":"aapl","t":%d,"type":"T","ap":null,"as":null,"bp":null,"bs":null,"lp":%.2f,"ls":%d}'


# -- the sender (a separate process: `python bench/ingest.py --serve`) ---------------------------


async def serve() -> None:
    """FMP login/subscribe, then floods on stdin commands `flood COUNT PER_FRAME RATE`."""
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed

    subscribed: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):  # each phase's worker goes away in the end
            async for message in connection:
                event = orjson.loads(message).get("event")
                if event == "login":
                    await connection.send(
                        '{"event":"login","status":200,"message":"Authenticated"}'
                    )
                elif event == "subscribe":
                    await connection.send('{"event":"subscribe","status":200,"message":"ok"}')
                    subscribed.put_nowait(connection)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with ws_serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
        while line := await reader.readline():
            _, count, per_frame, rate = line.split()
            connection = await subscribed.get()
            started, finished = await flood(connection, int(count), int(per_frame), float(rate))
            print(f"sent {count} {started:.6f} {finished:.6f}", flush=True)


async def flood(connection: Any, count: int, per_frame: int, rate: float) -> tuple[float, float]:
    started = time.time()
    clock = time.perf_counter()
    sent = 0
    send = connection.send
    while sent < count:
        now = time.time_ns()
        if per_frame == 1:  # kept lean: the sender must outrun the worker
            sent += 1
            await send(TRADE % (now, 100 + sent % 100 / 100, sent))
        else:
            size = min(per_frame, count - sent)
            numbers = range(sent + 1, sent + size + 1)
            await send("[" + ",".join(TRADE % (now, 100 + n % 100 / 100, n) for n in numbers) + "]")
            sent += size
        if rate:
            delay = clock + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        elif sent % 1000 < per_frame:
            await asyncio.sleep(0)  # let the server answer pings
    return started, time.time()


class Sender:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        self.stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        self.url = f"ws://127.0.0.1:{self.stdout.readline().split()[1]}"

    def start(self, count: int, per_frame: int, rate: float) -> None:
        self.stdin.write(f"flood {count} {per_frame} {rate}\n")
        self.stdin.flush()

    def finished(self) -> tuple[float, float]:
        _, _, started, finished = self.stdout.readline().split()
        return float(started), float(finished)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    committed: int
    distinct: int
    rate: float
    p50: float = float("nan")
    p99: float = float("nan")


def follow(path: str, count: int, *, delays: bool, timeout: float) -> tuple[float, list[float]]:
    """Poll the table until `count` rows are visible; when the last appeared, and delays (ms)."""
    connection = sqlite3.connect(path, timeout=10)
    last_id, seen, found = 0, 0, []
    deadline = time.monotonic() + timeout
    last_seen = time.time()
    while seen < count and time.monotonic() < deadline:
        if delays:
            rows = connection.execute(
                "SELECT id, message FROM records WHERE id > ? ORDER BY id", (last_id,)
            ).fetchall()
            now = time.time_ns()
            for _, message in rows:
                found.append((now - orjson.loads(message)["timestamp"]) / 1e6)
            new = len(rows)
            if rows:
                last_id = rows[-1][0]
        else:
            (top,) = connection.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()
            new, last_id = top - last_id, top
        if new:
            seen += new
            last_seen = time.time()
        else:
            time.sleep(0.002 if delays else 0.01)
    connection.close()
    return last_seen, found


def distinct_numbers(path: str) -> tuple[int, int]:
    with sqlite3.connect(path, timeout=10) as connection:
        rows, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT json_extract(message, '$.last_size')) FROM records"
        ).fetchone()
    return int(rows), int(distinct)


def phase(api: Any, sender: Sender, label: str, count: int, per_frame: int, rate: float) -> Result:
    name = f"bench_ingest_{per_frame}_{int(rate)}"
    status = api.create_connection(
        provider="fmp", name=name, symbol="aapl", url=sender.url, api_key="bench", limit=None
    )
    path = status.results.results_file
    try:
        sender.start(count, per_frame, rate)
        last_seen, delays = follow(path, count, delays=bool(rate), timeout=max(60, count / 2000))
        started, _ = sender.finished()
        committed, distinct = distinct_numbers(path)
    finally:
        api.kill(name)
    result = Result(label, committed, distinct, committed / max(last_seen - started, 1e-9))
    if delays:
        result.p50 = statistics.median(delays)
        result.p99 = sorted(delays)[min(len(delays) - 1, int(0.99 * len(delays)))]
    return result


def run_probe(path: Path, count: int) -> float:
    done = subprocess.run(
        [sys.executable, str(path), str(count)], capture_output=True, text=True, check=True
    )
    found = re.search(r"rate=([\d,]+)", done.stdout)
    if found is None:
        raise SystemExit(f"the probe printed no rate: {done.stdout!r} {done.stderr!r}")
    return float(found.group(1).replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200_000, help="messages per phase")
    parser.add_argument("--rate", type=float, default=30_000, help="paced rate, 1 per frame")
    parser.add_argument("--batch-rate", type=float, default=50_000, help="paced rate, 50/frame")
    parser.add_argument(
        "--probe", type=Path, default=default_probe(), help=f"the probe to run ({PROBE_PATH})"
    )
    parser.add_argument(
        "--runtime", choices=["process", "docker"], default="process", help="where the worker runs"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of probe + 1-per-frame flood (median)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return 0

    from orchestrator import WebSocketsAPI
    from orchestrator.registry import Registry
    from orchestrator.runtime import select_runtime

    if args.probe is None or not args.probe.is_file():
        parser.error(f"no probe at {args.probe or PROBE_PATH}: give its path with --probe")
    load = os.getloadavg()[0]
    print(
        f"feeddock ingest benchmark: {args.count:,} messages per phase, {args.runtime} runtime, "
        f"{os.cpu_count()} CPUs, load {load:.2f}"
    )
    print(f"probe: {args.probe}")
    sender = Sender()
    api = WebSocketsAPI(Registry(), runtime=select_runtime(args.runtime))
    rounds: list[tuple[float, Result]] = []
    try:
        # The probe and the 1-per-frame flood alternate, `--repeat` times: the ratio of each
        # round compares runs seconds apart, and the median round is the one reported.
        for _ in range(args.repeat):
            probe = run_probe(args.probe, args.count)
            rounds.append((probe, phase(api, sender, "flood, 1 per frame", args.count, 1, 0)))
        results = [
            phase(api, sender, "flood, 50 per frame", args.count, 50, 0),
            phase(api, sender, f"paced {args.rate:,.0f}/s, 1/frame", args.count, 1, args.rate),
            phase(
                api, sender, f"paced {args.batch_rate:,.0f}/s, 50/frame", args.count, 50,
                args.batch_rate,
            ),
        ]  # fmt: skip
    finally:
        api.shutdown()
        sender.stop()

    for number, (probe, flood) in enumerate(rounds, 1):
        print(
            f"round {number}: probe {probe:,.0f} msg/s, worker {flood.rate:,.0f} msg/s "
            f"(1 per frame), ratio {flood.rate / probe:.2f}"
        )
    probe, flood = sorted(rounds, key=lambda pair: pair[1].rate / pair[0])[len(rounds) // 2]
    header = f"{'phase':<28}{'committed':>11}{'lost':>7}{'dup':>6}{'msg/s':>10}{'x probe':>9}"
    header += f"{'p50 ms':>9}{'p99 ms':>9}"
    print(f"{'limit probe (median round)':<28}{'':>11}{'':>7}{'':>6}{probe:>10,.0f}{1:>9.2f}")
    print(header)
    print("-" * len(header))
    for r in [flood, *results]:
        lost, duplicates = args.count - r.distinct, r.committed - r.distinct
        print(
            f"{r.label:<28}{r.committed:>11,}{lost:>7,}{duplicates:>6,}{r.rate:>10,.0f}"
            f"{r.rate / probe:>9.2f}{r.p50:>9.1f}{r.p99:>9.1f}"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
