"""The Lead Scorer graph and its registration (event-driven on lead.created and activity.logged)."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.lead_scorer import llm, nodes
from agents.lead_scorer.state import ScorerState
from agents.registry import AgentSpec
from agents.runtime.context import RunContext


def build_graph(checkpointer: Any) -> Any:
    graph = StateGraph(ScorerState, context_schema=RunContext)
    graph.add_node("route", nodes.route)
    graph.add_node("extract_bant", llm.extract_bant)
    graph.add_node("choose_model", nodes.choose_model)
    graph.add_node("score", nodes.score)
    graph.add_node("explain", llm.explain)
    graph.add_edge(START, "route")
    graph.add_edge("route", "extract_bant")
    graph.add_edge("extract_bant", "choose_model")
    graph.add_edge("choose_model", "score")
    graph.add_edge("score", "explain")
    graph.add_edge("explain", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=nodes.AGENT, subject_type="lead", build_graph=build_graph, gather=nodes.gather,
                      events=("lead.created", "lead.updated", "activity.logged"), event_subject=nodes.lead_of_event,
                      subjects=nodes.open_leads)]
