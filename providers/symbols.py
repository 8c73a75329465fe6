"""One spelling for currency pairs, whatever form the user or the exchange writes.

Exchanges spell the same pair differently: `BTC/USD` (Kraken v2, Alpaca crypto), `BTC-USD`
(Coinbase, OKX `BTC-USDT`), `btcusd` (Bitstamp), `BTCUSDT` / `btcusdt` (Binance). feeddock
stores and shows one canonical form, `BASE/QUOTE` in upper case (`BTC/USD`), the form CCXT
also uses, and accepts any of the others as input:

    >>> canonical_pair("btc-usd"), canonical_pair("btcusdt"), canonical_pair("ETH_BTC")
    ('BTC/USD', 'BTC/USDT', 'ETH/BTC')
    >>> exchange_pair("BTC/USDT", separator="-"), exchange_pair("btc/usd", separator="", lower=True)
    ('BTC-USDT', 'btcusd')

A pair written without a separator is split at the longest known quote currency it ends with
(`QUOTE_CURRENCIES`); one that cannot be split is kept as written, in upper case.

`symbol_key` is what filters compare (the broadcast server's `symbol=`): lower case with the
pair separators removed, so `BTC/USD`, `btc-usd` and `btcusd` all select the same records.
"""

from __future__ import annotations

import re

# Longest first, so `btcusdt` splits as BTC/USDT, not BTCU/SDT or BTC/USD + "T".
QUOTE_CURRENCIES = tuple(
    sorted(
        {
            "USDT", "USDC", "FDUSD", "TUSD", "BUSD", "USDP", "DAI", "PYUSD", "EURT", "EURC",
            "USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "TRY", "BRL", "MXN", "SGD",
            "BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "TRX", "DOT",
        },
        key=lambda quote: (-len(quote), quote),
    )
)  # fmt: skip
PAIR_SEPARATORS = "/-_"
_SEPARATOR_PATTERN = re.compile(r"[/\-_]")


def split_pair(symbol: str) -> tuple[str, str] | None:
    """`("BTC", "USD")` for any spelling of a pair, or None when it is not a pair."""
    text = symbol.strip().upper()
    parts = [part for part in _SEPARATOR_PATTERN.split(text) if part]
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) != 1:
        return None
    for quote in QUOTE_CURRENCIES:
        if text.endswith(quote) and len(text) > len(quote):
            return text[: -len(quote)], quote
    return None


def canonical_pair(symbol: str) -> str:
    """`BASE/QUOTE` in upper case; a symbol that is not a pair comes back upper-cased."""
    pair = split_pair(symbol)
    return f"{pair[0]}/{pair[1]}" if pair else symbol.strip().upper()


def exchange_pair(symbol: str, *, separator: str, lower: bool = False) -> str:
    """The pair in an exchange's own form: `separator` between base and quote, case chosen."""
    pair = split_pair(symbol)
    text = separator.join(pair) if pair else symbol.strip().upper()
    return text.lower() if lower else text


def symbol_key(symbol: str) -> str:
    """What filters compare: lower case, pair separators removed (`BTC/USD` -> `btcusd`)."""
    return _SEPARATOR_PATTERN.sub("", symbol.strip().lower())


__all__ = [
    "PAIR_SEPARATORS",
    "QUOTE_CURRENCIES",
    "canonical_pair",
    "exchange_pair",
    "split_pair",
    "symbol_key",
]
