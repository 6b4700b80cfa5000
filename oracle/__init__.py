"""genoracle's off-chain side, in data-flow order:

- `chain/`: bindings to the deployed contracts, sends, revert decoding, typed views and the
  protocol's enums and commitment rule;
- `node/`: the verifier node (runtime, scheduler, task steps, transaction sender, inference
  queue and worker, draws, aggregated reveal, store, listener, metrics, HTTP API);
- `sdk/`: what a requester uses (client, task results, artifact verification);
- `cli/`: the `genoracle` command;
- `dev/`: local chains with node processes, the demo, and the tests' dishonest conducts;
- `config`, `keys`, `errors`, `version`: shared by all of them.
"""
