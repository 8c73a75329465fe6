"""The `feeddock` command line, run as a user runs it: as its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestrator import WebSocketsAPI
from providers.intrinio.simulator import IntrinioSimulator

from .helpers import free_port, wait_until

FEEDDOCK = str(Path(sys.executable).with_name("feeddock"))


def run(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEEDDOCK_RUNTIME": "process", "COLUMNS": "120", **(env or {})}
    return subprocess.run(
        [FEEDDOCK, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_providers_lists_every_installed_provider():
    result = run("providers")
    assert result.returncode == 0
    for name in ("demo", "polygon", "fmp", "tiingo"):
        assert name in result.stdout


def test_demo_streams_the_demo_market_and_cleans_up():
    result = run("demo", "--symbol", "aapl,btcusd", "--duration", "2")
    assert result.returncode == 0, result.stderr
    assert "PROVIDER INFO:      Authorization: Success" in result.stderr
    assert "AAPL" in result.stdout
    assert "BTCUSD" in result.stdout
    stored = int(result.stdout.split("Stopped. ")[1].split()[0])
    assert stored > 0
    recorded = result.stdout.split("Recording to ")[1].split()[0]
    assert not Path(recorded).exists()


def test_demo_streams_any_registered_provider_by_name():
    with IntrinioSimulator(api_keys=["cli-key"], rate=50) as simulator:
        result = run(
            "demo", "--provider", "intrinio", "--symbol", "aapl", "--url", simulator.url,
            "--duration", "2", env={"INTRINIO_API_KEY": "cli-key"},
        )  # fmt: skip
        assert simulator.received[0] == b"J\x00AAPL"
    assert result.returncode == 0, result.stderr
    assert "demo-intrinio" in result.stdout
    assert "AAPL" in result.stdout
    assert int(result.stdout.split("Stopped. ")[1].split()[0]) > 0


def test_demo_with_an_unreachable_provider_fails_fast_in_one_short_message():
    closed = f"ws://127.0.0.1:{free_port()}/socket/websocket"  # nothing listens there
    started = time.monotonic()
    result = run("demo", "--provider", "intrinio", "--symbol", "aapl", "--url", closed)
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert message.startswith(f"Error: cannot reach intrinio at {closed.rsplit('/', 2)[0]} (")
    assert "Connection refused" in message
    assert "`feeddock demo` without --provider streams the offline demo market." in message
    assert len(message) < 300
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_demo_refuses_an_unknown_provider_listing_the_installed_ones():
    result = run("demo", "--provider", "nope", "--symbol", "x")
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    listed = message.split("Unknown provider 'nope'. Available providers: ")[1].rstrip(".")
    assert {"demo", "intrinio", "polygon"} <= set(listed.split(", "))
    assert "Traceback" not in result.stderr


def test_demo_with_a_provider_asks_for_symbols():
    result = run("demo", "--provider", "intrinio")
    assert result.returncode == 2
    assert "--symbol is required with --provider intrinio" in result.stderr


def test_bad_input_is_an_error_message_not_a_traceback():
    result = run("listen", "ftp://example")
    assert result.returncode == 2
    assert "Error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_listen_prints_records_until_ctrl_c(websockets: WebSocketsAPI, market):
    port = free_port()
    websockets.create_connection(
        provider="demo",
        name="cli",
        symbol="aapl",
        url=market.url,
        start_broadcast=True,
        broadcast_port=port,
        sleep_time=0.05,
    )
    listener = subprocess.Popen(
        [FEEDDOCK, "listen", f"ws://127.0.0.1:{port}", "--symbol", "aapl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert listener.stdout is not None
    lines = [listener.stdout.readline() for _ in range(3)]
    assert all('"symbol":"AAPL"' in line for line in lines)
    listener.send_signal(signal.SIGINT)
    assert listener.wait(10) == 0
    _, errors = listener.communicate()
    assert "Stopped listening." in errors
    assert "Traceback" not in errors
    wait_until(lambda: listener.poll() is not None)
