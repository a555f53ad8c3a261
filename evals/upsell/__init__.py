"""upsell.v1 / expansion.v1: scenario suites of accounts with and without each expansion signal."""
