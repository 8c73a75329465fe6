"""Provider discovery through the `feeddock.providers` entry-point group, loaded lazily."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from .params import WebSocketQueryParams
from .protocol import ProviderProtocol
from .records import WebSocketData

ENTRY_POINT_GROUP = "feeddock.providers"


@dataclass(frozen=True)
class Provider:
    """Everything feeddock needs to know about one provider."""

    name: str
    params: type[WebSocketQueryParams]
    data: type[WebSocketData]
    protocol: type[ProviderProtocol[Any]]
    docs_url: str
    # Module that serves a local simulator of this provider (`python -m <module> --port 0`).
    simulator: str | None = None
    # When True and no `url` is given, the orchestrator starts the simulator and connects to it.
    simulated_by_default: bool = False

    @property
    def credential_env(self) -> str:
        return f"{self.name.upper()}_API_KEY"

    def credential_from_env(self) -> str | None:
        return os.environ.get(self.credential_env) or None


class UnknownProvider(LookupError):
    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = available
        super().__init__(
            f"Unknown provider {name!r}. Available providers: {', '.join(available) or 'none'}."
        )


@cache
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_providers() -> list[str]:
    """Names of every installed provider, sorted."""
    return sorted(_entry_points())


@cache
def get_provider(name: str) -> Provider:
    """Load a provider by name; raises `UnknownProvider` listing the valid names."""
    entry = _entry_points().get(name)
    if entry is None:
        raise UnknownProvider(name, available_providers())
    provider = entry.load()
    if not isinstance(provider, Provider):
        raise TypeError(f"entry point {name!r} does not point at a providers.Provider")
    return provider
