"""NPS Follow-up: a personalised reply to every survey answer, for the CSM's approval, a next-business-day task for
detractors; and the survey schedule (milestones of each contract, consent respected)."""

from agents.nps_followup.graph import agent_specs, build_graph, build_survey_graph

__all__ = ["agent_specs", "build_graph", "build_survey_graph"]
