"""Segments: saved rule sets evaluated at read time, so membership always reflects today's data.

The rule grammar is in core/segment_rules.py, the fields and their meaning in core/repositories/segments.py.
Example, "Enterprise accounts — Vietnam — 90d no activity" over contacts:
    {"all": [{"field": "account.size_band", "op": "eq", "value": "enterprise"},
             {"field": "account.country", "op": "eq", "value": "VN"},
             {"field": "last_activity_days", "op": "gt", "value": 90},
             {"field": "open_deals", "op": "eq", "value": 0}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models import Account, Contact, Deal, Lead, Segment
from core.models.enums import Role, SegmentEntity
from core.repositories import events, scoping
from core.repositories import segments as repo
from core.repositories.scoping import Principal
from core.repositories.segments import MemberRow
from core.segment_rules import dump_rules, parse_rules
from core.services.auth import Forbidden
from core.services.snapshot import snapshot

MAX_PAGE = 10_000
EDITABLE = ("name", "description", "rules")
_MODEL_OF: dict[SegmentEntity, type] = {SegmentEntity.account: Account, SegmentEntity.contact: Contact,
                                        SegmentEntity.deal: Deal, SegmentEntity.lead: Lead}


@dataclass(frozen=True)
class SegmentResult:
    entity: SegmentEntity
    total: int
    ids: list[int]
    limit: int
    offset: int


@dataclass(frozen=True)
class SegmentPreview:
    """How many rows the rules match, out of how many, and how each top-level rule narrows the set."""

    entity: SegmentEntity
    population: int
    total: int
    steps: list[tuple[str, int]]


def ensure_may_create(user: Principal) -> None:
    """Managers and admins share lists with their teams; reps and CSMs use them (and may preview any rules)."""
    if user.role not in (Role.manager, Role.admin):
        raise Forbidden(f"role {user.role.value} may not create segments (managers and admins share them; "
                        "anyone may preview rules)")


def ensure_may_change(user: Principal, segment: Segment) -> None:
    """The creator's own list: another manager may copy it, not rewrite what the creator's team relies on."""
    if user.is_admin or (user.role is Role.manager and segment.created_by_id == user.user_id):
        return
    raise Forbidden("only the manager who created a segment, or an admin, may change or delete it")


def _entity(value: SegmentEntity | str) -> SegmentEntity:
    try:
        return SegmentEntity(value)
    except ValueError:
        known = ", ".join(e.value for e in SegmentEntity)
        raise InvalidInput("entity", f"{value!r} is not one of: {known}") from None


def _visible(viewer: Principal | None, entity: SegmentEntity) -> Select[Any] | None:
    """A segment is shared, its members are not: each person sees only the members inside their own scope."""
    return None if viewer is None else scoping.visible_ids(viewer, _MODEL_OF[entity])


def _compile(session: Session, entity: SegmentEntity, rules: Any, now: datetime,
             with_steps: bool = False, viewer: Principal | None = None) -> repo.Compiled:
    compiled = repo.Compiler(session, entity, now).compile(parse_rules(rules), with_steps=with_steps)
    return compiled.restricted(_visible(viewer, entity))


def _clean_name(session: Session, name: str, segment_id: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("name", "a segment needs a name")
    existing = repo.segment_named(session, name)
    if existing is not None and existing != segment_id:
        raise InvalidInput("name", f"a segment named {name!r} already exists")
    return name


def validate_rules(session: Session, entity: SegmentEntity | str, rules: Any) -> dict[str, Any]:
    """Check shape, fields, ops and values; return the canonical JSON to store."""
    kind = _entity(entity)
    node = parse_rules(rules)
    repo.Compiler(session, kind, datetime.now(UTC)).compile(node)
    return dump_rules(node)


def create_segment(session: Session, *, name: str, entity: SegmentEntity | str, rules: Any,
                   description: str | None = None, created_by_id: int | None = None,
                   actor: str = "system") -> Segment:
    name = _clean_name(session, name)
    kind = _entity(entity)
    segment = Segment(name=name, entity=kind, description=description, created_by_id=created_by_id,
                      rules=validate_rules(session, kind, rules))
    session.add(segment)
    session.flush()
    events.add_event(session, "segment.created", "segment", segment.id, {"entity": kind.value})
    events.add_audit(session, actor=actor, actor_id=created_by_id, action="create", entity_type="segment",
                     entity_id=segment.id, after=snapshot(segment))
    return segment


def update_rules(session: Session, segment_id: int, rules: Any, *, actor: str = "system") -> Segment:
    return update_segment(session, segment_id, {"rules": rules}, actor=actor)


def update_segment(session: Session, segment_id: int, changes: Mapping[str, Any], *, actor: str = "system",
                   actor_id: int | None = None) -> Segment:
    """Rename, describe or change the rules; the entity stays (rules are written for one entity).

    Only real changes are audited and announced; a segment saved unchanged writes nothing.
    """
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(unknown[0], f"cannot be changed (editable: {', '.join(EDITABLE)})")
    segment = get_segment(session, segment_id)
    wanted: dict[str, Any] = {}
    if "name" in changes:
        if changes["name"] is None:
            raise InvalidInput("name", "must not be null")
        wanted["name"] = _clean_name(session, changes["name"], segment.id)
    if "description" in changes:
        wanted["description"] = changes["description"]
    if "rules" in changes:
        wanted["rules"] = validate_rules(session, segment.entity, changes["rules"])
    before = {k: getattr(segment, k) for k, v in wanted.items() if getattr(segment, k) != v}
    if not before:
        return segment
    for key in before:
        setattr(segment, key, wanted[key])
    session.flush()
    after = {k: getattr(segment, k) for k in before}
    events.add_event(session, "segment.updated", "segment", segment.id, {"fields": sorted(before)})
    events.add_audit(session, actor=actor, actor_id=actor_id, action="update", entity_type="segment",
                     entity_id=segment.id, before=before, after=after)
    return segment


def delete_segment(session: Session, segment_id: int, *, actor: str = "system", actor_id: int | None = None) -> None:
    """Deleting the definition touches no member: a segment is a query, not a copy of its rows."""
    segment = get_segment(session, segment_id)
    before = snapshot(segment)
    session.delete(segment)
    session.flush()
    events.add_event(session, "segment.deleted", "segment", segment_id, {"entity": before["entity"]})
    events.add_audit(session, actor=actor, actor_id=actor_id, action="delete", entity_type="segment",
                     entity_id=segment_id, before=before)


def list_segments(session: Session, *, entity: SegmentEntity | str | None = None, limit: int = 100,
                  offset: int = 0) -> Sequence[Segment]:
    kind = None if entity is None else _entity(entity)
    return repo.list_segments(session, entity=kind, limit=limit, offset=offset)


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound("segment", segment_id)
    return segment


def evaluate(session: Session, segment_id: int | None = None, *, rules: Any = None,
             entity: SegmentEntity | str | None = None, limit: int = 100, offset: int = 0,
             now: datetime | None = None, viewer: Principal | None = None) -> SegmentResult:
    """Members of a saved segment (or of unsaved rules for `entity`): one page of ids and the total.

    With a viewer: only the members inside that person's scope, and the total of those.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
    if offset < 0:
        raise InvalidInput("offset", "must not be negative")
    if segment_id is not None:
        segment = get_segment(session, segment_id)
        kind, rules = segment.entity, segment.rules
    else:
        if rules is None or entity is None:
            raise InvalidInput("rules", "give a segment_id, or rules together with an entity")
        kind = _entity(entity)
    compiled = _compile(session, kind, rules, now or datetime.now(UTC), viewer=viewer)
    total, ids = repo.page(session, compiled, limit, offset)
    return SegmentResult(kind, total, ids, limit, offset)


def preview(session: Session, rules: Any, entity: SegmentEntity | str,
            now: datetime | None = None, viewer: Principal | None = None) -> SegmentPreview:
    """Counts for a rule set being edited: the population, the matches, and the funnel of top-level rules.

    With a viewer every count is within that person's scope, the population too.
    """
    kind = _entity(entity)
    compiled = _compile(session, kind, rules, now or datetime.now(UTC), with_steps=True, viewer=viewer)
    population, total, steps = repo.funnel(session, compiled)
    return SegmentPreview(kind, population, total, steps)


def counts(session: Session, now: datetime | None = None) -> dict[int, int]:
    """Current size of every saved segment (one statement per segment)."""
    now = now or datetime.now(UTC)
    result: dict[int, int] = {}
    for segment in session.scalars(select(Segment).order_by(Segment.id)):
        result[segment.id] = repo.count(session, _compile(session, segment.entity, segment.rules, now))
    return result


def describe(session: Session, result: SegmentResult) -> list[MemberRow]:
    """Display fields for one page of members (the ids were already limited to the viewer's scope)."""
    return repo.member_rows(session, result.entity, result.ids)


def member_count(session: Session, segment_id: int, *, viewer: Principal | None = None,
                 now: datetime | None = None) -> int:
    """Today's size of a saved segment, within the viewer's scope when one is given."""
    segment = get_segment(session, segment_id)
    return repo.count(session, _compile(session, segment.entity, segment.rules, now or datetime.now(UTC),
                                        viewer=viewer))
