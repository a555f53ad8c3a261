"""Custom field definitions: what people may set in an account's, contact's, lead's or deal's `custom_fields`.

Everyone signed in may read them (the pages and integrations need the types); only an admin defines one. Values
are set with the entity's PATCH (`{"custom_fields": {"key": value}}`, `null` removes), checked against the
definition by core.services.custom_fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import AdminUser, CurrentUser, SessionDep
from api.routes.common import Out, Short
from core.models.enums import CustomFieldType, SegmentEntity
from core.repositories import custom_fields as repo
from core.services import custom_fields

router = APIRouter(tags=["custom fields"])


class CustomFieldIn(BaseModel):
    entity: SegmentEntity = Field(description="Which records get the field.")
    key: Short = Field(description="snake_case key inside `custom_fields`.")
    label: Short = Field(description="What the pages show.")
    data_type: CustomFieldType = Field(description="text, number, boolean or date (YYYY-MM-DD).")


class CustomFieldOut(Out):
    id: int
    entity: SegmentEntity
    key: str
    label: str
    data_type: CustomFieldType
    created_at: datetime


@router.get("/custom-fields", response_model=list[CustomFieldOut])
def list_custom_fields(session: SessionDep, user: CurrentUser,
                       entity: Annotated[SegmentEntity | None, Query(description="Only this entity's.")] = None
                       ) -> Any:
    return repo.definitions(session, entity)


@router.post("/custom-fields", response_model=CustomFieldOut, status_code=201)
def define_custom_field(body: CustomFieldIn, session: SessionDep, user: AdminUser) -> Any:
    """Admins only. Defining an existing key again with the same type returns it; another type is 409."""
    return custom_fields.define(session, body.entity, body.key, body.label, body.data_type, actor=user.actor,
                                actor_id=user.user_id)
