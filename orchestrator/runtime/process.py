"""Embedded runtime: each worker is a child process of the orchestrator.

Workers start in their own session so a Ctrl-C in the user's terminal reaches only the
orchestrator, which then stops them in order. If the orchestrator dies without cleaning up,
the worker sees its stdin close and exits by itself (`exit_on_stdin_eof`): no orphans, and
nothing survives the orchestrator (`survives_exit` is False, `list_workers` is empty).

A worker gets a clean environment: its configuration and secrets, plus the few variables a
Python program and a TLS/proxy connection need; never the orchestrator's other secrets. (A
child's environment is readable only by its own user, unlike a container's.)

Tenants: nothing of a process worker outlives its orchestrator, so a tenant's scope is its
`WebSocketsAPI` (names, results root, status); `tenant` is kept for what reports it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

from ..tenant import tenant_from_env
from .base import LaunchSpec, RuntimeOptions, SurvivingWorker, WorkerSink, WorkerState

# What a worker may inherit from the orchestrator's environment.
INHERITED = frozenset(
    {
        "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PYTHONPATH", "PYTHONHOME",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
        "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    }
)  # fmt: skip


def clean_environment(spec: LaunchSpec, parent: dict[str, str] | None = None) -> dict[str, str]:
    source = os.environ if parent is None else parent
    inherited = {
        key: value for key, value in source.items() if key in INHERITED or key.startswith("LC_")
    }
    return {**inherited, **spec.env, **spec.secrets, "PYTHONUNBUFFERED": "1"}


class ProcessHandle:
    def __init__(self, process: subprocess.Popen[bytes], sink: WorkerSink) -> None:
        self._process = process
        self._sink = sink
        self._stdin_lock = threading.Lock()
        self._follower = threading.Thread(
            target=self._follow, name=f"worker-{process.pid}", daemon=True
        )
        self._follower.start()

    @property
    def id(self) -> int:
        return self._process.pid

    def _follow(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            for raw in stdout:
                self._sink.on_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        finally:
            self._sink.on_exit(WorkerState(running=False, exit_code=self._process.wait()))

    def send(self, line: str) -> None:
        stdin = self._process.stdin
        if stdin is None or self._process.poll() is not None:
            raise BrokenPipeError("the worker is not running")
        with self._stdin_lock:
            stdin.write(line.encode() + b"\n")
            stdin.flush()

    def state(self) -> WorkerState:
        code = self._process.poll()
        return WorkerState(running=code is None, exit_code=code)

    def stop(self, timeout: float) -> WorkerState:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        self._follower.join(timeout)  # the sink has its last lines and on_exit
        return self.state()

    def release(self) -> None:
        """A child process cannot outlive us usefully: releasing it means stopping it."""
        self.stop(10.0)


class ProcessRuntime:
    name = "process"
    survives_exit = False

    def __init__(self, tenant: str | None = None) -> None:
        self.tenant = tenant or tenant_from_env()

    def reconfigure(self, options: RuntimeOptions) -> None:
        """Networks and container limits do not apply to child processes."""

    def start(self, spec: LaunchSpec, sink: WorkerSink) -> ProcessHandle:
        process = subprocess.Popen(
            [sys.executable, "-m", spec.module],
            env=clean_environment(spec),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        return ProcessHandle(process, sink)

    def list_workers(self) -> Sequence[SurvivingWorker]:
        return []

    def attach(self, worker: SurvivingWorker, sink: WorkerSink) -> ProcessHandle:
        raise LookupError("process workers never survive their orchestrator")

    def history(self, worker: SurvivingWorker) -> list[str]:
        return []

    def secrets(self, worker: SurvivingWorker) -> dict[str, str]:
        return {}

    def remove_connection(self, connection: str) -> list[str]:
        return []

    def close(self) -> None:
        pass
