"""Lead lifecycle: capture, qualification, disqualification and conversion without re-entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Account, Contact, ContactEmail, ContactPhone, Deal, Lead
from core.models.enums import LeadStatus, Lifecycle
from core.repositories import events
from core.services import campaigns as campaign_service
from core.services import deals as deal_service
from core.services.snapshot import snapshot

ALLOWED_TRANSITIONS: dict[LeadStatus, set[LeadStatus]] = {
    LeadStatus.new: {LeadStatus.contacted, LeadStatus.qualified, LeadStatus.disqualified},
    LeadStatus.contacted: {LeadStatus.qualified, LeadStatus.disqualified},
    LeadStatus.qualified: {LeadStatus.disqualified},
    LeadStatus.disqualified: {LeadStatus.new},
}


def create_lead(session: Session, actor: str = "system", **fields: Any) -> Lead:
    """Every new lead emits `lead.created` so the Lead Scorer can react in the same commit; a known
    `utm_campaign` links the lead to its campaign and writes its first touch."""
    if not (fields.get("email") or fields.get("phone") or fields.get("last_name") or fields.get("company_name")):
        raise InvalidInput("lead", "needs at least one of email, phone, last_name or company_name")
    now = datetime.now(UTC)
    campaign_id = campaign_service.campaign_id_for(session, fields.get("utm_campaign"), now.date())
    if campaign_id is not None and fields.get("campaign_id") is None:
        fields["campaign_id"] = campaign_id
    lead = Lead(**fields)
    session.add(lead)
    session.flush()
    if campaign_id is not None:  # in the same transaction as the lead: no lead from a campaign without its touch
        campaign_service.add_lead_touch(session, campaign_id=campaign_id, lead_id=lead.id,
                                        medium=fields.get("utm_medium"), now=now)
    events.add_event(session, "lead.created", "lead", lead.id,
                     {"source": lead.source.value, "campaign_id": campaign_id})
    events.add_audit(session, actor=actor, action="create", entity_type="lead", entity_id=lead.id,
                     after=snapshot(lead))
    return lead


def _get(session: Session, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFound("lead", lead_id)
    return lead


def change_status(session: Session, lead_id: int, status: LeadStatus, *, reason: str | None = None,
                  actor: str = "system") -> Lead:
    lead = _get(session, lead_id)
    if lead.converted_at is not None:
        raise Conflict(f"lead {lead_id} is converted; its status can no longer change")
    if status not in ALLOWED_TRANSITIONS[lead.status]:
        raise InvalidInput("status", f"cannot move a lead from {lead.status.value} to {status.value}")
    if status is LeadStatus.disqualified and not reason:
        raise InvalidInput("disqualified_reason", "a reason is required to disqualify a lead")
    before = snapshot(lead, ["status", "disqualified_reason"])
    lead.status = status
    lead.disqualified_reason = reason if status is LeadStatus.disqualified else None
    session.flush()
    events.add_event(session, "lead.status_changed", "lead", lead.id,
                     {"from": before["status"], "to": status.value})
    events.add_audit(session, actor=actor, action="status", entity_type="lead", entity_id=lead.id,
                     before=before, after=snapshot(lead, ["status", "disqualified_reason"]))
    return lead


@dataclass(frozen=True)
class Conversion:
    lead: Lead
    account: Account
    contact: Contact
    deal: Deal | None


def convert_lead(session: Session, lead_id: int, *, account_id: int | None = None,
                 create_deal: bool = True, deal_name: str | None = None, amount: Decimal | None = None,
                 expected_close_date: date | None = None, pipeline_id: int | None = None,
                 actor: str = "system", now: datetime | None = None) -> Conversion:
    """Qualify the lead into an account (new or existing), a contact and optionally a deal, in one step.

    Everything the lead knows is carried over, so the rep re-enters nothing.
    """
    now = now or datetime.now(UTC)
    lead = _get(session, lead_id)
    if lead.converted_at is not None:
        raise Conflict(f"lead {lead_id} was already converted on {lead.converted_at:%Y-%m-%d}")
    if lead.status is LeadStatus.disqualified:
        raise Conflict(f"lead {lead_id} is disqualified; re-open it before converting")

    if account_id is not None:
        account = session.get(Account, account_id)
        if account is None:
            raise NotFound("account", account_id)
    else:
        name = lead.company_name or " ".join(p for p in (lead.first_name, lead.last_name) if p) or f"Lead {lead.id}"
        account = Account(name=name, industry=lead.industry, employees=lead.employees,
                          country=lead.country if lead.country and len(lead.country) == 2 else None,
                          lifecycle=Lifecycle.prospect, account_manager_id=lead.owner_id,
                          tags=list(lead.tags), custom_fields=dict(lead.custom_fields))
        session.add(account)
        session.flush()
        events.add_event(session, "account.created", "account", account.id, {"from_lead": lead.id})

    contact = Contact(account_id=account.id, first_name=lead.first_name or "", last_name=lead.last_name or "",
                      title=lead.title, owner_id=lead.owner_id)
    session.add(contact)
    session.flush()
    if lead.email:
        session.add(ContactEmail(contact_id=contact.id, email=lead.email, is_primary=True))
    if lead.phone:
        session.add(ContactPhone(contact_id=contact.id, phone=lead.phone, is_primary=True))
    events.add_event(session, "contact.created", "contact", contact.id,
                     {"from_lead": lead.id, "account_id": account.id})

    deal = None
    if create_deal:
        deal = deal_service.create_deal(
            session, name=deal_name or f"{account.name} opportunity", account_id=account.id,
            primary_contact_id=contact.id, lead_id=lead.id, owner_id=lead.owner_id,
            amount=amount if amount is not None else (lead.bant_budget or Decimal(0)),
            currency=account.currency, expected_close_date=expected_close_date, pipeline_id=pipeline_id,
            actor=actor, now=now)

    before = snapshot(lead, ["status", "converted_at"])
    lead.status = LeadStatus.qualified
    lead.converted_at = now
    lead.converted_account_id = account.id
    lead.converted_contact_id = contact.id
    lead.converted_deal_id = deal.id if deal else None
    session.flush()
    events.add_event(session, "lead.converted", "lead", lead.id,
                     {"account_id": account.id, "contact_id": contact.id, "deal_id": deal.id if deal else None})
    events.add_audit(session, actor=actor, action="convert", entity_type="lead", entity_id=lead.id,
                     before=before, after=snapshot(lead, ["status", "converted_at", "converted_account_id",
                                                          "converted_contact_id", "converted_deal_id"]))
    return Conversion(lead=lead, account=account, contact=contact, deal=deal)
