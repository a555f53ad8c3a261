"""The Quote Follow-up graph and its registration (daily sweep over sent quotes; on demand for one quote)."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.quote_followup import nodes
from agents.quote_followup.state import FollowupState
from agents.registry import AgentSpec
from agents.runtime.context import RunContext
from tools.quote_followup.selection import AGENT


def build_graph(checkpointer: Any) -> Any:
    graph = StateGraph(FollowupState, context_schema=RunContext)
    graph.add_node("task", nodes.task)
    graph.add_node("draft", nodes.draft)
    graph.add_node("review", nodes.review)
    graph.add_conditional_edges(START, nodes.route_start, ["task", END])
    graph.add_conditional_edges("task", nodes.route_task, ["draft", END])
    graph.add_edge("draft", "review")
    graph.add_edge("review", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=AGENT, subject_type="quote", build_graph=build_graph, gather=nodes.gather,
                      schedule="quote_followup", subjects=nodes.due_quotes, needs_llm=True)]
