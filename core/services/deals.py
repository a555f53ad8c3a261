"""Pipelines and deals: every stage change closes one history row and opens the next."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Deal, DealStageHistory, Pipeline, Stage
from core.models.enums import DealStatus
from core.repositories import events
from core.repositories import pipeline as repo
from core.services.snapshot import snapshot


@dataclass(frozen=True)
class StageSpec:
    name: str
    win_probability: Decimal
    rot_days: int | None = None
    is_won: bool = False
    is_lost: bool = False


DEFAULT_STAGES: tuple[StageSpec, ...] = (
    StageSpec("Prospect", Decimal("0.10"), rot_days=14),
    StageSpec("Demo", Decimal("0.25"), rot_days=14),
    StageSpec("Proposal", Decimal("0.50"), rot_days=21),
    StageSpec("Negotiation", Decimal("0.75"), rot_days=21),
    StageSpec("Closed Won", Decimal("1.00"), is_won=True),
    StageSpec("Closed Lost", Decimal("0.00"), is_lost=True),
)


def create_pipeline(session: Session, name: str, specs: Sequence[StageSpec] = DEFAULT_STAGES,
                    is_default: bool = False) -> Pipeline:
    if not any(s.is_won for s in specs) or not any(s.is_lost for s in specs):
        raise InvalidInput("stages", "a pipeline needs one won stage and one lost stage")
    pipeline = Pipeline(name=name, is_default=is_default)
    session.add(pipeline)
    session.flush()
    for position, s in enumerate(specs, start=1):
        session.add(Stage(pipeline_id=pipeline.id, name=s.name, position=position,
                          win_probability=s.win_probability, rot_days=s.rot_days, is_won=s.is_won,
                          is_lost=s.is_lost))
    session.flush()
    return pipeline


def _pipeline_or_default(session: Session, pipeline_id: int | None) -> Pipeline:
    pipeline = session.get(Pipeline, pipeline_id) if pipeline_id else repo.default_pipeline(session)
    if pipeline is None:
        if pipeline_id:
            raise NotFound("pipeline", pipeline_id)
        pipeline = create_pipeline(session, "Sales", is_default=True)
    return pipeline


def create_deal(session: Session, *, name: str, amount: Decimal = Decimal(0), currency: str = "USD",
                account_id: int | None = None, primary_contact_id: int | None = None, lead_id: int | None = None,
                owner_id: int | None = None, expected_close_date: date | None = None,
                pipeline_id: int | None = None, stage_id: int | None = None, actor: str = "system",
                now: datetime | None = None) -> Deal:
    now = now or datetime.now(UTC)
    if amount < 0:
        raise InvalidInput("amount", "must not be negative")
    pipeline = _pipeline_or_default(session, pipeline_id)
    all_stages = repo.stages(session, pipeline.id)
    # a new deal starts in the board's first open stage unless told otherwise (an admin may order stages freely)
    first_open = next((s for s in all_stages if not (s.is_won or s.is_lost)), all_stages[0])
    stage = next((s for s in all_stages if s.id == stage_id), None) if stage_id else first_open
    if stage is None or (locked := repo.lock_stage(session, stage.id)) is None or locked.archived_at is not None:
        raise InvalidInput("stage_id", f"stage {stage_id} is not in pipeline {pipeline.name!r}")
    deal = Deal(name=name, amount=amount, currency=currency.upper(), account_id=account_id,
                primary_contact_id=primary_contact_id, lead_id=lead_id, owner_id=owner_id,
                expected_close_date=expected_close_date, pipeline_id=pipeline.id, stage_id=stage.id,
                stage_entered_at=now)
    session.add(deal)
    session.flush()
    session.add(DealStageHistory(deal_id=deal.id, stage_id=stage.id, entered_at=now))
    events.add_event(session, "deal.created", "deal", deal.id, {"stage": stage.name})
    events.add_audit(session, actor=actor, action="create", entity_type="deal", entity_id=deal.id,
                     after=snapshot(deal))
    session.flush()
    return deal


def move_stage(session: Session, deal_id: int, stage_id: int, *, lost_reason: str | None = None,
               competitor: str | None = None, actor: str = "system", actor_id: int | None = None,
               now: datetime | None = None) -> Deal:
    """Move a deal; entering a won or lost stage closes it (lost needs a reason)."""
    now = now or datetime.now(UTC)
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound("deal", deal_id)
    stage = repo.lock_stage(session, stage_id)
    if stage is None or stage.pipeline_id != deal.pipeline_id or stage.archived_at is not None:
        raise InvalidInput("stage_id", f"stage {stage_id} is not in this deal's pipeline")
    if deal.status is not DealStatus.open:
        raise Conflict(f"deal {deal_id} is {deal.status.value}; re-open it before moving it")
    if stage.id == deal.stage_id:
        return deal
    if stage.is_lost and not lost_reason:
        raise InvalidInput("lost_reason", "a reason is required to mark a deal lost")
    return record_stage_change(session, deal, stage, actor=actor, actor_id=actor_id, now=now,
                               lost_reason=lost_reason, competitor=competitor)


def record_stage_change(session: Session, deal: Deal, stage: Stage, *, actor: str, actor_id: int | None,
                        now: datetime, lost_reason: str | None = None, competitor: str | None = None,
                        reason: str | None = None) -> Deal:
    """The one way a deal's stage changes: close the open history row, open the next, write the
    `deal.stage_changed` event and the `stage` audit row. Entering a won or lost stage from an open one closes
    the deal; a closed deal moved between two stages of its own kind (a removed stage's deals) keeps its status.
    `reason` tells the event's readers why a person did not drag the deal themselves."""
    before = snapshot(deal, ["stage_id", "status"])
    current = repo.open_history_row(session, deal.id)
    if current is not None:
        current.left_at = now
        session.flush()  # the partial unique index allows one open row per deal
    session.add(DealStageHistory(deal_id=deal.id, stage_id=stage.id, entered_at=now, changed_by_id=actor_id))
    deal.stage_id = stage.id
    deal.stage_entered_at = now
    if deal.status is DealStatus.open and (stage.is_won or stage.is_lost):
        deal.status = DealStatus.won if stage.is_won else DealStatus.lost
        deal.closed_at = now
        deal.lost_reason = lost_reason if stage.is_lost else None
        deal.competitor = competitor
    session.flush()
    payload: dict[str, object] = {"from_stage_id": before["stage_id"], "to_stage_id": stage.id,
                                  "status": deal.status.value}
    if reason:
        payload["reason"] = reason
    events.add_event(session, "deal.stage_changed", "deal", deal.id, payload)
    events.add_audit(session, actor=actor, actor_id=actor_id, action="stage", entity_type="deal",
                     entity_id=deal.id, before=before, after=snapshot(deal, ["stage_id", "status"]))
    return deal


def close_won(session: Session, deal_id: int, *, actor: str = "system", now: datetime | None = None) -> Deal:
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound("deal", deal_id)
    won = next(s for s in repo.stages(session, deal.pipeline_id) if s.is_won)
    return move_stage(session, deal_id, won.id, actor=actor, now=now)


def close_lost(session: Session, deal_id: int, reason: str, *, competitor: str | None = None,
               actor: str = "system", now: datetime | None = None) -> Deal:
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound("deal", deal_id)
    lost = next(s for s in repo.stages(session, deal.pipeline_id) if s.is_lost)
    return move_stage(session, deal_id, lost.id, lost_reason=reason, competitor=competitor, actor=actor, now=now)


def change_close_date(session: Session, deal_id: int, expected_close_date: date | None, *, actor: str = "system",
                      actor_id: int | None = None, now: datetime | None = None) -> Deal:
    """Set a deal's expected close date; each change is kept as an audit row (the Deal Coach counts pushes)."""
    now = now or datetime.now(UTC)
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound("deal", deal_id)
    if deal.status is not DealStatus.open:
        raise Conflict(f"deal {deal_id} is {deal.status.value}; its expected close date no longer changes")
    if deal.expected_close_date == expected_close_date:
        return deal
    before = {"expected_close_date": deal.expected_close_date.isoformat() if deal.expected_close_date else None}
    deal.expected_close_date = expected_close_date
    session.flush()
    row = events.add_audit(session, actor=actor, actor_id=actor_id, action="close_date", entity_type="deal",
                           entity_id=deal.id, before=before,
                           after={"expected_close_date": expected_close_date.isoformat()
                                  if expected_close_date else None})
    row.at = now
    session.flush()
    return deal
