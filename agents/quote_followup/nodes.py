"""Quote Follow-up steps: decide from the quote's dates (tools.quote_followup), a task for the rep, a drafted
nudge that waits for the rep's approval before it is sent.

Every output is keyed by the quote's nudge window (`w1`, `w2`, ..., `final`) instead of the input hash, so a
quote gets at most one nudge and one task per window however often, and with whatever inputs, the agent runs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.quote_followup.state import FollowupState
from agents.runtime.approval import propose_draft
from agents.runtime.context import RunContext
from core.config import get_settings
from core.errors import NotFound
from core.llm.generate import generate_text
from core.llm.guards import GuardContext
from core.models import User
from core.models.enums import TaskPriority
from core.repositories import quote_followup as repo
from core.repositories.outputs import written_keys
from core.services import outputs
from core.services.outputs import Origin
from prompts.registry import read_file, root
from tools.quote_followup.selection import NUDGE, TASK, Decision, after_days, decide, output_key

FALLBACK_LANGUAGES = ("en", "de", "es", "fr")


def _decision(row: dict[str, Any], now: datetime) -> Decision:
    settings = get_settings()
    return decide(row, now.date(), after=after_days(settings, row.get("pipeline")),
                  escalate_within=settings.quote_followup_escalate_days)


def _already(session: Session, quote_id: int, decision: Decision) -> bool:
    """A nudge (or its task) exists in this window: the window is done, whatever its review decided."""
    if decision.window is None:
        return False
    keys = [output_key(quote_id, NUDGE, decision.window), output_key(quote_id, TASK, decision.window)]
    return bool(written_keys(session, keys))


def gather(session: Session, quote_id: int | None, now: datetime) -> dict[str, Any]:
    """The quote's facts and today's decision; the decision depends on the day, not the hour."""
    rows = repo.quote_facts(session, [quote_id]) if quote_id is not None else []
    if not rows:
        raise NotFound("quote", quote_id)
    row = rows[0]
    decision = _decision(row, now)
    if decision.action == "nudge" and _already(session, row["id"], decision):
        decision = replace(decision, action="none", reason=f"already nudged in window {decision.window}")
    rep = session.get(User, row["rep_id"]) if row["rep_id"] else None
    language = row["language"] if row["language"] in FALLBACK_LANGUAGES else "en"
    return {"quote_id": row["id"], "number": row["number"], "status": str(row["status"]),
            "action": decision.action, "reason": decision.reason, "window": decision.window,
            "escalate": decision.escalate, "age_days": decision.age_days, "days_left": decision.days_left,
            "account_id": row["account_id"], "account_name": row["account_name"], "contact_id": row["contact_id"],
            "contact_name": row["contact_name"], "email": row["email"], "language": language,
            "deal_id": row["deal_id"], "deal_name": row["deal_name"], "rep_id": row["rep_id"],
            "sender_name": rep.full_name if rep is not None else "Sales team"}


def due_quotes(session: Session, now: datetime) -> list[int]:
    """Sent quotes that need a nudge today and have none in their window: the daily sweep's subjects."""
    due = []
    for row in repo.quote_facts(session):
        decision = _decision(row, now)
        if decision.action == "nudge" and not _already(session, row["id"], decision):
            due.append(int(row["id"]))
    return due


def _window_origin(ctx: RunContext, window: str) -> Origin:
    return replace(ctx.origin, input_hash=window)


def route_start(state: FollowupState) -> str:
    return "task" if state["inputs"]["action"] == "nudge" else "__end__"


def route_task(state: FollowupState) -> str:
    return "draft" if state["inputs"].get("email") else "__end__"


def task(state: FollowupState, runtime: Runtime[RunContext]) -> FollowupState:
    """The rep's task: follow the quote up; on escalation (validity near) a high-priority one due today."""
    ctx, inputs = runtime.context, state["inputs"]
    escalate = bool(inputs["escalate"])
    if escalate:
        title = (f"Quote {inputs['number']} expires in {inputs['days_left']} day(s), unanswered: "
                 f"call {inputs['account_name']}")
    else:
        title = (f"Follow up quote {inputs['number']} with {inputs['account_name']} "
                 f"(unanswered {inputs['age_days']} days)")
    description = inputs["reason"] + ("" if inputs.get("email") else "; the quote has no contact with an email "
                                                                        "address, so no nudge was drafted")
    with ctx.transaction() as session:
        row = outputs.write_task(session, _window_origin(ctx, inputs["window"]), purpose=TASK, title=title,
                                 assignee_id=inputs["rep_id"], description=description,
                                 due_at=ctx.now if escalate else ctx.now + timedelta(days=1),
                                 priority=TaskPriority.high if escalate else TaskPriority.normal,
                                 account_id=inputs["account_id"], deal_id=inputs["deal_id"],
                                 contact_id=inputs["contact_id"])
        return {"task_id": row.id}


def draft(state: FollowupState, runtime: Runtime[RunContext]) -> FollowupState:
    """The nudge's text from the model (guarded: no discounts or other commitments), else the template."""
    ctx, inputs = runtime.context, state["inputs"]
    prompt = read_file(root() / "quote_followup" / "nudge.md.j2")
    with ctx.transaction() as session:
        text = generate_text(
            session, agent=ctx.agent, prompt=prompt, run_id=ctx.run_id, http_client=ctx.http_client, now=ctx.now,
            settings=ctx.settings,
            guard=GuardContext(language=inputs["language"], min_chars=20, max_chars=1200),
            inputs={"contact_name": inputs["contact_name"] or "there", "account_name": inputs["account_name"],
                    "quote_number": inputs["number"], "deal_name": inputs["deal_name"] or "",
                    "sender_name": inputs["sender_name"], "language": inputs["language"],
                    "final": bool(inputs["escalate"])})
    return {"draft": {"body": text.text, "prompt_ref": text.prompt_ref, "model": text.model,
                      "fallback": text.fallback}}


def review(state: FollowupState, runtime: Runtime[RunContext]) -> FollowupState:
    """Nothing reaches the customer before the quote's rep approves (or edits) the nudge; unassigned quote: the CSM."""
    inputs, text = state["inputs"], state["draft"]
    ctx = replace(runtime.context, input_hash=inputs["window"])
    applied = propose_draft(ctx, purpose=NUDGE, recipient=inputs["email"], subject=f"Your quote {inputs['number']}",
                            body=text["body"], contact_id=inputs["contact_id"], account_id=inputs["account_id"],
                            prompt_ref=text["prompt_ref"], model=text["model"], fallback=text["fallback"],
                            reviewer_id=inputs["rep_id"],
                            context={"situation": f"quote {inputs['number']} unanswered for {inputs['age_days']} "
                                                  f"days, window {inputs['window']}",
                                     "quote_id": inputs["quote_id"], "window": inputs["window"]})
    return {"review": {"approval_id": applied.approval_id, "status": applied.status,
                       "draft_status": applied.draft_status, "mail_status": applied.mail_status}}

