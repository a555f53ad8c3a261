"""Activities, tasks and campaign touches: the timeline around leads, deals and customers."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.models.enums import (
    ActivityKind,
    DealStatus,
    InvoiceStatus,
    LeadStatus,
    TaskPriority,
    TaskSource,
    TaskStatus,
)
from core.seeding import outcomes, vocab
from core.seeding.accounts import AccountPlan, ContactPlan
from core.seeding.deals import RENEWAL, DealPlan
from core.seeding.leads import CONVERTED, DISQUALIFIED, LeadPlan
from core.seeding.reference import CampaignPlan
from core.seeding.success import month_starts
from core.seeding.world import Rec, World, at_day

KINDS = (ActivityKind.call, ActivityKind.email, ActivityKind.meeting, ActivityKind.note)


def _activity(
    world: World,
    kind: ActivityKind,
    at: datetime,
    user: Rec | None,
    *,
    company: str,
    contact: ContactPlan | None = None,
    account: AccountPlan | None = None,
    deal: DealPlan | None = None,
    lead: LeadPlan | None = None,
    direction: str | None = None,
    subject: str | None = None,
    subjects: dict[str, tuple[str, ...]] = vocab.SALES_SUBJECTS,
) -> None:
    name = contact.row["first_name"] if contact else (lead.row["first_name"] if lead else "the team")
    body = world.pick(vocab.ACTIVITY_BODIES).format(
        contact=name, topic=world.pick(vocab.ACTIVITY_TOPICS), next=world.pick(vocab.NEXT_STEPS)
    )
    if direction is None and kind in (ActivityKind.call, ActivityKind.email):
        direction = "in" if kind is ActivityKind.email and world.chance(0.35) else "out"
    duration = {
        ActivityKind.call: world.rng.randint(5, 45),
        ActivityKind.meeting: world.rng.choice((30, 45, 60, 90)),
    }.get(kind)
    world.add(
        "activities",
        Rec(
            kind=kind,
            subject=(subject or world.pick(subjects[kind.value])).format(company=company),
            body=body,
            direction=direction,
            duration_minutes=duration,
            occurred_at=at,
            lead_id=lead.row if lead else None,
            contact_id=contact.row if contact else None,
            account_id=account.row if account else None,
            deal_id=deal.row if deal else None,
            user_id=user,
            created_at=at,
        ),
    )


def plan_deal_activities(world: World, deal: DealPlan) -> None:
    account = deal.account
    for at in deal.activity_times:
        kind = world.weighted(KINDS, [35, 40, 20, 5])
        contact = deal.contact if world.chance(0.7) else world.pick(account.contacts)
        _activity(
            world,
            kind,
            at,
            deal.owner,
            company=account.row["name"],
            contact=contact,
            account=account,
            deal=deal,
        )


def plan_lead_activities(world: World, lead: LeadPlan) -> None:
    """Rep outreach on every worked lead, and replies in proportion to the lead's engagement."""
    if lead.row["status"] is LeadStatus.new:
        return
    end = lead.closed or world.now
    company = lead.row["company_name"] or ""
    fields = lead.row["custom_fields"]
    for _ in range(1 + world.poisson(1.5)):
        kind = world.weighted([ActivityKind.call, ActivityKind.email], [45, 55])
        _activity(
            world,
            kind,
            world.between(lead.created, end),
            lead.owner,
            company=company,
            lead=lead,
            direction="out",
            subject="Intro call" if kind is ActivityKind.call else "Intro email",
        )
    for _ in range(world.poisson(0.3 * outcomes.engagement(fields["pages_viewed"], fields["email_opens"]))):
        _activity(
            world,
            ActivityKind.email,
            world.between(lead.created, end),
            lead.owner,
            company=company,
            lead=lead,
            direction="in",
            subject="Re: your question about pricing",
        )


def plan_account_activities(world: World, account: AccountPlan) -> None:
    """CSM check-ins (and QBRs for enterprise) while under contract; sparse rep touches on idle prospects."""
    name = account.row["name"]
    if account.contracts and account.csm is not None:
        first = max(account.contracts[0].start, world.start.date())
        last = min(max(c.end for c in account.contracts), world.today)
        for month in month_starts(first, last):
            start = at_day(month, 0)
            end = min(world.now, start + timedelta(days=28))
            if world.chance(0.55):
                kind = world.weighted(KINDS, [30, 35, 20, 15])
                _activity(
                    world,
                    kind,
                    world.between(start, end),
                    account.csm,
                    company=name,
                    contact=world.pick(account.contacts),
                    account=account,
                    subjects=vocab.SUCCESS_SUBJECTS,
                )
            if account.size == "enterprise" and month.month in (1, 4, 7, 10) and world.chance(0.8):
                _activity(
                    world,
                    ActivityKind.meeting,
                    world.between(start, end),
                    account.csm,
                    company=name,
                    contact=account.decision_maker(),
                    account=account,
                    subject="Quarterly business review",
                )
    elif not account.deals:
        for _ in range(world.rng.randint(0, 4)):
            at = world.between(max(account.created, world.start), world.now)
            _activity(
                world,
                world.weighted([ActivityKind.email, ActivityKind.call], [70, 30]),
                at,
                account.owner,
                company=name,
                contact=world.pick(account.contacts),
                account=account,
            )


def _task(
    world: World,
    title: str,
    assignee: Rec,
    due: datetime,
    *,
    created: datetime,
    done: bool = False,
    priority: TaskPriority = TaskPriority.normal,
    account: AccountPlan | None = None,
    deal: DealPlan | None = None,
    lead: LeadPlan | None = None,
    contact: ContactPlan | None = None,
) -> None:
    status = TaskStatus.done if done else world.weighted([TaskStatus.open, TaskStatus.in_progress], [75, 25])
    completed = min(world.now, due + world.days(-2, 1)) if done else None
    if completed is not None and completed < created:
        completed = created
    world.add(
        "tasks",
        Rec(
            title=title,
            description=None,
            assignee_id=assignee,
            due_at=due,
            priority=priority,
            status=status,
            source=TaskSource.person,
            created_by_id=assignee,
            agent_run_id=None,
            idempotency_key=None,
            lead_id=lead.row if lead else None,
            contact_id=contact.row if contact else None,
            account_id=account.row if account else None,
            deal_id=deal.row if deal else None,
            completed_at=completed,
            created_at=created,
            updated_at=completed or created,
        ),
    )


def plan_deal_tasks(world: World, deal: DealPlan) -> None:
    account, contact = deal.account, deal.contact
    words = {
        "contact": f"{contact.row['first_name']} {contact.row['last_name']}",
        "account": account.row["name"],
    }
    if deal.outcome == DealStatus.open:
        _, entered = deal.history[-1]
        if deal.kind == RENEWAL and account.csm is not None:
            due = min(world.now + timedelta(days=30), at_day(account.contracts[-1].end) - timedelta(days=14))
            _task(
                world,
                world.pick(vocab.TASK_TITLES["renewal"]).format(**words),
                account.csm,
                due,
                created=entered,
                priority=TaskPriority.high,
                account=account,
                deal=deal,
                contact=contact,
            )
        due = entered + world.days(3, 10) if deal.stalled else world.now + world.days(-3, 14)
        priority = TaskPriority.high if deal.history[-1][0] == "Negotiation" else TaskPriority.normal
        _task(
            world,
            world.pick(vocab.TASK_TITLES["deal"]).format(**words),
            deal.owner,
            due,
            created=min(entered, due),
            priority=priority,
            account=account,
            deal=deal,
            contact=contact,
        )
    elif deal.closed is not None and world.chance(0.5):
        due = deal.closed - world.days(0, 5)
        _task(
            world,
            world.pick(vocab.TASK_TITLES["deal"]).format(**words),
            deal.owner,
            due,
            created=max(deal.created, due - timedelta(days=7)),
            done=True,
            account=account,
            deal=deal,
            contact=contact,
        )


def plan_account_tasks(world: World, account: AccountPlan, invoices: list[Rec]) -> None:
    if account.csm is None:
        return
    for contract in account.contracts:
        if contract.row["deal_id"] is not None and world.start.date() <= contract.start <= world.today:
            start = at_day(contract.start)
            _task(
                world,
                vocab.TASK_TITLES["onboarding"][0].format(account=account.row["name"]),
                account.csm,
                start + timedelta(days=5),
                created=start,
                done=start + timedelta(days=5) < world.now,
                account=account,
            )
    for invoice in invoices:
        overdue = invoice["status"] is InvoiceStatus.open and invoice["due_on"] < world.today
        if overdue and world.chance(0.5):
            due = at_day(invoice["due_on"]) + world.days(5, 15)
            _task(
                world,
                vocab.TASK_TITLES["invoice"][0].format(number=invoice["number"]),
                account.owner,
                due,
                created=at_day(invoice["due_on"]),
                done=due < world.now - timedelta(days=20),
                priority=TaskPriority.high,
                account=account,
            )


def plan_lead_tasks(world: World, lead: LeadPlan) -> None:
    name = f"{lead.row['first_name']} {lead.row['last_name']}"
    if lead.row["status"] is LeadStatus.new:
        _task(
            world,
            vocab.TASK_TITLES["lead"][0].format(name=name),
            lead.owner,
            lead.created + timedelta(days=1),
            created=lead.created,
            priority=TaskPriority.high,
            lead=lead,
        )
    elif lead.outcome in (CONVERTED, DISQUALIFIED) and lead.closed is not None and world.chance(0.4):
        _task(
            world,
            vocab.TASK_TITLES["lead"][1].format(name=name),
            lead.owner,
            lead.created + timedelta(days=3),
            created=lead.created,
            done=True,
            lead=lead,
        )
    elif lead.outcome not in (CONVERTED, DISQUALIFIED) and world.chance(0.5):
        _task(
            world,
            vocab.TASK_TITLES["lead"][1].format(name=name),
            lead.owner,
            world.now + world.days(-5, 7),
            created=lead.created,
            lead=lead,
        )


def plan_touches(
    world: World, leads: list[LeadPlan], accounts: list[AccountPlan], campaigns: list[CampaignPlan]
) -> None:
    for lead in leads:
        for campaign, at in lead.touches:
            world.add(
                "campaign_touches",
                Rec(
                    campaign_id=campaign.row,
                    lead_id=lead.row,
                    contact_id=None,
                    touched_at=at,
                    medium=vocab.CHANNEL_UTM[campaign.channel][1],
                ),
            )
    nurture = [c for c in campaigns if c.channel in ("email", "webinar", "event") and c.start < world.now]
    if not nurture:
        return
    for account in accounts:
        for contact in account.contacts:
            if contact.row["email_consent"] and world.chance(0.3):
                campaign = world.pick(nurture)
                world.add(
                    "campaign_touches",
                    Rec(
                        campaign_id=campaign.row,
                        lead_id=None,
                        contact_id=contact.row,
                        touched_at=world.between(campaign.start, min(campaign.end, world.now)),
                        medium=vocab.CHANNEL_UTM[campaign.channel][1],
                    ),
                )
