"""People's verdicts on drafts become eval cases: an approved, edited or rejected draft, added from the inbox.

Why: a reviewer who fixes a draft has just written the best test case the suite can get (the real situation and
the reply a person accepted). Adding it is a deliberate act (a button in the inbox, `salesagents eval add-draft`),
never automatic, so a suite only grows with cases someone chose.

The case replays the draft's prompt inputs (the drafting agent stores them in `drafts.context["prompt_inputs"]`);
its reference is what the person accepted: the approved text, the edited text, or for a rejection the rejected
text and the reason. The scripted reply (the fast gate's model) is the accepted text, or the rejected one, so the
gate's deterministic checks also run on what people saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Draft, EvalFeedbackCase
from core.repositories import approvals as approvals_repo
from core.repositories import evals as repo
from core.repositories.events import add_audit

# The prompt suite each drafting agent's drafts belong to (agents without a prompt suite cannot add cases).
SUITE_FOR_AGENT: dict[str, str] = {"nps_followup": "nps_reply.v2"}


@dataclass(frozen=True)
class AddedCase:
    suite: str
    case_id: str
    kind: str
    created: bool


def _kind(session: Session, draft: Draft) -> tuple[str, dict[str, Any]]:
    """approved / edited / rejected, from the approval's decision (a sent draft was approved or edited)."""
    approval = approvals_repo.by_draft(session, draft.id)
    decision = dict(approval.decision or {}) if approval is not None else {}
    action = decision.get("action")
    kind = {"approve": "approved", "edit": "edited", "reject": "rejected"}.get(str(action))
    if kind is None:
        raise Conflict(f"draft {draft.id} is {draft.status}: only approved, edited or rejected drafts can become "
                       "eval cases")
    return kind, decision


def add_draft_case(session: Session, draft_id: int, *, added_by_id: int | None, actor: str) -> AddedCase:
    """Add the reviewed draft to its agent's suite; adding the same draft again returns the existing case."""
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound("draft", draft_id)
    existing = repo.feedback_case_for_draft(session, draft_id)
    if existing is not None:
        return AddedCase(existing.suite, existing.case_id, existing.kind, False)
    kind, decision = _kind(session, draft)
    suite = SUITE_FOR_AGENT.get(draft.agent)
    if suite is None:
        raise InvalidInput("draft", f"draft {draft_id} comes from {draft.agent}, which has no prompt suite "
                                    f"(suites take drafts of: {', '.join(sorted(SUITE_FOR_AGENT))})")
    inputs = (draft.context or {}).get("prompt_inputs")
    if not isinstance(inputs, dict) or not inputs:
        raise InvalidInput("draft", f"draft {draft_id} has no recorded prompt inputs, so it cannot be replayed")
    final = decision.get("edited_text") if kind == "edited" else draft.body
    reference: dict[str, Any] = {"kind": kind, "draft_id": draft.id, "prompt_ref": draft.prompt_ref,
                                 "model": draft.model, "reviewer_id": decision.get("reviewer_id")}
    if kind == "rejected":
        reference |= {"rejected_reply": draft.body, "reason": decision.get("reason", "")}
    else:
        reference |= {"reply": final, "original": draft.body}
    case = repo.add_feedback_case(session, suite=suite, case_id=f"review:draft-{draft.id}", draft_id=draft.id,
                                  agent=draft.agent, kind=kind, inputs=inputs, reference=reference,
                                  scripted_reply=str(final), added_by_id=added_by_id)
    add_audit(session, actor=actor, action="eval.case_added", entity_type="draft", entity_id=draft.id,
              after={"suite": suite, "case_id": case.case_id, "kind": kind})
    return AddedCase(case.suite, case.case_id, kind, True)


def cases_of(session: Session, suite: str) -> list[EvalFeedbackCase]:
    return list(repo.feedback_cases(session, suite))
