"""Container health: the worker's heartbeat file, written by its event loop, read by HEALTHCHECK.

The provider image sets FEEDDOCK_HEARTBEAT_FILE; the worker then rewrites that file every few
seconds from its event loop (`beat`). The image's HEALTHCHECK only checks that the file is fresh
(sh + find: cheap enough for hundreds of containers); a stuck loop turns the container unhealthy.
`python -m provider_image.health` is the readable version of the same check: it exits 0 while
the file is fresh, 1 when it is stale or missing, and says whether the provider is connected
(which does not decide health: reconnecting is normal operation).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

HEARTBEAT_ENV = "FEEDDOCK_HEARTBEAT_FILE"
INTERVAL_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0


def write(path: Path, authorized: bool) -> None:
    """Replace the heartbeat file atomically (a reader never sees half a file)."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(orjson.dumps({"time": time.time(), "authorized": authorized}))
    temp.replace(path)


async def beat(authorized: Callable[[], bool], interval: float = INTERVAL_SECONDS) -> None:
    """Rewrite the heartbeat file until cancelled; does nothing when the env var is unset."""
    target = os.environ.get(HEARTBEAT_ENV)
    if not target:
        return
    path = Path(target)
    while True:
        try:
            write(path, authorized())
        except OSError:
            return  # no writable place: the healthcheck will say so
        await asyncio.sleep(interval)


def check(path: Path, now: float | None = None) -> tuple[bool, str]:
    try:
        state = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        return False, f"no heartbeat in {path}: {exc}"
    age = (time.time() if now is None else now) - float(state.get("time", 0))
    connected = "connected" if state.get("authorized") else "not connected"
    if age > STALE_AFTER_SECONDS:
        return False, f"heartbeat is {age:.0f} s old: the worker's event loop is stuck"
    return True, f"alive ({connected}, heartbeat {age:.0f} s ago)"


def main() -> int:
    target = os.environ.get(HEARTBEAT_ENV)
    if not target:
        print(f"{HEARTBEAT_ENV} is not set")
        return 1
    healthy, message = check(Path(target))
    print(message)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
