"""Sign in, sign out, and the home page of each role (what needs attention first)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import check_login_rate, login_user
from api.deps import SESSION_COOKIE, OptionalUser, SessionDep, SettingsDep, now_utc
from api.errors import RateLimited
from core.errors import InvalidInput
from core.models import Account, AgentScore, Approval, Deal, Lead, Task
from core.models.enums import DealStatus, Role, TaskStatus
from core.repositories import scoping, web_views
from core.repositories.scoping import Principal
from core.services import auth as auth_service
from core.services.auth import Unauthenticated
from web.common import FormDep, form_text, page_user, render, safe_next

router = APIRouter(prefix="/app", include_in_schema=False)
SignedIn = Annotated[Principal, Depends(page_user())]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "email": ""})


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, form: FormDep, session: SessionDep, settings: SettingsDep) -> Response:
    """Form sign-in: the same function as POST /auth/login; a wrong password re-renders the form (401)."""
    next_url = safe_next(form.get("next") if isinstance(form.get("next"), str) else None)  # type: ignore[arg-type]
    email = form.get("email")
    shown = email.strip()[:320] if isinstance(email, str) else ""
    try:
        check_login_rate(request)  # the same per-IP limit on password guessing as POST /auth/login
        email_text = form_text(form, "email", max_len=320)
        password = form_text(form, "password", max_len=1024)
        response = RedirectResponse(next_url, status_code=303)
        login_user(session, settings, response, email_text, password, request.headers.get("user-agent"))
    except InvalidInput as exc:
        return render(request, "login.html", {"next": next_url, "email": shown,
                                              "error": f"{exc.field}: {exc.message}"}, status_code=422)
    except RateLimited as exc:
        return render(request, "login.html", {"next": next_url, "email": shown, "error": str(exc).capitalize()},
                      status_code=429)
    except Unauthenticated:
        return render(request, "login.html", {"next": next_url, "email": shown,
                                              "error": "Wrong email or password."}, status_code=401)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: SignedIn) -> Response:
    """Ends the server-side session too, so a copied cookie stops working."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth_service.end_web_session(session, token, now_utc())
    response = RedirectResponse("/app/login?msg=Signed+out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, user: SignedIn) -> Response:
    """One page per role: the counts and the first items that need this person today."""
    ctx: dict[str, object] = {}
    ctx["pending_approvals"] = web_views.count(session, Approval, scoping.clause(user, Approval),
                                               Approval.status == "pending")
    if user.role in (Role.rep, Role.manager, Role.admin):
        ctx["open_deals"] = web_views.count(session, Deal, scoping.clause(user, Deal), Deal.status == DealStatus.open)
        ctx["top_leads"] = scoping.list_visible(session, user, Lead, order_by=Lead.score.desc().nulls_last(), limit=5)
    ctx["tasks"] = web_views.my_tasks(session, scoping.clause(user, Task), user.user_id, open_only=True)[:8]
    ctx["open_tasks"] = web_views.count(session, Task, scoping.clause(user, Task), Task.assignee_id == user.user_id,
                                        Task.status.in_([TaskStatus.open, TaskStatus.in_progress]))
    if user.role in (Role.csm, Role.admin):
        accounts = scoping.list_visible(session, user, Account, order_by=Account.name, limit=12)
        ctx["accounts"] = accounts
        ctx["health"] = web_views.latest_scores(session, scoping.clause(user, AgentScore), "account",
                                                [a.id for a in accounts], purpose="health")
    if user.role is Role.admin:
        ctx["eval_runs"] = web_views.eval_runs(session, limit=5)
    return render(request, "home.html", ctx)
