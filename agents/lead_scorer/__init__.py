"""Lead Scorer: scores a lead with the promoted model on lead.created and activity.logged, with its factors."""

from agents.lead_scorer.graph import agent_specs, build_graph

__all__ = ["agent_specs", "build_graph"]
