"""Customer health: signals, the weighted score, learned weights, roll-ups, the API other agents call."""
