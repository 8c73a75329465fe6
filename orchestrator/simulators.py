"""Local provider simulators the orchestrator starts itself (the `demo` market).

A simulator runs as a child process in its own session, shared by every connection of its
provider in this orchestrator process, and ends when the orchestrator exits (even abruptly:
it stops when its stdin closes).
"""

from __future__ import annotations

import subprocess
import sys
import threading

from providers import Provider

from .errors import WorkerError

_lock = threading.Lock()
_running: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
LISTENING = "listening on "


def simulator_url(provider: Provider) -> str:
    """URL of this provider's local simulator, starting it on a free port if needed."""
    if provider.simulator is None:
        raise WorkerError(f"Provider {provider.name!r} ships no simulator.")
    with _lock:
        running = _running.get(provider.name)
        if running is not None and running[0].poll() is None:
            return running[1]
        process = subprocess.Popen(
            [sys.executable, "-m", provider.simulator, "--port", "0", "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None
        first = process.stdout.readline().decode().strip()
        if not first.startswith(LISTENING):
            process.kill()
            raise WorkerError(f"The {provider.name} simulator did not start: {first!r}")
        url = first.removeprefix(LISTENING)
        _running[provider.name] = (process, url)
        return url


def stop_all() -> None:
    with _lock:
        for process, _ in _running.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
        _running.clear()
