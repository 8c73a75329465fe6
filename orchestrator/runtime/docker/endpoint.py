"""Where a Docker engine answers, and the raw attach connection to one of its containers.

An `Endpoint` is an engine's address (`unix:///path/docker.sock` or `tcp://host:port`) with
its TLS options; it makes the docker-py client for ordinary calls and opens attach streams
itself. docker-py's `attach_socket` hands back the socket under an `http.client` response
whose buffered reader may already hold the first bytes of the stream (whatever arrived with
the headers): reading the socket then loses them and the frames go out of step. So the
upgrade is done here, on a plain socket, and the bytes read past the headers are kept.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import docker
from docker.tls import TLSConfig
from docker.utils import kwargs_from_env

from ...errors import ParameterError

DEFAULT_URL = "unix:///var/run/docker.sock"
CONNECT_SECONDS = 10.0
HEADER_LIMIT = 64 * 1024
SCHEMES = ("unix", "tcp")


@dataclass(frozen=True)
class TLSOptions:
    """TLS towards an engine: a CA to verify it by, and a client certificate to present."""

    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True

    def docker_config(self) -> TLSConfig:
        cert = (self.client_cert, self.client_key) if self.client_cert else None
        return TLSConfig(client_cert=cert, ca_cert=self.ca_cert, verify=self.verify)

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_cert)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


@dataclass(frozen=True)
class Endpoint:
    """An engine's address: `unix:///path` or `tcp://host:port`, with TLS for tcp."""

    url: str = DEFAULT_URL
    tls: TLSOptions | None = None

    def __post_init__(self) -> None:
        scheme = urlsplit(self.url).scheme
        if scheme not in SCHEMES:
            raise ParameterError(
                f"Unsupported Docker endpoint {self.url!r}: use unix:///path/docker.sock "
                "or tcp://host:port (with TLS options for a remote engine).",
                field="endpoint",
                allowed=SCHEMES,
            )

    @classmethod
    def from_env(cls, environment: dict[str, str] | None = None) -> Endpoint:
        """The environment's engine, as the docker CLI reads it (DOCKER_HOST, DOCKER_TLS_*)."""
        found: dict[str, Any] = kwargs_from_env(environment or dict(os.environ))
        url = str(found.get("base_url") or DEFAULT_URL)
        if url.startswith("/"):
            url = f"unix://{url}"
        config = found.get("tls")
        tls = None
        if config is not None:
            cert, key = config.cert or (None, None)
            tls = TLSOptions(
                ca_cert=config.ca_cert, client_cert=cert, client_key=key, verify=bool(config.verify)
            )
        return cls(url, tls)

    @property
    def is_local(self) -> bool:
        return self.url.startswith("unix://")

    def client(self, pool_size: int) -> Any:
        """A docker-py client for this engine (not yet connected)."""
        if self.tls is None:
            return docker.DockerClient(base_url=self.url, max_pool_size=pool_size)
        # requests would verify the engine against REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) from
        # the environment instead of this endpoint's CA (psf/requests#3829), so the client
        # must not trust the environment, and the API version docker-py would ask for while
        # it still does is asked for here.
        client = docker.DockerClient(
            base_url=self.url,
            tls=self.tls.docker_config(),
            version=self.api_version(),
            max_pool_size=pool_size,
        )
        client.api.trust_env = False
        return client

    def api_version(self, timeout: float = CONNECT_SECONDS) -> str:
        """The engine's API version (GET /version on a connection of our own)."""
        sock = self.connect(timeout)
        try:
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        finally:
            sock.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        if b"chunked" in head.lower():
            body = _unchunk(body)
        try:
            return str(json.loads(body)["ApiVersion"])
        except (ValueError, KeyError):
            raise ConnectionError(f"unreadable /version answer from {self.url}") from None

    def connect(self, timeout: float = CONNECT_SECONDS) -> socket.socket:
        """A new socket to the engine (TLS-wrapped when configured)."""
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(parts.path)
            except OSError:
                sock.close()
                raise
            return sock
        host, port = parts.hostname or "localhost", parts.port or (2376 if self.tls else 2375)
        sock = socket.create_connection((host, port), timeout=timeout)
        if self.tls is None:
            return sock
        return self.tls.context().wrap_socket(sock, server_hostname=host)


class AttachRefused(Exception):
    """The engine answered the attach with an error (`status` 404: no such container)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"attach refused ({status}): {message}")
        self.status = status


def open_attach(endpoint: Endpoint, api_version: str, container_id: str) -> tuple[Any, bytes]:
    """Attach to a container's stdin, stdout and stderr; returns the socket and the bytes of
    the stream already read with the headers.

    Attaching before the container starts (as `docker run` does) misses none of its output.
    """
    sock = endpoint.connect()
    try:
        request = (
            f"POST /v{api_version}/containers/{container_id}/attach"
            "?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
            "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendall(request.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("the engine closed the attach connection")
            received += chunk
            if len(received) > HEADER_LIMIT:
                raise ConnectionError("the engine's attach answer has no end of headers")
        head, _, rest = received.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        try:
            status = int(status_line.split()[1])
        except (IndexError, ValueError):
            raise ConnectionError(f"unreadable attach answer: {status_line!r}") from None
        if status not in (101, 200):
            raise AttachRefused(status, _error_body(sock, head, rest))
        return sock, rest
    except BaseException:
        sock.close()
        raise


def _unchunk(body: bytes) -> bytes:
    """The payload of an HTTP/1.1 chunked body."""
    payload = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        payload, body = payload + rest[:size], rest[size + 2 :]
    return payload


def _error_body(sock: socket.socket, head: bytes, body: bytes) -> str:
    """The engine's error message (a small JSON body of Content-Length bytes)."""
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = min(int(value.strip()), HEADER_LIMIT)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return body.decode("utf-8", errors="replace").strip()


__all__ = ["AttachRefused", "Endpoint", "TLSOptions", "open_attach"]
