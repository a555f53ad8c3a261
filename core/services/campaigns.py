"""Campaigns (spend, expected revenue, the `utm_campaign` code that links captured leads to them) and touches.

A touch is written wherever a lead arrives or comes back with a `utm_campaign`: the public web form (new lead
or a repeat submission of a known one), `POST /leads` and the CSV import. The code is matched case-insensitively;
an unknown code is not an error (the lead keeps its utm_* fields and no touch is written), because a form
cannot know which campaigns marketing has entered yet.

Touches stay on the lead after conversion; attribution follows the converted lead to its deal (`deals.lead_id`,
`leads.converted_deal_id`), see core/services/attribution.py.

Who may write them is decided here (`ensure_may_create`, `ensure_may_change`), so the REST routes and the web pages
apply one rule: managers and admins create campaigns; a campaign is changed by the manager who owns it or by an
admin, and only an admin hands it to another owner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models import Campaign, CampaignTouch, User
from core.models.enums import CampaignChannel, Role
from core.repositories import campaigns as repo
from core.repositories import events
from core.repositories.scoping import Principal
from core.services.auth import Forbidden
from core.services.snapshot import jsonable, snapshot

EDITABLE = ("name", "channel", "utm_campaign", "start_date", "end_date", "cost", "expected_revenue", "currency",
            "owner_id")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_MONEY = Decimal("999999999999.99")
CENT = Decimal("0.01")


def may_create(user: Principal) -> bool:
    """Spend is committed by people who answer for a budget: managers and admins (reps and CSMs read campaigns)."""
    return user.role in (Role.manager, Role.admin)


def ensure_may_create(user: Principal) -> None:
    if not may_create(user):
        raise Forbidden(f"role {user.role.value} may not create campaigns (managers and admins do)")


def may_change(user: Principal, campaign: Campaign) -> bool:
    """The owner answers for the spend figure the ROI divides by: another manager must not rewrite it."""
    return user.is_admin or (user.role is Role.manager and campaign.owner_id == user.user_id)


def ensure_may_change(user: Principal, campaign: Campaign, changes: Mapping[str, Any] | None = None) -> None:
    """Refuses (403) anyone but the owning manager or an admin, and a new owner from anyone but an admin."""
    if not may_change(user, campaign):
        raise Forbidden("only the manager who owns a campaign, or an admin, may change it")
    if changes is not None and "owner_id" in changes and not user.is_admin:
        raise Forbidden("only an admin hands a campaign to another owner")


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    return campaign


def list_campaigns(session: Session, *, limit: int = 100, offset: int = 0, newest_first: bool = False
                   ) -> Sequence[Campaign]:
    return repo.list_campaigns(session, limit=limit, offset=offset, newest_first=newest_first)


def _text(field: str, value: Any, limit: int, *, required: bool) -> str | None:
    if value is None or not str(value).strip():
        if required:
            raise InvalidInput(field, "must not be empty")
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise InvalidInput(field, f"at most {limit} characters")
    return text


def _money(field: str, value: Any) -> Decimal:
    if value is None:
        raise InvalidInput(field, "must not be null")
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput(field, f"{value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0 or amount > _MAX_MONEY:
        raise InvalidInput(field, f"must be between 0 and {_MAX_MONEY}")
    return amount.quantize(CENT, ROUND_HALF_UP)


def _clean(session: Session, changes: Mapping[str, Any], campaign: Campaign | None) -> dict[str, Any]:
    """Validated values for the given fields; uniqueness of name and code is case-insensitive, so a typo in the
    case cannot create a second campaign that silently splits the touches."""
    out: dict[str, Any] = {}
    own_id = campaign.id if campaign is not None else None
    if "name" in changes:
        name = _text("name", changes["name"], 200, required=True)
        assert name is not None
        other = repo.campaign_named(session, name)
        if other is not None and other != own_id:
            raise InvalidInput("name", f"a campaign named {name!r} already exists")
        out["name"] = name
    if "channel" in changes:
        try:
            out["channel"] = CampaignChannel(changes["channel"])
        except ValueError:
            known = ", ".join(c.value for c in CampaignChannel)
            raise InvalidInput("channel", f"{changes['channel']!r} is not one of: {known}") from None
    if "utm_campaign" in changes:
        utm = _text("utm_campaign", changes["utm_campaign"], 120, required=False)
        if utm is not None:
            other = repo.campaign_with_utm(session, utm)
            if other is not None and other != own_id:
                raise InvalidInput("utm_campaign", f"{utm!r} is already the code of campaign {other}")
        out["utm_campaign"] = utm
    for field in ("start_date", "end_date"):
        if field in changes:
            value = changes[field]
            if value is not None and not isinstance(value, date):
                try:
                    value = date.fromisoformat(str(value))
                except ValueError:
                    raise InvalidInput(field, f"{value!r} is not a date (YYYY-MM-DD)") from None
            out[field] = value
    for field in ("cost", "expected_revenue"):
        if field in changes:
            out[field] = _money(field, changes[field])
    if "currency" in changes:
        currency = str(changes["currency"] or "").strip().upper()
        if not _CURRENCY.match(currency):
            raise InvalidInput("currency", "a three-letter ISO code such as USD")
        out["currency"] = currency
    if "owner_id" in changes and changes["owner_id"] is not None and session.get(User, changes["owner_id"]) is None:
        raise InvalidInput("owner_id", f"user {changes['owner_id']} does not exist")
    if "owner_id" in changes:
        out["owner_id"] = changes["owner_id"]
    start = out.get("start_date", campaign.start_date if campaign else None)
    end = out.get("end_date", campaign.end_date if campaign else None)
    if start is not None and end is not None and end < start:
        raise InvalidInput("end_date", f"ends ({end}) before it starts ({start})")
    return out


def create_campaign(session: Session, *, name: str, channel: CampaignChannel | str, actor: str = "system",
                    actor_id: int | None = None, **fields: Any) -> Campaign:
    unknown = sorted(set(fields) - set(EDITABLE))
    if unknown:
        raise InvalidInput(unknown[0], "is not a campaign field")
    values = _clean(session, {"name": name, "channel": channel, **fields}, None)
    campaign = Campaign(**values)
    session.add(campaign)
    session.flush()
    events.add_event(session, "campaign.created", "campaign", campaign.id, {"channel": campaign.channel.value})
    events.add_audit(session, actor=actor, actor_id=actor_id, action="create", entity_type="campaign",
                     entity_id=campaign.id, after=snapshot(campaign))
    return campaign


def update_campaign(session: Session, campaign_id: int, changes: Mapping[str, Any], *, actor: str = "system",
                    actor_id: int | None = None) -> Campaign:
    """Only real changes are written, audited and announced; the same values again write nothing."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(unknown[0], f"cannot be changed (editable: {', '.join(EDITABLE)})")
    for required in ("name", "channel", "cost", "expected_revenue", "currency"):
        if required in changes and changes[required] is None:
            raise InvalidInput(required, "must not be null")
    campaign = get_campaign(session, campaign_id)
    wanted = _clean(session, changes, campaign)
    before = {k: getattr(campaign, k) for k, v in wanted.items() if getattr(campaign, k) != v}
    if not before:
        return campaign
    for key in before:
        setattr(campaign, key, wanted[key])
    session.flush()
    events.add_event(session, "campaign.updated", "campaign", campaign.id, {"fields": sorted(before)})
    events.add_audit(session, actor=actor, actor_id=actor_id, action="update", entity_type="campaign",
                     entity_id=campaign.id, before=jsonable(before),
                     after=jsonable({k: getattr(campaign, k) for k in before}))
    return campaign


def record_touch(session: Session, *, lead_id: int, utm_campaign: str | None, utm_medium: str | None = None,
                 now: datetime | None = None) -> CampaignTouch | None:
    """One touch of the campaign whose code this is, or None for no or an unknown code (never an error)."""
    now = now or datetime.now(UTC)
    campaign_id = campaign_id_for(session, utm_campaign, now.date())
    if campaign_id is None:
        return None
    return add_lead_touch(session, campaign_id=campaign_id, lead_id=lead_id, medium=utm_medium, now=now)


def add_lead_touch(session: Session, *, campaign_id: int, lead_id: int, medium: str | None,
                   now: datetime) -> CampaignTouch:
    return repo.add_touch(session, campaign_id=campaign_id, lead_id=lead_id, touched_at=now,
                          medium=(medium or "").strip()[:64] or None)


def campaign_id_for(session: Session, utm_campaign: str | None, today: date) -> int | None:
    """The campaign a lead's code names (also stored as `leads.campaign_id`), None when unknown."""
    if not utm_campaign:
        return None
    campaign = repo.resolve_utm(session, utm_campaign, today)
    return campaign.id if campaign else None
