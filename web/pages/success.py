"""Customer-success pages: the approval inbox (the customer's comment and 360 context beside an editable draft;
approve, edit, reject with reason; decided drafts can become eval cases), the account list, and the account
health page with the score's history and its drivers. Customer 360 and its forms: web/pages/account360.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.routes.common import PathId
from core.errors import CrmError, InvalidInput
from core.models import Account, AgentScore, Approval, Draft, Quote
from core.repositories import evals as eval_repo
from core.repositories import scoping, web_views
from core.repositories.scoping import Principal
from core.services import approvals as approval_service
from core.services import eval_feedback
from core.services.customer360 import Customer360, customer_360
from web.charts import time_series
from web.common import FormDep, form_text, message_of, page_user, render, status_of

router = APIRouter(prefix="/app", include_in_schema=False)
SignedIn = Annotated[Principal, Depends(page_user())]
HEALTH_BANDS = ((75.0, "Healthy ≥ 75"), (40.0, "At Risk ≥ 40"))
DECIDED = ("approved", "edited", "rejected", "expired")


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, session: SessionDep, user: SignedIn,
          show: Literal["pending", "decided"] = "pending") -> Response:
    """Drafts waiting for this person (a manager: the team's; an admin: all), most urgent first."""
    rows = web_views.inbox(session, scoping.clause(user, Approval), ["pending"] if show == "pending" else DECIDED)
    return render(request, "inbox.html", {"rows": rows, "show": show})


def _account_of(session: Session, user: Principal, draft: Draft) -> int | None:
    """The account a draft is about (directly, or through its quote), if this person may see it."""
    if draft.subject_type == "account":
        account_id: int | None = draft.subject_id
    elif draft.subject_type == "quote":
        account_id = web_views.quote_account_id(session, draft.subject_id, scoping.clause(user, Quote))
    elif draft.subject_type == "nps_response":
        answer = web_views.nps_response(session, draft.subject_id, scoping.clause(user, Account))
        account_id = answer.account_id if answer is not None else None
    else:
        account_id = None
    if account_id is None or not scoping.is_visible(session, user, Account, account_id):
        return None
    return account_id


def _item_context(session: Session, user: Principal, approval_id: int) -> dict[str, Any]:
    approval = scoping.get_visible(session, user, Approval, approval_id)
    draft = scoping.drafts_by_ids(session, [approval.draft_id])[0]
    account_id = _account_of(session, user, draft)
    c360: Customer360 | None = customer_360(session, account_id, timeline_limit=8) if account_id else None
    response_id = (draft.context or {}).get("response_id")
    if draft.subject_type == "nps_response":
        response_id = draft.subject_id
    answer = (web_views.nps_response(session, int(response_id), scoping.clause(user, Account))
              if isinstance(response_id, int) else None)
    health = (web_views.latest_scores(session, scoping.clause(user, AgentScore), "account", [account_id],
                                      purpose="health").get((account_id, "health")) if account_id else None)
    names = web_views.user_names(session, [approval.reviewer_id, approval.decided_by_id, approval.escalated_to_id])
    return {"approval": approval, "draft": draft, "c360": c360, "answer": answer, "health": health, "names": names,
            "text": draft.final_body or draft.body, "reason": "", "error": None,
            "case": eval_repo.feedback_case_for_draft(session, draft.id)}


@router.get("/inbox/{approval_id}", response_class=HTMLResponse)
def inbox_item(approval_id: PathId, request: Request, session: SessionDep, user: SignedIn) -> Response:
    return render(request, "inbox_item.html", _item_context(session, user, approval_id))


@router.post("/inbox/{approval_id}", response_class=HTMLResponse)
def decide(approval_id: PathId, request: Request, form: FormDep, session: SessionDep, user: SignedIn) -> Response:
    """Approve, edit (send my text) or reject (reason required): the same service as the JSON API, which claims
    the approval in its own transaction and resumes the waiting agent run. A bad form re-renders with the error."""
    ctx = _item_context(session, user, approval_id)
    draft: Draft = ctx["draft"]
    try:
        action = form_text(form, "action", max_len=10)
        text = form_text(form, "text", required=action == "edit")
        reason = form_text(form, "reason", required=action == "reject", max_len=200) or None
        ctx.update(text=text or ctx["text"], reason=reason or "")
        if action not in ("approve", "edit", "reject"):
            raise InvalidInput("action", "must be approve, edit or reject")
        if action == "edit" and text == draft.body.strip():
            raise InvalidInput("text", "is unchanged: approve the draft instead, or change the text")
        session.rollback()  # release the read snapshot: the service commits the decision itself
        result = approval_service.decide(approval_id, action, user.user_id, text if action == "edit" else None,
                                         reason, engine=request.app.state.db.engine,
                                         settings=request.app.state.settings)
    except CrmError as exc:
        ctx["error"] = message_of(exc)
        return render(request, "inbox_item.html", ctx, status_code=status_of(exc))
    note = f"Draft {result.draft_status}" + (f", mail {result.mail_status}" if result.mail_status else "")
    if result.error:
        note += f" (the agent run reported: {result.error})"
    return RedirectResponse(f"/app/inbox/{approval_id}?msg={note.replace(' ', '+')}", status_code=303)


@router.post("/inbox/{approval_id}/eval-case", response_class=HTMLResponse)
def add_eval_case(approval_id: PathId, request: Request, session: SessionDep, user: SignedIn) -> Response:
    """A decided draft becomes a case of its agent's eval suite (core/services/eval_feedback.add_draft_case)."""
    approval = scoping.get_visible(session, user, Approval, approval_id)
    try:
        added = eval_feedback.add_draft_case(session, approval.draft_id, added_by_id=user.user_id, actor=user.actor)
    except CrmError as exc:
        session.rollback()
        ctx = _item_context(session, user, approval_id)
        ctx["error"] = message_of(exc)
        return render(request, "inbox_item.html", ctx, status_code=status_of(exc))
    note = (f"Added to {added.suite} as {added.case_id}" if added.created
            else f"Already in {added.suite} as {added.case_id}")
    return RedirectResponse(f"/app/inbox/{approval_id}?msg={note.replace(' ', '+')}", status_code=303)


@router.get("/accounts", response_class=HTMLResponse)
def accounts(request: Request, session: SessionDep, user: SignedIn, q: str = "") -> Response:
    filters = [Account.name.ilike(f"%{q.strip()[:100]}%")] if q.strip() else []
    rows = scoping.list_visible(session, user, Account, filters=filters, order_by=Account.name, limit=200)
    health = web_views.latest_scores(session, scoping.clause(user, AgentScore), "account", [a.id for a in rows],
                                     purpose="health")
    return render(request, "accounts.html", {"accounts": rows, "health": health, "q": q,
                                             "names": web_views.user_names(session, [a.csm_id for a in rows])})


@router.get("/accounts/{account_id}/health", response_class=HTMLResponse)
def account_health(account_id: PathId, request: Request, session: SessionDep, user: SignedIn) -> Response:
    """The health score's history as a chart, the latest drivers, and each signal's points."""
    account = scoping.get_visible(session, user, Account, account_id)
    history = web_views.score_history(session, scoping.clause(user, AgentScore), "account", account_id, "health")
    chart = time_series("Health score", [(h.created_at, float(h.score)) for h in history], bands=HEALTH_BANDS)
    latest = history[-1] if history else None
    return render(request, "health.html", {"account": account, "history": list(reversed(history)), "chart": chart,
                                           "latest": latest, "f": dict(latest.factors or {}) if latest else {}})
