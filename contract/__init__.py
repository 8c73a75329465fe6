"""The contract between the orchestrator and the two worker programs.

Both sides import this package and nothing of each other:

    orchestrator ──┐                       ┌── provider_image  (python -m provider_image)
                   ├── contract ──────────┤
                   │                       └── broadcast_image (python -m broadcast_image)

- `config`: what each worker is told at start (JSON in one environment variable; secrets in
  their own variables, never in argv), with the names of those variables.
- `status`: the status lines a worker prints (human text, TAB, JSON with `level` and `event`)
  and their parser.
- `commands`: the lines the orchestrator writes to a provider worker's stdin (one encoder,
  one parser).
- `results`: the results file (SQLite, WAL, one `(id, message)` table): schema, reads, clear,
  removal, and SQLite failures translated into one small set of problems.
"""
