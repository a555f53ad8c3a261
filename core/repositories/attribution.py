"""The SQL of campaign attribution: which touches count for which won deal, and each campaign's activity.

A touch counts for a deal won in the period when it was made at or before the win (`deals.closed_at`) and it
belongs to the deal's people:
  - the lead the deal came from (`deals.lead_id`, set by lead conversion) or any lead converted into this deal
    (`leads.converted_deal_id`): touches stay on the lead when it converts, and follow it to its deal;
  - the deal's primary contact (`campaign_touches.contact_id`: nurture touches on existing customers).
A touch reached through two of these paths counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, select, union
from sqlalchemy.orm import Session

from core.models import Campaign, CampaignTouch, Deal, Lead
from core.models.enums import DealStatus


@dataclass(frozen=True)
class Credit:
    """One campaign's touches on one won deal: what every attribution model needs, nothing more."""

    deal_id: int
    currency: str
    amount: Decimal
    campaign_id: int
    touches: int  # this campaign's counted touches on the deal
    is_first: bool  # holds the deal's earliest counted touch
    is_last: bool  # holds the deal's latest counted touch


@dataclass(frozen=True)
class Activity:
    campaign_id: int
    touches: int
    leads: int


@dataclass(frozen=True)
class CampaignRow:
    id: int
    name: str
    utm_campaign: str | None
    channel: str
    cost: Decimal
    currency: str


@dataclass(frozen=True)
class WonTotal:
    currency: str
    deals: int
    revenue: Decimal


def _window(column: Any, start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    """Half-open [start, end): a day given as `until` is turned into the next midnight by the caller."""
    clauses: list[ColumnElement[bool]] = []
    if start is not None:
        clauses.append(column >= start)
    if end is not None:
        clauses.append(column < end)
    return clauses


def _won(start: datetime | None, end: datetime | None) -> Any:
    return (select(Deal.id, Deal.amount, Deal.currency, Deal.closed_at, Deal.lead_id, Deal.primary_contact_id)
            .where(Deal.status == DealStatus.won, Deal.closed_at.is_not(None), *_window(Deal.closed_at, start, end))
            .cte("won"))


def _counted_touches(won: Any) -> Any:
    """(deal, touch) pairs through the deal's lead, the leads converted into it and its primary contact."""
    t = CampaignTouch

    def pairs(join_on: ColumnElement[bool], *extra: Any) -> Select[Any]:
        stmt = select(won.c.id.label("deal_id"), t.id.label("touch_id"), t.campaign_id, t.touched_at).select_from(won)
        for target, on in extra:
            stmt = stmt.join(target, on)
        return stmt.join(t, and_(join_on, t.touched_at <= won.c.closed_at))

    by_lead = pairs(t.lead_id == won.c.lead_id)
    by_conversion = pairs(t.lead_id == Lead.id, (Lead, Lead.converted_deal_id == won.c.id))
    by_contact = pairs(t.contact_id == won.c.primary_contact_id)
    return union(by_lead, by_conversion, by_contact).subquery("counted")


def credits(session: Session, start: datetime | None, end: datetime | None) -> list[Credit]:
    """Per (won deal, campaign): the campaign's counted touches and whether it holds the first and the last."""
    won = _won(start, end)
    counted = _counted_touches(won)
    ranked = select(
        counted.c.deal_id, counted.c.campaign_id,
        func.row_number().over(partition_by=counted.c.deal_id,
                               order_by=(counted.c.touched_at, counted.c.touch_id)).label("from_first"),
        func.row_number().over(partition_by=counted.c.deal_id,
                               order_by=(counted.c.touched_at.desc(), counted.c.touch_id.desc())).label("from_last"),
    ).subquery("ranked")
    stmt = (select(ranked.c.deal_id, won.c.currency, won.c.amount, ranked.c.campaign_id,
                   func.count().label("touches"), func.bool_or(ranked.c.from_first == literal(1)),
                   func.bool_or(ranked.c.from_last == literal(1)))
            .join(won, won.c.id == ranked.c.deal_id)
            .group_by(ranked.c.deal_id, won.c.currency, won.c.amount, ranked.c.campaign_id)
            .order_by(ranked.c.deal_id, ranked.c.campaign_id))
    return [Credit(int(d), str(cur), Decimal(amount), int(c), int(n), bool(first), bool(last))
            for d, cur, amount, c, n, first, last in session.execute(stmt)]


def won_totals(session: Session, start: datetime | None, end: datetime | None) -> list[WonTotal]:
    """Every deal won in the period per currency, touched or not (how much revenue no campaign explains)."""
    won = _won(start, end)
    stmt = (select(won.c.currency, func.count(), func.coalesce(func.sum(won.c.amount), 0))
            .group_by(won.c.currency).order_by(won.c.currency))
    return [WonTotal(str(cur), int(n), Decimal(total)) for cur, n, total in session.execute(stmt)]


def activity(session: Session, start: datetime | None, end: datetime | None) -> list[Activity]:
    """Touches made in the period per campaign, and the distinct leads they reached."""
    t = CampaignTouch
    stmt = (select(t.campaign_id, func.count(), func.count(func.distinct(t.lead_id)))
            .where(*_window(t.touched_at, start, end)).group_by(t.campaign_id))
    return [Activity(int(c), int(n), int(leads)) for c, n, leads in session.execute(stmt)]


def campaigns(session: Session) -> Sequence[CampaignRow]:
    stmt = select(Campaign.id, Campaign.name, Campaign.utm_campaign, Campaign.channel, Campaign.cost,
                  Campaign.currency).order_by(Campaign.id)
    return [CampaignRow(int(i), name, utm, str(getattr(ch, "value", ch)), Decimal(cost), cur)
            for i, name, utm, ch, cost, cur in session.execute(stmt)]


def distinct_leads(session: Session, start: datetime | None, end: datetime | None) -> int:
    """Leads touched in the period by any campaign, each once (the per-campaign counts overlap)."""
    t = CampaignTouch
    stmt = select(func.count(func.distinct(t.lead_id))).where(*_window(t.touched_at, start, end))
    return int(session.scalar(stmt) or 0)
