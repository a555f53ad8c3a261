"""Tags and custom fields set by people (API PATCH/POST, pages): checked and normalised before they are stored.

Why a definition first: the segment builder, the import and the pages read `custom_field_definitions` to know a
key's type; a value of the wrong type would make segment rules on it silently miss rows. So a person may only
set keys an admin defined (or an import registered), with a value of the defined type; `null` removes a key.
Keys the agents keep in `custom_fields` (`auto_labels` of the Auto-Labeler, `possible_duplicates` of lead
capture, ...) are never defined, so a person's edit can neither set nor drop them: the merge keeps them.
Tags are free words, normalised (trimmed, lower case, no duplicates) so "VIP" and "vip " are one tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput
from core.models import CustomFieldDefinition
from core.models.enums import CustomFieldType, SegmentEntity
from core.repositories import custom_fields as repo
from core.repositories import events

MAX_TAGS = 50
MAX_TAG_CHARS = 64
MAX_TEXT_CHARS = 2000
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,119}$")
RESERVED_KEYS = frozenset({"auto_labels", "possible_duplicates"})  # written by agents and lead capture


def normalize_tags(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for n, value in enumerate(values):
        tag = " ".join(str(value).split()).lower()
        if not tag:
            raise InvalidInput(f"tags[{n}]", "must not be empty")
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidInput(f"tags[{n}]", f"at most {MAX_TAG_CHARS} characters")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidInput("tags", f"at most {MAX_TAGS} tags")
    return out


def _value(definition: CustomFieldDefinition, field: str, value: Any) -> Any:
    kind = definition.data_type
    if kind is CustomFieldType.text:
        if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS or "\x00" in value:
            raise InvalidInput(field, f"must be text of at most {MAX_TEXT_CHARS} characters")
        return value
    if kind is CustomFieldType.number:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) > 1e15:
            raise InvalidInput(field, "must be a number")
        return value
    if kind is CustomFieldType.boolean:
        if not isinstance(value, bool):
            raise InvalidInput(field, "must be true or false")
        return value
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise InvalidInput(field, "must be a date as YYYY-MM-DD") from exc


def merge_custom_fields(session: Session, entity: SegmentEntity, current: Mapping[str, Any] | None,
                        changes: Mapping[str, Any]) -> dict[str, Any]:
    """The row's custom fields after a person's edit: defined keys checked and set, `null` removes one, every
    other key (the agents' own) kept as it was."""
    defined = {d.key: d for d in repo.definitions(session, entity)}
    merged = dict(current or {})
    for key, value in changes.items():
        field = f"custom_fields.{key}"
        definition = defined.get(key)
        if definition is None:
            known = ", ".join(sorted(defined)) or "none yet"
            raise InvalidInput(field, f"is not a custom field of {entity.value}s (defined: {known}); an admin "
                                      f"defines one with POST /custom-fields")
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _value(definition, field, value)
    return merged


def define(session: Session, entity: SegmentEntity, key: str, label: str, data_type: CustomFieldType, *,
           actor: str, actor_id: int | None) -> CustomFieldDefinition:
    """A new custom field; the same key again with the same type returns the existing one (idempotent)."""
    if not KEY_RE.match(key) or key in RESERVED_KEYS:
        raise InvalidInput("key", "lower-case snake_case (a-z, 0-9, _), starting with a letter, not "
                                  f"{', '.join(sorted(RESERVED_KEYS))}")
    existing = repo.find(session, entity, key)
    if existing is not None:
        if existing.data_type is not data_type:
            raise Conflict(f"custom field {entity.value}.{key} is already defined as {existing.data_type.value}")
        return existing
    row = repo.add(session, entity, key, label.strip() or key, data_type)
    events.add_audit(session, actor=actor, actor_id=actor_id, action="create", entity_type="custom_field",
                     entity_id=row.id, before=None, after={"entity": entity.value, "key": key,
                                                           "data_type": data_type.value})
    return row
