"""Renewals: a daily sweep opens a renewal deal (CSM as owner) and a draft renewal quote for contracts ending within
the window; a won renewal deal (accepted renewal quote) extends its contract by one term."""

from agents.renewals.graph import agent_specs, build_contract_graph, build_deal_graph

__all__ = ["agent_specs", "build_contract_graph", "build_deal_graph"]
