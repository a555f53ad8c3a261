"""JSON-safe pictures of rows for the audit log's before/after columns."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import inspect

from core.models.base import Base


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def snapshot(row: Base, fields: list[str] | None = None) -> dict[str, Any]:
    columns = [c.key for c in inspect(row).mapper.column_attrs]
    return {k: jsonable(getattr(row, k)) for k in columns if fields is None or k in fields}
