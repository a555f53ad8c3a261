"""Segments for people who do not write JSON by hand every day: the saved lists with their size, a list's members
page by page, and a form to try rules (preview) and save them.

The same service and checks as api/routes/segments.py: definitions are shared and every role reads them, but
members, counts and the preview's population are always those inside the viewer's own scope; managers and admins
save a segment (core.services.segments.ensure_may_create), anyone may preview. Bad rules come back as the
service's message naming the rule's path (e.g. `rules.all[1].op`), with what was typed kept in the form.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.deps import SessionDep
from api.routes.common import PathId
from api.routes.segments import VIETNAM_EXAMPLE
from core.errors import CrmError, InvalidInput
from core.models.enums import Role, SegmentEntity
from core.repositories.scoping import Principal
from core.services import segments as svc
from web.common import FormDep, form_text, message_of, page_user, render, status_of

router = APIRouter(prefix="/app", include_in_schema=False)
SignedIn = Annotated[Principal, Depends(page_user())]
PAGE_SIZE = 50
PREVIEW_SIZE = 10
MAX_LISTED = 200
MAX_RULES_CHARS = 20_000
MEMBER_LINKS = {SegmentEntity.account: "/app/accounts/{id}", SegmentEntity.deal: "/app/deals/{id}"}


def _may_create(user: Principal) -> bool:
    return user.role in (Role.manager, Role.admin)


@router.get("/segments", response_class=HTMLResponse)
def segments(request: Request, session: SessionDep, user: SignedIn) -> Response:
    """Every saved segment with how many of its members this person sees today."""
    rows = svc.list_segments(session, limit=MAX_LISTED)
    counts = {s.id: svc.member_count(session, s.id, viewer=user) for s in rows}
    return render(request, "segments.html", {"segments": rows, "counts": counts, "may_create": _may_create(user)})


def _form_context(user: Principal, values: dict[str, str]) -> dict[str, Any]:
    return {"entities": [e.value for e in SegmentEntity], "values": values, "may_create": _may_create(user),
            "example": json.dumps(VIETNAM_EXAMPLE, indent=2), "preview": None, "members": [], "error": None}


@router.get("/segments/new", response_class=HTMLResponse)
def new_segment(request: Request, user: SignedIn) -> Response:
    return render(request, "segment_new.html", _form_context(user, {"entity": SegmentEntity.contact.value}))


def _rules(form: FormData) -> Any:
    raw = form_text(form, "rules", max_len=MAX_RULES_CHARS)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput("rules", f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
                           ) from None


def _entity(form: FormData) -> SegmentEntity:
    raw = form_text(form, "entity", max_len=20)
    try:
        return SegmentEntity(raw)
    except ValueError:
        raise InvalidInput("entity", f"must be one of: {', '.join(e.value for e in SegmentEntity)}") from None


def _preview(session: Session, user: Principal, entity: SegmentEntity, rules: Any) -> dict[str, Any]:
    counts = svc.preview(session, rules, entity, viewer=user)
    first = svc.evaluate(session, rules=rules, entity=entity, limit=PREVIEW_SIZE, viewer=user)
    return {"preview": counts, "members": svc.describe(session, first)}


@router.post("/segments/new", response_class=HTMLResponse)
def create_segment(request: Request, form: FormDep, session: SessionDep, user: SignedIn) -> Response:
    """`action=preview` shows the counts and first members of the rules (nothing saved); `action=save` saves them
    (managers and admins, like POST /segments) and opens the new segment."""
    action = form.get("action")
    if action == "save":
        svc.ensure_may_create(user)
    values = {k: v for k, v in form.multi_items() if isinstance(v, str) and k not in ("csrf_token", "action")}
    ctx = _form_context(user, values)
    try:
        entity, rules = _entity(form), _rules(form)
        if action == "save":
            segment = svc.create_segment(session, name=form_text(form, "name", max_len=200), entity=entity,
                                         rules=rules, created_by_id=user.user_id, actor=user.actor,
                                         description=form_text(form, "description", required=False) or None)
            return RedirectResponse(f"/app/segments/{segment.id}?msg={quote_plus(f'Segment {segment.name} saved')}",
                                    status_code=303)
        if action != "preview":
            raise InvalidInput("action", "must be preview or save")
        ctx.update(_preview(session, user, entity, rules))
    except CrmError as exc:
        session.rollback()
        ctx["error"] = message_of(exc)
        return render(request, "segment_new.html", ctx, status_code=status_of(exc))
    return render(request, "segment_new.html", ctx)


@router.get("/segments/{segment_id}", response_class=HTMLResponse)
def segment_page(segment_id: PathId, request: Request, session: SessionDep, user: SignedIn,
                 page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    """The definition and one page of the members this person sees, evaluated now."""
    segment = svc.get_segment(session, segment_id)
    result = svc.evaluate(session, segment_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, viewer=user)
    pages = max(1, -(-result.total // PAGE_SIZE))
    link = MEMBER_LINKS.get(segment.entity)
    return render(request, "segment.html", {"segment": segment, "result": result, "page": page, "pages": pages,
                                            "members": svc.describe(session, result), "link": link,
                                            "rules": json.dumps(segment.rules, indent=2, ensure_ascii=False)})
