"""`feeddock` command line: thin wrappers over the Python API.

The connection commands (ls, create, status, ...) are in cli_connections.py, the image
commands in cli_images.py; exit codes in cli_errors.py.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Annotated
from urllib.parse import urlsplit

import orjson
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from contract import results as results_db
from providers import available_providers, get_provider

from . import cli_connections
from .cli_errors import HELP as EXIT_HELP
from .cli_errors import fail
from .cli_images import images_app
from .errors import FeeddockError

app = typer.Typer(
    help="feeddock: background market-data WebSocket connections, recorded to SQLite.",
    epilog="Without --server, connection commands act on the local Docker engine. " + EXIT_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
cli_connections.register(app)
app.add_typer(images_app, name="images")
console = Console()
errors = Console(stderr=True)


@app.command()
def providers() -> None:
    """List the installed providers."""
    table = Table("provider", "parameters", "credential", "docs")
    for name in available_providers():
        spec = get_provider(name)
        extra = [f for f in spec.params.model_fields if f in ("symbol", "asset_type", "feed")]
        table.add_row(name, ", ".join(extra), spec.credential_env, spec.docs_url)
    console.print(table)


def _snapshot(path: str, table_name: str) -> tuple[int, dict[str, dict[str, object]]]:
    latest: dict[str, dict[str, object]] = {}
    messages = results_db.read_messages(path, table_name, last=500)
    for message in messages:
        record = orjson.loads(message)
        latest.setdefault(record["symbol"], {}).update(record)
    return len(messages), latest


def _render(name: str, status_line: str, latest: dict[str, dict[str, object]]) -> Table:
    table = Table(title=f"feeddock demo · {name} · {status_line}", title_justify="left")
    for column in ("symbol", "last", "size", "bid", "ask", "time (UTC)"):
        table.add_column(column, justify="right" if column != "symbol" else "left")
    for symbol in sorted(latest):
        record = latest[symbol]
        table.add_row(
            symbol,
            f"{record.get('last_price', '')}",
            f"{record.get('last_size', '')}",
            f"{record.get('bid_price', '')}",
            f"{record.get('ask_price', '')}",
            str(record.get("date", ""))[11:23],
        )
    return table


DEMO_SYMBOLS = "aapl,msft,btcusd,eurusd"
PROBE_SECONDS = 5.0


def _unreachable(url: str, timeout: float) -> str | None:
    """Why the host of `url` does not answer (DNS or TCP) within `timeout` seconds, or None.

    Run in a daemon thread because a stalled DNS lookup ignores socket timeouts.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(str(exc) or type(exc).__name__)

    thread = threading.Thread(target=probe, name="probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def _check_reachable(provider: str, symbol: str, url: str | None, timeout: float) -> None:
    """Fail fast, with one short line, when a real provider cannot be reached from here."""
    from .validation import load_provider, validate_params

    try:
        spec = load_provider(provider)
        if spec.simulated_by_default and url is None:
            return  # the orchestrator starts the provider's local simulator itself
        params = validate_params(spec, {"name": "demo", "symbol": symbol, "url": url})
    except FeeddockError as exc:
        raise fail(exc) from None
    target = spec.protocol(params, None).url()
    reason = _unreachable(target, min(timeout, PROBE_SECONDS))
    if reason is not None:
        parts = urlsplit(target)
        errors.print(
            f"[bold red]Error:[/] cannot reach {provider} at {parts.scheme}://{parts.netloc} "
            f"({reason}). Is the internet reachable from here? `feeddock demo` without "
            "--provider streams the offline demo market."
        )
        raise typer.Exit(code=2)


@app.command()
def demo(
    symbol: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated symbols, or '*' (demo market: {DEMO_SYMBOLS})."),
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    provider: Annotated[
        str,
        typer.Option(
            help="Stream this provider instead of the offline demo market, e.g. `--provider "
            "kraken --symbol btc/usd` (needs the internet; keyed providers read "
            "<PROVIDER>_API_KEY). `feeddock providers` lists them."
        ),
    ] = "demo",
    url: Annotated[
        str | None, typer.Option(help="Connect here instead of the provider's endpoint.")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the provider before giving up.", min=1)
    ] = 15.0,
) -> None:
    """Stream the built-in demo market (no key, no internet), or a provider, and show it live."""
    from .api import obb
    from .client import CONNECT_TIMEOUT_ENV

    if symbol is None and provider != "demo":
        errors.print(f"[bold red]Error:[/] --symbol is required with --provider {provider}.")
        raise typer.Exit(code=2)
    symbol = symbol or DEMO_SYMBOLS
    _check_reachable(provider, symbol, url, timeout)
    os.environ[CONNECT_TIMEOUT_ENV] = f"{timeout:g}"  # this CLI process only: a bounded wait
    name = "demo" if provider == "demo" else f"demo-{provider}"
    api = obb.websockets
    try:
        status = api.create_connection(provider=provider, name=name, symbol=symbol, url=url)
    except FeeddockError as exc:
        raise fail(exc) from None
    path, table_name = status.results.results_file or "", status.results.table_name or "records"
    console.print(f"Recording to {path} (table {table_name}). Press Ctrl-C to stop.")
    started = time.monotonic()
    try:
        with Live(console=console, refresh_per_second=4) as live:
            while duration is None or time.monotonic() - started < duration:
                current = api.get_client_status(name).results[0]
                _, latest = _snapshot(path, table_name)
                state = "streaming" if current.is_running else "stopped"
                live.update(_render(name, f"{state} · {current.subscribed_symbols}", latest))
                time.sleep(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        count = len(results_db.read_messages(path, table_name))
        api.kill(name)
        console.print(f"Stopped. {count} records were stored.")


@app.command()
def listen(
    url: Annotated[str, typer.Argument(help="Broadcast address, e.g. ws://127.0.0.1:6666")],
    auth_token: Annotated[str | None, typer.Option(help="The connection's auth_token.")] = None,
    symbol: Annotated[
        str | None, typer.Option(help="Only these symbols (comma-separated).")
    ] = None,
    replay: Annotated[
        int | None, typer.Option(help="First send the last N stored records.")
    ] = None,
) -> None:
    """Print every record a broadcast server sends, until Ctrl-C."""
    from .listen import listen as run_listen

    try:
        run_listen(url, auth_token=auth_token, symbol=symbol, replay=replay)
    except FeeddockError as exc:
        raise fail(exc) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the REST API (/api/v1/websockets/...), the dashboard (/), /docs and /metrics.

    With FEEDDOCK_TENANTS_FILE: one namespace per tenant, keys from that file, which is
    re-read when it changes or on SIGHUP.
    """
    import signal

    import uvicorn

    from .rest import create_app

    try:
        app = create_app()
    except FeeddockError as exc:  # e.g. a malformed tenants file: its line and field
        raise fail(exc) from None
    signal.signal(signal.SIGHUP, lambda signum, frame: app.state.directory.request_reload())
    console.print(
        f"feeddock REST API on http://{host}:{port} (dashboard at /, docs at /docs, "
        "Prometheus metrics at /metrics)"
    )
    # No access log: query strings may carry auth tokens, which are never logged.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
