"""The CLI as users run it: `feeddock ...` in its own process, against a real `feeddock serve`
(also its own process) or, with no server, against the local Docker engine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ..helpers import free_port, wait_until

FEEDDOCK = str(Path(sys.executable).with_name("feeddock"))
API_KEY = "ops-cli-key"
# Variables a developer's shell may set that would change what a command talks to.
CLEARED = ("FEEDDOCK_SERVER", "FEEDDOCK_SERVER_API_KEY", "FEEDDOCK_CONNECTION_TOKEN")

Run = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return {**env, "COLUMNS": "200", **extra}


def make_run(**extra: str) -> Run:
    def run(*args: str, timeout: float = 90, **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FEEDDOCK, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(**{**extra, **more}),
            stdin=subprocess.DEVNULL,
        )

    return run


class Server:
    """`feeddock serve` on a free port, with the process runtime and an API key."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [FEEDDOCK, "serve", "--port", str(self.port)],
            env=cli_env(FEEDDOCK_RUNTIME="process", FEEDDOCK_SERVER_API_KEY=API_KEY),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(self._answers, timeout=30, interval=0.1)

    def _answers(self) -> bool:
        assert self.process.poll() is None, self.process.communicate()[0]
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> str:
        self.process.terminate()
        output, _ = self.process.communicate(timeout=30)
        return output


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.stop()


@pytest.fixture
def remote(server: Server) -> Run:
    """Runs `feeddock ...` with FEEDDOCK_SERVER and the server's key in its environment."""
    return make_run(FEEDDOCK_SERVER=server.url, FEEDDOCK_SERVER_API_KEY=API_KEY)
