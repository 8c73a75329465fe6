"""The broadcast server that runs inside a broadcast container (or as a local process).

`python -m broadcast_image` serves one connection's results table to local listeners over a
WebSocket at `/`. It is configured by `FEEDDOCK_BROADCAST_CONFIG` (JSON, see `config.py`); the
optional listener token comes from `FEEDDOCK_AUTH_TOKEN`, never argv, and is never logged.

Wire format
    Each text frame is newline-delimited JSON: one stored record per line, exactly the JSON
    text the provider worker stored, in id order. A frame carries all new records of one poll
    (one "tick") for that listener, split so no frame exceeds 512 KiB (the default `max_size`
    of websockets clients is 1 MiB); a listener that fell behind may get several ticks merged
    in one frame. A frame with one record is therefore a plain JSON object. Split on "\\n".

Listener query parameters
    `auth_token=` (or header `Authorization: Bearer <token>`) when the server has a token;
    otherwise the listener is accepted, then closed with 1008 "invalid or missing auth_token".
    `symbol=aapl,btc-usd` keeps only records whose `symbol` matches in any spelling (case and
    the pair separators `/ - _` ignored: `BTC/USD`, `btcusd` and `btc-usd` are one symbol).
    `replay=N` first sends the last N stored records (matching the filter), then the live
    stream with no gap and no duplicate. N is capped at `max_pending_records`. A malformed
    value closes with 4400 and the reason.

Delivery
    One reader task polls `WHERE id > last ORDER BY id` every `sleep_time` seconds (a fixed
    grid) with one long-lived SQLite connection, from MAX(id) at start-up, so new listeners get
    only new records unless they ask for a replay. Ids are never reused, so clears and
    retention deletes need nothing special; rows deleted before the next poll are never sent.
    Each frame is built once per distinct symbol filter and queued for every matching listener;
    each listener has its own sender task.

Slow listeners
    A listener's queue is bounded by `max_pending_records` (default 50,000 records, not counting
    what the OS socket buffers already hold). When a tick would take it past the bound, its
    queue is dropped and it is closed with 1013 and "listener too slow: N records pending";
    what it received is an in-order prefix. A `slow_listener` status line counts the drops.
    The reader and the other listeners never wait for it.

Status lines (`BROADCAST <LEVEL>:` + text + TAB + JSON, see `provider_image.report`)
    listening, accepted, open, closed, refused, slow_listener, port_in_use (exit code 5),
    config_error (exit code 2), results_reset, read_failed, parent_gone, stopped.
    SIGTERM/SIGINT stop gracefully (listeners get 1012) with exit code 0.
"""
