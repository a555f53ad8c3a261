"""NPS Follow-up steps: the deterministic facts and routing (category from the database, the CSM, the language),
a next-business-day task for detractors, a reply written by the model from the account's 360 facts (guarded,
template on failure) that waits for the CSM's approval before the mailer sends it.

Outputs are keyed by the response (`OUTPUT_KEY`), not by the input hash: a response gets at most one reply and
one task however often, and with whatever account changes in between, the agent runs; a run that finds them
written makes no model call.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.nps_followup.state import FollowupState
from agents.runtime.approval import propose_draft
from agents.runtime.context import RunContext
from core.config import get_settings
from core.errors import CrmError, NotFound
from core.llm.embeddings import get_embedder
from core.llm.generate import generate_text
from core.llm.guards import GuardContext
from core.models.enums import TaskPriority
from core.repositories import nps_followup as repo
from core.repositories.outputs import written_keys
from core.services import outputs, review_learning
from core.services.approvals import reviewer_for
from core.services.customer360 import Customer360, customer_360
from prompts.registry import read_file, root
from tools.nps_followup.rules import AGENT, OUTPUT_KEY, REPLY, TASK, can_email, next_business_day, reply_language, route

FACT_TICKETS = 3
FACT_ACTIVITIES = 3
SUBJECTS = {"en": "Thank you for your feedback", "es": "Gracias por sus comentarios",
            "de": "Vielen Dank für Ihr Feedback", "fr": "Merci pour votre retour",
            "it": "Grazie per il suo feedback", "pt": "Obrigado pelo seu feedback", "nl": "Bedankt voor uw feedback"}
# The prompt asks for four sentences: a reply far longer is a small model rambling (measured on SmolLM2: the
# rambles ran to the token cap, 800-1000 characters), not a better answer.
MIN_CHARS, MAX_CHARS = 40, 700
# Any bracketed or braced slot ("[app_name]", "{product}"): the shared placeholder rule knows only common names.
_SLOT = re.compile(r"\[[^\]\n]{1,40}\]|\{[^}\n]{1,40}\}")
_ENDINGS = ".!?)\"'»”"


def output_key(response_id: int, purpose: str) -> str:
    return f"{AGENT}:nps_response:{response_id}:{purpose}:{OUTPUT_KEY}"


def account_facts(view: Customer360) -> list[str]:
    """The 360 facts a reply may draw on, as labelled lines: plan and renewal, open tickets, recent activity."""
    facts = []
    for c in view.contracts:
        if c.in_force:
            seats = f", {c.seat_limit} seats" if c.seat_limit else ""
            facts.append(f"Plan: {c.plan}{seats}; renews in {c.days_to_renewal} days")
    if view.usage.latest is not None:
        used = view.usage.latest
        facts.append(f"Usage: {used.active_users} active users, {used.seats_used} seats used")
    for t in view.open_tickets[:FACT_TICKETS]:
        facts.append(f"Open support ticket: {t.subject}" + (", past its SLA" if t.breached else ""))
    if view.ticket_summary.open > FACT_TICKETS:
        facts.append(f"{view.ticket_summary.open} open support tickets in total")
    for a in view.timeline.items[:FACT_ACTIVITIES]:
        facts.append(f"Recent {a.kind}: {a.subject} ({a.occurred_at:%Y-%m-%d})")
    return facts


def situation(inputs: dict[str, Any]) -> str:
    """What the reply answers, comment first (what is specific decides similarity): reviewer feedback is stored
    and searched by it."""
    return (f"{inputs.get('comment') or 'No comment'} ({inputs['category']}, NPS {inputs['score']}/10, "
            f"{inputs.get('industry') or 'unknown industry'})")


def gather(session: Session, response_id: int | None, now: datetime) -> dict[str, Any]:
    """The response, its account's 360 facts as of the answer (so a later run sees the same facts), the CSM,
    the reply language, whether the contact may be mailed, and which outputs already exist."""
    row = repo.response_facts(session, response_id) if response_id is not None else None
    if row is None:
        raise NotFound("nps response", response_id)
    routed = route(row["category"])
    view = customer_360(session, row["account_id"], now=row["responded_at"], timeline_limit=FACT_ACTIVITIES,
                        contacts_limit=1, tickets_limit=FACT_TICKETS, invoices_limit=1, usage_points=2)
    reviewer_id = reviewer_for(session, account_id=row["account_id"], contact_id=row["contact_id"])
    sender = row["csm_name"] or repo.user_name(session, reviewer_id) or "Customer Success"
    language, language_source = reply_language(row["language"], row["comment"])
    mailable, mail_reason = can_email({"email": row["email"], "email_consent": row["email_consent"],
                                       "unsubscribed": row["unsubscribed_at"] is not None})
    if row["contact_id"] is None:
        mailable, mail_reason = False, "no contact on the response"
    written = written_keys(session, [output_key(row["id"], REPLY), output_key(row["id"], TASK)])
    return {"response_id": row["id"], "score": row["score"], "category": routed.category, "ask": routed.ask,
            "comment": (row["comment"] or "").strip(), "responded_at": row["responded_at"],
            "survey_milestone": row["survey_milestone"], "account_id": row["account_id"],
            "account_name": row["account_name"], "industry": row["industry"], "contact_id": row["contact_id"],
            "contact_name": row["first_name"] or "there", "email": row["email"], "mailable": mailable,
            "mail_reason": mail_reason, "language": language, "language_source": language_source,
            "reviewer_id": reviewer_id, "sender_name": sender, "facts": account_facts(view),
            "open_tickets": view.ticket_summary.open, "needs_task": routed.task,
            "task_done": output_key(row["id"], TASK) in written, "reply_done": output_key(row["id"], REPLY) in written}


def _wants_reply(inputs: dict[str, Any]) -> bool:
    return bool(inputs["mailable"]) and not inputs["reply_done"]


def route_start(state: FollowupState) -> str:
    inputs = state["inputs"]
    if inputs["needs_task"] and not inputs["task_done"]:
        return "task"
    return "draft" if _wants_reply(inputs) else "__end__"


def route_task(state: FollowupState) -> str:
    return "draft" if _wants_reply(state["inputs"]) else "__end__"


def _origin_ctx(ctx: RunContext) -> RunContext:
    return replace(ctx, input_hash=OUTPUT_KEY)


def task(state: FollowupState, runtime: Runtime[RunContext]) -> FollowupState:
    """A detractor's CSM calls them within one business day (weekends skipped); the health monitor reacts to the
    same event on its own, so no score is written here."""
    ctx, inputs = runtime.context, state["inputs"]
    title = (f"Call {inputs['contact_name']} at {inputs['account_name']}: NPS {inputs['score']}/10 (detractor)"
             if inputs["contact_id"] else f"Follow up NPS {inputs['score']}/10 (detractor) at {inputs['account_name']}")
    lines = [f"Comment: {inputs['comment'][:500]}" if inputs["comment"] else "No comment given.",
             f"Open support tickets: {inputs['open_tickets']}."]
    lines.append("A reply draft waits for your review in the inbox (`salesagents inbox list`)." if _wants_reply(inputs)
                 else f"No reply was drafted: {inputs['mail_reason'] if not inputs['mailable'] else 'already done'}.")
    with ctx.transaction() as session:
        row = outputs.write_task(session, _origin_ctx(ctx).origin, purpose=TASK, title=title,
                                 assignee_id=inputs["reviewer_id"], description="\n".join(lines),
                                 due_at=next_business_day(ctx.now), priority=TaskPriority.high,
                                 account_id=inputs["account_id"], contact_id=inputs["contact_id"])
        return {"task_id": row.id}


def guard_for(inputs: dict[str, Any]) -> GuardContext:
    allowed = {inputs["email"]} if inputs.get("email") else set()
    return GuardContext(language=inputs["language"], min_chars=MIN_CHARS, max_chars=MAX_CHARS,
                        allowed_contacts=frozenset(allowed))


def prompt_inputs(inputs: dict[str, Any], examples: list[str], company_name: str) -> dict[str, Any]:
    return {"contact_name": inputs["contact_name"], "account_name": inputs["account_name"],
            "score": inputs["score"], "comment": inputs["comment"] or "(no comment)", "facts": inputs["facts"],
            "sender_name": inputs["sender_name"], "company_name": company_name, "language": inputs["language"],
            "examples": examples}


def unfinished(text: str, inputs: dict[str, Any], company_name: str) -> str | None:
    """Why a reply that passed the shared guards still cannot go out: cut off mid-sentence by the token cap, or a
    slot left in brackets; None when it is whole."""
    body = text.rstrip()
    if _SLOT.search(body):
        return "a bracketed placeholder"
    if not body or not (body[-1] in _ENDINGS or body.endswith(str(inputs["sender_name"]))
                        or body.endswith(company_name)):
        return "cut off mid-sentence"
    return None


def draft(state: FollowupState, runtime: Runtime[RunContext]) -> FollowupState:
    """The reply from the model (the comment fenced as data, reviewers' past corrections as examples), guarded;
    the category's template when the model's text fails twice."""
    ctx, inputs = runtime.context, state["inputs"]
    prompt = read_file(root() / "nps_followup" / "reply.md.j2")
    settings = ctx.settings or get_settings()
    with ctx.transaction() as session:
        try:
            found = review_learning.examples_for(session, ctx.agent, situation(inputs),
                                                 embedder=get_embedder(settings))
        except CrmError:  # the embedding service is down: draft without examples rather than not at all
            found = []
        examples = review_learning.guidance_lines(found)
        values = prompt_inputs(inputs, examples, settings.nps_company_name)
        text = generate_text(session, agent=ctx.agent, prompt=prompt, run_id=ctx.run_id,
                             http_client=ctx.http_client, now=ctx.now, settings=settings, guard=guard_for(inputs),
                             inputs=values)
    body, fallback, outcome = text.text, text.fallback, text.outcome
    problem = None if fallback else unfinished(body, inputs, settings.nps_company_name)
    if problem is not None:  # nothing half-valid is stored: the category's template instead
        body, fallback, outcome = prompt.render_fallback(**values).strip(), True, f"fallback: {problem}"
    return {"draft": {"body": body, "prompt_ref": text.prompt_ref, "model": text.model, "fallback": fallback,
                      "outcome": outcome, "examples": len(examples), "prompt_inputs": values}}


def review(state: FollowupState, runtime: Runtime[RunContext]) -> FollowupState:
    """Nothing reaches the customer before the CSM approves or edits the reply; edits and rejections teach."""
    inputs, text = state["inputs"], state["draft"]
    applied = propose_draft(
        _origin_ctx(runtime.context), purpose=REPLY, recipient=inputs["email"],
        subject=SUBJECTS.get(inputs["language"], SUBJECTS["en"]), body=text["body"],
        contact_id=inputs["contact_id"], account_id=inputs["account_id"], prompt_ref=text["prompt_ref"],
        model=text["model"], fallback=text["fallback"], reviewer_id=inputs["reviewer_id"],
        context={"situation": situation(inputs), "response_id": inputs["response_id"], "score": inputs["score"],
                 "category": inputs["category"], "language": inputs["language"],
                 "language_source": inputs["language_source"], "outcome": text["outcome"],
                 # what the reply was written from, so a reviewer can add it to the eval suite (eval_feedback)
                 "prompt_inputs": text.get("prompt_inputs", {})})
    return {"review": {"approval_id": applied.approval_id, "status": applied.status,
                       "draft_status": applied.draft_status, "mail_status": applied.mail_status}}
