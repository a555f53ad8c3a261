"""Contact Auto-Labeler: labels an account (industry, size band, engagement) and its contacts' buying roles."""

from agents.auto_labeler.graph import agent_specs, build_graph

__all__ = ["agent_specs", "build_graph"]
