"""The Health Monitor graph and its registration: weekly over customer accounts, and on the events that move
health (an NPS answer, a payment, a meeting logged on the account)."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.health_monitor import nodes
from agents.health_monitor.state import HealthState
from agents.registry import AgentSpec
from agents.runtime.context import RunContext
from tools.health.api import AGENT


def build_graph(checkpointer: Any) -> Any:
    graph = StateGraph(HealthState, context_schema=RunContext)
    graph.add_node("score", nodes.score)
    graph.add_node("summarize", nodes.summarize)
    graph.add_node("task", nodes.task)
    graph.add_edge(START, "score")
    graph.add_conditional_edges("score", nodes.route_score, ["summarize", END])
    graph.add_edge("summarize", "task")
    graph.add_edge("task", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=AGENT, subject_type="account", build_graph=build_graph, gather=nodes.gather,
                      events=nodes.EVENTS, event_subject=nodes.event_subject, schedule="health_monitor",
                      subjects=nodes.subjects, needs_llm=True)]
