"""Human handoff: the queue, Slack app, terminal console and outcome ledger (see README.md)."""
