"""Provider interface: query parameters, records, pure protocols and the provider registry."""

from .params import WebSocketQueryParams, split_symbols
from .protocol import (
    Authorized,
    Event,
    Heartbeat,
    Info,
    Message,
    ProviderError,
    ProviderProtocol,
    Reconnect,
    Records,
    Unauthorized,
    Unreadable,
)
from .records import WebSocketData, epoch_to_datetime
from .registry import Provider, UnknownProvider, available_providers, get_provider

__all__ = [
    "Authorized",
    "Event",
    "Heartbeat",
    "Info",
    "Message",
    "Provider",
    "ProviderError",
    "ProviderProtocol",
    "Reconnect",
    "Records",
    "Unauthorized",
    "UnknownProvider",
    "Unreadable",
    "WebSocketData",
    "WebSocketQueryParams",
    "available_providers",
    "epoch_to_datetime",
    "get_provider",
    "split_symbols",
]
