"""Compile the contracts, launch a local Anvil, deploy to any EVM RPC and keep deployment records."""
