"""The clean record every provider produces, whatever its wire format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator

# Epoch values at or above these are in finer units; providers mix ms (Polygon), ns (FMP stocks), s.
_SECONDS_CEILING = 10**11
_MILLIS_CEILING = 10**14
_MICROS_CEILING = 10**17
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_to_datetime(value: float) -> datetime:
    """Turn an epoch timestamp in s, ms, µs or ns into an aware UTC datetime.

    Integers are converted exactly (no float rounding of nanosecond stamps); the result keeps
    microseconds, the finest unit `datetime` has. This runs for every record, so an integer
    costs one `timedelta`, built positionally (days, seconds, microseconds, milliseconds).
    """
    if isinstance(value, int):
        magnitude = -value if value < 0 else value
        if magnitude < _SECONDS_CEILING:
            return _EPOCH + timedelta(0, value)
        if magnitude < _MILLIS_CEILING:
            return _EPOCH + timedelta(0, 0, 0, value)
        if magnitude < _MICROS_CEILING:
            return _EPOCH + timedelta(0, 0, value)
        return _EPOCH + timedelta(0, 0, value // 1000)  # floor, as for the other units
    size = abs(value)
    if size < _SECONDS_CEILING:
        per_second = 1
    elif size < _MILLIS_CEILING:
        per_second = 1_000
    elif size < _MICROS_CEILING:
        per_second = 1_000_000
    else:
        per_second = 1_000_000_000
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
        kind = type(value)  # exact types: a bool is no timestamp, and this runs per record
        if kind is int or kind is float:
            return epoch_to_datetime(value)
        if kind is str and value.lstrip("-").isdigit():
            return epoch_to_datetime(int(value))
        return value

    def to_json(self) -> str:
        """The stored form: compact JSON without unset or None fields.

        Same output as `model_dump_json(exclude_none=True)`, through the serializer directly:
        the wrapper's argument handling costs more than the serialisation of a small record.
        """
        return self.__pydantic_serializer__.to_json(self, exclude_none=True).decode()
