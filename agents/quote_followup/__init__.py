"""Quote Follow-up: a daily nudge, for the rep's approval, on sent quotes the customer has not answered."""

from agents.quote_followup.graph import agent_specs, build_graph

__all__ = ["agent_specs", "build_graph"]
