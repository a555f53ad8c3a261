"""Custom field definitions: which keys of an entity's `custom_fields` people may set, with their type."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import CustomFieldDefinition
from core.models.enums import CustomFieldType, SegmentEntity


def definitions(session: Session, entity: SegmentEntity | None = None) -> Sequence[CustomFieldDefinition]:
    stmt = select(CustomFieldDefinition).order_by(CustomFieldDefinition.entity, CustomFieldDefinition.key)
    if entity is not None:
        stmt = stmt.where(CustomFieldDefinition.entity == entity)
    return session.scalars(stmt).all()


def find(session: Session, entity: SegmentEntity, key: str) -> CustomFieldDefinition | None:
    return session.scalars(select(CustomFieldDefinition).where(CustomFieldDefinition.entity == entity,
                                                               CustomFieldDefinition.key == key)).first()


def add(session: Session, entity: SegmentEntity, key: str, label: str, data_type: CustomFieldType
        ) -> CustomFieldDefinition:
    row = CustomFieldDefinition(entity=entity, key=key, label=label, data_type=data_type)
    session.add(row)
    session.flush()
    return row
