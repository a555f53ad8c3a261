"""What other agents and commands call: an account's current health, its history, and a re-score request.

The NPS Follow-up (and anything else that learns something about an account) calls `request_refresh`; the run
it queues is an ordinary Health Monitor run, so an unchanged account is skipped without a new score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from agents.runtime import runs
from core.models import AgentRun
from core.repositories import health as repo

AGENT = "health_monitor"
PURPOSE = "health"


@dataclass(frozen=True)
class HealthView:
    account_id: int
    score: int
    band: str | None
    factors: dict[str, Any]
    scored_at: datetime
    score_id: int


def current_health(session: Session, account_id: int) -> HealthView | None:
    """The account's latest stored health score (None: never scored)."""
    rows = repo.latest_scores(session, account_id, limit=1, purpose=PURPOSE, agent=AGENT)
    return _view(rows[0]) if rows else None


def health_history(session: Session, account_id: int, limit: int = 10) -> list[HealthView]:
    """Newest first."""
    return [_view(r) for r in repo.latest_scores(session, account_id, limit=limit, purpose=PURPOSE, agent=AGENT)]


def request_refresh(session: Session, account_id: int, *, trigger: str = "event",
                    dedupe_key: str | None = None) -> AgentRun | None:
    """Queue a Health Monitor run on the account (flushed; the caller commits, then enqueues or lets the sweeper
    pick it up); with a dedupe key, asking twice for the same reason queues one run."""
    return runs.create_run(session, AGENT, trigger, "account", account_id, dedupe_key=dedupe_key)


def _view(row: Any) -> HealthView:
    return HealthView(account_id=row.subject_id, score=round(float(row.score)), band=row.band,
                      factors=dict(row.factors or {}), scored_at=row.created_at, score_id=row.id)
