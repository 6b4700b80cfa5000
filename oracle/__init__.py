"""genoracle's off-chain side: chain client, verifier node, requester SDK, CLI and HTTP API.

Modules: `config` (TOML + env, validated), `keys` (keystore / env key), `store` (the node's
SQLite state), `chain` (bindings, sends, revert decoding, typed views), `listener` (logs with a
persisted cursor), `worker` (inference off the chain loop), `node` (the verifier), `results` and
`verify` (what requesters read and check), `client` (requester SDK), `api` (FastAPI per node),
`localnet` (Anvil + oracle + node processes for tests, demos and benchmarks), `cli`.
"""
