"""What a call to a Docker engine can raise, and how it reaches the user."""

from __future__ import annotations

import os

from docker.errors import DockerException
from requests.exceptions import RequestException

from ...errors import RuntimeUnavailableError

# docker-py's errors, and the HTTP layer's when the engine's socket is gone (requests is
# docker-py's own transport).
ENGINE_ERRORS: tuple[type[Exception], ...] = (DockerException, RequestException)


def unavailable(exc: Exception, where: str | None = None) -> RuntimeUnavailableError:
    where = where or os.environ.get("DOCKER_HOST") or "the local socket"
    return RuntimeUnavailableError(
        f"Docker is not available at {where}: {exc}. Start the engine "
        "(scripts/ensure-docker.sh), or choose the process runtime with FEEDDOCK_RUNTIME=process."
    )


__all__ = ["ENGINE_ERRORS", "unavailable"]
