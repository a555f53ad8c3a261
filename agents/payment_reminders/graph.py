"""The Payment Reminders graph and its registration (daily sweep over overdue invoices; on demand for one)."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.payment_reminders import nodes
from agents.payment_reminders.state import ReminderState
from agents.registry import AgentSpec
from agents.runtime.context import RunContext
from tools.payment_reminders.selection import AGENT, SUBJECT


def build_graph(checkpointer: Any) -> Any:
    graph = StateGraph(ReminderState, context_schema=RunContext)
    graph.add_node("task", nodes.task)
    graph.add_node("review", nodes.review)
    graph.add_conditional_edges(START, nodes.route_start, ["task", "review", END])
    graph.add_conditional_edges("task", nodes.route_task, ["review", END])
    graph.add_edge("review", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=AGENT, subject_type=SUBJECT, build_graph=build_graph, gather=nodes.gather,
                      events=nodes.EVENTS, schedule=AGENT, subjects=nodes.due_invoices)]
