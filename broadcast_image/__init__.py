"""The broadcast server that runs inside a broadcast container (or as a local process).

`python -m broadcast_image` serves one connection's results table to local listeners over a
WebSocket at `/`. It is configured by `FEEDDOCK_BROADCAST_CONFIG` (JSON, `contract.config.
BroadcastConfig`); the optional listener token comes from `FEEDDOCK_AUTH_TOKEN`, never argv,
and is never logged.

Wire format
    By default each text frame is one stored record, exactly the JSON text the provider worker
    stored, in id order: any WebSocket client (a browser's `WebSocket`, `websocat`, Python
    `websockets`) parses each message as one JSON object.
    `format=ndjson` asks for batches: each frame holds the new records of one read, one per
    line (newline-delimited JSON), at most 512 KiB (the default `max_size` of websockets
    clients is 1 MiB); a listener that fell behind gets several reads merged. A batch of one
    record is a plain JSON object. Split on "\\n". `listen()` and `alisten()` ask for this.
    Data frames are never compressed, even when `uvicorn_kwargs` enable permessage-deflate.

Listener query parameters
    `auth_token=` (or header `Authorization: Bearer <token>`) when the server has a token.
    `symbol=aapl,btc-usd` keeps only records whose `symbol` has the same
        `providers.symbols.symbol_key` (case and pair separators ignored: `btc-usd`, `BTCUSD`
        and `BTC/USD` are one symbol).
    `replay=N` first sends the last N stored records (matching the filter), then the live
        stream with no gap and no duplicate. N is capped at `max_pending_records`.
    `format=record` (default) or `format=ndjson`.

Refusals (before the WebSocket is accepted: an HTTP status, the reason as a text body; nothing
is registered or buffered for a refused listener)
    401 "invalid or missing auth_token" (with `WWW-Authenticate: Bearer`);
    400 "invalid query parameter: ..." for a bad `replay` or `format`;
    503 "too many listeners: N connected (max_listeners)" or "too many distinct symbol filters:
        N in use (max_filters); ..." (with `Retry-After: 5`).

Delivery
    One reader task reads `WHERE id > last ORDER BY id` through aiosqlite with one long-lived
    connection (replays use a second one), from the last id used at start-up, so new listeners
    get only new records unless they ask for a replay. It reads as soon as the provider's commit
    touches the results file's WAL (inotify on the results directory, which works between
    containers sharing the bind mount) and at least every `sleep_time` seconds whatever
    happens, so a lost notification costs latency, never records (`wake_on_commit=False` turns
    notifications off). Rows are appended once, as ready-made frames, to one shared buffer in
    which every listener has a read position; frames are built once per framing and filter and
    the same bytes are written to every listener that can take them.

No silent gaps
    The server publishes how far it has read (`contract.cursor`, the file
    `<results_file>-cursor`): at start, on progress (at most every 0.1 s), at least every 5 s
    while idle, and withdraws it when it stops; the writer does not trim rows above it (within
    its hold bound). When ids jump anyway (rows deleted before they were read: the hold bound
    exceeded, or `clear_results` racing a commit), every listener is closed with 4410
    "records lost: N (ids A-B) deleted before they were read" after an in-order prefix, so no
    stream ever has a hole; the gap is reported (`gap`) and counted (`stats`).

Slow listeners and memory
    A listener whose socket buffer is full keeps its position; the shared buffer holds what the
    slowest listener has not had. A listener more than `max_pending_records` (default 50,000)
    records behind the newest one (whatever its filter) is closed with 1013 "listener too
    slow: N records pending"; when the shared buffer exceeds `max_buffer_bytes` (default
    32 MiB), the listener furthest behind is closed first, then the next. What a closed
    listener received is an in-order prefix, and the close frame follows it; a listener that
    does not take its close within 10 s is disconnected. Each socket holds at most about 1 MiB
    (256 KiB written past its high-water mark plus a 256 KiB kernel send buffer, which Linux
    doubles), so the server's memory is bounded by `max_buffer_bytes` + `max_listeners`
    (default 100) x 1 MiB. `max_filters` (default 64) bounds the distinct filters, each of
    which costs a pass over every read.

Status lines (`BROADCAST <LEVEL>:` + text + TAB + JSON, see `contract.status`)
    listening       INFO     bound and serving: `address`
    accepted        INFO     a listener's handshake was accepted: `client`
    open            INFO     a listener is registered: `client`, `format`, `filtered`,
                             `listeners`
    closed          INFO     a listener left: `client`, `sent` (records), `code` (the server's
                             close code, or null), `listeners`
    refused         WARNING  handshakes refused: `client`, `status`, `reason`, `count` (since
                             the last such line; at most one line a second), `refused` (total)
    slow_listener   WARNING  a listener closed as too slow: `client`, `reason`,
                             `max_pending_records`, `max_buffer_bytes`, `slow_disconnects`
    gap             WARNING  rows deleted before they were read: `first_id`, `last_id`,
                             `missed`, `listeners_closed`, `gaps`, `records_lost`
    stats           INFO     counters, at most every `stats_seconds` (default 10) while any
                             changes, else every 300 s: `listeners`, `filters`, `records_read`,
                             `records_sent`, `frames_sent`, `slow_closes`, `gaps`,
                             `records_lost`, `refused`, `buffered_bytes` (shared buffer plus
                             socket buffers), `queries` (made to the results file by the
                             tail reader: one per commit read, none while idle),
                             `notifications` (file events read: one per commit once the
                             writer signals its commits)
    results_reset   WARNING  the file was replaced or the table recreated: read from the start
    read_failed     WARNING  a read of the results file failed (at most every 5 s)
    replay_failed   WARNING  a listener's replay could not be read; its live stream follows
    wake_unavailable WARNING commit notifications cannot be set up (`reason`): reads follow
                             `sleep_time` until they can (retried at each read)
    cursor_failed   WARNING  the read position cannot be published
    send_failed     ERROR    an unexpected error while sending to a listener
    server_warning / server_error   uvicorn's own warnings and errors
    port_in_use     ERROR    exit code 5; bind_failed: exit code 6
    config_error    ERROR    exit code 2
    parent_gone     INFO     stdin closed (`exit_on_stdin_eof`): stopping
    stopped         INFO     the final counters (as `stats`), plus `records`, `slow_disconnects`
    SIGTERM/SIGINT stop gracefully (listeners get 1012; one that stopped reading is dropped)
    with exit code 0.
"""
