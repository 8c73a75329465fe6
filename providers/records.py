"""The clean record every provider produces, whatever its wire format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator

# Epoch values above these are in finer units; providers mix ms (Polygon), ns (FMP stocks), s.
_SECONDS_CEILING = 1e11
_MILLIS_CEILING = 1e14
_MICROS_CEILING = 1e17
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_to_datetime(value: float) -> datetime:
    """Turn an epoch timestamp in s, ms, µs or ns into an aware UTC datetime.

    Integers are converted exactly (no float rounding of nanosecond stamps); the result keeps
    microseconds, the finest unit `datetime` has.
    """
    magnitude = abs(value)
    if magnitude < _SECONDS_CEILING:
        per_second = 1
    elif magnitude < _MILLIS_CEILING:
        per_second = 1_000
    elif magnitude < _MICROS_CEILING:
        per_second = 1_000_000
    else:
        per_second = 1_000_000_000
    if isinstance(value, int):
        seconds, fraction = divmod(value, per_second)
        micros = fraction * 1_000_000 // per_second
        return _EPOCH + timedelta(seconds=seconds, microseconds=micros)
    return datetime.fromtimestamp(value / per_second, tz=UTC)


class WebSocketData(BaseModel):
    """One market-data record.

    `date` is always timezone-aware; epoch numbers in s/ms/µs/ns and ISO strings are accepted.
    Providers subclass it with aliases from their wire names; fields a provider does not send
    stay None and are left out of the stored JSON. Extra provider fields are kept.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    date: AwareDatetime
    symbol: str
    type: str | None = None
    exchange: str | None = None
    last_price: float | None = None
    last_size: float | None = None
    bid_price: float | None = None
    bid_size: float | None = None
    ask_price: float | None = None
    ask_size: float | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _parse_date(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return epoch_to_datetime(value)
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return epoch_to_datetime(int(value))
        return value

    def to_json(self) -> str:
        """The stored form: compact JSON without unset or None fields."""
        return self.model_dump_json(exclude_none=True)
