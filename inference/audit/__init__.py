"""The audited mode's off-chain groundwork (DESIGN.md, "Tasks (audited mode)"): one executor
keeps its intermediate states, auditors recompute a challenged part and compare graded sketches.
Modules: ``merkle`` (keccak256 trees that OpenZeppelin's MerkleProof checks), ``challenge`` (which
steps or positions, from a seed), ``sketch`` (graded 256-bit sketches of float states),
``diffusion`` (trajectories and one-step recomputation), ``text`` (the prefill margin check),
``calibrated`` (the tolerances and margin the audit study set)."""
