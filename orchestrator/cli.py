"""`feeddock` command line: thin wrappers over the Python API."""

from __future__ import annotations

import time
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from contract import results as results_db
from providers import available_providers, get_provider

from .cli_images import images_app
from .errors import FeeddockError

app = typer.Typer(
    help="feeddock: background market-data WebSocket connections, recorded to SQLite.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(images_app, name="images")
console = Console()
errors = Console(stderr=True)


def fail(exc: FeeddockError) -> typer.Exit:
    errors.print(f"[bold red]Error:[/] {exc}")
    return typer.Exit(code=2)


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


@app.command()
def demo(
    symbol: Annotated[
        str, typer.Option(help="Comma-separated symbols, or '*'.")
    ] = "aapl,msft,btcusd,eurusd",
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
) -> None:
    """Stream the built-in demo market and show it live (no API key, no internet)."""
    from .api import obb

    api = obb.websockets
    try:
        status = api.create_connection(provider="demo", name="demo", symbol=symbol)
    except FeeddockError as exc:
        raise fail(exc) from None
    path, table_name = status.results.results_file or "", status.results.table_name or "records"
    console.print(f"Recording to {path} (table {table_name}). Press Ctrl-C to stop.")
    started = time.monotonic()
    try:
        with Live(console=console, refresh_per_second=4) as live:
            while duration is None or time.monotonic() - started < duration:
                current = api.get_client_status("demo").results[0]
                _, latest = _snapshot(path, table_name)
                state = "streaming" if current.is_running else "stopped"
                live.update(_render("demo", f"{state} · {current.subscribed_symbols}", latest))
                time.sleep(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        count = len(results_db.read_messages(path, table_name))
        api.kill("demo")
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
    """Serve the REST API (/api/v1/websockets/..., docs at /docs) with uvicorn.

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
    console.print(f"feeddock REST API on http://{host}:{port} (OpenAPI docs at /docs)")
    # No access log: query strings may carry auth tokens, which are never logged.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
