"""The swarm reached over TCP with TLS, as the engines of other nodes are: services, attach
(the secrets line, commands and output) and events all go through the TLS endpoint."""

from __future__ import annotations

import pytest

from orchestrator import RuntimeUnavailableError, WebSocketsAPI
from orchestrator.registry import Registry
from orchestrator.runtime.swarm import SwarmConfig, SwarmRuntime

from ..conftest import SESSION_INSTANCE
from ..engines import SwarmEngine
from ..helpers import row_ids, wait_until
from .conftest import GOOD_KEY


def tls_runtime(engine: SwarmEngine, **tls: object) -> SwarmRuntime:
    config = SwarmConfig.model_validate(
        {"manager": {"url": engine.tls_url, "tls": {**engine.tls, **tls}}}
    )
    return SwarmRuntime(instance=SESSION_INSTANCE, config=config)


def test_a_connection_lives_through_a_tls_endpoint(swarm_engine, market):
    runtime = tls_runtime(swarm_engine)
    api = WebSocketsAPI(Registry(), runtime=runtime)
    try:
        status = api.create_connection(
            provider="demo", name="cluster_sw_tls", symbol="aapl", url=market.url,
            api_key=GOOD_KEY,
        ).results  # fmt: skip
        assert runtime.manager.base_url.startswith("tcp://")
        assert api.subscribe("cluster_sw_tls", symbol="spy").results.subscribed_symbols == (
            "AAPL,SPY"
        )
        market.wait_for_message(lambda m: m.get("symbols") == ["SPY"])
        wait_until(lambda: len(row_ids(status.results_file)) > 5, timeout=20)
        assert api.stop_connection("cluster_sw_tls").results.is_running is False
    finally:
        api.shutdown()
        runtime.close()


def test_an_engine_that_refuses_our_certificate_is_a_clear_error(swarm_engine):
    runtime = tls_runtime(swarm_engine, client_cert=None, client_key=None)
    try:
        with pytest.raises(RuntimeUnavailableError, match=r"Docker is not available at tcp://"):
            runtime.connect()
    finally:
        runtime.close()
