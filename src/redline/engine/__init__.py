"""The engine: plan, gate (limits, retries, budgets), execute, and the run lifecycle."""
