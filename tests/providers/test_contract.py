"""One contract every registered provider keeps, run over all of them.

A third-party provider registered through the `feeddock.providers` entry point gets checked by
this same suite.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from orchestrator import WebSocketsAPI
from providers import (
    Provider,
    ProviderError,
    ProviderProtocol,
    WebSocketData,
    WebSocketQueryParams,
    available_providers,
    get_provider,
)

from ..helpers import wait_until

PROVIDERS = available_providers()
EXAMPLE_SYMBOL = "aapl"


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> Provider:
    return get_provider(request.param)


def protocol_for(provider: Provider, **params: object) -> ProviderProtocol[WebSocketQueryParams]:
    arguments = {"name": "contract", "symbol": EXAMPLE_SYMBOL, **params}
    return provider.protocol(provider.params.model_validate(arguments), "key")


def test_the_registry_knows_every_builtin_provider():
    assert {"demo", "polygon", "fmp", "tiingo"} <= set(PROVIDERS)


def test_provider_declares_its_parts(provider):
    assert issubclass(provider.params, WebSocketQueryParams)
    assert issubclass(provider.data, WebSocketData)
    assert issubclass(provider.protocol, ProviderProtocol)
    assert "symbol" in provider.params.model_fields
    assert provider.docs_url
    assert provider.credential_env == f"{provider.name.upper()}_API_KEY"


def test_endpoint_is_a_websocket_url_and_url_overrides_it(provider):
    protocol = protocol_for(provider)
    assert protocol.endpoint().startswith(("wss://", "ws://"))
    overridden = protocol_for(provider, url="ws://127.0.0.1:1234")
    assert overridden.url().startswith("ws://127.0.0.1:1234")


def test_messages_are_text_or_bytes(provider):
    protocol = protocol_for(provider)
    symbols = [EXAMPLE_SYMBOL]
    for messages in (
        protocol.on_open(symbols),
        protocol.subscribe(symbols),
        protocol.unsubscribe(symbols),
    ):
        assert all(isinstance(m, str | bytes) for m in messages)
    # Something must reach the provider when the connection opens (a login or a subscribe).
    assert protocol.on_open(symbols) or protocol.on_authorized(symbols)


@pytest.mark.parametrize("frame", ["not json", b"\x00\xff", "[]", "{}", "[1, 2]", '"text"'])
def test_garbage_frames_never_raise(provider, frame):
    events = protocol_for(provider).receive(frame)
    assert all(not isinstance(e, ProviderError) or e.message for e in events)


def test_canonical_symbols_are_stable(provider):
    protocol = protocol_for(provider)
    once = protocol.canonical_symbol(" aapl ")
    assert protocol.canonical_symbol(once) == once
    assert once.strip() == once


def test_bad_choices_are_refused(provider):
    with pytest.raises(ValueError, match="asset_type"):
        provider.params.model_validate(
            {"name": "x", "symbol": EXAMPLE_SYMBOL, "asset_type": "no-such-asset"}
        )


@pytest.fixture
def simulator(provider: Provider) -> Iterator[str]:
    assert provider.simulator, f"{provider.name} ships no simulator"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            provider.simulator,
            "--port",
            "0",
            "--api-key",
            "contract-key",
            "--rate",
            "50",
            "--exit-on-stdin-eof",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    assert first.startswith("listening on ws://127.0.0.1:"), first
    yield first.removeprefix("listening on ")
    process.terminate()
    process.wait(10)


def test_streams_clean_records_from_its_simulator(websockets: WebSocketsAPI, provider, simulator):
    websockets.create_connection(
        provider=provider.name,
        name=f"contract-{provider.name}",
        symbol=EXAMPLE_SYMBOL,
        url=simulator,
        api_key="contract-key",
    )
    records = wait_until(lambda: websockets.get_results(f"contract-{provider.name}").results)
    record = records[0]
    assert isinstance(record, provider.data)
    assert record.date.tzinfo is not None
    assert record.symbol
    assert record.type
    stored = record.model_dump(exclude_none=True)
    assert set(stored) >= {"date", "symbol", "type"}
