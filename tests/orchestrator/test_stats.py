"""What the orchestrator keeps of the workers' `stats` lines, and the rate it derives."""

from __future__ import annotations

from orchestrator.stats import StatsHistory, numeric_fields


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_numbers_are_kept() -> None:
    assert numeric_fields({"a": 1, "b": 2.5, "c": "x", "d": None, "e": True}) == {
        "a": 1.0,
        "b": 2.5,
    }


def test_the_rate_is_the_growth_over_the_window_up_to_now() -> None:
    clock = Clock()
    history = StatsHistory(clock)
    assert history.rate() is None
    for written in (0, 200, 400, 600, 800, 1000, 1200):
        history.add({"written": written})
        clock.now += 2
    # Lines every 2 s, +200 each, the last one 2 s ago: from the line 10 s ago (400) to now,
    # 800 records in 10 s.
    assert history.rate(window=10) == 80.0
    clock.now += 60  # no line for a minute: nothing was written
    assert history.rate(window=10) == 0.0


def test_the_latest_line_and_its_time_are_kept() -> None:
    clock = Clock()
    history = StatsHistory(clock)
    history.add({"received": 1})
    history.add({"received": 2}, at=999.0)
    assert history.latest() == (999.0, {"received": 2.0})
