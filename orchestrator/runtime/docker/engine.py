"""The Docker engine connection and its failures, and the images feeddock builds.

Every docker-py error is turned into `RuntimeUnavailableError` here or in the modules beside
this one; nothing above the runtime sees a docker-py exception.

An `Engine` also owns what follows its containers, whatever their number: one thread reading
every attach stream (streams.py), one thread on the event stream per label filter
(events.py), and a few threads for the engine calls those two must not make themselves.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import ImageNotFound

from ...errors import RuntimeUnavailableError
from ...record import IMAGE_LABEL
from .endpoint import Endpoint, open_attach
from .events import EventWatcher
from .failures import ENGINE_ERRORS, unavailable
from .streams import AttachStream, StreamMux

BUILD_COMMAND = "feeddock images build"
# Connecting can also fail in our own probe of a TLS endpoint's API version (endpoint.py).
CONNECT_ERRORS: tuple[type[Exception], ...] = (OSError, *ENGINE_ERRORS)
# Ordinary calls only: attach streams have sockets of their own, the event stream pins one.
POOL_SIZE = 16
CALL_THREADS = 4


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

    `base_url` names the engine (`unix:///path/docker.sock`, `tcp://host:2376`), or
    `endpoint` with TLS options; by default the environment's (DOCKER_HOST, DOCKER_TLS_VERIFY,
    DOCKER_CERT_PATH, else the local socket).
    """

    def __init__(self, base_url: str | None = None, *, endpoint: Endpoint | None = None) -> None:
        if endpoint is None:
            endpoint = Endpoint.from_env() if base_url is None else Endpoint(base_url)
        self.endpoint = endpoint
        self.base_url = endpoint.url
        self._client: Any = None
        self._lock = threading.Lock()
        self._images_seen: set[str] = set()
        self._mux: StreamMux | None = None
        self._calls: ThreadPoolExecutor | None = None
        self._watchers: dict[tuple[str, ...], EventWatcher] = {}

    @property
    def client(self) -> Any:
        """The docker-py client (RuntimeUnavailableError when no engine answers)."""
        with self._lock:
            if self._client is None:
                try:
                    client = self.endpoint.client(POOL_SIZE)
                    client.ping()
                except CONNECT_ERRORS as exc:
                    raise self.unavailable(exc) from None
                self._client = client
            return self._client

    @property
    def api(self) -> Any:
        return self.client.api

    def unavailable(self, exc: Exception) -> RuntimeUnavailableError:
        return unavailable(exc, self.base_url)

    # -- following containers -------------------------------------------------------------

    def attach(
        self,
        container_id: str,
        name: str,
        on_line: Callable[[str], None],
        on_end: Callable[[], None],
    ) -> AttachStream:
        """Attach to a container's stdio; its lines go to `on_line` from the mux thread.

        Raises `AttachRefused` (404: no such container) or OSError.
        """
        sock, leftover = open_attach(self.endpoint, self.api.api_version, container_id)
        stream = AttachStream(sock, leftover, name=name, on_line=on_line, on_end=on_end)
        with self._lock:
            if self._mux is None:
                self._mux = StreamMux(f"docker-streams-{id(self):x}")
            mux = self._mux
        mux.add(stream)
        return stream

    def detach(self, stream: AttachStream) -> None:
        """Stop reading a stream and close it (its `on_end` is not called)."""
        with self._lock:
            mux = self._mux
        if mux is not None:
            mux.remove(stream)
        else:
            stream.close()

    def call_soon(self, call: Callable[[], None]) -> None:
        """Run an engine call on one of the engine's few call threads."""
        with self._lock:
            if self._calls is None:
                self._calls = ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="docker-calls")
            calls = self._calls
        with contextlib.suppress(RuntimeError):  # closed: nobody waits for the answer
            calls.submit(call)

    def watcher(self, labels: list[str]) -> EventWatcher:
        """The event watcher for containers with all of `labels` (one thread, started on use)."""
        key = tuple(sorted(labels))
        with self._lock:
            watcher = self._watchers.get(key)
            if watcher is None:
                watcher = self._watchers[key] = EventWatcher(lambda: self.api, list(key))
            return watcher

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
        """Stop following containers (they keep running) and close the client."""
        with self._lock:
            client, self._client = self._client, None
            watchers, self._watchers = list(self._watchers.values()), {}
            mux, self._mux = self._mux, None
            calls, self._calls = self._calls, None
        for watcher in watchers:
            watcher.close()
        if mux is not None:
            mux.close()
        if calls is not None:
            calls.shutdown(wait=False, cancel_futures=True)
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
