"""Campaign rows and their touches: lookups by name and by `utm_campaign`, listing, and writing touches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from core.models import Campaign, CampaignTouch


def _utm_key(value: str) -> str:
    return value.strip().lower()


def list_campaigns(session: Session, *, limit: int = 100, offset: int = 0, newest_first: bool = False
                   ) -> Sequence[Campaign]:
    order = Campaign.id.desc() if newest_first else Campaign.id
    return session.scalars(select(Campaign).order_by(order).limit(limit).offset(offset)).all()


def campaign_named(session: Session, name: str) -> int | None:
    return session.scalar(select(Campaign.id).where(func.lower(Campaign.name) == name.strip().lower()).limit(1))


def campaign_with_utm(session: Session, utm_campaign: str) -> int | None:
    """Any campaign already using this `utm_campaign` (case-insensitive), to keep the code unambiguous."""
    return session.scalar(select(Campaign.id).where(func.lower(Campaign.utm_campaign) == _utm_key(utm_campaign))
                          .order_by(Campaign.id).limit(1))


def _preference(today: date) -> list[Any]:
    """When older data holds the same code twice: the campaign running today, else the latest started."""
    running = case(((func.coalesce(Campaign.start_date, today) <= today)
                    & (func.coalesce(Campaign.end_date, today) >= today), 0), else_=1)
    return [running, Campaign.start_date.desc().nulls_last(), Campaign.id]


def resolve_utm(session: Session, utm_campaign: str, today: date) -> Campaign | None:
    key = _utm_key(utm_campaign)
    if not key:
        return None
    stmt = (select(Campaign).where(func.lower(Campaign.utm_campaign) == key)
            .order_by(*_preference(today)).limit(1))
    return session.scalars(stmt).first()


def resolve_utms(session: Session, utm_campaigns: Iterable[str], today: date) -> dict[str, int]:
    """Lower-cased `utm_campaign` → campaign id, for many codes at once (CSV import); unknown codes are absent."""
    keys = sorted({_utm_key(u) for u in utm_campaigns if u and _utm_key(u)})
    if not keys:
        return {}
    key = func.lower(Campaign.utm_campaign)
    stmt = select(key, Campaign.id).where(key.in_(keys)).order_by(key, *_preference(today))
    found: dict[str, int] = {}
    for utm, campaign_id in session.execute(stmt):
        found.setdefault(utm, int(campaign_id))
    return found


def add_touch(session: Session, *, campaign_id: int, lead_id: int | None = None, contact_id: int | None = None,
              touched_at: datetime, medium: str | None) -> CampaignTouch:
    touch = CampaignTouch(campaign_id=campaign_id, lead_id=lead_id, contact_id=contact_id, touched_at=touched_at,
                          medium=medium)
    session.add(touch)
    session.flush()
    return touch


def add_touches(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Many touches in one INSERT (CSV import): each row has campaign_id, lead_id, touched_at, medium."""
    if rows:
        session.execute(insert(CampaignTouch), list(rows))


def touches_of_lead(session: Session, lead_id: int) -> Sequence[CampaignTouch]:
    return session.scalars(select(CampaignTouch).where(CampaignTouch.lead_id == lead_id)
                           .order_by(CampaignTouch.touched_at, CampaignTouch.id)).all()


def touch_counts(session: Session, campaign_id: int) -> tuple[int, int]:
    """All touches of one campaign and the distinct leads they reached."""
    row = session.execute(select(func.count(), func.count(func.distinct(CampaignTouch.lead_id)))
                          .where(CampaignTouch.campaign_id == campaign_id)).one()
    return int(row[0]), int(row[1])


def touch_counts_of(session: Session, campaign_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """`touch_counts` for many campaigns in one query (a list page); campaigns without touches are absent."""
    if not campaign_ids:
        return {}
    stmt = (select(CampaignTouch.campaign_id, func.count(), func.count(func.distinct(CampaignTouch.lead_id)))
            .where(CampaignTouch.campaign_id.in_(sorted(set(campaign_ids)))).group_by(CampaignTouch.campaign_id))
    return {int(cid): (int(touches), int(leads)) for cid, touches, leads in session.execute(stmt)}
