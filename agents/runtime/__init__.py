"""Agent runtime: runs, the registry of agents, Postgres checkpoints and the executor that ties them together."""
