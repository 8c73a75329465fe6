"""The provider worker that runs inside a provider container (or as a local process).

`python -m provider_image` reads its `contract.config.WorkerConfig` from FEEDDOCK_CONFIG, the
credential from FEEDDOCK_API_KEY, commands from stdin (`contract.commands`), and prints one
status line per event (`contract.status`: text, TAB, JSON with `event`, `level`, `message`).

Modules: `worker` (the connection and the receive loop), `intake` (records to rows, hand-off,
slicing of very large frames), `buffer` (rows bounded in bytes and age, backpressure),
`writer` (the SQLite thread), `stats` (counters), `control` (stdin), `health` (heartbeat file).

Memory and loss, in short: rows wait for the writer in a buffer of `buffer_bytes`. When it is
full, or its oldest row has waited `max_backlog_seconds`, the worker stops reading the socket
(the kernel and the provider hold the backlog); nothing is dropped. Only when the writer makes
no progress for `stall_seconds` does it read on, dropping the oldest buffered rows (counted in
`dropped`, reported). Records are therefore committed within about 2 x max_backlog_seconds
while the disk works, and a kill -9 loses about that much (what `received - written - dropped`
of the last `stats` line shows, plus what arrived after it). Records the provider had sent but
the worker had not read are lost when the provider closes the connection: nobody can count them.
The container memory this needs: `contract.config.worker_memory_limit`.

Status events (JSON `event`; level in brackets; extra JSON fields after the colon):

Lifecycle
- `connecting` [INFO]: the URL, without credentials or query.
- `connected` [INFO]: the WebSocket is open.
- `authorized` [INFO]: the provider accepted the credential.
- `ready` [INFO]: first subscription sent: `symbols`. The orchestrator waits for this line.
- `resubscribed` [INFO]: subscriptions replayed after a reconnect: `symbols`.
- `disconnected` [WARNING]: the connection closed; the worker reconnects. A frame larger than
  max_size says so here (and counts as unreadable).
- `reconnecting` [WARNING]: a connection attempt failed; the next one is scheduled (backoff).
- `reconnect_requested` [INFO]: the provider asked for a new connection.
- `stopped` [INFO]: the last line: `exit_code` and every field of `stats`.
- `parent_gone` [INFO]: stdin closed under `exit_on_stdin_eof`: stopping.

Failures that end the worker (exit code in brackets after the level)
- `config_error` [ERROR, 2]: the configuration is invalid.
- `unauthorized` [ERROR, 3]: the provider refused the credential (never retried).
- `fatal` [ERROR, 4 or 5]: cannot connect at all (bad URL, HTTP refusal: 4), or cannot open
  the results file (5): `problem` (`contract.results.Problem`).
- `provider_error` [ERROR, 4 when `fatal`]: the provider reported an error.

Data and the provider (rate-limited: see `contract.status.Reporter`)
- `provider_error` [ERROR]: a non-fatal error the provider reported.
- `unreadable` [WARNING]: a frame that is not JSON (counted in `unreadable`).
- `invalid` [WARNING]: records the data model refused, with the last reason: `invalid` (total).
- `info` [INFO]: a notice from the provider (subscription acknowledgements and the like).
- `suppressed` [level of the kind]: "N more <kind> in the last 10 s": `kind`, `count`, `window`.

Commands (stdin)
- `subscribe` / `unsubscribe` [INFO]: the acknowledgement: `id` (the command's), `changed`,
  `unchanged`, `symbols` (the current set).
- `bad_command` [ERROR]: a line that is not a valid command.
- `no_stdin` [WARNING]: stdin cannot be read; live changes are disabled.

Writing
- `write_failed` [ERROR]: a commit failed (full disk, lock held over 1 s, I/O error), reported
  at the first failure and again only when the problem changes: `problem`, `detail`. The rows
  stay buffered and the commit is retried every 0.5 s.
- `write_recovered` [INFO]: a commit succeeded again: `failed_seconds`.
- `write_abandoned` [ERROR]: stopping with rows that could not be written: `lost`.
- `checkpoint_failed` [WARNING, rate-limited]: a WAL checkpoint failed (retried at the next one).
- `overflow` [WARNING]: the writer made no progress for `stall_seconds`: reading again,
  dropping the oldest rows beyond `max_bytes` until a commit succeeds.
- `dropped` [WARNING, rate-limited]: rows dropped by overflow: `dropped` (total).

Counters
- `stats` [INFO]: every 2 s while any count changes, else every 60 s: `received` (valid records
  accepted), `written` (committed), `dropped` (overflow), `lost` (given up at stop), `invalid`,
  `unreadable` (frames), `reconnects`, `buffered` (rows waiting), `last_record_time` (epoch s),
  `commit_lag` (longest receive-to-commit delay since the last line, s), `backlog` (age of the
  oldest uncommitted row, s), `write_problem` (None while commits succeed). Once stopped,
  `received = written + dropped + lost`.
"""
