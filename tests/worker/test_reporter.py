"""Status lines of noisy kinds are rate-limited per kind, and every suppressed line is counted."""

from __future__ import annotations

import io

from contract.status import SUPPRESSED_EVENT, Reporter, Status, parse_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reporter(clock: Clock) -> tuple[Reporter, io.StringIO]:
    stream = io.StringIO()
    return Reporter("PROVIDER", stream, window=10.0, burst=3, clock=clock), stream


def statuses(stream: io.StringIO) -> list[Status]:
    parsed = [parse_line(line) for line in stream.getvalue().splitlines()]
    assert all(status is not None for status in parsed)
    return [status for status in parsed if status is not None]


def test_a_burst_prints_the_first_lines_then_one_summary_with_the_count() -> None:
    clock = Clock()
    report, stream = reporter(clock)
    for number in range(100):
        report.warning("unreadable", f"frame {number}", throttle="unreadable frames")
    assert [s.message for s in statuses(stream)] == ["frame 0", "frame 1", "frame 2"]

    clock.now += 10.0
    report.flush()

    summary = statuses(stream)[-1]
    assert summary.event == SUPPRESSED_EVENT
    assert summary.message == "97 more unreadable frames in the last 10 s"
    assert (summary["kind"], summary["count"], summary.level) == ("unreadable", 97, "WARNING")
    assert "PROVIDER WARNING:" in stream.getvalue().splitlines()[-1]


def test_a_new_window_prints_again_after_summarising_the_old_one() -> None:
    clock = Clock()
    report, stream = reporter(clock)
    for _ in range(5):
        report.error("provider_error", "bad", throttle="provider errors")
    clock.now += 11.0
    report.error("provider_error", "bad again", throttle="provider errors")

    events = [(s.event, s.message) for s in statuses(stream)]
    assert events[3:] == [
        (SUPPRESSED_EVENT, "2 more provider errors in the last 10 s"),
        ("provider_error", "bad again"),
    ]


def test_kinds_are_limited_separately_and_unthrottled_lines_never_are() -> None:
    report, stream = reporter(Clock())
    for _ in range(10):
        report.warning("unreadable", "u", throttle="unreadable frames")
        report.warning("invalid", "i", throttle="invalid records")
        report.info("stats", "s")
    counts = {
        kind: sum(s.event == kind for s in statuses(stream))
        for kind in ("unreadable", "invalid", "stats")
    }
    assert counts == {"unreadable": 3, "invalid": 3, "stats": 10}


def test_flush_forced_at_exit_loses_no_count_and_quiet_windows_print_nothing() -> None:
    clock = Clock()
    report, stream = reporter(clock)
    report.warning("unreadable", "one", throttle="unreadable frames")
    clock.now += 20.0
    report.flush()
    assert len(statuses(stream)) == 1  # nothing was suppressed: no summary

    for _ in range(4):
        report.warning("unreadable", "again", throttle="unreadable frames")
    report.flush(force=True)
    assert statuses(stream)[-1]["count"] == 1
