"""Upsell Opportunity Detector: weekly, seat pressure and cross-sell on active customers, a suggestion with evidence
and, when strong, a proposed expansion deal that the account manager accepts or dismisses."""

from agents.upsell_detector.graph import agent_specs, build_graph

__all__ = ["agent_specs", "build_graph"]
