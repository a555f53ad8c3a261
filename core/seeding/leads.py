"""Leads: attributes drawn first, then the outcome from `outcomes.lead_conversion_probability` of them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.models.enums import LeadSource, LeadStatus
from core.seeding import outcomes, vocab
from core.seeding.reference import CampaignPlan, Staff, active_campaign
from core.seeding.vocab import Country
from core.seeding.world import OPEN_LEAD_DAYS, Rec, World, ascii_slug

SOURCE_WEIGHTS: dict[LeadSource, int] = {
    LeadSource.web_form: 28,
    LeadSource.campaign: 18,
    LeadSource.email: 10,
    LeadSource.chat: 10,
    LeadSource.csv_import: 14,
    LeadSource.api: 8,
    LeadSource.manual: 12,
}
CONVERTED, DISQUALIFIED, OPEN, NURTURE = "converted", "disqualified", "open", "nurture"


@dataclass
class LeadPlan:
    row: Rec
    country: Country
    stem: str
    industry: str
    employees: int | None
    probability: float
    created: datetime
    owner: Rec
    outcome: str = OPEN
    closed: datetime | None = None
    campaign: CampaignPlan | None = None
    touches: list[tuple[CampaignPlan, datetime]] = field(default_factory=list)
    deal: Any = None  # the DealPlan created on conversion


def sample_lead(world: World, staff: Staff, campaigns: list[CampaignPlan], created: datetime) -> LeadPlan:
    """Draw one lead's attributes (not its outcome): title follows authority, budget follows size."""
    rng = world.rng
    country = world.country()
    source = world.weighted(list(SOURCE_WEIGHTS), list(SOURCE_WEIGHTS.values()))
    industry = world.pick(vocab.INDUSTRIES)
    employees: int | None = None
    if not (source is LeadSource.csv_import and world.chance(0.4)):
        employees = int(min(60000, max(3, math.exp(rng.gauss(math.log(120), 1.4)))))
    budget: Decimal | None = None
    if not world.chance(0.6 if source is LeadSource.csv_import else 0.35):
        centre = math.log(8000) + 0.35 * math.log((employees or 50) / 50)
        budget = Decimal(max(500, round(math.exp(rng.gauss(centre, 0.9)) / 500) * 500))
    authority = world.weighted([None, True, False], [30, 30, 40])
    timeline = world.weighted([None, *vocab.LEAD_TIMELINES], [30, 20, 25, 30, 25])
    mean_pages = {LeadSource.web_form: 9, LeadSource.chat: 8, LeadSource.csv_import: 1.5}.get(source, 5)
    pages = int(rng.expovariate(1 / mean_pages))
    opens = int(rng.expovariate(1 / 3))
    first, last = world.person(country)
    stem, company = world.company(country, industry)
    domain = f"{ascii_slug(stem)}.example"
    email = (
        f"{ascii_slug(first, '.')}.{ascii_slug(last, '.')}@{domain}"
        if world.chance(0.85)
        else f"{ascii_slug(first, '.')}{rng.randrange(10, 99)}@mail.example"
    )
    if authority is True:
        title: str | None = world.pick(vocab.LEAD_TITLES_WITH_AUTHORITY)
    elif authority is False:
        title = world.pick(vocab.LEAD_TITLES_WITHOUT_AUTHORITY)
    else:
        title = (
            world.pick(vocab.LEAD_TITLES_WITH_AUTHORITY + vocab.LEAD_TITLES_WITHOUT_AUTHORITY)
            if world.chance(0.5)
            else None
        )

    campaign = None
    utm: dict[str, str | None] = dict.fromkeys(
        ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
    )
    if source is LeadSource.campaign or (source is LeadSource.web_form and world.chance(0.5)):
        channels = None if source is LeadSource.campaign else ("ad", "content", "social")
        campaign = active_campaign(world, campaigns, created, channels)
    if campaign is not None:
        utm_source, utm_medium = vocab.CHANNEL_UTM[campaign.channel]
        utm.update(
            utm_source=utm_source,
            utm_medium=utm_medium,
            utm_campaign=campaign.row["utm_campaign"],
            utm_content=world.pick(vocab.UTM_CONTENT),
        )
        if campaign.channel == "ad":
            utm["utm_term"] = world.pick(vocab.UTM_TERMS)
    elif source in (LeadSource.web_form, LeadSource.chat):
        utm.update(
            utm_source=world.pick(("google", "bing", "direct", "linkedin")),
            utm_medium="organic",
            utm_content=world.pick(vocab.UTM_CONTENT),
        )
    elif source is LeadSource.api:
        utm.update(utm_source="partner", utm_medium="referral")

    probability = outcomes.lead_conversion_probability(
        source=source.value,
        budget_usd=float(budget) if budget is not None else None,
        authority=authority,
        pages_viewed=pages,
        email_opens=opens,
        employees=employees,
        timeline=timeline,
    )
    owner = staff.rep_for(world, country.territory, "enterprise" if (employees or 0) > 2000 else "smb")
    row = Rec(
        first_name=first,
        last_name=last,
        email=email,
        phone=world.phone(country) if world.chance(0.8) else None,
        company_name=company,
        title=title,
        industry=industry,
        employees=employees,
        country=country.code,
        city=world.city(country),
        source=source,
        source_detail=world.pick(vocab.LEAD_SOURCE_DETAIL[source.value]),
        **utm,
        campaign_id=campaign.row if campaign else None,
        status=LeadStatus.new,
        disqualified_reason=None,
        owner_id=owner,
        bant_budget=budget,
        bant_authority=authority,
        bant_need=world.pick(vocab.LEAD_NEEDS) if world.chance(0.6) else None,
        bant_timeline=timeline,
        custom_fields={"pages_viewed": pages, "email_opens": opens},
        tags=[],
        created_at=created,
        updated_at=created,
        converted_at=None,
        converted_account_id=None,
        converted_contact_id=None,
    )
    lead = LeadPlan(
        row=row,
        country=country,
        stem=stem,
        industry=industry,
        employees=employees,
        probability=probability,
        created=created,
        owner=owner,
        campaign=campaign,
    )
    if campaign is not None:
        lead.touches.append((campaign, created))
    return lead


def disqualified_reason(world: World, lead: LeadPlan) -> str:
    """The reason a rep would write: the lead's weakest attribute, sometimes something unrelated."""
    row = lead.row
    weak = []
    if row["bant_budget"] is None or row["bant_budget"] < 10000:
        weak.append(vocab.DQ_NO_BUDGET)
    if row["bant_authority"] is False:
        weak.append(vocab.DQ_NO_AUTHORITY)
    if lead.employees is not None and lead.employees < 20:
        weak.append(vocab.DQ_TOO_SMALL)
    if outcomes.engagement(row["custom_fields"]["pages_viewed"], row["custom_fields"]["email_opens"]) < 1:
        weak.append(vocab.DQ_UNRESPONSIVE)
    if weak and world.chance(0.8):
        return world.pick(weak)
    return world.pick(vocab.DQ_OTHER)


def close_lead(world: World, lead: LeadPlan) -> None:
    """Draw the outcome of a lead old enough to be decided, from its conversion probability."""
    row = lead.row
    if world.chance(lead.probability):
        lead.outcome = CONVERTED
        lead.closed = lead.created + world.days(2, 30)
        row.update(status=LeadStatus.qualified, converted_at=lead.closed, updated_at=lead.closed)
    else:
        lead.outcome = DISQUALIFIED
        lead.closed = lead.created + world.days(3, 40)
        row.update(
            status=LeadStatus.disqualified,
            disqualified_reason=disqualified_reason(world, lead),
            updated_at=lead.closed,
        )


def plan_leads(world: World, staff: Staff, campaigns: list[CampaignPlan], conversions: int) -> list[LeadPlan]:
    """Decided leads until `conversions` converted, plus open and nurtured ones at the same daily rate."""
    decided_until = world.now - timedelta(days=OPEN_LEAD_DAYS)
    leads: list[LeadPlan] = []
    converted = 0
    while converted < conversions:
        lead = sample_lead(world, staff, campaigns, world.between(world.start, decided_until))
        close_lead(world, lead)
        converted += lead.outcome == CONVERTED
        leads.append(lead)
    decided = len(leads)
    for _ in range(round(decided * 0.05)):
        lead = sample_lead(world, staff, campaigns, world.between(world.start, decided_until))
        lead.outcome = NURTURE
        lead.row.update(status=LeadStatus.contacted, tags=["nurture"])
        leads.append(lead)
    for _ in range(round(decided * OPEN_LEAD_DAYS / ((decided_until - world.start).days or 1))):
        lead = sample_lead(world, staff, campaigns, world.between(decided_until, world.now))
        age = (world.now - lead.created).days
        if age > 7 and world.chance(lead.probability * 0.7):
            lead.row["status"] = LeadStatus.qualified
        elif age >= 2 and world.chance(0.8):
            lead.row["status"] = LeadStatus.contacted
        leads.append(lead)
    for lead in leads:
        for _ in range(world.poisson(0.6)):
            extra = active_campaign(world, campaigns, lead.created - world.days(0, 60))
            if extra is not None and extra.start < world.now:
                lead.touches.append((extra, world.between(extra.start, min(extra.end, world.now))))
    return leads
