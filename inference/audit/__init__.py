"""The audited mode's off-chain groundwork: one executor keeps its intermediate states, auditors
recompute a challenged part and compare graded sketches (ARCHITECTURE: DESIGN.md, "Tasks (audited
mode)"). Modules: ``merkle`` (keccak256 trees the contract can check), ``challenge`` (which steps
or positions, from a seed), ``sketch`` (graded 256-bit sketches of float states), ``diffusion``
(trajectories and one-step recomputation), ``text`` (the prefill margin check)."""
