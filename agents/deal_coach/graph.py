"""The Deal Coach graphs and their registration: one run per flagged deal, and one daily digest per rep."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.deal_coach import digest, nodes
from agents.deal_coach.state import CoachState, DigestState
from agents.registry import AgentSpec
from agents.runtime.context import RunContext
from tools.deal_coach.facts import AGENT

DIGEST_AGENT = "deal_coach_digest"
EVENTS = ("deal.stage_changed", "deal.updated", "activity.logged")  # new facts on a deal: coach it again if flagged


def build_graph(checkpointer: Any) -> Any:
    graph = StateGraph(CoachState, context_schema=RunContext)
    graph.add_node("advise", nodes.advise)
    graph.add_node("write", nodes.write)
    graph.add_conditional_edges(START, nodes.route_start, ["advise", END])
    graph.add_edge("advise", "write")
    graph.add_edge("write", END)
    return graph.compile(checkpointer=checkpointer)


def build_digest_graph(checkpointer: Any) -> Any:
    graph = StateGraph(DigestState, context_schema=RunContext)
    graph.add_node("digest", digest.write_digest)
    graph.add_conditional_edges(START, digest.route_start, ["digest", END])
    graph.add_edge("digest", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=AGENT, subject_type="deal", build_graph=build_graph, gather=nodes.gather,
                      events=EVENTS, event_subject=nodes.deal_of_event, schedule="deal_coach",
                      subjects=nodes.flagged_changed_deals, needs_llm=True),
            AgentSpec(name=DIGEST_AGENT, subject_type="user", build_graph=build_digest_graph, gather=digest.gather,
                      schedule="deal_coach", subjects=digest.reps_with_flagged_deals)]
