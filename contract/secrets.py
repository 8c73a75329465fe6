"""How a worker receives its secrets (the provider credential, the listeners' token).

FEEDDOCK_SECRETS in the worker's environment names the way; the runtime chooses it:

    (unset)       each secret in its own environment variable (FEEDDOCK_API_KEY,
                  FEEDDOCK_AUTH_TOKEN): the process runtime, whose child environment only
                  the same user can read
    stdin         the first line on stdin is the secrets line (contract/commands.py): the
                  Docker runtime, so that nothing in `docker inspect` holds a secret
    file:<path>   a file holding that same line (e.g. an orchestrator secret mounted at
                  /run/secrets/...), for runtimes that cannot write to stdin

The worker reads them before anything else and keeps them in memory only.
"""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

from .commands import CommandError, parse_secrets

SECRETS_SOURCE_ENV = "FEEDDOCK_SECRETS"
STDIN = "stdin"
FILE_PREFIX = "file:"
# How long a worker waits for its secrets line before it gives up (a config error).
STDIN_TIMEOUT_SECONDS = 30.0
MAX_LINE_BYTES = 1 << 16


def read_first_line(fd: int, timeout: float = STDIN_TIMEOUT_SECONDS) -> bytes:
    """One line from `fd`, byte by byte: nothing after it is consumed (commands follow)."""
    deadline = time.monotonic() + timeout
    line = bytearray()
    while len(line) < MAX_LINE_BYTES:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise ValueError(f"no secrets line on stdin within {timeout:g} s")
        byte = os.read(fd, 1)
        if not byte:
            raise ValueError("stdin closed before the secrets line")
        if byte == b"\n":
            return bytes(line)
        line += byte
    raise ValueError(f"the secrets line is longer than {MAX_LINE_BYTES} bytes")


def load_secrets(
    names: tuple[str, ...],
    environ: dict[str, str] | None = None,
    *,
    stdin_fd: int = 0,
    timeout: float = STDIN_TIMEOUT_SECONDS,
) -> dict[str, str]:
    """The worker's secrets among `names`, from wherever FEEDDOCK_SECRETS says.

    Raises ValueError (a configuration error) when they cannot be read.
    """
    env = os.environ if environ is None else environ
    source = env.get(SECRETS_SOURCE_ENV) or ""
    if not source:
        return {name: env[name] for name in names if env.get(name)}
    if source == STDIN:
        raw = read_first_line(stdin_fd, timeout)
    elif source.startswith(FILE_PREFIX):
        try:
            raw = Path(source.removeprefix(FILE_PREFIX)).read_bytes().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the secrets file: {exc.strerror}") from None
    else:
        raise ValueError(
            f"{SECRETS_SOURCE_ENV} must be unset, {STDIN!r} or '{FILE_PREFIX}<path>', "
            f"got {source!r}"
        )
    try:
        secrets = parse_secrets(raw)
    except CommandError as exc:
        raise ValueError(str(exc)) from None
    return {name: secrets[name] for name in names if secrets.get(name)}


__all__ = [
    "FILE_PREFIX",
    "SECRETS_SOURCE_ENV",
    "STDIN",
    "STDIN_TIMEOUT_SECONDS",
    "load_secrets",
    "read_first_line",
]
