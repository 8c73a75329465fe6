"""Embedded runtime: each worker is a child process of the orchestrator.

Workers start in their own session so a Ctrl-C in the user's terminal reaches only the
orchestrator, which then stops them in order. If the orchestrator dies without cleaning up,
the worker sees its stdin close and exits by itself (`exit_on_stdin_eof`): no orphans.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

from .base import LaunchSpec


class ProcessHandle:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._stdin_lock = threading.Lock()

    @property
    def id(self) -> int:
        return self._process.pid

    def lines(self) -> Iterator[str]:
        stdout = self._process.stdout
        assert stdout is not None
        for raw in stdout:
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
        self._process.wait()

    def send(self, line: str) -> None:
        stdin = self._process.stdin
        if stdin is None or self._process.poll() is not None:
            raise BrokenPipeError("the worker is not running")
        with self._stdin_lock:
            stdin.write(line.encode() + b"\n")
            stdin.flush()

    def is_running(self) -> bool:
        return self._process.poll() is None

    def exit_code(self) -> int | None:
        return self._process.poll()

    def stop(self, timeout: float) -> int | None:
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
        return self._process.returncode


class ProcessRuntime:
    name = "process"

    def start(self, spec: LaunchSpec) -> ProcessHandle:
        env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            [sys.executable, "-m", spec.module],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        return ProcessHandle(process)

    def close(self) -> None:
        pass
