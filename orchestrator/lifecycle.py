"""What runs when the orchestrator process ends: at exit, and on SIGTERM.

A plain SIGTERM would end Python without running `atexit` handlers, so the first hook turns it
into `SystemExit` (only if nobody else handles SIGTERM, and only from the main thread).
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from collections.abc import Callable

_lock = threading.Lock()
_hooks: list[Callable[[], None]] = []
_installed = False


def _run_hooks() -> None:
    with _lock:
        hooks = list(reversed(_hooks))
        _hooks.clear()
    for hook in hooks:
        with contextlib.suppress(Exception):
            hook()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def on_exit(hook: Callable[[], None]) -> None:
    """Run `hook` when the process ends (hooks run newest first)."""
    global _installed
    with _lock:
        if hook not in _hooks:
            _hooks.append(hook)
        if _installed:
            return
        _installed = True
    atexit.register(_run_hooks)
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _exit_on_sigterm)


def cancel(hook: Callable[[], None]) -> None:
    with _lock:
        if hook in _hooks:
            _hooks.remove(hook)


__all__ = ["cancel", "on_exit"]
