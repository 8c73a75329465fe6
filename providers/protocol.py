"""The I/O-free provider protocol: messages to send, and received frames turned into events.

A protocol object holds no socket, awaits nothing and reads no clock. The worker feeds it every
frame it receives and sends whatever messages it returns, so every provider can be tested by
feeding it recorded frames.

Events a frame can turn into::

    Event
    ├── Records        validated data, ready to store
    ├── Authorized     the provider accepted the credentials (the connection is usable)
    ├── Unauthorized   the provider refused the credentials (fatal: never retried)
    ├── Info           a status message worth showing (subscription acks, notices)
    ├── ProviderError  an error the provider reported; `fatal` ends the worker
    │   └── Unreadable a frame that is not JSON (`decode`): counted, not reported one by one
    ├── Heartbeat      a keep-alive with nothing to show
    └── Reconnect      the server asks the client to reconnect (maintenance, connection age)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import ValidationError

from .params import WebSocketQueryParams
from .records import WebSocketData

Message = str | bytes
ParamsT = TypeVar("ParamsT", bound=WebSocketQueryParams)
RecordT = TypeVar("RecordT", bound=WebSocketData)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x, once per frame
class Records:
    items: list[WebSocketData]


@dataclass(frozen=True, slots=True)
class Authorized:
    message: str = "Authorization: Success"


@dataclass(frozen=True, slots=True)
class Unauthorized:
    message: str


@dataclass(frozen=True, slots=True)
class Info:
    message: str


@dataclass(frozen=True, slots=True)
class ProviderError:
    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Unreadable(ProviderError):
    """A frame that could not be decoded at all."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class Reconnect:
    """The server asked for a new connection: the worker closes this one and reconnects."""

    message: str


Event = Records | Authorized | Unauthorized | Info | ProviderError | Heartbeat | Reconnect


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """An HTTP GET the worker performs before connecting, for a provider whose WebSocket URL
    carries a short-lived access token (Intrinio). The protocol parses the reply itself, in
    `token_reply`; the worker only moves the bytes (the protocol stays free of I/O)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class InvalidRecord:
    """A data frame the data model refused; counted and reported, never stored."""

    reason: str
    raw: object = field(repr=False, default=None)


class ProviderProtocol(ABC, Generic[ParamsT]):
    """Base class for a provider's wire protocol.

    Subclasses declare `name` and implement the message builders and `receive`. The worker calls:

    0. `token_request()` before connecting; when it is not None, the worker performs the GET
       and hands the reply to `token_reply(status, body)` (again after `token_max_age`, and when
       the server refuses the token at the handshake);
    1. `on_open(symbols)` right after the socket opens (login, or a subscribe that carries the key);
    2. `on_authorized(symbols)` once `receive` yielded `Authorized` (the initial subscribe);
    3. `subscribe(symbols)` / `unsubscribe(symbols)` for changes while streaming;
    4. `receive(frame)` for every frame.

    `symbols` are in the user's form (as given to `create_connection`); converting them into the
    provider's symbology is the protocol's job.
    """

    name: ClassVar[str]
    # True when `subscribe()` may be sent before `Authorized` (it returns [] when it cannot):
    # for providers whose subscribe request is itself the authorization (Tiingo).
    subscribes_before_authorized: ClassVar[bool] = False
    # True for keyless feeds with no login reply: the worker treats the connection as
    # authorized as soon as `on_open` was sent, and subscribes at once (some exchanges close a
    # connection that has not subscribed within seconds).
    ready_on_open: ClassVar[bool] = False
    # Seconds between `keepalive()` messages while connected (None: the provider needs none,
    # or WebSocket pings suffice). The worker keeps the clock; the protocol only says what.
    # An instance may set its own (from a parameter), so this is not a ClassVar.
    keepalive_interval: float | None = None
    # What the worker reports when `ready_on_open` makes the open socket count as authorized.
    ready_message: ClassVar[str] = "Authorization: not required"
    # Seconds a token from `token_request()` may be reused for a new connection (the worker
    # also fetches a new one when the server refuses the old one). None: until refused.
    token_max_age: ClassVar[float | None] = None
    # True when a frame holding a JSON array is a batch of independent messages (the demo,
    # Polygon): the worker may then feed a very large frame to `receive` in slices, so that
    # its records never all exist at once (a record model takes ~20x its JSON in memory).
    arrays_are_batches: ClassVar[bool] = False

    def __init__(self, params: ParamsT, api_key: str | None) -> None:
        self.params = params
        self.api_key = api_key or ""
        self.invalid: list[InvalidRecord] = []

    @abstractmethod
    def endpoint(self) -> str:
        """The provider's WebSocket URL for these parameters (ignoring any `url` override)."""

    def url(self) -> str:
        return self.params.url or self.endpoint()

    @abstractmethod
    def on_open(self, symbols: Sequence[str]) -> list[Message]: ...

    def on_authorized(self, symbols: Sequence[str]) -> list[Message]:
        return self.subscribe(symbols) if symbols else []

    @abstractmethod
    def subscribe(self, symbols: Sequence[str]) -> list[Message]: ...

    @abstractmethod
    def unsubscribe(self, symbols: Sequence[str]) -> list[Message]: ...

    @abstractmethod
    def receive(self, frame: Message) -> list[Event]: ...

    def token_request(self) -> TokenRequest | None:
        """The HTTP request that yields an access token for `url()`, or None (no token needed)."""
        return None

    def token_reply(self, status: int, body: bytes) -> Event:
        """Read the reply to `token_request()`: `Info` once the token is kept (for `url()`),
        `Unauthorized` when the key is refused, `ProviderError` otherwise (retried with backoff
        unless `fatal`)."""
        return ProviderError(f"{self.name} asked for no token (HTTP {status})", fatal=True)

    def keepalive(self) -> list[Message]:
        """Application-level keep-alive messages, sent every `keepalive_interval` seconds."""
        return []

    def canonical_symbol(self, symbol: str) -> str:
        """The user-facing spelling kept in `subscribed_symbols` (upper case by default)."""
        return symbol.strip().upper()

    def decode(self, frame: Message) -> Any:
        """The frame's JSON, or a `ProviderError` describing an unreadable frame."""
        try:
            return orjson.loads(frame)
        except orjson.JSONDecodeError:
            return Unreadable(f"unreadable frame: {frame[:200]!r}")

    def validate(self, model: type[RecordT], fields: dict[str, Any], raw: object) -> RecordT | None:
        """The record, or None after noting (in `invalid`) why the data model refused it."""
        try:
            # The model's validator itself (as `model_validate` does, minus its wrapper).
            return model.__pydantic_validator__.validate_python(fields)  # type: ignore[no-any-return]
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            reason = f"{where}: {error['msg']}" if where else str(error["msg"])
            self.invalid.append(InvalidRecord(reason, raw))
            return None

    def take_invalid(self) -> list[InvalidRecord]:
        """Frames refused by the data model since the last call."""
        invalid, self.invalid = self.invalid, []
        return invalid
