"""Queries over pipelines, stages, deals and their stage history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Deal, DealStageHistory, Pipeline, Stage
from core.models.enums import DealStatus


def default_pipeline(session: Session) -> Pipeline | None:
    stmt = select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.id).limit(1)
    return session.scalars(stmt).first()


def stages(session: Session, pipeline_id: int) -> Sequence[Stage]:
    return session.scalars(select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position)).all()


def open_history_row(session: Session, deal_id: int) -> DealStageHistory | None:
    stmt = select(DealStageHistory).where(DealStageHistory.deal_id == deal_id, DealStageHistory.left_at.is_(None))
    return session.scalars(stmt).first()


def stage_history(session: Session, deal_id: int) -> Sequence[DealStageHistory]:
    stmt = (select(DealStageHistory).where(DealStageHistory.deal_id == deal_id)
            .order_by(DealStageHistory.entered_at, DealStageHistory.id))
    return session.scalars(stmt).all()


def rotting_deals(session: Session, now: datetime) -> Sequence[tuple[Deal, Stage, int]]:
    """Open deals that sat in their stage longer than the stage's `rot_days`, with their days in stage."""
    days = func.extract("day", now - Deal.stage_entered_at)
    stmt = (select(Deal, Stage, days.label("days")).join(Stage, Stage.id == Deal.stage_id)
            .where(Deal.status == DealStatus.open, Stage.rot_days.is_not(None), days > Stage.rot_days)
            .order_by(days.desc()))
    return [(d, s, int(n)) for d, s, n in session.execute(stmt).all()]


def weighted_pipeline(session: Session, pipeline_id: int) -> Sequence[tuple[str, int, float, float]]:
    """Per stage: (name, open deals, amount, amount weighted by the stage's win probability)."""
    stmt = (select(Stage.name, func.count(Deal.id), func.coalesce(func.sum(Deal.amount), 0),
                   func.coalesce(func.sum(Deal.amount * Stage.win_probability), 0))
            .join(Deal, (Deal.stage_id == Stage.id) & (Deal.status == DealStatus.open), isouter=True)
            .where(Stage.pipeline_id == pipeline_id).group_by(Stage.id).order_by(Stage.position))
    return [(n, int(c), float(a), float(w)) for n, c, a, w in session.execute(stmt).all()]
