"""genoracle's off-chain side: chain client, verifier node, requester SDK, CLI and HTTP API."""
