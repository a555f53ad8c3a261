"""Queries over pipelines, stages, deals and their stage history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.models import Deal, DealStageHistory, Pipeline, Stage
from core.models.enums import DealStatus


def default_pipeline(session: Session) -> Pipeline | None:
    stmt = select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.id).limit(1)
    return session.scalars(stmt).first()


def stages(session: Session, pipeline_id: int) -> Sequence[Stage]:
    """The pipeline's live stages in board order (archived ones only live on in the stage history)."""
    stmt = (select(Stage).where(Stage.pipeline_id == pipeline_id, Stage.archived_at.is_(None))
            .order_by(Stage.position))
    return session.scalars(stmt).all()


def lock_pipeline(session: Session, pipeline_id: int) -> Pipeline | None:
    """The pipeline row locked: concurrent edits of one pipeline's stages (positions, last won/lost) queue up."""
    return session.scalars(select(Pipeline).where(Pipeline.id == pipeline_id).with_for_update()).first()


def lock_stage(session: Session, stage_id: int, *, exclusive: bool = False) -> Stage | None:
    """The stage row locked: a deal entering it (shared) and its removal (exclusive) never interleave, so no deal
    lands in a stage that is being archived or deleted."""
    stmt = select(Stage).where(Stage.id == stage_id).with_for_update(read=not exclusive)
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def pipeline_named(session: Session, name: str) -> Pipeline | None:
    return session.scalars(select(Pipeline).where(func.lower(Pipeline.name) == name.lower())).first()


def clear_default(session: Session, except_id: int) -> None:
    session.execute(update(Pipeline).where(Pipeline.id != except_id, Pipeline.is_default.is_(True))
                    .values(is_default=False))


def deal_ids_in_stage(session: Session, stage_id: int) -> list[int]:
    """Every deal (open or closed) now in the stage, locked, oldest first."""
    stmt = select(Deal.id).where(Deal.stage_id == stage_id).order_by(Deal.id).with_for_update()
    return list(session.scalars(stmt))


def deal_counts(session: Session, stage_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per stage: (open deals, all deals now in it), company-wide, for the admin's pipeline page (a stage with
    any deal needs a target stage before it can be removed)."""
    if not stage_ids:
        return {}
    is_open = func.count().filter(Deal.status == DealStatus.open)
    stmt = (select(Deal.stage_id, is_open, func.count()).where(Deal.stage_id.in_(list(stage_ids)))
            .group_by(Deal.stage_id))
    return {int(s): (int(o), int(n)) for s, o, n in session.execute(stmt).all()}


def stage_is_referenced(session: Session, stage_id: int) -> bool:
    """Whether a deal is, or ever was, in the stage (then it is archived rather than deleted)."""
    in_history = select(DealStageHistory.id).where(DealStageHistory.stage_id == stage_id).limit(1)
    in_deals = select(Deal.id).where(Deal.stage_id == stage_id).limit(1)
    return session.scalar(in_history) is not None or session.scalar(in_deals) is not None


def renumber(session: Session, ordered: Sequence[Stage]) -> None:
    """Positions 1..n in the given order. Two passes through distinct negative numbers, so the unique index on
    live positions never sees two stages on one position mid-way."""
    for n, stage in enumerate(ordered, start=1):
        stage.position = -n
    session.flush()
    for n, stage in enumerate(ordered, start=1):
        stage.position = n
    session.flush()


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
            .where(Stage.pipeline_id == pipeline_id, Stage.archived_at.is_(None))
            .group_by(Stage.id).order_by(Stage.position))
    return [(n, int(c), float(a), float(w)) for n, c, a, w in session.execute(stmt).all()]
