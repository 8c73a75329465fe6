"""Who calls the REST API, and the `WebSocketsAPI` that serves them.

Single tenant (no tenants file): one API; FEEDDOCK_SERVER_API_KEY, when set, guards every
route (401 when the key is missing, 403 when it is wrong), as before tenants existed.

Several tenants (FEEDDOCK_TENANTS_FILE, rest/tenants.py): one `WebSocketsAPI` per tenant, each
with its own registry, cap, results root, credentials and runtime (its containers carry its
`feeddock.tenant` label, on its network, within its limits). `X-API-Key` picks the tenant:
its SHA-256 is compared, in constant time, with every digest of the file. A missing or unknown
key is one 401 that says nothing about tenants. The admin key reads every tenant's status and
kills any connection (routes decide what else it may not do).

Reloading: `watch()` re-reads the file when it changes or on SIGHUP (`request_reload`, which
`feeddock serve` wires). Running connections are never dropped: a tenant's API is kept and
re-configured (cap, root, credentials, providers, and its runtime's network and limits for the
containers started from then on); a tenant removed from the file keeps its connections (the
admin still sees and may kill them) but its keys stop working. A file that does not load is
reported and the previous configuration stays.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import console
from ..api import WebSocketsAPI
from ..errors import AuthTokenError, FeeddockError, ForbiddenError, WrongAuthTokenError
from ..registry import Registry
from ..runtime import select_runtime
from ..tokens import secure_equal
from .settings import Settings
from .tenants import TenantSpec, key_digest, load_tenants

TENANTS_FILE_ENV = "FEEDDOCK_TENANTS_FILE"
WATCH_SECONDS = 1.0
ADMIN = "\0admin"  # not a valid tenant id: the admin's entry among the key owners
NEEDS_KEY = "A valid API key is required in the X-API-Key header."


@dataclass
class Tenant:
    """One tenant as the server runs it."""

    spec: TenantSpec
    api: WebSocketsAPI
    settings: Settings

    @property
    def id(self) -> str:
        return self.spec.id

    @classmethod
    def start(cls, spec: TenantSpec) -> Tenant:
        runtime = select_runtime(tenant=spec.id, options=spec.options)
        api = WebSocketsAPI(Registry(), runtime=runtime, tenant=spec.id)
        api.reveal_url_failures = False  # a server must not become a port scanner
        tenant = cls(spec, api, Settings())
        tenant.apply(spec)
        return tenant

    def apply(self, spec: TenantSpec) -> None:
        """Use `spec` from now on; nothing running is stopped."""
        self.spec = spec
        self.api.max_connections = spec.max_connections
        self.api.results_root = spec.results_root
        self.api.credentials = spec.credential  # never the server's own environment
        self.api.runtime.reconfigure(spec.options)
        self.settings = Settings(
            providers=spec.providers,
            max_connections=spec.max_connections,
            allow_url=spec.allow_url,
        )


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: a tenant's API and settings, or the admin (no API)."""

    api: WebSocketsAPI | None
    settings: Settings
    admin: bool = False

    def tenant_api(self) -> WebSocketsAPI:
        """The caller's tenant's API (the admin key has none)."""
        if self.api is None:
            raise ForbiddenError(
                "The admin key reads status and kills connections; other calls need a tenant's key."
            )
        return self.api


class Directory:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._tenants: dict[str, Tenant] = {}
        self._owners: dict[str, str] = {}  # key digest -> tenant id, or ADMIN
        self._single: Caller | None = None
        self._server_key: str | None = None
        self._lock = threading.Lock()
        self._reload = threading.Event()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._signature: tuple[int, int, int] | None = None

    @classmethod
    def single(cls, api: WebSocketsAPI, settings: Settings) -> Directory:
        directory = cls()
        directory._single = Caller(api, settings)
        directory._server_key = settings.server_api_key
        return directory

    @classmethod
    def from_file(cls, path: str | Path) -> Directory:
        """Load the tenants file (TenantsFileError names the line and field)."""
        directory = cls(Path(path))
        directory.reload()
        return directory

    @property
    def multi_tenant(self) -> bool:
        return self._single is None

    def offered_providers(self) -> list[str] | None:
        """The single tenant's allowed providers (with tenants: each has its own, unlisted)."""
        return self._single.settings.providers if self._single is not None else None

    # -- callers --------------------------------------------------------------------------

    def authenticate(self, key: str | None) -> Caller:
        if self._single is not None:
            if self._server_key is not None:
                if key is None:
                    raise AuthTokenError("This server requires an API key in the X-API-Key header.")
                if not secure_equal(self._server_key, key):
                    raise WrongAuthTokenError(
                        "The X-API-Key header does not match this server's key."
                    )
            return self._single
        digest = key_digest(key) if key else ""
        with self._lock:
            owners = list(self._owners.items())
        owner = None
        for stored, candidate in owners:  # every digest, so the time says nothing
            if hmac.compare_digest(stored, digest):
                owner = candidate
        if owner is None:
            raise AuthTokenError(NEEDS_KEY)
        if owner == ADMIN:
            return Caller(None, Settings(), admin=True)
        with self._lock:
            tenant = self._tenants[owner]
        return Caller(tenant.api, tenant.settings)

    def apis(self) -> dict[str, WebSocketsAPI]:
        """Every tenant's API, removed tenants' included (their connections still run)."""
        if self._single is not None and self._single.api is not None:
            return {self._single.api.tenant: self._single.api}
        with self._lock:
            return {tenant_id: tenant.api for tenant_id, tenant in self._tenants.items()}

    def connection_count(self) -> int:
        return sum(len(api.registry) for api in self.apis().values())

    # -- loading and reloading ------------------------------------------------------------

    def _stat(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def reload(self) -> None:
        """Read the file again and apply it (TenantsFileError leaves everything as it was)."""
        assert self.path is not None
        signature = self._stat()
        loaded = load_tenants(self.path)
        with self._lock:
            current = dict(self._tenants)
        # New tenants first: if one cannot start (no engine), nothing has changed yet.
        for spec in loaded.tenants.values():
            if spec.id not in current:
                current[spec.id] = Tenant.start(spec)
        for spec in loaded.tenants.values():
            current[spec.id].apply(spec)
        owners = {digest: ADMIN for digest in loaded.admin}
        for spec in loaded.tenants.values():
            owners.update(dict.fromkeys(spec.digests, spec.id))
        with self._lock:
            self._tenants, self._owners, self._signature = current, owners, signature

    def request_reload(self) -> None:
        """Reload soon (SIGHUP): from the watcher thread, never in a signal handler."""
        self._reload.set()

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            seen = self._stat()
            if not self._reload.is_set() and seen == self._signature:
                continue
            self._reload.clear()
            try:
                self.reload()
            except FeeddockError as exc:
                console.show(f"feeddock ERROR: tenants file not reloaded: {exc}", logging.ERROR)
                # Reported once; a later change (e.g. the end of a write read halfway) is
                # read again.
                with self._lock:
                    self._signature = seen
                continue
            console.show(f"feeddock: tenants file {self.path} reloaded")

    def watch(self) -> None:
        """Start following the file (no-op for a single tenant)."""
        if self.path is None or self._watcher is not None:
            return
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="tenants-file", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.join(WATCH_SECONDS * 5)


def tenants_file() -> str | None:
    return os.environ.get(TENANTS_FILE_ENV) or None


__all__ = ["NEEDS_KEY", "TENANTS_FILE_ENV", "Caller", "Directory", "Tenant", "tenants_file"]
