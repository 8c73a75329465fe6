"""The `feeddock` command line, run as a user runs it: as its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from orchestrator import WebSocketsAPI

from .helpers import free_port, wait_until

FEEDDOCK = str(Path(sys.executable).with_name("feeddock"))


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEEDDOCK_RUNTIME": "process", "COLUMNS": "120"}
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
