"""The HTTP gateway: clients without a wallet or a dApp submit tasks with an API key, and the
gateway pays from its funded account (`genoracle gateway run --config gateway.toml`).

Parts: `keys` (API keys and their limits), `ledger` (what each key spent, in SQLite), `service`
(checks, payment, accounting), `app` (the FastAPI routes), `runtime` (build and serve).
"""
