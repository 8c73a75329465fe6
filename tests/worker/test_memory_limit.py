"""The container memory limit a provider worker needs follows its buffer and frame bounds."""

from __future__ import annotations

import pytest

from contract.config import (
    DEFAULT_BUFFER_BYTES,
    DEFAULT_MAX_SIZE,
    MIB,
    WorkerConfig,
    worker_memory_limit,
)


def test_the_default_limit_covers_the_measured_peak_with_headroom() -> None:
    limit = worker_memory_limit()
    assert limit == worker_memory_limit(DEFAULT_BUFFER_BYTES, DEFAULT_MAX_SIZE)
    assert limit % MIB == 0
    # bench/worker_memory.py measured a 110 MiB peak for the defaults (32 MiB, 16 MiB).
    assert 110 * MIB * 1.25 < limit < 256 * MIB


def test_the_limit_grows_with_the_buffer_and_with_max_size() -> None:
    base = worker_memory_limit(32 * MIB, 16 * MIB)
    assert worker_memory_limit(64 * MIB, 16 * MIB) > base
    assert worker_memory_limit(32 * MIB, 32 * MIB) > base
    assert worker_memory_limit(8 * MIB, 1 * MIB) < base


def test_bounds_below_the_minimum_are_refused_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="buffer_bytes must be >= 1048576"):
        worker_memory_limit(1000, DEFAULT_MAX_SIZE)
    with pytest.raises(ValueError, match="buffer_bytes"):
        WorkerConfig(provider="demo", params={}, results_file="/tmp/x.db", buffer_bytes=10)
