"""SQL for lead scoring: leads with their custom fields and activity aggregates, model versions, written scores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from core.models import Activity, Lead, LeadScoreHistory
from core.models.enums import LeadStatus
from core.models.scoring import ScoringModel

LEAD_FIELDS = ("employees", "industry", "country", "city", "title", "source", "source_detail", "utm_source",
               "utm_medium", "utm_campaign", "bant_budget", "bant_authority", "bant_timeline", "email", "phone",
               "company_name", "campaign_id")


def lead_records(session: Session, lead_ids: Sequence[int] | None = None, *,
                 closed_only: bool = False) -> list[dict[str, Any]]:
    """Each lead's scoring fields, custom fields, outcome (1 converted, 0 disqualified, None open) and activities.

    A closed lead's activities count only up to when it closed (converted_at, or the last update of a
    disqualified lead), so training sees what was known before the outcome.
    """
    columns = [getattr(Lead, name) for name in LEAD_FIELDS]
    stmt = select(Lead.id, Lead.custom_fields, Lead.converted_at, Lead.status, Lead.created_at, Lead.updated_at,
                  *columns)
    if lead_ids is not None:
        stmt = stmt.where(Lead.id.in_(list(lead_ids)))
    if closed_only:
        stmt = stmt.where((Lead.converted_at.is_not(None)) | (Lead.status == LeadStatus.disqualified))
    records: dict[int, dict[str, Any]] = {}
    for row in session.execute(stmt.order_by(Lead.id)):
        mapping = row._mapping
        outcome = 1 if mapping["converted_at"] is not None else 0 if mapping["status"] == LeadStatus.disqualified \
            else None
        records[mapping["id"]] = {
            "lead_id": mapping["id"], "outcome": outcome, "created_at": mapping["created_at"],
            "closed_at": mapping["converted_at"] or (mapping["updated_at"] if outcome == 0 else None),
            "fields": {name: mapping[name] for name in LEAD_FIELDS},
            "custom": dict(mapping["custom_fields"] or {}), "activities": {},
        }
    if records:
        closed_at = func.coalesce(Lead.converted_at,
                                  case((Lead.status == LeadStatus.disqualified, Lead.updated_at)))
        agg = (select(Activity.lead_id, Activity.kind, func.count(Activity.id), func.max(Activity.occurred_at))
               .join(Lead, Lead.id == Activity.lead_id)
               .where(Activity.lead_id.in_(list(records)),
                      or_(closed_at.is_(None), Activity.occurred_at <= closed_at))
               .group_by(Activity.lead_id, Activity.kind))
        for lead_id, kind, count, last in session.execute(agg):
            records[int(lead_id or 0)]["activities"][str(kind)] = {"count": int(count), "last": last}
    return list(records.values())


def latest_model(session: Session, name: str) -> ScoringModel | None:
    return session.scalar(select(ScoringModel).where(ScoringModel.name == name)
                          .order_by(ScoringModel.version.desc()).limit(1))


def promoted_model(session: Session, name: str) -> ScoringModel | None:
    return session.scalar(select(ScoringModel).where(ScoringModel.name == name, ScoringModel.status == "promoted"))


def add_model(session: Session, **values: Any) -> ScoringModel:
    """A new version numbered after the latest one of the same name."""
    latest = latest_model(session, values["name"])
    row = ScoringModel(version=(latest.version + 1) if latest else 1, **values)
    session.add(row)
    session.flush()
    return row


def set_model_status(session: Session, model_id: int, status: str) -> None:
    session.execute(update(ScoringModel).where(ScoringModel.id == model_id).values(status=status))


def save_lead_score(session: Session, lead_id: int, *, score: int, factors: dict[str, Any], model: str,
                    now: datetime) -> None:
    """The lead's current score, and one history row per scoring."""
    session.execute(update(Lead).where(Lead.id == lead_id).values(score=score, score_factors=factors, scored_at=now))
    session.add(LeadScoreHistory(lead_id=lead_id, score=score, factors=factors, model=model, scored_at=now))
    session.flush()


def score_history(session: Session, lead_id: int) -> list[LeadScoreHistory]:
    return list(session.scalars(select(LeadScoreHistory).where(LeadScoreHistory.lead_id == lead_id)
                                .order_by(LeadScoreHistory.id)))


def history_has_score(session: Session, lead_id: int, agent_score_id: int) -> bool:
    """Whether this agent score is already in the lead's history (a re-run node must not add it twice)."""
    stmt = select(LeadScoreHistory.id).where(LeadScoreHistory.lead_id == lead_id,
                                             LeadScoreHistory.factors.contains({"agent_score_id": agent_score_id}))
    return session.scalar(stmt.limit(1)) is not None


def last_history(session: Session, lead_id: int) -> LeadScoreHistory | None:
    return session.scalar(select(LeadScoreHistory).where(LeadScoreHistory.lead_id == lead_id)
                          .order_by(LeadScoreHistory.id.desc()).limit(1))


def model_versions(session: Session, name: str) -> list[ScoringModel]:
    return list(session.scalars(select(ScoringModel).where(ScoringModel.name == name)
                                .order_by(ScoringModel.version)))


def hottest_leads(session: Session, limit: int = 5) -> list[tuple[int, str, int]]:
    """Open scored leads, best first: (id, display name, score) for the demo and digests."""
    name = func.concat_ws(" ", Lead.first_name, Lead.last_name, func.concat("(", Lead.company_name, ")"))
    stmt = (select(Lead.id, name, Lead.score)
            .where(Lead.score.is_not(None), Lead.converted_at.is_(None),
                   Lead.status.in_([LeadStatus.new, LeadStatus.contacted]))
            .order_by(Lead.score.desc(), Lead.id).limit(limit))
    return [(int(i), str(n), int(s)) for i, n, s in session.execute(stmt).all()]


def lead_texts(session: Session, lead_id: int, limit: int = 20) -> list[tuple[int, str]]:
    """The lead's activities that carry words (notes, emails, call logs), newest first, as (id, subject + body)."""
    stmt = (select(Activity.id, Activity.subject, Activity.body)
            .where(Activity.lead_id == lead_id, Activity.body.is_not(None), func.length(Activity.body) > 0)
            .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit))
    return [(int(row.id), f"{row.subject}: {row.body}") for row in session.execute(stmt)]
