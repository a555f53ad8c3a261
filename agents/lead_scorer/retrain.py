"""Nightly retraining (beat key `lead_model_retrain`): a new lead-score version, promoted only if not worse."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from core.db.engine import session_scope
from core.errors import InvalidInput
from tools.lead_scoring.training import train_and_store


def retrain(now: datetime | None = None) -> dict[str, Any]:
    """Owns its transaction; too few closed leads is a normal night (reported, not an error)."""
    now = now or datetime.now(UTC)
    try:
        with session_scope() as session:
            outcome = train_and_store(session, now)
    except InvalidInput as exc:
        return {"trained": False, "reason": exc.message}
    return {"trained": True} | asdict(outcome)
