"""Tenant scoping with the process runtime: names, results files and status, real workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contract.lock import is_held
from orchestrator import ConnectionNotFoundError, ParameterError, WebSocketsAPI
from orchestrator.errors import ResultsInUseError
from orchestrator.registry import Registry
from orchestrator.runtime import ProcessRuntime
from providers.demo.simulator import DemoSimulator

from .helpers import row_ids, wait_until


@pytest.fixture
def tenant() -> Iterator[Callable[..., WebSocketsAPI]]:
    made: list[WebSocketsAPI] = []

    def make(tenant_id: str, **options: object) -> WebSocketsAPI:
        api = WebSocketsAPI(Registry(), runtime=ProcessRuntime(tenant_id), **options)  # type: ignore[arg-type]
        made.append(api)
        return api

    yield make
    for api in made:
        api.shutdown()


def connect(api: WebSocketsAPI, market: DemoSimulator, name: str, **extra: object) -> None:
    api.create_connection(provider="demo", name=name, symbol="aapl", url=market.url, **extra)


def test_names_status_and_files_are_the_tenants_own(tenant, market, tmp_path: Path) -> None:
    alpha = tenant("alpha", results_root=str(tmp_path / "alpha"))
    beta = tenant("beta", results_root=str(tmp_path / "beta"))
    connect(alpha, market, "shared", limit=None)
    connect(beta, market, "shared", limit=None)

    files = [api.get_client_status("shared").results[0].results_file or "" for api in (alpha, beta)]
    assert Path(files[0]).is_relative_to((tmp_path / "alpha").resolve())
    assert Path(files[1]).is_relative_to((tmp_path / "beta").resolve())
    for path in files:  # both stream, each into its own file
        wait_until(lambda path=path: len(row_ids(path)) > 5)

    connect(beta, market, "beta_only")
    assert [s.name for s in alpha.get_client_status("all").results] == ["shared"]
    with pytest.raises(ConnectionNotFoundError) as theirs:
        alpha.subscribe("beta_only", symbol="spy")
    with pytest.raises(ConnectionNotFoundError) as nobody:
        alpha.subscribe("nobody", symbol="spy")
    assert str(theirs.value).replace("beta_only", "?") == str(nobody.value).replace("nobody", "?")

    # beta's file is outside alpha's root; alpha cannot point a connection at it.
    with pytest.raises(ParameterError) as outside:
        connect(alpha, market, "reader", results_file=files[1])
    assert outside.value.field == "results_file"
    alpha.kill("shared")
    assert beta.get_client_status("shared").results[0].is_running


def test_a_file_a_running_worker_holds_is_refused_across_tenants(
    tenant, market, tmp_path: Path
) -> None:
    alpha, beta = tenant("alpha"), tenant("beta")  # no roots: only the holds stand between
    path = str(tmp_path / "one.db")
    connect(alpha, market, "writer", results_file=path)

    with pytest.raises(ResultsInUseError):
        connect(beta, market, "thief", results_file=path)
    # The worker's own lock, not only this process's record, holds the file.
    assert alpha.get_client("writer").results.is_running
    assert is_held(path)
    alpha.stop_connection("writer")
    assert not is_held(path)
