"""The approval step inside agent graphs: write the draft and its approval, pause, then apply the decision.

`propose_draft` is called from a graph node. LangGraph re-runs the node from its top when the run is resumed,
so everything before `interrupt()` finds the rows it wrote the first time (idempotency keys, one approval per
draft) and everything after it is applied once (`core.services.approvals.apply_decision`). The decision itself
is read from the approval row that the reviewer claimed; the resume value only names the approval.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt
from sqlalchemy.engine import Engine

from agents import registry
from agents.runtime import runs
from agents.runtime.checkpoint import open_checkpointer
from agents.runtime.context import RunContext
from core.db.engine import session_scope
from core.errors import InvalidInput
from core.llm.embeddings import get_embedder
from core.mail import get_mailer
from core.services import approvals
from core.services.approvals import Applied


def propose_draft(ctx: RunContext, *, purpose: str, recipient: str, subject: str, body: str,
                  contact_id: int | None = None, account_id: int | None = None, prompt_ref: str | None = None,
                  model: str | None = None, fallback: bool = False,
                  context: dict[str, Any] | None = None, reviewer_id: int | None = None) -> Applied:
    """Ask a person to review a message that would leave the company; returns what their decision did.

    `context` should hold a one-line `situation` (what the draft answers): reviewer feedback is found by it.
    """
    with ctx.transaction() as session:
        draft, approval = approvals.request_review(
            session, ctx.origin, now=ctx.now, settings=ctx.settings, purpose=purpose, recipient=recipient,
            subject=subject, body=body, contact_id=contact_id, account_id=account_id, prompt_ref=prompt_ref,
            model=model, fallback=fallback, context=context, reviewer_id=reviewer_id)
        approval_id, status, owner = approval.id, approval.status, approval.run_id
        payload = {"approval_id": approval.id, "draft_id": draft.id, "reviewer_id": approval.reviewer_id,
                   "recipient": draft.recipient, "subject": draft.subject}
    # Pending: wait for a person. Claimed by an earlier run that died before applying it, or already final:
    # nothing to wait for, the stored decision is applied (or its result returned).
    if status == "pending" or (status == "resuming" and owner == ctx.run_id):
        answer = interrupt(payload)
        if not isinstance(answer, dict) or answer.get("approval_id") != approval_id:
            raise InvalidInput("resume", f"expected a decision on approval {approval_id}, got {answer!r}")
    with ctx.transaction() as session:
        return approvals.apply_decision(session, approval_id, now=ctx.now, mailer=get_mailer(ctx.settings),
                                        embedder=get_embedder(ctx.settings))


def pending_interrupt_id(run_id: int, approval_id: int, *, engine: Engine | None = None) -> str | None:
    """The id of the interrupt with which `run_id` waits for `approval_id` (None if it does not wait for it)."""
    with session_scope(engine) as session:
        agent = runs.get_run(session, run_id).agent
    spec = registry.get(agent)
    with open_checkpointer(engine.url if engine is not None else None) as saver:
        state = spec.build_graph(saver).get_state({"configurable": {"thread_id": str(run_id)}})
    for pending in state.interrupts:
        if isinstance(pending.value, dict) and pending.value.get("approval_id") == approval_id:
            return str(pending.id)
    return None
