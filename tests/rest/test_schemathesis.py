"""Property-based run against the app's own OpenAPI schema: no 5xx, no schema violation.

The server under test only offers the demo provider (its simulator is local), refuses `url`
overrides and caps its connections, so generated requests reach nothing but loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from orchestrator import WebSocketsAPI
from orchestrator.rest import Settings

from .conftest import LiveServer

# Provider parameters are validated by each provider's model, which the schema cannot spell
# out fully; so schema-valid input may still get a 422. Everything else is enforced.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture
def api_schema(websockets: WebSocketsAPI, tmp_path_factory) -> Iterator[schemathesis.BaseSchema]:
    server_settings = Settings(
        providers=["demo"],
        max_connections=5,
        allow_url=False,
        results_root=str(tmp_path_factory.mktemp("results")),
    )
    with LiveServer(websockets, server_settings) as server:
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_api_never_fails_and_honours_its_schema(api_schema):
    statuses: dict[str, list[int]] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(checks=CHECKS, timeout=60)
            statuses.setdefault(case.operation.path, []).append(response.status_code)

        check()
    # The run did reach the real work, not only the validation errors.
    assert 200 in statuses["/api/v1/websockets/create_connection"]
