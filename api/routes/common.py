"""Shared request/response types: bounded ids, NUL-free strings, money, paging, and the ORM-to-JSON base."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_ID = 2**63 - 1


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL; refusing it here turns a driver error into a 422 naming the field."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


_NoNul = AfterValidator(_no_nul)
Name = Annotated[str, StringConstraints(min_length=1, max_length=255), _NoNul]
Text255 = Annotated[str, StringConstraints(max_length=255), _NoNul]
Text200 = Annotated[str, StringConstraints(max_length=200), _NoNul]
Short = Annotated[str, StringConstraints(max_length=120), _NoNul]
Text64 = Annotated[str, StringConstraints(max_length=64), _NoNul]
Key64 = Annotated[str, StringConstraints(min_length=1, max_length=64), _NoNul]
Name80 = Annotated[str, StringConstraints(min_length=1, max_length=80), _NoNul]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=40), _NoNul]
Lang = Annotated[str, StringConstraints(max_length=8), _NoNul]
Country2 = Annotated[str, StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")]
Currency = Annotated[str, StringConstraints(min_length=3, max_length=3, pattern=r"^[A-Za-z]{3}$")]
Email = Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]
LongText = Annotated[str, StringConstraints(max_length=20_000), _NoNul]
RefId = Annotated[int, Field(ge=1, le=MAX_ID)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


Tag = Annotated[str, StringConstraints(max_length=64), _NoNul]


class LabelsPatch(BaseModel):
    """Tags and custom fields of an account, contact, lead or deal (checked by core.services.custom_fields)."""

    tags: list[Tag] | None = Field(default=None, max_length=50, description=(
        "Replaces the tags; trimmed and lower-cased, duplicates dropped; [] or null clears them."))
    custom_fields: dict[Short, Any] | None = Field(default=None, description=(
        "Sets custom fields defined for this entity (GET /custom-fields), each of its type; a null value removes "
        "that key; keys not sent are kept."))


class LabelsOut(BaseModel):
    tags: list[str]
    custom_fields: dict[str, Any]


