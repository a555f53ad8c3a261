"""Segments: saved rule sets (shared definitions) whose members are evaluated live, within each caller's scope.

Who may do what (also in api/README.md): every signed-in role lists, reads and previews segments and lists their
members, but sees only the members inside their own scope (core/repositories/scoping.py), and every count is of
those. Managers and admins create segments; a segment is changed or deleted by the manager who created it or by
an admin. Reps and CSMs work with the lists their managers share.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.routes.common import Limit, LongText, Offset, Out, PathId, Text200
from core.models.enums import SegmentEntity
from core.repositories.segments import MemberRow
from core.services import segments as svc

router = APIRouter(tags=["segments"])

VIETNAM_EXAMPLE: dict[str, Any] = {"all": [
    {"field": "account.size_band", "op": "eq", "value": "enterprise"},
    {"field": "account.country", "op": "eq", "value": "VN"},
    {"field": "last_activity_days", "op": "gt", "value": 90},
    {"field": "open_deals", "op": "eq", "value": 0},
]}
RULES_HELP = ("A rule tree: {\"all\": [...]}, {\"any\": [...]}, {\"not\": rule} or a condition "
              "{\"field\", \"op\", \"value\"}. Fields per entity and their meaning: core/repositories/segments.py. "
              "An invalid rule answers 422 naming its path, e.g. `rules.all[2].op`.")
Rules = Annotated[dict[str, Any], Field(description=RULES_HELP, examples=[VIETNAM_EXAMPLE])]
PreviewSize = Annotated[int, Field(ge=1, le=100, description="How many of the first members to return.")]


class SegmentIn(BaseModel):
    name: Text200 = Field(description="Unique name shown in lists.")
    entity: SegmentEntity = Field(description="What the members are: account, contact, deal or lead.")
    description: LongText | None = Field(default=None, description="What the list is for.")
    rules: Rules


class SegmentPatch(BaseModel):
    name: Text200 | None = Field(default=None, description="New unique name.")
    description: LongText | None = Field(default=None, description="New description (null clears it).")
    rules: Rules | None = None


class PreviewIn(BaseModel):
    entity: SegmentEntity = Field(description="What the members would be.")
    rules: Rules
    limit: PreviewSize = 10


class SegmentOut(Out):
    id: int = Field(description="Segment id.")
    name: str = Field(description="Unique name.")
    entity: SegmentEntity = Field(description="What the members are.")
    description: str | None = Field(description="What the list is for.")
    rules: dict[str, Any] = Field(description="The canonical rule tree as stored.")
    created_by_id: int | None = Field(description="The user who created it (null: created from the CLI).")
    created_at: datetime
    updated_at: datetime


class SegmentDetail(SegmentOut):
    member_count: int = Field(description="Members today, counting only those inside the caller's scope.")


class MemberOut(BaseModel):
    id: int = Field(description="Id of the account, contact, deal or lead.")
    name: str = Field(description="Display name.")
    detail: str = Field(description="A short line to recognise the row (title, country, stage status...).")
    account_id: int | None = Field(description="The related account (contacts, deals).")
    account_name: str | None = Field(description="Its name.")


class MembersOut(BaseModel):
    segment_id: int
    entity: SegmentEntity
    total: int = Field(description="Members inside the caller's scope, evaluated at this request.")
    limit: int
    offset: int
    ids: list[int] = Field(description="This page's member ids, ascending.")
    members: list[MemberOut] = Field(description="The same page with display fields.")


class StepOut(BaseModel):
    rule: str = Field(description="Path of a top-level rule, e.g. `rules.all[1]`.")
    count: int = Field(description="Matches of this rule and every one before it.")


class PreviewOut(BaseModel):
    entity: SegmentEntity
    population: int = Field(description="Rows of the entity inside the caller's scope.")
    total: int = Field(description="Of those, how many the rules match.")
    steps: list[StepOut] = Field(description="How each top-level rule narrows the set (all/any trees).")
    ids: list[int] = Field(description="The first matching ids, ascending.")
    members: list[MemberOut] = Field(description="The same with display fields.")


def _members(rows: list[MemberRow]) -> list[MemberOut]:
    return [MemberOut(id=r.id, name=r.name, detail=r.detail, account_id=r.account_id, account_name=r.account_name)
            for r in rows]


@router.get("/segments", response_model=list[SegmentOut])
def list_segments(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                  entity: Annotated[SegmentEntity | None, Query(description="Only segments of this entity.")] = None
                  ) -> Any:
    """Every saved segment (definitions are shared by all roles), oldest first."""
    return svc.list_segments(session, entity=entity, limit=limit, offset=offset)


@router.post("/segments", response_model=SegmentOut, status_code=201)
def create_segment(body: SegmentIn, session: SessionDep, user: CurrentUser) -> Any:
    svc.ensure_may_create(user)
    segment = svc.create_segment(session, name=body.name, entity=body.entity, rules=body.rules,
                                 description=body.description, created_by_id=user.user_id, actor=user.actor)
    session.refresh(segment)
    return segment


@router.post("/segments/preview", response_model=PreviewOut)
def preview_segment(body: PreviewIn, session: SessionDep, user: CurrentUser) -> Any:
    """Counts and first members of rules being edited, within the caller's scope; nothing is saved."""
    counts = svc.preview(session, body.rules, body.entity, viewer=user)
    first = svc.evaluate(session, rules=body.rules, entity=body.entity, limit=body.limit, viewer=user)
    return PreviewOut(entity=counts.entity, population=counts.population, total=counts.total,
                      steps=[StepOut(rule=path, count=n) for path, n in counts.steps], ids=first.ids,
                      members=_members(svc.describe(session, first)))


@router.get("/segments/{segment_id}", response_model=SegmentDetail)
def get_segment(segment_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    """The definition and today's member count within the caller's scope."""
    segment = SegmentOut.model_validate(svc.get_segment(session, segment_id))
    return SegmentDetail(**segment.model_dump(), member_count=svc.member_count(session, segment_id, viewer=user))


@router.patch("/segments/{segment_id}", response_model=SegmentOut)
def update_segment(segment_id: PathId, body: SegmentPatch, session: SessionDep, user: CurrentUser) -> Any:
    svc.ensure_may_change(user, svc.get_segment(session, segment_id))
    segment = svc.update_segment(session, segment_id, body.model_dump(exclude_unset=True), actor=user.actor,
                                 actor_id=user.user_id)
    session.refresh(segment)
    return segment


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: PathId, session: SessionDep, user: CurrentUser) -> Response:
    svc.ensure_may_change(user, svc.get_segment(session, segment_id))
    svc.delete_segment(session, segment_id, actor=user.actor, actor_id=user.user_id)
    return Response(status_code=204)


@router.get("/segments/{segment_id}/members", response_model=MembersOut)
def segment_members(segment_id: PathId, session: SessionDep, user: CurrentUser, limit: Limit = 50,
                    offset: Offset = 0) -> Any:
    """Members evaluated now (the list follows the data without re-saving), only those in the caller's scope."""
    page = svc.evaluate(session, segment_id, limit=limit, offset=offset, viewer=user)
    return MembersOut(segment_id=segment_id, entity=page.entity, total=page.total, limit=limit, offset=offset,
                      ids=page.ids, members=_members(svc.describe(session, page)))
