"""The tenants file: what it accepts, and malformed files refused with their line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator.rest.tenants import TenantsFileError, key_digest, load_tenants
from providers import get_provider

ALPHA, BETA, ADMIN = key_digest("alpha-key"), key_digest("beta-key"), key_digest("admin-key")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_a_complete_file_is_read_with_defaults_filled_in(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ALPHA_DEMO_KEY", " from-env\n")
    (tmp_path / "fmp.key").write_text("from-file\n")
    path = write(
        tmp_path,
        f"""
        [server]
        results_root = "{tmp_path}/results"

        [admin]
        api_key_sha256 = "{ADMIN.upper()}"

        [tenants.alpha]
        api_key_sha256 = ["{ALPHA}", "{key_digest("alpha-second")}"]
        max_connections = 2
        providers = ["demo", "fmp"]
        memory = "128m"
        cpus = 0.5
        network = "feeddock-alpha"
        [tenants.alpha.credentials]
        demo = {{ env = "ALPHA_DEMO_KEY" }}
        fmp = {{ file = "{tmp_path}/fmp.key" }}
        polygon = "literal"

        [tenants.beta-2]
        api_key_sha256 = "{BETA}"
        results_root = "{tmp_path}/beta-elsewhere"
        allow_url = false
        """,
    )
    tenants = load_tenants(path)

    assert tenants.admin == {ADMIN}
    alpha, beta = tenants.tenants["alpha"], tenants.tenants["beta-2"]
    assert alpha.digests == {ALPHA, key_digest("alpha-second")}
    assert alpha.max_connections == 2 and alpha.providers == ["demo", "fmp"]
    assert alpha.results_root == str((tmp_path / "results" / "alpha").resolve())
    assert (alpha.options.network, alpha.options.memory, alpha.options.cpus) == (
        "feeddock-alpha",
        "128m",
        0.5,
    )
    assert alpha.allow_url is True and beta.allow_url is False
    assert beta.max_connections == 100 and beta.providers is None
    assert beta.results_root == str((tmp_path / "beta-elsewhere").resolve())
    assert alpha.credential(get_provider("demo")) == "from-env"
    assert alpha.credential(get_provider("fmp")) == "from-file"
    assert alpha.credential(get_provider("polygon")) == "literal"
    assert alpha.credential(get_provider("tiingo")) is None
    assert beta.credential(get_provider("demo")) is None  # never the server's own variable


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        ('[tenants.a]\napi_key_sha256 = "abc"\n', 2, "tenants.a.api_key_sha256", "64 hex"),
        (f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\nmax_conections = 3\n', 3,
         "tenants.a.max_conections", "unknown field"),
        (f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\n\nmax_connections = -1\n', 4,
         "tenants.a.max_connections", "greater than or equal to 0"),
        (f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\nproviders = ["demo", "nope"]\n', 3,
         "tenants.a.providers", "nope"),
        (f'[tenants."a.b"]\napi_key_sha256 = "{ALPHA}"\n', 1, "tenants.a.b", "tenant id"),
        (f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\n[tenants.b]\napi_key_sha256 = "{ALPHA}"\n',
         4, "tenants.b.api_key_sha256", "same key as tenants.a"),
        (f'[admin]\napi_key_sha256 = "{ALPHA}"\n[tenants.a]\napi_key_sha256 = ["{ALPHA}"]\n',
         4, "tenants.a.api_key_sha256", "same key as admin"),
        (f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\nresults_root = "/srv/r"\n'
         f'[tenants.b]\napi_key_sha256 = "{BETA}"\nresults_root = "/srv/r/b"\n', 6,
         "tenants.b.results_root", "inside tenant a's results root"),
        (f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\nresults_root = "relative"\n', 3,
         "tenants.a.results_root", "absolute"),
        (f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\nmemory = "lots"\n', 3,
         "tenants.a.memory", "256m"),
        (f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\n'
         '[tenants.a.credentials]\ndemo = { env = "1BAD" }\n', 4,
         "tenants.a.credentials.demo", "env = "),
        (f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\ncredentials.nope = "k"\n', 3,
         "tenants.a.credentials.nope", "not an installed provider"),
        ("[server]\nresults_root = 3\n", 2, "server.results_root", "string"),
        ("[tenants]\n", 1, "tenants", "at least one tenant"),
    ],
)  # fmt: skip
def test_a_malformed_file_names_its_line_and_field(tmp_path, body, line, field, words) -> None:
    path = write(tmp_path, body)
    with pytest.raises(TenantsFileError) as refused:
        load_tenants(path)
    message = str(refused.value)
    assert f"{path}, line {line}: {field}:" in message
    assert words in message
    assert refused.value.field == field


def test_a_file_that_is_not_toml_names_its_line(tmp_path) -> None:
    path = write(tmp_path, '[tenants.a]\napi_key_sha256 = = "x"\n')
    with pytest.raises(TenantsFileError, match=r"not valid TOML: .*line 2"):
        load_tenants(path)


def test_a_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(TenantsFileError, match="Cannot read the tenants file"):
        load_tenants(tmp_path / "nope.toml")


def test_the_file_holds_no_key(tmp_path) -> None:
    path = write(tmp_path, f'[tenants.a]\napi_key_sha256 = "{ALPHA}"\n')
    load_tenants(path)
    assert "alpha-key" not in path.read_text()


def test_the_compose_example_loads_and_its_digests_are_the_documented_keys() -> None:
    example = Path(__file__).parents[2] / "compose" / "tenants.example.toml"
    tenants = load_tenants(example)
    assert tenants.tenants["alpha"].digests == {key_digest("alpha-example-key")}
    assert tenants.tenants["beta"].digests == {key_digest("beta-example-key")}
    assert tenants.admin == {key_digest("admin-example-key")}
