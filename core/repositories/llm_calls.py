"""SQL for the model-call ledger: insert a row, sum tokens for budgets, total usage per agent and day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Row, case, cast, func, select
from sqlalchemy.orm import Session

from core.models import LlmCall


def add(session: Session, **fields: Any) -> LlmCall:
    row = LlmCall(**fields)
    session.add(row)
    session.flush()
    return row


def tokens_used(session: Session, agent: str, *, run_id: int | None = None, since: datetime | None = None,
                until: datetime | None = None) -> int:
    """Input plus output tokens an agent spent, in one run and/or in a time window."""
    stmt = select(func.coalesce(func.sum(LlmCall.input_tokens + LlmCall.output_tokens), 0)).where(
        LlmCall.agent == agent)
    if run_id is not None:
        stmt = stmt.where(LlmCall.run_id == run_id)
    if since is not None:
        stmt = stmt.where(LlmCall.created_at >= since)
    if until is not None:
        stmt = stmt.where(LlmCall.created_at < until)
    return int(session.scalar(stmt) or 0)


def _count(outcome: str) -> Any:
    return func.count(case((LlmCall.outcome == outcome, 1)))


def usage_by_agent_day(session: Session, since: datetime) -> Sequence[Row[tuple[date, str, int, int, int, Decimal,
                                                                                 int, int, int, int, int, int]]]:
    """Totals per UTC day and agent since `since`, newest day first."""
    day = cast(func.timezone("UTC", LlmCall.created_at), Date).label("day")
    stmt = (select(day, LlmCall.agent, func.count().label("calls"),
                   func.sum(LlmCall.input_tokens).label("input_tokens"),
                   func.sum(LlmCall.output_tokens).label("output_tokens"),
                   func.sum(LlmCall.cost_usd).label("cost_usd"),
                   _count("ok").label("ok"), _count("repaired").label("repaired"),
                   _count("fallback").label("fallback"), _count("error").label("error"),
                   _count("over_budget").label("over_budget"),
                   func.sum(LlmCall.latency_ms).label("latency_ms"))
            .where(LlmCall.created_at >= since)
            .group_by(day, LlmCall.agent)
            .order_by(day.desc(), LlmCall.agent))
    return session.execute(stmt).all()
