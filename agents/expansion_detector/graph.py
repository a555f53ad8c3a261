"""The Expansion Signal Detector's registration: the Upsell detector's graph with the expansion signals."""

from __future__ import annotations

from agents.registry import AgentSpec
from agents.upsell_detector import nodes
from agents.upsell_detector.graph import build_graph

KIND = "expansion"


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=nodes.AGENTS[KIND], subject_type=nodes.SUBJECT, build_graph=build_graph,
                      gather=nodes.make_gather(KIND), schedule=nodes.AGENTS[KIND],
                      subjects=nodes.make_subjects(KIND))]
