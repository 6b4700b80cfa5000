"""Compile the contracts, run a local Anvil, deploy to any EVM RPC, keep deployment records."""
