"""The admin's pipeline page: every pipeline with its stages in board order and the forms that change them.

Every form calls core/services/pipelines.py, the same functions as api/routes/pipelines.py and
`salesagents pipelines`, so the rules (an open, a won and a lost stage per pipeline, positions 1..n, a removed
stage's deals moved as recorded stage changes) live in one place. This module only turns form fields into the
service's arguments: a field that is not a whole number is refused here with its name; ranges and everything else
are the service's to judge. A refused change rolls back and re-renders the page (4xx) with the message naming the
field and what was typed; a change that succeeds comes back (303) with a flash message.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.deps import SessionDep
from api.routes.common import PathId
from core.errors import CrmError, InvalidInput
from core.models.enums import Role, StageKind
from core.repositories import api_views
from core.repositories import pipeline as pipeline_repo
from core.repositories.scoping import Principal
from core.services import pipelines as svc
from web.common import FormDep, form_text, message_of, page_user, render, status_of

router = APIRouter(prefix="/app/admin", include_in_schema=False)
Admin = Annotated[Principal, Depends(page_user(Role.admin))]
PAGE = "/app/admin/pipelines"
MAX_STAGE_LINES = 50
MAX_DIGITS = 9


def _whole(form: FormData, name: str, *, field: str | None = None) -> int | None:
    """An optional whole number (sign allowed, so the service judges the range and names it); blank is None."""
    raw = form_text(form, name, required=False, max_len=MAX_DIGITS + 1)
    return _parse_whole(raw, field or name)


def _parse_whole(raw: str, field: str) -> int | None:
    if not raw:
        return None
    digits = raw[1:] if raw[0] in "+-" else raw
    if not digits.isdigit() or len(digits) > MAX_DIGITS:
        raise InvalidInput(field, "must be a whole number")
    return int(raw)


def _kind(raw: str, field: str) -> StageKind:
    try:
        return StageKind(raw.strip().lower())
    except ValueError:
        raise InvalidInput(field, f"must be one of: {', '.join(k.value for k in StageKind)}") from None


def parse_stage_lines(text: str) -> list[svc.StageInput]:
    """One stage a line, `name, kind, probability[, rot_days]`; a name may itself hold commas (the last fields
    are read from the right). Fields are named like the service's (`stages[0].probability`)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_STAGE_LINES:
        raise InvalidInput("stages", f"at most {MAX_STAGE_LINES} stages")
    result: list[svc.StageInput] = []
    kinds = {k.value for k in StageKind}
    for n, line in enumerate(lines):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4 and parts[-3].lower() in kinds:
            name, kind, probability, rot = ", ".join(parts[:-3]), parts[-3], parts[-2], parts[-1]
        elif len(parts) >= 3:
            name, kind, probability, rot = ", ".join(parts[:-2]), parts[-2], parts[-1], ""
        else:
            raise InvalidInput(f"stages[{n}]", f"line {n + 1} must read: name, kind, probability[, rot_days]")
        percent = _parse_whole(probability, f"stages[{n}].probability")
        if percent is None:
            raise InvalidInput(f"stages[{n}].probability", "is required")
        result.append(svc.StageInput(name, percent, _parse_whole(rot, f"stages[{n}].rot_days"),
                                     _kind(kind, f"stages[{n}].kind")))
    return result


def _context(session: Session) -> dict[str, Any]:
    pipelines = list(api_views.pipelines(session))
    stages = {p.id: list(pipeline_repo.stages(session, p.id)) for p in pipelines}
    counts = pipeline_repo.deal_counts(session, [s.id for rows in stages.values() for s in rows])
    return {"pipelines": pipelines, "stages": stages, "counts": counts, "kinds": [k.value for k in StageKind],
            "kind_of": lambda s: svc.kind_of(s).value, "percent": svc.percent, "error": None, "error_form": None,
            "values": {}}


def _refused(request: Request, session: Session, form: FormData, form_id: str, exc: CrmError) -> Response:
    """Nothing of the refused change is kept; the page comes back with the message and what was typed."""
    session.rollback()
    ctx = _context(session)
    ctx.update(error=message_of(exc), error_form=form_id,
               values={k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"})
    return render(request, "admin_pipelines.html", ctx, status_code=status_of(exc))


def _done(message: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{PAGE}?msg={quote_plus(message)}{anchor}", status_code=303)


@router.get("/pipelines", response_class=HTMLResponse)
def pipelines_page(request: Request, session: SessionDep, user: Admin) -> Response:
    return render(request, "admin_pipelines.html", _context(session))


@router.post("/pipelines", response_class=HTMLResponse)
def create_pipeline(request: Request, form: FormDep, session: SessionDep, user: Admin) -> Response:
    try:
        pipeline = svc.create(session, name=form_text(form, "name", max_len=200),
                              stages=parse_stage_lines(form_text(form, "stages", required=False)),
                              is_default=form.get("is_default") == "1", actor=user.actor, actor_id=user.user_id)
    except CrmError as exc:
        return _refused(request, session, form, "create", exc)
    return _done(f"Pipeline {pipeline.name} created", f"#pipeline-{pipeline.id}")


@router.post("/pipelines/{pipeline_id}", response_class=HTMLResponse)
def update_pipeline(pipeline_id: PathId, request: Request, form: FormDep, session: SessionDep,
                    user: Admin) -> Response:
    """Rename, and make it the default when the box is ticked (the box cannot un-make a default: another
    pipeline is made the default instead)."""
    changes: dict[str, Any] = {}
    try:
        changes["name"] = form_text(form, "name", max_len=200)
        if form.get("is_default") == "1":
            changes["is_default"] = True
        pipeline = svc.update(session, pipeline_id, changes, actor=user.actor, actor_id=user.user_id)
    except CrmError as exc:
        return _refused(request, session, form, f"pipeline-{pipeline_id}", exc)
    return _done(f"Pipeline {pipeline.name} saved", f"#pipeline-{pipeline.id}")


@router.post("/pipelines/{pipeline_id}/stages", response_class=HTMLResponse)
def add_stage(pipeline_id: PathId, request: Request, form: FormDep, session: SessionDep, user: Admin) -> Response:
    try:
        probability = _whole(form, "probability")
        if probability is None:
            raise InvalidInput("probability", "is required")
        spec = svc.StageInput(form_text(form, "name", max_len=200), probability, _whole(form, "rot_days"),
                              _kind(form_text(form, "kind", max_len=10), "kind"))
        stage = svc.add_stage(session, pipeline_id, spec, position=_whole(form, "position"), actor=user.actor,
                              actor_id=user.user_id)
    except CrmError as exc:
        return _refused(request, session, form, f"add-{pipeline_id}", exc)
    return _done(f"Stage {stage.name} added", f"#pipeline-{pipeline_id}")


@router.post("/pipelines/{pipeline_id}/stages/{stage_id}", response_class=HTMLResponse)
def update_stage(pipeline_id: PathId, stage_id: PathId, request: Request, form: FormDep, session: SessionDep,
                 user: Admin) -> Response:
    """The row's fields as they stand: a blank rot days clears the limit, a blank position keeps the place."""
    try:
        changes: dict[str, Any] = {"name": form_text(form, "name", max_len=200),
                                   "probability": _whole(form, "probability"), "rot_days": _whole(form, "rot_days")}
        position = _whole(form, "position")
        if position is not None:
            changes["position"] = position
        stage = svc.update_stage(session, pipeline_id, stage_id, changes, actor=user.actor, actor_id=user.user_id)
    except CrmError as exc:
        return _refused(request, session, form, f"stage-{stage_id}", exc)
    return _done(f"Stage {stage.name} saved", f"#pipeline-{pipeline_id}")


@router.post("/pipelines/{pipeline_id}/stages/{stage_id}/remove", response_class=HTMLResponse)
def remove_stage(pipeline_id: PathId, stage_id: PathId, request: Request, form: FormDep, session: SessionDep,
                 user: Admin) -> Response:
    try:
        removal = svc.remove_stage(session, pipeline_id, stage_id, move_to=_whole(form, "move_to"),
                                   actor=user.actor, actor_id=user.user_id)
    except CrmError as exc:
        return _refused(request, session, form, f"remove-{stage_id}", exc)
    moved = f", {len(removal.moved_deal_ids)} deal(s) moved" if removal.moved_deal_ids else ""
    return _done(f"Stage removed{moved}", f"#pipeline-{pipeline_id}")
