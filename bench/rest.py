"""REST benchmark: requests per second for `get_client_status` and `get_results` (1,000 records).

Starts `feeddock serve` as its own process, creates one demo connection over REST, waits until
its table holds `limit` (1,000) records, then loads the server from a second process with `wrk`
(Debian package `wrk`) on loopback and prints requests/s and latency percentiles.

    python bench/rest.py                       # 10 s per endpoint, 4 connections, 2 threads
    python bench/rest.py --duration 5 --connections 16
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import httpx

API = "/api/v1/websockets"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out after {timeout}s")


def run_wrk(url: str, duration: int, connections: int, threads: int) -> dict[str, str]:
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"requests/s": re.search(r"Requests/sec:\s+([\d.]+)", output)}
    for percentile in ("50%", "99%"):
        figures[f"p{percentile[:-1]}"] = re.search(rf"\s{percentile}\s+([\d.]+\w+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result = {key: match.group(1) if match else "?" for key, match in figures.items()}
    result["non-2xx"] = errors.group(1) if errors else "0"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    feeddock = os.path.join(os.path.dirname(sys.executable), "feeddock")
    env = {**os.environ, "FEEDDOCK_QUIET": "1", "FEEDDOCK_RUNTIME": "process"}
    server = subprocess.Popen(
        [feeddock, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        http = httpx.Client(base_url=base, timeout=30)
        wait_for(lambda: http.get("/healthz").status_code == 200, 30)
        created = http.post(
            f"{API}/create_connection",
            json={"provider": "demo", "name": "bench", "symbol": "*", "limit": 1000},
        )
        created.raise_for_status()
        wait_for(
            lambda: (
                len(http.get(f"{API}/get_results", params={"name": "bench"}).json()["results"])
                >= 1000
            ),
            120,
        )
        print(
            f"feeddock REST benchmark: wrk -t{args.threads} -c{args.connections} "
            f"-d{args.duration}s against {base}, {os.cpu_count()} CPUs"
        )
        print(f"{'endpoint':<40}{'requests/s':>12}{'p50':>10}{'p99':>10}{'non-2xx':>9}")
        for label, path in (
            ("get_client_status (all)", f"{API}/get_client_status"),
            ("get_results (1,000 records)", f"{API}/get_results?name=bench"),
        ):
            result = run_wrk(base + path, args.duration, args.connections, args.threads)
            print(
                f"{label:<40}{result['requests/s']:>12}{result['p50']:>10}{result['p99']:>10}"
                f"{result['non-2xx']:>9}"
            )
        http.post(f"{API}/kill", params={"name": "bench"})
    finally:
        server.terminate()
        server.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
