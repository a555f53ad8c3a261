"""Deterministic parts of the Deal Coach: stall flags with evidence, learned stage norms, forecast, grounding."""
