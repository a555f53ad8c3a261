"""Every closed vocabulary of the CRM in one place, so the API, the CLI and the importers agree."""

from enum import StrEnum


class Role(StrEnum):
    rep = "rep"
    manager = "manager"
    csm = "csm"
    admin = "admin"


class SizeBand(StrEnum):
    smb = "smb"
    mid_market = "mid_market"
    enterprise = "enterprise"


class Lifecycle(StrEnum):
    prospect = "prospect"
    customer = "customer"
    churned = "churned"


class BuyingRole(StrEnum):
    decision_maker = "decision_maker"
    influencer = "influencer"
    user = "user"


class LeadSource(StrEnum):
    web_form = "web_form"
    email = "email"
    api = "api"
    csv_import = "csv_import"
    campaign = "campaign"
    chat = "chat"
    manual = "manual"


class LeadStatus(StrEnum):
    new = "new"
    contacted = "contacted"
    qualified = "qualified"
    disqualified = "disqualified"


class DealStatus(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"


class QuoteStatus(StrEnum):
    draft = "draft"
    sent = "sent"
    accepted = "accepted"
    rejected = "rejected"
    expired = "expired"


class OrderStatus(StrEnum):
    confirmed = "confirmed"
    fulfilled = "fulfilled"
    cancelled = "cancelled"


class ActivityKind(StrEnum):
    call = "call"
    email = "email"
    meeting = "meeting"
    note = "note"


class TaskPriority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class TaskStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    done = "done"
    cancelled = "cancelled"


class TaskSource(StrEnum):
    person = "person"
    agent = "agent"


class NpsCategory(StrEnum):
    promoter = "promoter"
    passive = "passive"
    detractor = "detractor"


class TicketStatus(StrEnum):
    open = "open"
    pending = "pending"
    solved = "solved"
    closed = "closed"


class TicketPriority(StrEnum):
    """Stored as plain text in tickets.priority; the API accepts only these, each with its SLA."""

    urgent = "urgent"
    high = "high"
    normal = "normal"
    low = "low"


class PaymentMethod(StrEnum):
    """The methods the health score learns retention rates for (payments.method is plain text)."""

    bank_transfer = "bank_transfer"
    card = "card"
    direct_debit = "direct_debit"


class InvoiceStatus(StrEnum):
    draft = "draft"
    open = "open"
    paid = "paid"
    void = "void"


class ContractStatus(StrEnum):
    active = "active"
    expired = "expired"
    cancelled = "cancelled"


class CampaignChannel(StrEnum):
    email = "email"
    event = "event"
    ad = "ad"
    social = "social"
    webinar = "webinar"
    content = "content"
    partner = "partner"


class AttributionModel(StrEnum):
    """How a won deal's revenue is shared among the campaigns that touched it (not stored: a report option)."""

    first_touch = "first_touch"
    last_touch = "last_touch"
    linear = "linear"


class SegmentEntity(StrEnum):
    account = "account"
    contact = "contact"
    lead = "lead"
    deal = "deal"


class CustomFieldType(StrEnum):
    text = "text"
    number = "number"
    boolean = "boolean"
    date = "date"


class StageKind(StrEnum):
    """What entering a stage means for a deal; stored as the stage's is_won / is_lost pair."""

    open = "open"
    won = "won"
    lost = "lost"
