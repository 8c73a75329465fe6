"""`feeddock ls|create|status|subscribe|unsubscribe|stop|restart|kill|logs|results|broadcast`.

Lifecycle commands in the manner of `docker` and `kubectl`, against a running `feeddock serve`
(`--server`) or, with no server, the local Docker engine (cli_backend.py says how and why
only Docker). Output is for people by default and JSON (or CSV) on request; a refusal is one
`Error:` line on stderr and an exit code from cli_errors.py.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from contract.status import human_part

from .cli_backend import Backend, Status, open_backend
from .cli_errors import HELP as EXIT_HELP
from .cli_errors import fail, warn
from .errors import FeeddockError, ParameterError

WHERE = "Server (default: the local Docker engine)"
Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="FEEDDOCK_SERVER",
        help="Address of a running `feeddock serve`, e.g. http://127.0.0.1:8000.",
        rich_help_panel=WHERE,
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="FEEDDOCK_SERVER_API_KEY",
        help="The server's API key (sent as X-API-Key).",
        rich_help_panel=WHERE,
        show_default=False,
    ),
]
AuthToken = Annotated[
    str | None,
    typer.Option(
        "--auth-token",
        envvar="FEEDDOCK_CONNECTION_TOKEN",
        help="The connection's auth_token (for `create`: the token to set).",
        rich_help_panel=WHERE,
        show_default=False,
    ),
]
Name = Annotated[str, typer.Argument(help="The connection's name.", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]

console = Console(highlight=False, soft_wrap=True)
broadcast_app = typer.Typer(
    help="Start or stop a connection's broadcast server.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def examples(*lines: str) -> str:
    return "Examples:\n\n" + "\n".join(f"  {line}" for line in lines) + f"\n\n{EXIT_HELP}"


@contextmanager
def backend(server: str | None, api_key: str | None, auth_token: str | None) -> Iterator[Backend]:
    """The backend for one command; a refusal anywhere inside ends the command with its code."""
    try:
        chosen = open_backend(server, api_key, auth_token)
    except FeeddockError as exc:
        raise fail(exc) from None
    try:
        yield chosen
    except FeeddockError as exc:
        raise fail(exc) from None
    finally:
        chosen.close()


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def show_warnings(answer: dict[str, Any]) -> None:
    for message in answer.get("warnings") or []:
        warn(message)


def summary(status: Status) -> str:
    """One line: the connection's state, its symbols and where it broadcasts."""
    state = "running" if status["is_running"] else "stopped"
    line = f"{status['name']}: {state}, subscribed to {status['subscribed_symbols'] or '-'}"
    if status["is_broadcasting"]:
        line += f", broadcasting at {status['broadcast_address']}"
    return line


# -- ls and status ---------------------------------------------------------------------------


def _figure(value: Any, digits: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}"


def ls(
    server: Server = None, api_key: ApiKey = None, auth_token: AuthToken = None, json: Json = False
) -> None:
    """List the connections with their state and counters."""
    with backend(server, api_key, auth_token) as chosen:
        statuses = sorted(chosen.statuses(), key=lambda s: str(s["name"]))
    if json:
        print_json(statuses)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NAME", "PROVIDER", "SYMBOLS", "RUNNING", "BROADCASTING", "ADDRESS"):
        table.add_column(column, overflow="fold", max_width=40)
    for column in ("RECORDS", "RATE/S"):
        table.add_column(column, justify="right")
    table.add_column("LAST ERROR", overflow="fold", max_width=50)
    for status in statuses:
        metrics = status.get("metrics") or {}
        provider = metrics.get("provider") or {}
        table.add_row(
            status["name"],
            (metrics.get("labels") or {}).get("provider", ""),
            status["subscribed_symbols"],
            "yes" if status["is_running"] else "no",
            "yes" if status["is_broadcasting"] else "no",
            status["broadcast_address"] or "",
            _figure(provider.get("written")),
            _figure(metrics.get("records_per_second"), 1),
            status.get("last_error") or "",
        )
    if not statuses:
        console.print("No connections.")
        return
    console.print(table)


def status(
    name: Name,
    server: Server = None,
    api_key: ApiKey = None,
    auth_token: AuthToken = None,
    json: Json = False,
) -> None:
    """Show one connection: every status field and its workers' counters."""
    with backend(server, api_key, auth_token) as chosen:
        found = chosen.statuses(name)[0]
    if json:
        print_json(found)
        return
    metrics = found.pop("metrics", None) or {}
    width = max(len(key) for key in found)
    for key, value in found.items():
        console.print(f"{key.ljust(width)}  {'' if value is None else value}")
    for role in ("provider", "broadcast"):
        figures = metrics.get(role) or {}
        if figures:
            console.print(f"\n{role} counters:")
            for key, value in sorted(figures.items()):
                console.print(f"  {key.ljust(20)}  {value:,.6g}")
    if metrics.get("records_per_second") is not None:
        console.print(f"\nrecords per second (10 s): {metrics['records_per_second']:,.1f}")


# -- create ------------------------------------------------------------------------------------


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; a value that reads as JSON (a number, true, an object) is that."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(
                f"Invalid parameters: --param takes key=value, got {pair!r}.", field="param"
            )
        if key == "api_key":
            raise ParameterError(
                "Invalid parameters: a provider credential never goes on a command line; set "
                "<PROVIDER>_API_KEY in the environment of whoever runs the worker (the server, "
                "or this command without --server).",
                field="api_key",
            )
        try:
            params[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            params[key] = raw
    return params


def create(
    provider: Annotated[str, typer.Argument(help="demo, polygon, ... (`feeddock providers`).")],
    name: Name,
    symbol: Annotated[
        str | None, typer.Option("--symbol", "-s", help="Symbols, comma-separated.")
    ] = None,
    broadcast: Annotated[
        bool, typer.Option("--broadcast", help="Start the broadcast server too.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Broadcast host (default 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(help="Broadcast port (default 6666).", min=1, max=65535)
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Connect here instead (proxy, simulator).")
    ] = None,
    results_file: Annotated[
        str | None, typer.Option(help="Absolute path of the SQLite file.")
    ] = None,
    save_results: Annotated[
        bool, typer.Option("--save-results", help="Keep the results file after kill.")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="Newest records kept (default 1000).")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Any other parameter, key=value (repeatable)."),
    ] = None,
    server: Server = None,
    api_key: ApiKey = None,
    auth_token: AuthToken = None,
    json: Json = False,
) -> None:
    """Create a connection; returns once the provider streams."""
    try:
        params = parse_params(param or [])
    except ParameterError as exc:
        raise fail(exc) from None
    options = {
        "symbol": symbol,
        "broadcast_host": host,
        "broadcast_port": port,
        "url": url,
        "results_file": results_file,
        "limit": limit,
        "auth_token": auth_token,
        "start_broadcast": broadcast or None,
        "save_results": save_results or None,
    }
    params.update({key: value for key, value in options.items() if value is not None})
    with backend(server, api_key, auth_token) as chosen:
        answer = chosen.create(provider, name, params)
    show_warnings(answer)
    if json:
        print_json(answer["results"])
    else:
        console.print(summary(answer["results"]))


# -- changes -----------------------------------------------------------------------------------


def _act(
    action: str,
    name: str,
    where: tuple[str | None, str | None, str | None],
    **params: Any,
) -> dict[str, Any]:
    with backend(*where) as chosen:
        answer = chosen.act(action, name, **params)
    show_warnings(answer)
    return answer


Symbols = Annotated[str, typer.Argument(help="Comma-separated symbols.", show_default=False)]


def subscribe(
    name: Name,
    symbols: Symbols,
    server: Server = None,
    api_key: ApiKey = None,
    auth_token: AuthToken = None,
) -> None:
    """Subscribe a connection to more symbols while it streams."""
    answer = _act("subscribe", name, (server, api_key, auth_token), symbol=symbols)
    console.print(summary(answer["results"]))


def unsubscribe(
    name: Name,
    symbols: Symbols,
    server: Server = None,
    api_key: ApiKey = None,
    auth_token: AuthToken = None,
) -> None:
    """Unsubscribe a connection from symbols."""
    answer = _act("unsubscribe", name, (server, api_key, auth_token), symbol=symbols)
    console.print(summary(answer["results"]))


def stop(
    name: Name, server: Server = None, api_key: ApiKey = None, auth_token: AuthToken = None
) -> None:
    """Stop the provider connection (results, subscriptions and broadcast are kept)."""
    answer = _act("stop_connection", name, (server, api_key, auth_token))
    console.print(summary(answer["results"]))


def restart(
    name: Name, server: Server = None, api_key: ApiKey = None, auth_token: AuthToken = None
) -> None:
    """Start the provider connection again (stopping it first if it runs)."""
    answer = _act("restart_connection", name, (server, api_key, auth_token))
    console.print(summary(answer["results"]))


def kill(
    name: Name, server: Server = None, api_key: ApiKey = None, auth_token: AuthToken = None
) -> None:
    """Stop everything the connection runs, forget it, delete its temporary results."""
    answer = _act("kill", name, (server, api_key, auth_token))
    console.print(answer["results"])


@broadcast_app.command("start", epilog=examples("feeddock broadcast start btc --port 6667"))
def broadcast_start(
    name: Name,
    host: Annotated[
        str | None, typer.Option(help="Default: the connection's broadcast_host.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Default: its broadcast_port.", min=1, max=65535)
    ] = None,
    server: Server = None,
    api_key: ApiKey = None,
    auth_token: AuthToken = None,
) -> None:
    """Start the connection's broadcast server."""
    answer = _act("start_broadcasting", name, (server, api_key, auth_token), host=host, port=port)
    console.print(summary(answer["results"]))


@broadcast_app.command("stop", epilog=examples("feeddock broadcast stop btc"))
def broadcast_stop(
    name: Name, server: Server = None, api_key: ApiKey = None, auth_token: AuthToken = None
) -> None:
    """Stop the broadcast server; the provider keeps streaming."""
    answer = _act("stop_broadcasting", name, (server, api_key, auth_token))
    console.print(summary(answer["results"]))


# -- reading -----------------------------------------------------------------------------------


def logs(
    name: Name,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.", min=0)] = None,
    broadcast: Annotated[
        bool, typer.Option("--broadcast", help="The broadcast server's lines.")
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Whole lines, JSON part included.")] = False,
    server: Server = None,
    api_key: ApiKey = None,
    auth_token: AuthToken = None,
) -> None:
    """Print a connection's worker output (the provider's by default); -f follows it."""
    role = "broadcast" if broadcast else "provider"
    try:
        with backend(server, api_key, auth_token) as chosen:
            for line in chosen.logs(name, role, tail, follow):
                sys.stdout.write((line if raw else human_part(line)) + "\n")
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass


def results(
    name: Name,
    tail: Annotated[int, typer.Option(help="The last N records (0: all).", min=0)] = 20,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    json: Json = False,
    server: Server = None,
    api_key: ApiKey = None,
    auth_token: AuthToken = None,
) -> None:
    """Print a connection's stored records, oldest first."""
    if as_csv and json:
        raise fail(ParameterError("Choose one of --csv and --json.", field="format"))
    with backend(server, api_key, auth_token) as chosen:
        records = chosen.results(name, tail or None)
    if json:
        print_json(records)
        return
    columns = list(dict.fromkeys(key for record in records for key in record))
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return
    if not records:
        console.print(f"No records stored for {name} yet.")
        return
    table = Table(*columns, box=None, header_style="bold", pad_edge=False)
    for record in records:
        table.add_row(*("" if record.get(c) is None else str(record.get(c)) for c in columns))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the connection commands to the `feeddock` app."""
    commands: list[tuple[Callable[..., None], tuple[str, ...]]] = [
        (ls, ("feeddock ls", "feeddock ls --json", "feeddock ls --server http://127.0.0.1:8000")),
        (create, (
            "feeddock create demo btc -s btcusd,ethusd --url ws://127.0.0.1:8765 --broadcast",
            "feeddock create polygon stocks -s aapl -p asset_type=stock --server http://h:8000",
        )),
        (status, ("feeddock status btc", "feeddock status btc --json")),
        (subscribe, ("feeddock subscribe btc solusd,xrpusd",)),
        (unsubscribe, ("feeddock unsubscribe btc ethusd",)),
        (stop, ("feeddock stop btc",)),
        (restart, ("feeddock restart btc",)),
        (kill, ("feeddock kill btc",)),
        (logs, ("feeddock logs btc -f", "feeddock logs btc --broadcast --tail 20")),
        (results, ("feeddock results btc --tail 5", "feeddock results btc --tail 0 --csv")),
    ]  # fmt: skip
    for command, lines in commands:
        app.command(command.__name__, epilog=examples(*lines), rich_help_panel="Connections")(
            command
        )
    app.add_typer(broadcast_app, name="broadcast", rich_help_panel="Connections")


__all__ = ["broadcast_app", "parse_params", "register", "summary"]
