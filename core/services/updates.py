"""Field edits by people (API PATCH, web forms): set, audit, and tell the agents through the outbox.

Why one function: every edit must leave the same trail whatever screen made it. Agents react to
`<entity>.updated` (the Lead Scorer rescores a lead, the Auto-Labeler relabels an account when a contact's title
changes, the Deal Coach looks at a deal again), and a deal's expected close date always moves through
`deals.change_close_date`, whose audit rows are how the Deal Coach counts pushed close dates. Tags and custom
fields go through `core.services.custom_fields` (normalised tags; only defined keys, of their type). Agents
write their own results through repositories, never through here, so their writes cannot trigger themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.models import Base
from core.models.enums import SegmentEntity
from core.repositories import events
from core.services import custom_fields, deals
from core.services.snapshot import snapshot

TAGGED = {"lead", "account", "contact", "deal"}  # entities with tags and custom fields (core.models.base)
UPDATE_TOPICS = {"lead": "lead.updated", "account": "account.updated", "contact": "contact.updated",
                 "deal": "deal.updated"}


def update_fields(session: Session, row: Base, changes: dict[str, Any], *, entity_type: str, actor: str,
                  actor_id: int | None = None) -> list[str]:
    """Set the sent fields (PATCH semantics); returns the fields whose value changed (nothing changed: no trail)."""
    changes = dict(changes)
    row_id: int = row.id  # type: ignore[attr-defined]
    if entity_type in TAGGED:
        if "tags" in changes:
            changes["tags"] = custom_fields.normalize_tags(changes["tags"] or [])
        if "custom_fields" in changes:
            changes["custom_fields"] = custom_fields.merge_custom_fields(
                session, SegmentEntity(entity_type), row.custom_fields,  # type: ignore[attr-defined]
                changes["custom_fields"] or {})
    changed: list[str] = []
    if entity_type == "deal" and "expected_close_date" in changes:
        new_date = changes.pop("expected_close_date")
        if row.expected_close_date != new_date:  # type: ignore[attr-defined]
            deals.change_close_date(session, row_id, new_date, actor=actor, actor_id=actor_id)
            changed.append("expected_close_date")
    fields = [key for key, value in changes.items() if getattr(row, key) != value]
    if fields:
        before = snapshot(row, fields)
        for key in fields:
            setattr(row, key, changes[key])
        session.flush()
        events.add_audit(session, actor=actor, actor_id=actor_id, action="update", entity_type=entity_type,
                         entity_id=row_id, before=before, after=snapshot(row, fields))
        changed += fields
    topic = UPDATE_TOPICS.get(entity_type)
    if changed and topic is not None:
        payload: dict[str, Any] = {"fields": changed}
        account_id = getattr(row, "account_id", None)
        if account_id is not None:
            payload["account_id"] = account_id
        events.add_event(session, topic, entity_type, row_id, payload)
    return changed
