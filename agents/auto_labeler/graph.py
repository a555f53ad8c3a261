"""The Auto-Labeler graph and its registration (event-driven on account/contact creation and activities)."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

import agents.auto_labeler.nodes as nodes
from agents.auto_labeler.state import LabelerState
from agents.registry import AgentSpec
from agents.runtime.context import RunContext


def build_graph(checkpointer: Any) -> Any:
    graph = StateGraph(LabelerState, context_schema=RunContext)
    graph.add_node("label", nodes.label)
    graph.add_edge(START, "label")
    graph.add_edge("label", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=nodes.AGENT, subject_type="account", build_graph=build_graph, gather=nodes.gather,
                      events=("account.created", "account.updated", "contact.created", "contact.updated",
                              "activity.logged"),
                      event_subject=nodes.account_of_event, subjects=nodes.all_accounts)]
