"""Connection commands against a running `feeddock serve` (both are separate processes)."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess

from providers.demo.simulator import DemoSimulator

from ..helpers import free_port, wait_until
from .conftest import API_KEY, FEEDDOCK, Run, Server, cli_env, make_run


def test_a_connection_lives_its_whole_life_through_the_cli(remote: Run, market: DemoSimulator):
    port = free_port()
    created = remote(
        "create", "demo", "ops_cli1", "-s", "aapl,msft", "--url", market.url,
        "--broadcast", "--port", str(port), "-p", "sleep_time=0.05",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == (
        f"ops_cli1: running, subscribed to AAPL,MSFT, broadcasting at ws://127.0.0.1:{port}"
    )

    table = remote("ls")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == [
        "NAME", "PROVIDER", "SYMBOLS", "RUNNING", "BROADCASTING", "ADDRESS", "RECORDS",
        "RATE/S", "LAST", "ERROR",
    ]  # fmt: skip
    assert row.split()[:6] == [
        "ops_cli1",
        "demo",
        "AAPL,MSFT",
        "yes",
        "yes",
        f"ws://127.0.0.1:{port}",
    ]

    subscribed = remote("subscribe", "ops_cli1", "nflx")
    assert "subscribed to AAPL,MSFT,NFLX" in subscribed.stdout
    again = remote("subscribe", "ops_cli1", "nflx")
    assert again.returncode == 0
    assert "Warning: ops_cli1 was already subscribed to: NFLX" in again.stderr

    listed = json.loads(remote("ls", "--json").stdout)
    assert [s["name"] for s in listed] == ["ops_cli1"]
    assert listed[0]["metrics"]["labels"] == {
        "tenant": "default",
        "connection": "ops_cli1",
        "provider": "demo",
    }
    status = json.loads(remote("status", "ops_cli1", "--json").stdout)
    assert status["subscribed_symbols"] == "AAPL,MSFT,NFLX" and status["is_running"]

    wait_until(lambda: len(json.loads(remote("results", "ops_cli1", "--json").stdout)) >= 5)
    last3 = json.loads(remote("results", "ops_cli1", "--tail", "3", "--json").stdout)
    assert len(last3) == 3 and all(r["symbol"] in ("AAPL", "MSFT", "NFLX") for r in last3)
    rows = list(csv.DictReader(io.StringIO(remote("results", "ops_cli1", "--csv").stdout)))
    assert len(rows) == 20 and {"symbol", "date"} <= set(rows[0])
    assert "AAPL" in remote("results", "ops_cli1", "--tail", "50").stdout

    logs = remote("logs", "ops_cli1")
    assert "PROVIDER INFO:      Authorization: Success" in logs.stdout
    assert "Subscribed to: NFLX" in logs.stdout
    assert (
        '{"event"' not in logs.stdout and '{"event"' in remote("logs", "ops_cli1", "--raw").stdout
    )
    assert "Stream results from" in remote("logs", "ops_cli1", "--broadcast").stdout

    stopped = remote("stop", "ops_cli1")
    assert stopped.stdout.startswith("ops_cli1: stopped, subscribed to AAPL,MSFT,NFLX")
    assert remote("ls").stdout.splitlines()[1].split()[3] == "no"
    assert remote("restart", "ops_cli1").stdout.startswith("ops_cli1: running")
    assert "broadcasting" not in remote("broadcast", "stop", "ops_cli1").stdout
    restarted = remote("broadcast", "start", "ops_cli1", "--port", str(port))
    assert f"broadcasting at ws://127.0.0.1:{port}" in restarted.stdout
    unsubscribed = remote("unsubscribe", "ops_cli1", "msft")
    assert "subscribed to AAPL,NFLX" in unsubscribed.stdout

    killed = remote("kill", "ops_cli1")
    assert killed.stdout.strip() == "Clients ops_cli1 killed."
    assert remote("ls").stdout.strip() == "No connections."


def test_refusals_are_one_line_with_their_exit_code(
    server: Server, remote: Run, market: DemoSimulator
):
    assert remote("create", "demo", "ops_cli2", "-s", "aapl", "--url", market.url).returncode == 0
    cases = [
        (remote("status", "nope"), 3, "No connection named 'nope'."),
        (remote("create", "nope", "x", "-s", "a"), 2, "Unknown provider 'nope'."),
        (remote("create", "demo", "ops_cli2", "-s", "a", "--url", market.url), 5, "already exists"),
        (remote("broadcast", "stop", "ops_cli2"), 5, "is not broadcasting"),
        (remote("create", "demo", "x", "-p", "oops"), 2, "--param takes key=value"),
        (remote("create", "demo", "x", "-p", "api_key=k"), 2, "never goes on a command line"),
        (remote("ls", FEEDDOCK_SERVER_API_KEY="wrong"), 4, "does not match"),
        (make_run(FEEDDOCK_SERVER=server.url)("ls"), 4, "requires an API key"),
        (remote("ls", FEEDDOCK_SERVER="http://127.0.0.1:1"), 7, "Cannot reach the feeddock"),
        (remote("results", "ops_cli2", "--csv", "--json"), 2, "Choose one of --csv and --json"),
    ]
    for result, code, text in cases:
        lines = result.stderr.strip().splitlines()
        assert (result.returncode, len(lines)) == (code, 1), result.stderr
        assert lines[0].startswith("Error: ") and text in lines[0], lines[0]
    remote("kill", "ops_cli2")


def test_a_connection_with_a_token_needs_it(remote: Run, market: DemoSimulator):
    created = remote(
        "create", "demo", "ops_cli3", "-s", "aapl", "--url", market.url, "--auth-token", "t0k"
    )
    assert created.returncode == 0, created.stderr
    assert remote("ls").stdout.strip() == "No connections."  # not visible without its token
    refused = remote("stop", "ops_cli3")
    assert refused.returncode == 4 and "requires its auth_token" in refused.stderr
    assert remote("ls", FEEDDOCK_CONNECTION_TOKEN="t0k").stdout.startswith("NAME")
    assert remote("kill", "ops_cli3", "--auth-token", "t0k").returncode == 0


def test_logs_follow_prints_new_lines_until_ctrl_c(
    server: Server, remote: Run, market: DemoSimulator
):
    assert remote("create", "demo", "ops_cli4", "-s", "aapl", "--url", market.url).returncode == 0
    follower = subprocess.Popen(
        [FEEDDOCK, "logs", "ops_cli4", "-f", "--tail", "1"],
        env=cli_env(FEEDDOCK_SERVER=server.url, FEEDDOCK_SERVER_API_KEY=API_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    first = follower.stdout.readline()
    assert first.startswith("PROVIDER INFO:")
    remote("subscribe", "ops_cli4", "tsla")
    seen = [follower.stdout.readline() for _ in range(2)]
    assert any("Subscribed to: TSLA" in line for line in seen), seen
    follower.send_signal(signal.SIGINT)
    assert follower.wait(10) == 0
    assert "Traceback" not in follower.communicate()[1]
    remote("kill", "ops_cli4")


def test_help_shows_examples_and_exit_codes():
    for command in (["ls"], ["create"], ["logs"], ["broadcast", "start"]):
        shown = make_run()(*command, "--help")
        assert shown.returncode == 0
        assert "Examples:" in shown.stdout and "Exit codes: 0 ok" in shown.stdout
        assert "FEEDDOCK_SERVER" in shown.stdout
