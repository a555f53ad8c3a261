"""Expansion Signal Detector: monthly, usage growth, new team members, promoters with high engagement and payment
health on active customers; the same suggestion and proposal path as the Upsell detector."""

from agents.expansion_detector.graph import agent_specs

__all__ = ["agent_specs"]
