"""Pairs written any way users and exchanges write them map to one stored form."""

from __future__ import annotations

import pytest

from providers.symbols import canonical_pair, exchange_pair, split_pair, symbol_key


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("BTC/USD", "BTC/USD"),
        ("btc-usd", "BTC/USD"),
        ("btc_usd", "BTC/USD"),
        ("btcusd", "BTC/USD"),
        ("BTCUSDT", "BTC/USDT"),
        ("btc-usdt", "BTC/USDT"),
        ("ethbtc", "ETH/BTC"),
        ("usdcusdt", "USDC/USDT"),
        (" sol/eur ", "SOL/EUR"),
    ],
)
def test_every_spelling_of_a_pair_has_one_canonical_form(written: str, canonical: str) -> None:
    assert canonical_pair(written) == canonical


def test_a_symbol_that_is_not_a_pair_is_kept_upper_cased() -> None:
    assert split_pair("aapl") is None
    assert canonical_pair("aapl") == "AAPL"
    assert canonical_pair("USD") == "USD"  # a quote alone is not a pair
    assert split_pair("a/b/c") is None


def test_exchange_forms() -> None:
    assert exchange_pair("BTC/USDT", separator="-") == "BTC-USDT"
    assert exchange_pair("btc/usd", separator="", lower=True) == "btcusd"
    assert exchange_pair("btcusdt", separator="/") == "BTC/USDT"


def test_filter_keys_match_across_spellings() -> None:
    keys = {symbol_key(s) for s in ("BTC/USD", "btc-usd", "btcusd", "BTC_USD")}
    assert keys == {"btcusd"}
    assert symbol_key("X:BTCUSD") == "x:btcusd"  # only pair separators are removed
