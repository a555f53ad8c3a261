"""The approval inbox: drafts waiting for a person (CSM: theirs; manager: the team's; admin: all).

Decisions go through core/services/approvals.decide(), which claims the approval in its own transaction and
resumes the waiting agent run (the mail is sent only then); a second decider gets 409.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import CurrentUser, SessionDep
from api.errors import crm_error_response
from api.routes.common import Limit, LongText, Offset, PathId, RefId, Text200
from core.errors import CrmError
from core.models import Approval, Draft
from core.repositories import scoping
from core.repositories.scoping import Principal
from core.services import approvals as approval_service
from core.services import eval_feedback

router = APIRouter(tags=["approvals"])


class InboxItem(BaseModel):
    approval_id: int
    status: str
    run_id: int
    reviewer_id: int | None
    escalated_to_id: int | None
    due_at: datetime
    expires_at: datetime
    created_at: datetime
    draft_id: int
    agent: str
    subject_type: str
    subject_id: int
    recipient: str
    subject: str
    body: str
    draft_status: str
    prompt_ref: str | None
    fallback: bool
    context: dict[str, Any]


class EditIn(BaseModel):
    text: LongText = Field(min_length=1)
    reason: Text200 | None = None


class RejectIn(BaseModel):
    reason: Text200 = Field(min_length=1)


class BulkIn(BaseModel):
    approval_ids: list[RefId] = Field(min_length=1, max_length=100)


class DecisionOut(BaseModel):
    approval_id: int
    status: str
    run_id: int
    run_status: str | None
    draft_status: str
    mail_status: str | None
    error: str | None = None


class BulkItem(BaseModel):
    approval_id: int
    ok: bool
    result: DecisionOut | None = None
    error: dict[str, Any] | None = None


def _item(approval: Approval, draft: Draft) -> InboxItem:
    return InboxItem(approval_id=approval.id, status=approval.status, run_id=approval.run_id,
                     reviewer_id=approval.reviewer_id, escalated_to_id=approval.escalated_to_id,
                     due_at=approval.due_at, expires_at=approval.expires_at, created_at=approval.created_at,
                     draft_id=draft.id, agent=draft.agent, subject_type=draft.subject_type,
                     subject_id=draft.subject_id, recipient=draft.recipient, subject=draft.subject, body=draft.body,
                     draft_status=draft.status, prompt_ref=draft.prompt_ref, fallback=draft.fallback,
                     context=draft.context)


@router.get("/approvals", response_model=list[InboxItem])
def inbox(session: SessionDep, user: CurrentUser, status: Literal["pending", "approved", "edited", "rejected",
                                                                  "expired", "resuming"] = "pending",
          limit: Limit = 50, offset: Offset = 0) -> Any:
    """Drafts in scope with this status, the most urgent first."""
    rows = scoping.list_visible(session, user, Approval, filters=[Approval.status == status],
                                order_by=(Approval.due_at, Approval.id), limit=limit, offset=offset)
    drafts = {d.id: d for d in scoping.drafts_by_ids(session, [a.draft_id for a in rows])}
    return [_item(a, drafts[a.draft_id]) for a in rows]


@router.get("/approvals/{approval_id}", response_model=InboxItem)
def get_approval(approval_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    approval = scoping.get_visible(session, user, Approval, approval_id)
    return _item(approval, scoping.drafts_by_ids(session, [approval.draft_id])[0])


def _decide(request: Request, session: Session, user: Principal, approval_id: int, action: str,
            edited_text: str | None = None, reason: str | None = None) -> DecisionOut:
    """Scope check on the request's session, then the service decides in its own transactions."""
    scoping.get_visible(session, user, Approval, approval_id)
    session.rollback()  # release the read snapshot: the service commits the decision itself
    result = approval_service.decide(approval_id, action, user.user_id, edited_text, reason,
                                     engine=request.app.state.db.engine, settings=request.app.state.settings)
    return DecisionOut(**result.__dict__)


@router.post("/approvals/{approval_id}/approve", response_model=DecisionOut)
def approve(approval_id: PathId, request: Request, session: SessionDep, user: CurrentUser) -> Any:
    return _decide(request, session, user, approval_id, "approve")


@router.post("/approvals/{approval_id}/edit", response_model=DecisionOut)
def edit(approval_id: PathId, body: EditIn, request: Request, session: SessionDep, user: CurrentUser) -> Any:
    """Send the reviewer's text instead of the draft (the edit is kept as feedback for later drafts)."""
    return _decide(request, session, user, approval_id, "edit", edited_text=body.text, reason=body.reason)


@router.post("/approvals/{approval_id}/reject", response_model=DecisionOut)
def reject(approval_id: PathId, body: RejectIn, request: Request, session: SessionDep, user: CurrentUser) -> Any:
    return _decide(request, session, user, approval_id, "reject", reason=body.reason)


@router.post("/approvals/bulk-approve", response_model=list[BulkItem])
def bulk_approve(body: BulkIn, request: Request, session: SessionDep, user: CurrentUser) -> Any:
    """Approve each; one failure (not found, already decided) does not stop the others."""
    out: list[BulkItem] = []
    for approval_id in dict.fromkeys(body.approval_ids):
        try:
            out.append(BulkItem(approval_id=approval_id, ok=True,
                                result=_decide(request, session, user, approval_id, "approve")))
        except CrmError as exc:
            response = crm_error_response(exc)
            out.append(BulkItem(approval_id=approval_id, ok=False,
                                error=json.loads(bytes(response.body))["error"]))
    return out


class EvalCaseOut(BaseModel):
    suite: str
    case_id: str
    kind: str
    created: bool


@router.post("/approvals/{approval_id}/eval-case", response_model=EvalCaseOut)
def add_eval_case(approval_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    """The decided draft becomes a case of its agent's eval suite (a second call returns the same case)."""
    approval = scoping.get_visible(session, user, Approval, approval_id)
    added = eval_feedback.add_draft_case(session, approval.draft_id, added_by_id=user.user_id, actor=user.actor)
    return EvalCaseOut(suite=added.suite, case_id=added.case_id, kind=added.kind, created=added.created)
