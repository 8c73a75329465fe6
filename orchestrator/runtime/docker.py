"""Docker runtime: each worker runs in its own container. The only module that imports `docker`.

    start(spec) ──> create feeddock-<connection>-<role>  (labels, env, bind mount, limits)
                └─> start ──> DockerHandle
    DockerHandle.lines()  follows `docker logs` (stdout+stderr) until the container exits,
                          resuming after the last line seen if the stream breaks early
    DockerHandle.send()   writes to ONE attach socket per container, reopened when it breaks
    DockerHandle.stop()   docker stop (SIGTERM; the worker flushes and exits 0), then remove

Stdin. Containers are created detached with `stdin_open=True` and no tty, so the engine keeps
stdin open (`OpenStdin: true`) and never closes it after an attach ends (`StdinOnce: false`).
docker-py's create with the default `detach=False` would set StdinOnce and the worker would see
EOF after the first subscribe. Commands go through the raw socket under the attach response
(`sock._sock.sendall`): the object docker-py returns is a read-only SocketIO on unix sockets.

Results directory and users. The results file's directory is bind-mounted at the same path, so
paths in labels and configs mean the same on the host and in the container. The container runs
as the uid:gid that can write that directory (SQLite also creates `-wal` and `-shm` beside the
file):
  - orchestrator not root: its own uid:gid, exactly like the process runtime;
  - orchestrator root, feeddock-created temp directory (`tempfile.mkdtemp`, root 0700): the
    directory and its files are chowned to the image's user (10001:10001), which runs them;
  - orchestrator root, a directory the user chose: its owner's uid:gid; when that is root, the
    container runs as root with every capability dropped and no-new-privileges, so it can only
    write what root owns in the mounted directory (a non-root uid could not write it at all).
Every container also runs with `cap_drop=ALL` and `no-new-privileges`.

Credentials reach the container only through `spec.env`: never labels, names or arguments.

Threads. docker-py is synchronous. The orchestrator API is synchronous too and runs each
connection's log follower in its own thread (`WorkerMonitor`), so plain calls are right here;
code on an asyncio loop must call this runtime through `asyncio.to_thread`. Each follower and
each attach socket pins one HTTP connection, so the client's pool is sized for many containers.
"""

from __future__ import annotations

import calendar
import contextlib
import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from ..errors import ParameterError, RuntimeUnavailableError, StateError
from .base import LaunchSpec, Role

CONNECTION_LABEL = "feeddock.connection"
ROLE_LABEL = "feeddock.role"
PROVIDER_LABEL = "feeddock.provider"
RESULTS_LABEL = "feeddock.results_file"
ORCHESTRATOR_LABEL = "feeddock.orchestrator"
TEMP_DIR_LABEL = "feeddock.temp_dir"
IMAGE_LABEL = "feeddock.image"

INSTANCE_ENV = "FEEDDOCK_INSTANCE"
NETWORK_ENV = "FEEDDOCK_DOCKER_NETWORK"
MEMORY_ENV = "FEEDDOCK_DOCKER_MEMORY"
CPUS_ENV = "FEEDDOCK_DOCKER_CPUS"
PIDS_ENV = "FEEDDOCK_DOCKER_PIDS"
IMAGE_ENV: dict[Role, str] = {
    "provider": "FEEDDOCK_PROVIDER_IMAGE",
    "broadcast": "FEEDDOCK_BROADCAST_IMAGE",
}
DEFAULT_IMAGES: dict[Role, str] = {
    "provider": "feeddock-provider:latest",
    "broadcast": "feeddock-broadcast:latest",
}
IMAGE_USER = (10001, 10001)  # the `feeddock` user the Dockerfiles create
BUILD_COMMAND = "feeddock images build"
POOL_SIZE = 64
DRAIN_SECONDS = 2.0
LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}


def container_name(connection: str, role: Role) -> str:
    """Deterministic: `feeddock-<connection>-<role>` (connection names are valid Docker names)."""
    return f"feeddock-{connection}-{role}"


def unavailable(exc: Exception) -> RuntimeUnavailableError:
    where = os.environ.get("DOCKER_HOST") or "the local socket"
    return RuntimeUnavailableError(
        f"Docker is not available at {where}: {exc}. Start the engine "
        "(scripts/ensure-docker.sh), or choose the process runtime with FEEDDOCK_RUNTIME=process."
    )


@dataclass(frozen=True)
class Limits:
    """Per-container resource limits (FEEDDOCK_DOCKER_MEMORY / _CPUS / _PIDS)."""

    memory: str = "256m"
    cpus: float = 1.0
    pids: int = 256

    @classmethod
    def from_env(cls) -> Limits:
        try:
            return cls(
                memory=os.environ.get(MEMORY_ENV) or cls.memory,
                cpus=float(os.environ.get(CPUS_ENV) or cls.cpus),
                pids=int(os.environ.get(PIDS_ENV) or cls.pids),
            )
        except ValueError as exc:
            raise ParameterError(
                f"Invalid Docker limits in {CPUS_ENV}/{PIDS_ENV}: {exc}.", field=CPUS_ENV
            ) from None


@dataclass(frozen=True)
class ContainerInfo:
    """What `list_containers` reports: no environment (it holds credentials)."""

    id: str
    name: str
    labels: dict[str, str]
    running: bool
    exit_code: int | None
    error: str | None
    oom_killed: bool = False


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: list[str]
    role: str
    size: int
    created: str


def parse_timestamp(raw: bytes) -> int:
    """RFC 3339 timestamp from `docker logs --timestamps`, as nanoseconds since the epoch."""
    text = raw.decode("ascii", errors="replace").rstrip("Z")
    whole, _, fraction = text.partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9] or 0)


class DockerHandle:
    """One container started (or adopted) by the runtime."""

    def __init__(self, runtime: DockerRuntime, container_id: str, name: str) -> None:
        self._runtime = runtime
        self._id = container_id
        self.name = name
        self._lock = threading.Lock()
        self._socket: Any = None
        self._logs: Any = None
        self._closed = False
        self._removed = False
        self._last_code: int | None = None
        # Set while nobody follows the logs, or once the follower has read the last line.
        self._drained = threading.Event()
        self._drained.set()
        self.follow_since: float | None = None  # adopted handles skip the history

    @property
    def id(self) -> str:
        return self._id

    @property
    def short_id(self) -> str:
        return self._id[:12]

    # -- state ----------------------------------------------------------------------------

    def _state(self) -> dict[str, Any] | None:
        if self._removed:
            return None
        try:
            state: dict[str, Any] = self._runtime.api.inspect_container(self._id)["State"]
        except NotFound:
            return None
        except DockerException as exc:
            raise unavailable(exc) from None
        if not state.get("Running"):
            self._last_code = int(state.get("ExitCode", 0))
        return state

    def is_running(self) -> bool:
        state = self._state()
        if state and state.get("Running"):
            return True
        # Exited: let the log follower read the container's last lines first, so that its
        # final error is known by the time anyone sees it stopped (as with a process's pipe).
        self._drained.wait(DRAIN_SECONDS)
        return False

    def exit_code(self) -> int | None:
        return None if self.is_running() else self._last_code

    # -- output ---------------------------------------------------------------------------

    def lines(self) -> Iterator[str]:
        """Log lines (stdout and stderr) until the container exits or the handle is closed."""
        self._drained.clear()
        try:
            yield from self._follow()
        finally:
            self._drained.set()

    def _follow(self) -> Iterator[str]:
        last_ns = 0
        since = self.follow_since
        resumed = False
        while not self._closed:
            try:
                stream = self._runtime.api.logs(
                    self._id, stream=True, follow=True, timestamps=True, since=since
                )
            except (NotFound, DockerException):
                return
            self._logs = stream
            pending = b""
            try:
                for chunk in stream:
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for raw in complete:
                        stamp, _, text = raw.partition(b" ")
                        try:
                            stamp_ns = parse_timestamp(stamp)
                        except ValueError:
                            stamp_ns = last_ns
                        if resumed and stamp_ns <= last_ns:
                            continue  # already seen before the stream was resumed
                        last_ns = stamp_ns
                        yield text.decode("utf-8", errors="replace").rstrip("\r")
            finally:
                with contextlib.suppress(Exception):
                    stream.close()
                self._logs = None
            if pending.strip():
                yield pending.partition(b" ")[2].decode("utf-8", errors="replace")
            state = self._state()
            if self._closed or not (state and state.get("Running")):
                return
            # The stream ended while the container runs (engine hiccup): resume after last_ns.
            since, resumed = (last_ns / 1e9 if last_ns else since), True
            time.sleep(0.2)

    def history(self) -> list[str]:
        """Every log line the container has written so far (for adoption)."""
        try:
            raw: bytes = self._runtime.api.logs(self._id, stream=False, timestamps=False)
        except NotFound:
            return []
        except DockerException as exc:
            raise unavailable(exc) from None
        return raw.decode("utf-8", errors="replace").splitlines()

    # -- stdin ----------------------------------------------------------------------------

    def _open_socket(self) -> Any:
        self._socket = self._runtime.api.attach_socket(
            self._id, params={"stdin": 1, "stream": 1, "stdout": 0, "stderr": 0}
        )
        return self._socket

    def _close_socket(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.close()

    def send(self, line: str) -> None:
        """Write one line to the container's stdin through the long-lived attach socket."""
        data = line.encode() + b"\n"
        with self._lock:
            for attempt in (1, 2):
                if not self.is_running():
                    raise BrokenPipeError(f"container {self.name} is not running")
                try:
                    sock = self._socket or self._open_socket()
                    getattr(sock, "_sock", sock).sendall(data)
                    return
                except (OSError, DockerException) as exc:
                    self._close_socket()
                    if attempt == 2:
                        message = f"cannot write to {self.name}'s stdin: {exc}"
                        raise BrokenPipeError(message) from exc

    # -- teardown -------------------------------------------------------------------------

    def stop(self, timeout: float) -> int | None:
        """docker stop (SIGTERM, SIGKILL after `timeout`), then remove; "already gone" is fine."""
        api = self._runtime.api
        with self._lock:
            self._close_socket()
        try:
            api.stop(self._id, timeout=max(1, math.ceil(timeout)))
        except NotFound:
            pass
        except DockerException as exc:
            raise unavailable(exc) from None
        self._state()  # records the exit code before the container disappears
        self._runtime.remove(self._id)
        self._removed = True
        return self._last_code

    def close(self) -> None:
        """Release local resources (attach socket, log stream); the container keeps running."""
        self._closed = True
        with self._lock:
            self._close_socket()
        logs = self._logs
        if logs is not None:
            with contextlib.suppress(Exception):
                logs.close()


@dataclass
class DockerRuntime:
    """Starts workers as containers. See the module docstring for users, stdin and threads."""

    instance: str = field(default_factory=lambda: os.environ.get(INSTANCE_ENV) or "default")
    network: str | None = field(default_factory=lambda: os.environ.get(NETWORK_ENV) or None)
    limits: Limits = field(default_factory=Limits.from_env)
    images: dict[Role, str] = field(
        default_factory=lambda: {
            role: os.environ.get(IMAGE_ENV[role]) or DEFAULT_IMAGES[role] for role in IMAGE_ENV
        }
    )
    name: str = field(default="docker", init=False)
    # Docker connections outlive the orchestrator process: at exit it only detaches.
    survives_exit: bool = field(default=True, init=False)
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:12], init=False)
    _client: Any = field(default=None, init=False, repr=False)
    _images_seen: set[str] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # -- engine ---------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The docker-py client, connected on first use (RuntimeUnavailableError if it can't)."""
        with self._lock:
            if self._client is None:
                try:
                    client = docker.from_env(max_pool_size=POOL_SIZE)
                    client.ping()
                except DockerException as exc:
                    raise unavailable(exc) from None
                self._client = client
            return self._client

    @property
    def api(self) -> Any:
        return self.client.api

    def engine_version(self) -> str:
        try:
            return str(self.api.version().get("Version", "?"))
        except DockerException as exc:
            raise unavailable(exc) from None

    def missing_images(self) -> list[str]:
        """The worker images this engine does not have."""
        missing = []
        for image in self.images.values():
            if image in self._images_seen:
                continue
            try:
                self.api.inspect_image(image)
            except ImageNotFound:
                missing.append(image)
                continue
            except DockerException as exc:
                raise unavailable(exc) from None
            self._images_seen.add(image)
        return missing

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    # -- containers -----------------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> DockerHandle:
        image = self.images[spec.role]
        missing = self.missing_images()
        if image in missing:
            raise RuntimeUnavailableError(
                f"The Docker image {image} is missing. Build it with `{BUILD_COMMAND}` "
                f"(or set {IMAGE_ENV[spec.role]} to an image that exists)."
            )
        name = container_name(spec.connection, spec.role)
        self._clear_name(name)
        labels = {
            **spec.labels,
            CONNECTION_LABEL: spec.connection,
            ROLE_LABEL: spec.role,
            ORCHESTRATOR_LABEL: self.instance,
        }
        user = run_as(spec.results_dir, spec.labels.get(TEMP_DIR_LABEL), spec.labels)
        api = self.api
        try:
            host_config = api.create_host_config(
                network_mode=self.network or "host",
                binds={spec.results_dir: {"bind": spec.results_dir, "mode": "rw"}},
                mem_limit=self.limits.memory,
                memswap_limit=self.limits.memory,
                nano_cpus=int(self.limits.cpus * 1e9),
                pids_limit=self.limits.pids,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                log_config={"Type": "json-file", "Config": LOG_OPTIONS},
            )
            created = api.create_container(
                image,
                name=name,
                environment=dict(spec.env),
                labels=labels,
                user=user,
                stdin_open=True,
                tty=False,
                detach=True,  # without it docker-py sets StdinOnce: EOF after one attach
                host_config=host_config,
            )
        except APIError as exc:
            if exc.status_code == 409:
                raise StateError(
                    f"A container named {name} already exists; another orchestrator is "
                    f"creating it. Remove it with `docker rm -f {name}` if it is stale."
                ) from None
            raise unavailable(exc) from None
        except DockerException as exc:
            raise unavailable(exc) from None
        container_id = str(created["Id"])
        try:
            api.start(container_id)
        except DockerException as exc:
            self.remove(container_id)
            raise RuntimeUnavailableError(f"Docker could not start {name}: {exc}") from None
        return DockerHandle(self, container_id, name)

    def _clear_name(self, name: str) -> None:
        """Remove a stopped container that still holds `name`; refuse a running one."""
        try:
            found = self.api.inspect_container(name)
        except NotFound:
            return
        except DockerException as exc:
            raise unavailable(exc) from None
        if found["State"].get("Running"):
            owner = (found["Config"].get("Labels") or {}).get(ORCHESTRATOR_LABEL, "unknown")
            raise StateError(
                f"Container {name} is already running (orchestrator instance {owner!r}). "
                f"Kill that connection, or remove the container with `docker rm -f {name}`."
            )
        self.remove(str(found["Id"]))

    def remove(self, container_id: str) -> None:
        """Force-remove a container; 404 (gone) and 409 (removal in progress) are fine."""
        try:
            self.api.remove_container(container_id, force=True)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:
                raise unavailable(exc) from None
        except DockerException as exc:
            raise unavailable(exc) from None

    def list_containers(self, connection: str | None = None) -> list[ContainerInfo]:
        """This instance's containers (running or not), optionally for one connection."""
        filters = [f"{ORCHESTRATOR_LABEL}={self.instance}"]
        filters.append(f"{CONNECTION_LABEL}={connection}" if connection else CONNECTION_LABEL)
        try:
            found = self.api.containers(all=True, filters={"label": filters})
            infos = []
            for summary in found:
                try:
                    details = self.api.inspect_container(summary["Id"])
                except NotFound:
                    continue
                state = details["State"]
                infos.append(
                    ContainerInfo(
                        id=str(details["Id"]),
                        name=str(details["Name"]).lstrip("/"),
                        labels=dict(details["Config"].get("Labels") or {}),
                        running=bool(state.get("Running")),
                        exit_code=None if state.get("Running") else int(state.get("ExitCode", 0)),
                        error=state.get("Error") or None,
                        oom_killed=bool(state.get("OOMKilled")),
                    )
                )
        except DockerException as exc:
            raise unavailable(exc) from None
        return infos

    def environment(self, container_id: str) -> dict[str, str]:
        """A container's environment (credentials included: for restarts only, never shown)."""
        try:
            entries = self.api.inspect_container(container_id)["Config"].get("Env") or []
        except NotFound:
            return {}
        except DockerException as exc:
            raise unavailable(exc) from None
        return dict(entry.partition("=")[::2] for entry in entries)

    def adopt(self, container_id: str, name: str, *, since: float | None = None) -> DockerHandle:
        """A handle for a container another orchestrator process started."""
        handle = DockerHandle(self, container_id, name)
        handle.follow_since = since
        return handle

    def remove_connection(self, connection: str) -> list[str]:
        """Remove every container of a connection (kill's final sweep); returns their names."""
        removed = []
        for info in self.list_containers(connection):
            self.remove(info.id)
            removed.append(info.name)
        return removed

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
        except DockerException as exc:
            raise RuntimeUnavailableError(f"Building {tag} failed: {exc}") from None
        self._images_seen.discard(tag)

    def list_images(self) -> list[ImageInfo]:
        """Every image built by `feeddock images build` (label feeddock.image)."""
        try:
            found = self.api.images(filters={"label": IMAGE_LABEL})
        except DockerException as exc:
            raise unavailable(exc) from None
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
        except DockerException as exc:
            raise unavailable(exc) from None

    def remove_image(self, reference: str, force: bool = False) -> bool:
        """Remove an image; False when it was not there."""
        self._images_seen.discard(reference)
        try:
            self.api.remove_image(reference, force=force)
        except ImageNotFound:
            return False
        except DockerException as exc:
            raise RuntimeUnavailableError(f"Cannot remove image {reference}: {exc}") from None
        return True


def engine_answers() -> str | None:
    """None when a Docker engine answers, else why not (for FEEDDOCK_RUNTIME=auto)."""
    try:
        client = docker.from_env(timeout=5)
    except DockerException as exc:
        return str(exc)
    try:
        client.ping()
    except DockerException as exc:
        return str(exc)
    finally:
        client.close()
    return None


def run_as(results_dir: str, temp_dir: str | None, labels: dict[str, str]) -> str:
    """The uid:gid a container runs as, making the results directory writable (module doc)."""
    directory = Path(results_dir)
    if os.geteuid() != 0:
        return f"{os.geteuid()}:{os.getegid()}"
    info = directory.stat()
    if temp_dir and Path(temp_dir) == directory and info.st_uid == 0:
        uid, gid = IMAGE_USER
        os.chown(directory, uid, gid)
    else:
        uid, gid = info.st_uid, info.st_gid
    # Files root created beside the database (by prepare() or a read while the worker was
    # stopped) must belong to the container's user too.
    results_file = labels.get(RESULTS_LABEL)
    if results_file and Path(results_file).parent == directory:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = Path(results_file + suffix)
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_uid != uid:
                    os.chown(path, uid, gid)
    return f"{uid}:{gid}"


__all__ = [
    "BUILD_COMMAND",
    "CONNECTION_LABEL",
    "ContainerInfo",
    "DockerHandle",
    "DockerRuntime",
    "ImageInfo",
    "Limits",
    "container_name",
    "engine_answers",
    "run_as",
]
