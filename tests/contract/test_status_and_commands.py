"""The two line formats between orchestrator and workers: one writer and one reader each."""

from __future__ import annotations

import pytest

from contract.commands import CommandError, encode_command, parse_command
from contract.status import Level, format_line, human_part, parse_line


def test_a_status_line_reads_well_and_parses_exactly() -> None:
    line = format_line("PROVIDER", Level.WARNING, "dropped", "5 records\tdropped", dropped=5)
    assert human_part(line) == "PROVIDER WARNING:   5 records dropped"
    status = parse_line(line)
    assert status is not None
    assert (status.level, status.event, status.get("dropped")) == (Level.WARNING, "dropped", 5)


def test_lines_that_are_not_status_lines_parse_to_none() -> None:
    assert parse_line("Traceback (most recent call last):") is None
    assert parse_line("x\t{not json") is None
    assert parse_line('x\t{"no_event": 1}') is None


def test_a_line_without_a_level_field_takes_the_level_of_its_label() -> None:
    status = parse_line('PROVIDER ERROR:     boom\t{"event":"fatal","message":"boom"}')
    assert status is not None and status.level is Level.ERROR


def test_commands_round_trip() -> None:
    line = encode_command("unsubscribe", ["AAPL", "msft"], "7")
    command = parse_command(line)
    assert (command.action, command.symbols, command.id) == ("unsubscribe", ["AAPL", "msft"], "7")


@pytest.mark.parametrize(
    "line", ["nope", "[]", '{"event":"buy","symbol":"x"}', '{"event":"subscribe","symbol":" , "}']
)
def test_bad_commands_are_refused_with_a_reason(line: str) -> None:
    with pytest.raises(CommandError):
        parse_command(line)
