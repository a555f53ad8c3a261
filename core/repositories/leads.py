"""Lead lookups for agents: activity counts and the leads a scheduled sweep should look at."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Activity, Lead
from core.models.enums import LeadStatus

OPEN_STATUSES = (LeadStatus.new, LeadStatus.contacted)


def activity_count(session: Session, lead_id: int) -> int:
    return int(session.scalar(select(func.count(Activity.id)).where(Activity.lead_id == lead_id)) or 0)


def open_lead_ids(session: Session, limit: int = 1000) -> list[int]:
    """Leads still being worked (new or contacted), oldest first."""
    stmt = select(Lead.id).where(Lead.status.in_(OPEN_STATUSES)).order_by(Lead.id).limit(limit)
    return list(session.scalars(stmt))
