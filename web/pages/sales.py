"""Seller pages: the pipeline Kanban board (drag a card to move the deal), the deal page with the Deal Coach's
suggestions, scores, timeline and quotes (send / accept / reject / order), leads ranked by score with their
factors, and the person's own tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SessionDep
from api.routes.common import PathId
from core.errors import CrmError, InvalidInput
from core.models import Account, Activity, AgentScore, Deal, Lead, Pipeline, Quote, Suggestion, Task
from core.models.enums import LeadStatus, Role, TaskStatus
from core.repositories import api_views, scoping, web_views
from core.repositories import pipeline as pipeline_repo
from core.repositories import sales as sales_repo
from core.repositories.scoping import Principal
from core.services import deals as deal_service
from core.services import quotes as quote_service
from core.services import suggestions as suggestion_service
from core.services.auth import Forbidden
from core.services.updates import update_fields
from web.common import FormDep, error_page, form_int, form_text, message_of, page_user, render, status_of

router = APIRouter(prefix="/app", include_in_schema=False)
Seller = Annotated[Principal, Depends(page_user(Role.rep, Role.manager))]
SignedIn = Annotated[Principal, Depends(page_user())]


def _pipeline(session: SessionDep, pipeline_id: int | None) -> tuple[Pipeline, list[Pipeline]]:
    pipelines = list(api_views.pipelines(session))
    if not pipelines:
        raise InvalidInput("pipeline_id", "no pipeline exists yet")
    if pipeline_id is None:
        return pipelines[0], pipelines
    chosen = next((p for p in pipelines if p.id == pipeline_id), None)
    if chosen is None:
        raise InvalidInput("pipeline_id", f"pipeline {pipeline_id} does not exist")
    return chosen, pipelines


@router.get("/pipeline", response_class=HTMLResponse)
def board(request: Request, session: SessionDep, user: Seller, pipeline_id: PathId | None = None) -> Response:
    """Open deals in scope, one column per stage; won/lost columns are drop targets that close the deal."""
    pipeline, pipelines = _pipeline(session, pipeline_id)
    stages = list(pipeline_repo.stages(session, pipeline.id))
    deals = web_views.board_deals(session, scoping.clause(user, Deal), pipeline.id)
    by_stage: dict[int, list[Deal]] = {s.id: [] for s in stages}
    for deal in deals:
        by_stage.setdefault(deal.stage_id, []).append(deal)
    accounts = web_views.account_names(session, scoping.clause(user, Account), [d.account_id for d in deals])
    owners = web_views.user_names(session, [d.owner_id for d in deals])
    return render(request, "pipeline.html", {"pipeline": pipeline, "pipelines": pipelines, "stages": stages,
                                             "by_stage": by_stage, "accounts": accounts, "owners": owners})


@router.post("/deals/{deal_id}/stage", response_class=HTMLResponse)
def move_stage(deal_id: PathId, request: Request, form: FormDep, session: SessionDep, user: SignedIn) -> Response:
    """The drop target of the board (and the deal page's form): the same service as POST /deals/{id}/stage.
    Answers a small status fragment; 4xx with the reason when the move is refused."""
    try:
        deal = scoping.get_visible(session, user, Deal, deal_id, lock=True)
        if user.role is Role.csm:
            raise Forbidden("role csm may read but not change deals")
        stage_id = form_int(form, "stage_id")
        reason = form_text(form, "lost_reason", required=False, max_len=200) or None
        deal = deal_service.move_stage(session, deal.id, stage_id, lost_reason=reason, actor=user.actor,
                                       actor_id=user.user_id)
        stage = pipeline_repo.stages(session, deal.pipeline_id)
        name = next((s.name for s in stage if s.id == deal.stage_id), str(deal.stage_id))
    except CrmError as exc:
        session.rollback()
        return render(request, "_error.html", {"message": message_of(exc)}, status_code=status_of(exc))
    if request.headers.get("HX-Request") or request.headers.get("X-Requested-With"):
        return render(request, "_moved.html", {"deal": deal, "stage_name": name})
    return RedirectResponse(f"/app/deals/{deal.id}?msg=Moved+to+{name}", status_code=303)


@router.get("/deals/{deal_id}", response_class=HTMLResponse)
def deal_page(deal_id: PathId, request: Request, session: SessionDep, user: SignedIn) -> Response:
    """Everything about one deal: AI suggestions to accept or dismiss, scores with factors, timeline, tasks."""
    deal = scoping.get_visible(session, user, Deal, deal_id)
    stages = list(pipeline_repo.stages(session, deal.pipeline_id))
    account = (scoping.get_visible(session, user, Account, deal.account_id)
               if deal.account_id and scoping.is_visible(session, user, Account, deal.account_id) else None)
    suggestions = api_views.suggestions(session, scoping.clause(user, Suggestion), subject_type="deal",
                                        subject_id=deal.id, status=None, limit=30)
    scores = web_views.latest_scores(session, scoping.clause(user, AgentScore), "deal", [deal.id])
    timeline = web_views.deal_timeline(session, scoping.clause(user, Activity), deal.id)
    tasks = web_views.deal_tasks(session, scoping.clause(user, Task), deal.id)
    stage = next((s for s in stages if s.id == deal.stage_id), None)
    names = web_views.user_names(session, [deal.owner_id, *[a.user_id for a in timeline]])
    quotes = scoping.list_visible(session, user, Quote, filters=[Quote.deal_id == deal.id], limit=50)
    return render(request, "deal.html", {"deal": deal, "stages": stages, "stage": stage, "account": account,
                                         "suggestions": suggestions, "scores": sorted(scores.values(),
                                                                                      key=lambda s: s.purpose),
                                         "timeline": timeline, "tasks": tasks, "names": names,
                                         "can_edit": user.role is not Role.csm, "quotes": quotes,
                                         "orders": sales_repo.orders_for_quotes(session, [q.id for q in quotes]),
                                         "deal_order": sales_repo.order_for_deal(session, deal.id),
                                         "can_quote": user.role is not Role.csm or deal.owner_id == user.user_id})


QuoteAction = Literal["send", "accept", "reject", "order"]


@router.post("/quotes/{quote_id}/{action}", response_class=HTMLResponse)
def quote_action(quote_id: PathId, action: QuoteAction, request: Request, form: FormDep, session: SessionDep,
                 user: SignedIn) -> Response:
    """The deal page's quote buttons: the same services as POST /quotes/{id}/send|accept|reject|order, then back
    to the deal page with what happened; a refused step is an error page naming the quote's status."""
    try:
        quote = scoping.get_visible(session, user, Quote, quote_id, lock=True)
        quote_service.ensure_may_change(session, user, quote.deal_id)
        who: dict[str, Any] = {"actor": user.actor, "actor_id": user.user_id}
        if action == "send":
            quote_service.send_quote(session, quote.id, **who)
            done = f"Quote {quote.number} sent"
        elif action == "accept":
            order = quote_service.accept_quote(session, quote.id, **who)
            done = f"Quote {quote.number} accepted; order {order.number} created"
        elif action == "reject":
            reason = form_text(form, "reason", max_len=200)
            quote_service.reject_quote(session, quote.id, reason=reason, **who)
            done = f"Quote {quote.number} rejected"
        else:
            order, created = quote_service.order_from_quote(session, quote.id, **who)
            done = f"Order {order.number} {'created' if created else 'already exists'}"
    except CrmError as exc:
        session.rollback()
        return error_page(request, exc)
    target = f"/app/deals/{quote.deal_id}" if quote.deal_id is not None else "/app/"
    return RedirectResponse(f"{target}?msg={quote_plus(done)}", status_code=303)


@router.post("/deals/{deal_id}/order", response_class=HTMLResponse)
def deal_order(deal_id: PathId, request: Request, form: FormDep, session: SessionDep, user: SignedIn) -> Response:
    """A deal without a quote becomes an order in one click (as POST /deals/{id}/order); an open deal is won."""
    try:
        scoping.get_visible(session, user, Deal, deal_id, lock=True)
        quote_service.ensure_may_change(session, user, deal_id)
        order = quote_service.order_from_deal(session, deal_id, actor=user.actor, actor_id=user.user_id)
    except CrmError as exc:
        session.rollback()
        return error_page(request, exc)
    return RedirectResponse(f"/app/deals/{deal_id}?msg={quote_plus(f'Order {order.number} created')}",
                            status_code=303)


@router.post("/suggestions/{suggestion_id}/{action}", response_class=HTMLResponse)
def decide_suggestion(suggestion_id: PathId, action: str, request: Request, form: FormDep, session: SessionDep,
                            user: SignedIn) -> Response:
    """Accept or dismiss (htmx swaps the suggestion); a second decision shows the conflict in place."""
    try:
        if action not in ("accept", "dismiss"):
            raise InvalidInput("action", "must be accept or dismiss")
        suggestion = scoping.get_visible(session, user, Suggestion, suggestion_id)
        deal_id = None
        if action == "accept":
            deal_id = suggestion_service.accept(session, suggestion_id, user.user_id).deal_id
        else:
            reason = form_text(form, "reason", required=False, max_len=200) or None
            suggestion_service.dismiss(session, suggestion_id, user.user_id, reason=reason)
        session.refresh(suggestion)
    except CrmError as exc:
        session.rollback()
        return render(request, "_error.html", {"message": message_of(exc)}, status_code=status_of(exc))
    return render(request, "_suggestion.html", {"s": suggestion, "new_deal_id": deal_id})


@router.get("/leads", response_class=HTMLResponse)
def leads(request: Request, session: SessionDep, user: Seller,
          status: LeadStatus | Literal["open", "all"] = "open") -> Response:
    """Leads in scope, highest score first (unscored last), each with the factors raising and lowering it;
    by default the ones still to work (not disqualified, not converted)."""
    if status == "open":
        filters = [Lead.status != LeadStatus.disqualified, Lead.converted_at.is_(None)]
    else:
        filters = [] if status == "all" else [Lead.status == status]
    rows = scoping.list_visible(session, user, Lead, filters=filters, order_by=(Lead.score.desc().nulls_last(),
                                                                                 Lead.id), limit=200)
    return render(request, "leads.html", {"leads": rows, "status": str(status),
                                          "statuses": ["open", "all", *[s.value for s in LeadStatus]],
                                          "owners": web_views.user_names(session, [r.owner_id for r in rows])})


@router.get("/tasks", response_class=HTMLResponse)
def tasks(request: Request, session: SessionDep, user: SignedIn, show: str = "open") -> Response:
    rows = web_views.my_tasks(session, scoping.clause(user, Task), user.user_id, open_only=show != "all")
    return render(request, "tasks.html", {"tasks": rows, "show": show})


@router.post("/tasks/{task_id}/done", response_class=HTMLResponse)
def task_done(task_id: PathId, request: Request, session: SessionDep, user: SignedIn) -> Response:
    task = scoping.get_visible(session, user, Task, task_id, lock=True)
    if task.assignee_id != user.user_id and not user.is_admin:
        raise Forbidden("only the assignee completes a task here")
    changes: dict[str, Any] = {"status": TaskStatus.done, "completed_at": datetime.now(UTC)}
    update_fields(session, task, changes, entity_type="task", actor=user.actor, actor_id=user.user_id)
    return render(request, "_task_row.html", {"t": task})
