"""The detector graph (shared by Upsell and Expansion) and the Upsell Opportunity Detector's registration."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.registry import AgentSpec
from agents.runtime.context import RunContext
from agents.upsell_detector import nodes
from agents.upsell_detector.state import DetectorState

KIND = "upsell"


def build_graph(checkpointer: Any) -> Any:
    graph = StateGraph(DetectorState, context_schema=RunContext)
    graph.add_node("suggest", nodes.suggest)
    graph.add_conditional_edges(START, nodes.route_start, ["suggest", END])
    graph.add_edge("suggest", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=nodes.AGENTS[KIND], subject_type=nodes.SUBJECT, build_graph=build_graph,
                      gather=nodes.make_gather(KIND), schedule=nodes.AGENTS[KIND],
                      subjects=nodes.make_subjects(KIND))]
