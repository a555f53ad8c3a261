"""Segments: saved rule sets evaluated at read time, so membership always reflects today's data.

The rule grammar is in core/segment_rules.py, the fields and their meaning in core/repositories/segments.py.
Example, "Enterprise accounts — Vietnam — 90d no activity" over contacts:
    {"all": [{"field": "account.size_band", "op": "eq", "value": "enterprise"},
             {"field": "account.country", "op": "eq", "value": "VN"},
             {"field": "last_activity_days", "op": "gt", "value": 90},
             {"field": "open_deals", "op": "eq", "value": 0}]}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models import Segment
from core.models.enums import SegmentEntity
from core.repositories import events
from core.repositories import segments as repo
from core.segment_rules import dump_rules, parse_rules
from core.services.snapshot import snapshot

MAX_PAGE = 10_000


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


def _entity(value: SegmentEntity | str) -> SegmentEntity:
    try:
        return SegmentEntity(value)
    except ValueError:
        known = ", ".join(e.value for e in SegmentEntity)
        raise InvalidInput("entity", f"{value!r} is not one of: {known}") from None


def _compile(session: Session, entity: SegmentEntity, rules: Any, now: datetime,
             with_steps: bool = False) -> repo.Compiled:
    return repo.Compiler(session, entity, now).compile(parse_rules(rules), with_steps=with_steps)


def validate_rules(session: Session, entity: SegmentEntity | str, rules: Any) -> dict[str, Any]:
    """Check shape, fields, ops and values; return the canonical JSON to store."""
    kind = _entity(entity)
    node = parse_rules(rules)
    repo.Compiler(session, kind, datetime.now(UTC)).compile(node)
    return dump_rules(node)


def create_segment(session: Session, *, name: str, entity: SegmentEntity | str, rules: Any,
                   description: str | None = None, created_by_id: int | None = None,
                   actor: str = "system") -> Segment:
    name = name.strip()
    if not name:
        raise InvalidInput("name", "a segment needs a name")
    if session.scalar(select(Segment.id).where(Segment.name == name)) is not None:
        raise InvalidInput("name", f"a segment named {name!r} already exists")
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
    segment = get_segment(session, segment_id)
    before = {"rules": segment.rules}
    segment.rules = validate_rules(session, segment.entity, rules)
    session.flush()
    events.add_audit(session, actor=actor, action="update_rules", entity_type="segment", entity_id=segment.id,
                     before=before, after={"rules": segment.rules})
    return segment


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound("segment", segment_id)
    return segment


def evaluate(session: Session, segment_id: int | None = None, *, rules: Any = None,
             entity: SegmentEntity | str | None = None, limit: int = 100, offset: int = 0,
             now: datetime | None = None) -> SegmentResult:
    """Members of a saved segment (or of unsaved rules for `entity`): one page of ids and the total."""
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
    compiled = _compile(session, kind, rules, now or datetime.now(UTC))
    total, ids = repo.page(session, compiled, limit, offset)
    return SegmentResult(kind, total, ids, limit, offset)


def preview(session: Session, rules: Any, entity: SegmentEntity | str,
            now: datetime | None = None) -> SegmentPreview:
    """Counts for a rule set being edited: the population, the matches, and the funnel of top-level rules."""
    kind = _entity(entity)
    compiled = _compile(session, kind, rules, now or datetime.now(UTC), with_steps=True)
    population, total, steps = repo.funnel(session, compiled)
    return SegmentPreview(kind, population, total, steps)


def counts(session: Session, now: datetime | None = None) -> dict[int, int]:
    """Current size of every saved segment (one statement per segment)."""
    now = now or datetime.now(UTC)
    result: dict[int, int] = {}
    for segment in session.scalars(select(Segment).order_by(Segment.id)):
        result[segment.id] = repo.count(session, _compile(session, segment.entity, segment.rules, now))
    return result
