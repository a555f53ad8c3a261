"""Small real LangGraph agents for runtime tests (enable with SALESAGENTS_AGENT_MODULES='["tests.sample_agents"]').

- sample_scorer: no LLM; scores a lead from its fields and activity count, then writes a follow-up task.
  Triggered by lead.created and activity.logged; scheduled key "sample_scorer".
- sample_slow: sleeps in a node (SALESAGENTS_SAMPLE_SLOW_SECONDS, read when the node runs; default 2) before
  writing a score: a worker can be killed mid-run.
- sample_writer: one guarded LLM call (generate_text, prompt lead_scorer.explain) written as a suggestion.
- sample_outreach: answers an NPS response: drafts an email (generate_text, prompt nps_followup.draft, with the
  closest reviewer corrections as examples), then pauses for a person's approval (propose_draft) and sends it.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.registry import AgentSpec
from agents.runtime.approval import propose_draft
from agents.runtime.context import RunContext
from core.errors import InvalidInput, NotFound
from core.llm.embeddings import get_embedder
from core.llm.generate import generate_text
from core.llm.guards import GuardContext
from core.models import Account, Contact, Lead, NpsResponse, OutboxEvent, User
from core.repositories import leads as lead_repo
from core.repositories import mail as mail_repo
from core.services import outputs, review_learning
from prompts.registry import read_file, root

SCORER_MODEL = "sample_rules@1"
OUTREACH_COMPANY = "Northwind"


class LeadState(TypedDict, total=False):
    inputs: dict[str, Any]
    score: int
    band: str
    factors: dict[str, int]
    began: bool


def gather_lead(session: Session, lead_id: int | None, now: datetime) -> dict[str, Any]:
    """The lead's scoring fields and activity count: a new activity changes the input hash."""
    lead = session.get(Lead, lead_id) if lead_id is not None else None
    if lead is None:
        raise NotFound("lead", lead_id)
    return {"lead_id": lead.id, "name": f"{lead.first_name or ''} {lead.last_name or ''}".strip(),
            "company": lead.company_name, "email": lead.email, "title": lead.title, "industry": lead.industry,
            "employees": lead.employees, "country": lead.country, "source": lead.source,
            "owner_id": lead.owner_id, "activities": lead_repo.activity_count(session, lead.id)}


def lead_subjects(session: Session, now: datetime) -> list[int]:
    return lead_repo.open_lead_ids(session)


def lead_of_activity(event: OutboxEvent) -> int | None:
    lead_id = (event.payload or {}).get("lead_id")
    return int(lead_id) if lead_id else None


def lead_of_event(event: OutboxEvent) -> int | None:
    return lead_of_activity(event) if event.topic == "activity.logged" else event.aggregate_id


def score_lead(inputs: dict[str, Any]) -> tuple[int, str, dict[str, int]]:
    """Deterministic rules: the same inputs always give the same score, band and factors."""
    factors = {
        "work_email": 15 if inputs.get("email") and "@" in inputs["email"] else 0,
        "has_title": 10 if inputs.get("title") else 0,
        "company_size": min(30, (inputs.get("employees") or 0) // 50),
        "engagement": min(30, 10 * int(inputs.get("activities") or 0)),
        "known_industry": 15 if inputs.get("industry") else 0,
    }
    score = max(0, min(100, sum(factors.values())))
    band = "hot" if score >= 60 else "warm" if score >= 30 else "cold"
    return score, band, factors


def _score_node(state: LeadState, runtime: Runtime[RunContext]) -> LeadState:
    ctx = runtime.context
    score, band, factors = score_lead(state["inputs"])
    with ctx.transaction() as session:
        outputs.write_score(session, ctx.origin, purpose="lead_score", score=score, band=band, factors=factors,
                            model=SCORER_MODEL)
    return {"score": score, "band": band, "factors": factors}


def _task_node(state: LeadState, runtime: Runtime[RunContext]) -> LeadState:
    ctx = runtime.context
    inputs = state["inputs"]
    with ctx.transaction() as session:
        outputs.write_task(session, ctx.origin, purpose="follow_up",
                           title=f"Follow up {inputs['name'] or 'lead'} (score {state['score']}, {state['band']})",
                           assignee_id=inputs.get("owner_id"), due_at=ctx.now + timedelta(days=1),
                           lead_id=inputs["lead_id"], model=SCORER_MODEL)
    return {}


def build_scorer(checkpointer: Any) -> Any:
    graph = StateGraph(LeadState, context_schema=RunContext)
    graph.add_node("score", _score_node)
    graph.add_node("follow_up", _task_node)
    graph.add_edge(START, "score")
    graph.add_edge("score", "follow_up")
    graph.add_edge("follow_up", END)
    return graph.compile(checkpointer=checkpointer)


def _begin_node(state: LeadState, runtime: Runtime[RunContext]) -> LeadState:
    return {"began": True}


def _slow_node(state: LeadState, runtime: Runtime[RunContext]) -> LeadState:
    ctx = runtime.context
    seconds = float(os.environ.get("SALESAGENTS_SAMPLE_SLOW_SECONDS", "2"))
    time.sleep(seconds)
    with ctx.transaction() as session:
        outputs.write_score(session, ctx.origin, purpose="slow", score=seconds, factors={"slept_s": seconds},
                            model=SCORER_MODEL)
    return {}


def build_slow(checkpointer: Any) -> Any:
    graph = StateGraph(LeadState, context_schema=RunContext)
    graph.add_node("begin", _begin_node)
    graph.add_node("slow", _slow_node)
    graph.add_edge(START, "begin")
    graph.add_edge("begin", "slow")
    graph.add_edge("slow", END)
    return graph.compile(checkpointer=checkpointer)


def gather_lead_id(session: Session, lead_id: int | None, now: datetime) -> dict[str, Any]:
    lead = session.get(Lead, lead_id) if lead_id is not None else None
    if lead is None:
        raise NotFound("lead", lead_id)
    return {"lead_id": lead.id}


def _write_node(state: LeadState, runtime: Runtime[RunContext]) -> LeadState:
    ctx = runtime.context
    inputs = state["inputs"]
    score, band, factors = score_lead(inputs)
    prompt = read_file(root() / "lead_scorer" / "explain.md.j2")
    top = [f"{name} +{points}" for name, points in sorted(factors.items(), key=lambda kv: -kv[1]) if points]
    with ctx.transaction() as session:
        text = generate_text(session, agent=ctx.agent, prompt=prompt, run_id=ctx.run_id, http_client=ctx.http_client,
                             now=ctx.now, settings=ctx.settings, guard=GuardContext(min_chars=10),
                             inputs={"lead_name": inputs["name"] or "Lead", "company": inputs.get("company") or "",
                                     "score": score, "band": band, "factors": top, "notes": ""})
        outputs.write_suggestion(session, ctx.origin, purpose="explain", title=f"Why this lead scores {score}",
                                 body=text.text, evidence={"factors": factors}, prompt_ref=text.prompt_ref,
                                 model=text.model, fallback=text.fallback)
    return {"score": score}


def build_writer(checkpointer: Any) -> Any:
    graph = StateGraph(LeadState, context_schema=RunContext)
    graph.add_node("write", _write_node)
    graph.add_edge(START, "write")
    graph.add_edge("write", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [
        AgentSpec(name="sample_scorer", subject_type="lead", build_graph=build_scorer, gather=gather_lead,
                  events=("lead.created", "activity.logged"), event_subject=lead_of_event,
                  schedule="sample_scorer", subjects=lead_subjects),
        AgentSpec(name="sample_slow", subject_type="lead", build_graph=build_slow, gather=gather_lead_id),
        AgentSpec(name="sample_writer", subject_type="lead", build_graph=build_writer, gather=gather_lead,
                  needs_llm=True),
        outreach_spec(),
    ]


# --- sample_outreach (subject: nps_response) -----------------------------------------------------------------

class OutreachState(TypedDict, total=False):
    inputs: dict[str, Any]
    draft: dict[str, Any]
    examples: list[str]
    review: dict[str, Any]


def gather_nps(session: Session, response_id: int | None, now: datetime) -> dict[str, Any]:
    """The NPS response, who answered it and the account's CSM (the sender)."""
    response = session.get(NpsResponse, response_id) if response_id is not None else None
    if response is None:
        raise NotFound("nps response", response_id)
    account = session.get(Account, response.account_id)
    contact = session.get(Contact, response.contact_id) if response.contact_id else None
    email = mail_repo.primary_email(session, contact.id) if contact is not None else None
    if account is None or contact is None or email is None:
        raise InvalidInput("contact", f"NPS response {response_id} has no contact with an email address")
    csm = session.get(User, account.csm_id) if account.csm_id else None
    return {"response_id": response.id, "score": response.score, "category": response.category,
            "comment": response.comment or "", "account_id": account.id, "account_name": account.name,
            "industry": account.industry, "contact_id": contact.id, "contact_name": contact.first_name,
            "email": email, "sender_name": csm.full_name if csm else "Customer Success",
            "language": contact.language or "en"}


def outreach_situation(inputs: dict[str, Any]) -> str:
    """What the reply answers, comment first (what is specific decides similarity): reviewer feedback is stored
    and searched by it."""
    return (f"{inputs.get('comment') or 'No comment'} ({inputs['category']}, NPS {inputs['score']}/10, "
            f"{inputs.get('industry') or 'unknown industry'})")


def _outreach_draft_node(state: OutreachState, runtime: Runtime[RunContext]) -> OutreachState:
    ctx = runtime.context
    inputs = state["inputs"]
    prompt = read_file(root() / "nps_followup" / "draft.md.j2")
    with ctx.transaction() as session:
        examples = review_learning.examples_for(session, ctx.agent, outreach_situation(inputs),
                                                embedder=get_embedder(ctx.settings))
        lines = review_learning.guidance_lines(examples)
        text = generate_text(
            session, agent=ctx.agent, prompt=prompt, run_id=ctx.run_id, http_client=ctx.http_client, now=ctx.now,
            settings=ctx.settings, guard=GuardContext(language=inputs["language"], min_chars=20, max_chars=1500),
            inputs={"contact_name": inputs["contact_name"], "account_name": inputs["account_name"],
                    "score": inputs["score"], "comment": inputs["comment"], "facts": [],
                    "sender_name": inputs["sender_name"], "company_name": OUTREACH_COMPANY,
                    "language": inputs["language"], "examples": lines})
    return {"draft": {"body": text.text, "prompt_ref": text.prompt_ref, "model": text.model,
                      "fallback": text.fallback}, "examples": lines}


def _outreach_review_node(state: OutreachState, runtime: Runtime[RunContext]) -> OutreachState:
    inputs, draft = state["inputs"], state["draft"]
    applied = propose_draft(runtime.context, purpose="nps_reply", recipient=inputs["email"],
                            subject=f"Your feedback, {inputs['contact_name']}", body=draft["body"],
                            contact_id=inputs["contact_id"], account_id=inputs["account_id"],
                            prompt_ref=draft["prompt_ref"], model=draft["model"], fallback=draft["fallback"],
                            context={"situation": outreach_situation(inputs), "score": inputs["score"]})
    return {"review": {"approval_id": applied.approval_id, "status": applied.status,
                       "draft_status": applied.draft_status, "mail_status": applied.mail_status}}


def build_outreach(checkpointer: Any) -> Any:
    graph = StateGraph(OutreachState, context_schema=RunContext)
    graph.add_node("draft", _outreach_draft_node)
    graph.add_node("review", _outreach_review_node)
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "review")
    graph.add_edge("review", END)
    return graph.compile(checkpointer=checkpointer)


def outreach_spec() -> AgentSpec:
    return AgentSpec(name="sample_outreach", subject_type="nps_response", build_graph=build_outreach,
                     gather=gather_nps, events=("nps.response_received",), needs_llm=True)
