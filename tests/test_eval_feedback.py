"""Reviewed drafts become eval cases: added from the inbox (service and CLI), replayed first by the suite's runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.runtime.runs import create_run
from core.config import get_settings
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Approval, AuditLog, Draft
from core.models.enums import Role
from core.repositories import evals as repo
from core.services import approvals, eval_feedback
from core.services.outputs import Origin
from evals.runner import run_suite
from prompts import registry
from tests import factories

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
PROMPT_INPUTS: dict[str, Any] = {
    "contact_name": "Mia", "account_name": "Northwind", "score": 3, "language": "en",
    "comment": "Exports to CSV keep failing since the last update.", "facts": ["Plan: Pro, 40 seats"],
    "sender_name": "Sam", "company_name": "Acme", "examples": []}
EDITED = ("Hi Mia, thank you for telling us about the CSV exports. Our team is looking into the failures since "
          "the last update and I will write to you as soon as we know more. Best regards, Sam")


def _draft(session: Session, agent: str = "nps_followup", context: dict[str, Any] | None = None) -> Draft:
    user = factories.user(session, role=Role.csm)
    subject = factories.account(session, csm_id=user.id)
    run = create_run(session, agent, "manual", "account", subject.id)
    assert run is not None
    draft, _ = approvals.request_review(
        session, Origin(run.id, agent, "account", subject.id, "h1"), now=NOW, purpose="reply",
        recipient="mia@northwind.test", subject="Your feedback", body="Hi Mia, thanks for the feedback. Sam",
        account_id=subject.id, prompt_ref="nps_followup.reply@1", model="test-model",
        context={"situation": "detractor 3", "prompt_inputs": PROMPT_INPUTS} if context is None else context)
    return draft


def _decide(session: Session, draft: Draft, decision: dict[str, Any], status: str) -> None:
    approval = session.scalars(select(Approval).where(Approval.draft_id == draft.id)).one()
    approval.status, approval.decision, draft.status = status, decision, status
    session.flush()


def test_an_edited_draft_becomes_a_case_once_with_the_persons_text_as_reference(session: Session) -> None:
    draft = _draft(session)
    _decide(session, draft, {"action": "edit", "edited_text": EDITED, "reviewer_id": 7}, "edited")
    added = eval_feedback.add_draft_case(session, draft.id, added_by_id=None, actor="user:7")
    assert (added.suite, added.case_id, added.kind, added.created) == (
        "nps_reply.v2", f"review:draft-{draft.id}", "edited", True)
    again = eval_feedback.add_draft_case(session, draft.id, added_by_id=None, actor="user:7")
    assert not again.created and again.case_id == added.case_id
    (case,) = repo.feedback_cases(session, "nps_reply.v2")
    assert case.inputs == PROMPT_INPUTS and case.scripted_reply == EDITED
    assert case.reference["reply"] == EDITED and case.reference["original"] == draft.body
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "eval.case_added")).one()
    assert audit.entity_id == draft.id and audit.actor == "user:7"


def test_a_rejection_keeps_the_rejected_text_and_the_reason(session: Session) -> None:
    draft = _draft(session)
    _decide(session, draft, {"action": "reject", "reason": "promises a fix date", "reviewer_id": 7}, "rejected")
    eval_feedback.add_draft_case(session, draft.id, added_by_id=None, actor="cli")
    (case,) = repo.feedback_cases(session, "nps_reply.v2")
    assert case.kind == "rejected" and case.reference["rejected_reply"] == draft.body
    assert case.reference["reason"] == "promises a fix date" and "reply" not in case.reference


def test_undecided_unknown_unreplayable_and_suiteless_drafts_are_refused(session: Session) -> None:
    pending = _draft(session)
    with pytest.raises(Conflict, match="pending_review"):
        eval_feedback.add_draft_case(session, pending.id, added_by_id=None, actor="cli")
    with pytest.raises(NotFound):
        eval_feedback.add_draft_case(session, 10**12, added_by_id=None, actor="cli")
    blind = _draft(session, context={"situation": "no inputs recorded"})
    _decide(session, blind, {"action": "approve"}, "approved")
    with pytest.raises(InvalidInput, match="no recorded prompt inputs"):
        eval_feedback.add_draft_case(session, blind.id, added_by_id=None, actor="cli")
    nudge = _draft(session, agent="quote_followup")
    _decide(session, nudge, {"action": "approve"}, "approved")
    with pytest.raises(InvalidInput, match="quote_followup, which has no prompt suite"):
        eval_feedback.add_draft_case(session, nudge.id, added_by_id=None, actor="cli")
    assert repo.feedback_cases(session, "nps_reply.v2") == []


def test_the_suite_replays_reviewed_cases_first(session: Session, datasets_dir: Path, tmp_path: Path) -> None:
    registry.sync_prompts(session)
    draft = _draft(session)
    _decide(session, draft, {"action": "edit", "edited_text": EDITED, "reviewer_id": 7}, "edited")
    eval_feedback.add_draft_case(session, draft.id, added_by_id=None, actor="cli")
    settings = get_settings().model_copy(update={"datasets_dir": datasets_dir})
    run = run_suite(session, "nps_reply.v2", scripted=True, limit=3, settings=settings, write_report=False)
    rows = repo.case_results(session, run.id)
    assert [r.case_id for r in rows][0] == f"review:draft-{draft.id}" and len(rows) == 3
    assert rows[0].output == EDITED and rows[0].passed, rows[0].comments
