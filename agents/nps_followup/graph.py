"""The NPS Follow-up graph (on `nps.response_received`) and the survey graph (daily schedule), registered."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.nps_followup import nodes, survey
from agents.nps_followup.state import FollowupState, SurveyState
from agents.registry import AgentSpec
from agents.runtime.context import RunContext
from tools.nps_followup.rules import AGENT, SURVEY_AGENT

EVENT = "nps.response_received"


def build_graph(checkpointer: Any) -> Any:
    graph = StateGraph(FollowupState, context_schema=RunContext)
    graph.add_node("task", nodes.task)
    graph.add_node("draft", nodes.draft)
    graph.add_node("review", nodes.review)
    graph.add_conditional_edges(START, nodes.route_start, ["task", "draft", END])
    graph.add_conditional_edges("task", nodes.route_task, ["draft", END])
    graph.add_edge("draft", "review")
    graph.add_edge("review", END)
    return graph.compile(checkpointer=checkpointer)


def build_survey_graph(checkpointer: Any) -> Any:
    graph = StateGraph(SurveyState, context_schema=RunContext)
    graph.add_node("invite", survey.invite)
    graph.add_conditional_edges(START, survey.route_start, ["invite", END])
    graph.add_edge("invite", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=AGENT, subject_type="nps_response", build_graph=build_graph, gather=nodes.gather,
                      events=(EVENT,), needs_llm=True),
            AgentSpec(name=SURVEY_AGENT, subject_type="contract", build_graph=build_survey_graph,
                      gather=survey.gather, schedule="nps_survey", subjects=survey.due_contracts)]
