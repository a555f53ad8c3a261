"""Customer Health Monitor: a weekly (and event-driven) health score per account, its diff, and a CSM task with a
model-written summary when an account drops into a worse band."""

from agents.health_monitor.graph import agent_specs, build_graph

__all__ = ["agent_specs", "build_graph"]
