"""The Docker engine connection and its failures, and the images feeddock builds.

Every docker-py error is turned into `RuntimeUnavailableError` here or in the modules beside
this one; nothing above the runtime sees a docker-py exception.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound
from requests.exceptions import RequestException

from ...errors import RuntimeUnavailableError
from ...record import IMAGE_LABEL

BUILD_COMMAND = "feeddock images build"
# What a call to the engine can raise: docker-py's errors, and the HTTP layer's when the
# engine's socket is gone (requests is docker-py's own transport).
ENGINE_ERRORS: tuple[type[Exception], ...] = (DockerException, RequestException)
POOL_SIZE = 64


def unavailable(exc: Exception, where: str | None = None) -> RuntimeUnavailableError:
    where = where or os.environ.get("DOCKER_HOST") or "the local socket"
    return RuntimeUnavailableError(
        f"Docker is not available at {where}: {exc}. Start the engine "
        "(scripts/ensure-docker.sh), or choose the process runtime with FEEDDOCK_RUNTIME=process."
    )


def engine_answers() -> str | None:
    """None when a Docker engine answers, else why not (for FEEDDOCK_RUNTIME=auto)."""
    try:
        client = docker.from_env(timeout=5)
    except ENGINE_ERRORS as exc:
        return str(exc)
    try:
        client.ping()
    except ENGINE_ERRORS as exc:
        return str(exc)
    finally:
        client.close()
    return None


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: list[str]
    role: str
    size: int
    created: str


class Engine:
    """One docker-py client, connected on first use, shared by a runtime's threads.

    `base_url` names the engine (`unix:///path/docker.sock`, `tcp://host:2376`); by default
    the environment's (DOCKER_HOST, else the local socket).
    """

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = base_url
        self._client: Any = None
        self._lock = threading.Lock()
        self._images_seen: set[str] = set()

    @property
    def client(self) -> Any:
        """The docker-py client (RuntimeUnavailableError when no engine answers)."""
        with self._lock:
            if self._client is None:
                try:
                    if self.base_url is None:
                        client = docker.from_env(max_pool_size=POOL_SIZE)
                    else:
                        client = docker.DockerClient(
                            base_url=self.base_url, max_pool_size=POOL_SIZE
                        )
                    client.ping()
                except ENGINE_ERRORS as exc:
                    raise self.unavailable(exc) from None
                self._client = client
            return self._client

    @property
    def api(self) -> Any:
        return self.client.api

    def unavailable(self, exc: Exception) -> RuntimeUnavailableError:
        return unavailable(exc, self.base_url)

    def version(self) -> str:
        try:
            return str(self.api.version().get("Version", "?"))
        except ENGINE_ERRORS as exc:
            raise self.unavailable(exc) from None

    def missing_images(self, images: list[str]) -> list[str]:
        """The images this engine does not have."""
        missing = []
        for image in images:
            if image in self._images_seen:
                continue
            try:
                self.api.inspect_image(image)
            except ImageNotFound:
                missing.append(image)
                continue
            except ENGINE_ERRORS as exc:
                raise self.unavailable(exc) from None
            self._images_seen.add(image)
        return missing

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    # -- images ---------------------------------------------------------------------------

    def build_image(
        self, context: str, dockerfile: str, tag: str, buildargs: dict[str, str]
    ) -> Iterator[str]:
        """Build one image with the legacy builder on the host network; yields progress lines."""
        try:
            for chunk in self.api.build(
                path=context,
                dockerfile=dockerfile,
                tag=tag,
                buildargs=buildargs,
                network_mode="host",
                rm=True,
                forcerm=True,
                decode=True,
            ):
                if "error" in chunk:
                    raise RuntimeUnavailableError(f"Building {tag} failed: {chunk['error']}")
                text = str(chunk.get("stream") or chunk.get("status") or "").rstrip()
                if text:
                    yield text
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailableError(f"Building {tag} failed: {exc}") from None
        self._images_seen.discard(tag)

    def list_images(self) -> list[ImageInfo]:
        """Every image built by `feeddock images build` (label feeddock.image)."""
        try:
            found = self.api.images(filters={"label": IMAGE_LABEL})
        except ENGINE_ERRORS as exc:
            raise self.unavailable(exc) from None
        return [
            ImageInfo(
                id=str(image["Id"]),
                tags=list(image.get("RepoTags") or []),
                role=str((image.get("Labels") or {}).get(IMAGE_LABEL, "")),
                size=int(image.get("Size") or 0),
                created=time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.localtime(int(image.get("Created") or 0))
                ),
            )
            for image in found
        ]

    def image_id(self, reference: str) -> str | None:
        try:
            return str(self.api.inspect_image(reference)["Id"])
        except ImageNotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise self.unavailable(exc) from None

    def remove_image(self, reference: str, force: bool = False) -> bool:
        """Remove an image; False when it was not there."""
        self._images_seen.discard(reference)
        try:
            self.api.remove_image(reference, force=force)
        except ImageNotFound:
            return False
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailableError(f"Cannot remove image {reference}: {exc}") from None
        return True


__all__ = ["BUILD_COMMAND", "ENGINE_ERRORS", "Engine", "ImageInfo", "engine_answers", "unavailable"]
