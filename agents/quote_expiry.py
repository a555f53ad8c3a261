"""Nightly expiry (beat key `expire_quotes`): sent quotes past their validity date become `expired`, so the
Quote Follow-up agent stops nudging them and the deal page shows the truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from core.db.engine import session_scope
from core.services import quotes as quote_service


def expire_due_quotes(now: datetime | None = None, *, engine: Engine | None = None) -> dict[str, Any]:
    """Owns its transaction; a quote valid until today is still valid today (it expires tomorrow)."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    with session_scope(engine) as session:
        expired = list(quote_service.expire_quotes(session, today, actor="schedule:expire_quotes"))
    return {"day": today.isoformat(), "expired": len(expired), "quote_ids": expired}
