"""Deal Coach: flags stalled deals with evidence and gives their owners grounded next actions.

See agents/deal_coach/README.md.
"""

from agents.deal_coach.graph import agent_specs, build_digest_graph, build_graph

__all__ = ["agent_specs", "build_digest_graph", "build_graph"]
