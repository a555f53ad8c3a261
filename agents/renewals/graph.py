"""The renewals graphs and their registration: contracts (daily sweep) and won renewal deals (events)."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.registry import AgentSpec
from agents.renewals import nodes
from agents.renewals.state import RenewalState
from agents.runtime.context import RunContext


def build_contract_graph(checkpointer: Any) -> Any:
    graph = StateGraph(RenewalState, context_schema=RunContext)
    graph.add_node("open", nodes.open_renewal)
    graph.add_node("extend", nodes.extend)
    graph.add_conditional_edges(START, nodes.route, ["open", "extend", END])
    graph.add_edge("open", END)
    graph.add_edge("extend", END)
    return graph.compile(checkpointer=checkpointer)


def build_deal_graph(checkpointer: Any) -> Any:
    graph = StateGraph(RenewalState, context_schema=RunContext)
    graph.add_node("extend", nodes.extend)
    graph.add_conditional_edges(START, nodes.route, ["extend", END])
    graph.add_edge("extend", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [
        AgentSpec(name=nodes.AGENT, subject_type="contract", build_graph=build_contract_graph,
                  gather=nodes.gather_contract, schedule=nodes.AGENT, subjects=nodes.due_contracts),
        AgentSpec(name=nodes.SIGNED_AGENT, subject_type="deal", build_graph=build_deal_graph,
                  gather=nodes.gather_deal, events=("quote.accepted", "deal.stage_changed"),
                  event_subject=nodes.signed_subject),
    ]
