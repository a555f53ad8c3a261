"""`seed()`: plan a reproducible synthetic CRM in memory, then write it with one bulk INSERT per table.

Reproducible: the plan depends only on (accounts, seed, now): one `random.Random(seed)` and Fakers seeded
with the same seed, consumed in a fixed order, so the same arguments give the same rows (same Faker version).

Backfill, not events: seeded rows describe the past, so no outbox events (and no audit rows) are written;
agents reacting to `lead.created` and the like would otherwise fire on eighteen months of history at once.

An already populated database is refused (Conflict naming the tables that hold rows) unless `reset=True`,
which empties every CRM table first in the same transaction. Appending is not offered: a second seed would
repeat the reference data (users, pipeline, products) and make "same seed, same data" untrue.

The outcome formulas (lead conversion, deal win, renewal) are documented in `core.seeding.outcomes`. So that
even a small CRM shows every case, three situations are guaranteed: a delinquent customer with overdue
invoices, a customer at >= 90% of its seats, and a detractor who left a comment (each taken from the accounts
whose hidden health makes it most likely, so the signal stays consistent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput
from core.repositories import pipeline as pipeline_repo
from core.repositories import seeding as repo
from core.seeding import descriptions, engagement, success
from core.seeding.accounts import AccountPlan, account_shapes, lead_quota, plan_accounts
from core.seeding.deals import DealBuilder
from core.seeding.leads import CONVERTED, LeadPlan, plan_leads
from core.seeding.reference import plan_campaigns, plan_catalog, plan_custom_fields, plan_people, plan_surveys
from core.seeding.world import Rec, World
from core.services.deals import DEFAULT_STAGES, create_pipeline

MAX_ACCOUNTS = 100_000
PIPELINE_NAME = "Sales"
PHASES = (
    "reference data",
    "leads",
    "accounts and contacts",
    "deals, quotes and contracts",
    "billing, usage, NPS and tickets",
    "activities and tasks",
    "writing rows",
)
WRITE_ORDER = (
    "teams",
    "territories",
    "users",
    "price_books",
    "products",
    "price_book_entries",
    "campaigns",
    "nps_surveys",
    "custom_field_definitions",
    "accounts",
    "contacts",
    "contact_emails",
    "contact_phones",
    "leads",
    "deals",
    "deal_stage_history",
    "quotes",
    "quote_lines",
    "sales_orders",
    "sales_order_lines",
    "contracts",
    "invoices",
    "payments",
    "usage_snapshots",
    "nps_responses",
    "tickets",
    "activities",
    "tasks",
    "campaign_touches",
)
REFERENCED = {
    "teams",
    "territories",
    "users",
    "price_books",
    "products",
    "campaigns",
    "nps_surveys",
    "accounts",
    "contacts",
    "leads",
    "deals",
    "quotes",
    "sales_orders",
    "invoices",
}
SELF_REFERENCES = {"users": "manager_id", "accounts": "parent_id"}

Progress = Callable[[str], None]


@dataclass
class SeedPlan:
    world: World
    leads: list[LeadPlan]
    accounts: list[AccountPlan]


def _validate(accounts: int, now: datetime) -> None:
    if not 1 <= accounts <= MAX_ACCOUNTS:
        raise InvalidInput("accounts", f"must be between 1 and {MAX_ACCOUNTS}, got {accounts}")
    if now.tzinfo is None:
        raise InvalidInput("now", "must carry a time zone (e.g. UTC)")


def new_world(seed: int, now: datetime) -> World:
    """A World with the default pipeline's stages as not-yet-written rows, ready for any builder."""
    world = World(seed=seed, now=now)
    world.refs["pipeline"] = Rec(name=PIPELINE_NAME)
    world.refs["stages"] = {s.name: Rec(name=s.name) for s in DEFAULT_STAGES}
    world.refs["rot_days"] = {s.name: s.rot_days for s in DEFAULT_STAGES}
    return world


def build_plan(accounts: int, seed: int, now: datetime, progress: Progress | None = None) -> SeedPlan:
    """Every row of the synthetic CRM, in memory; nothing touches the database."""
    _validate(accounts, now)
    step = progress or (lambda _phase: None)
    world = new_world(seed, now)

    step(PHASES[0])
    staff = plan_people(world, accounts)
    prices = plan_catalog(world)
    campaigns = plan_campaigns(world, accounts, list(staff.managers.values()))
    quarterly, onboarding = plan_surveys(world)
    plan_custom_fields(world)

    step(PHASES[1])
    shapes = account_shapes(world, accounts)
    leads = plan_leads(world, staff, campaigns, lead_quota(len(shapes)))
    for lead in leads:
        world.add("leads", lead.row)

    step(PHASES[2])
    account_plans = plan_accounts(world, staff, shapes, [lead for lead in leads if lead.outcome == CONVERTED])
    for account in account_plans:
        world.add("accounts", account.row)
        if account.lead is not None:
            account.lead.row.update(
                converted_account_id=account.row, converted_contact_id=account.contacts[0].row
            )

    step(PHASES[3])
    builder = DealBuilder(world, staff, prices)
    for account in account_plans:
        builder.simulate(account)

    step(PHASES[4])
    success.ensure_late_payer(world, account_plans)
    success.ensure_seat_pressure(world, account_plans)
    invoices: dict[int, list[Rec]] = {}
    for i, account in enumerate(account_plans):
        if not account.contracts:
            continue
        before = len(world.table("invoices"))
        success.plan_billing(world, account)
        invoices[i] = world.table("invoices")[before:]
        success.plan_usage(world, account)
        success.plan_nps(world, account, quarterly, onboarding)
        success.plan_tickets(world, account)
    success.ensure_detractor(world, account_plans)
    _number_documents(world)

    step(PHASES[5])
    for i, account in enumerate(account_plans):
        for deal in account.deals:
            engagement.plan_deal_activities(world, deal)
            engagement.plan_deal_tasks(world, deal)
        engagement.plan_account_activities(world, account)
        engagement.plan_account_tasks(world, account, invoices.get(i, []))
    for lead in leads:
        engagement.plan_lead_activities(world, lead)
        engagement.plan_lead_tasks(world, lead)
    engagement.plan_touches(world, leads, account_plans, campaigns)
    descriptions.add_descriptions(world, account_plans)
    return SeedPlan(world=world, leads=leads, accounts=account_plans)


def _number_documents(world: World) -> None:
    """Numbers in date order, as Q-/SO-/INV-YYYY-NNNNN: live numbering (prefix + 6 digits) never uses it."""
    for table, prefix, key in (
        ("quotes", "Q", "created_at"),
        ("sales_orders", "SO", "ordered_at"),
        ("invoices", "INV", "issued_on"),
    ):
        for n, rec in enumerate(sorted(world.table(table), key=lambda r: r[key]), start=1):
            rec["number"] = f"{prefix}-{rec[key].year}-{n:05d}"


def _resolve(rec: Rec) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, value in rec.items():
        if isinstance(value, Rec):
            if value.id is None:
                raise RuntimeError(f"seed: {key} points at a row that is not written yet")
            value = value.id
        values[key] = value
    return values


def _waves(rows: list[Rec], column: str) -> list[list[Rec]]:
    """Split a self-referencing table so parents are written (and get ids) before their children."""
    waves: list[list[Rec]] = []
    pending, written = rows, set[int]()
    while pending:
        ready = [r for r in pending if not isinstance(r[column], Rec) or id(r[column]) in written]
        if not ready:
            raise RuntimeError(f"seed: cycle in {column}")
        waves.append(ready)
        written.update(id(r) for r in ready)
        pending = [r for r in pending if id(r) not in written]
    return waves


def write_plan(session: Session, plan: SeedPlan, progress: Progress | None = None) -> dict[str, int]:
    """Insert the plan through the repository; returns the number of rows written per table."""
    if progress:
        progress(PHASES[6])
    world = plan.world
    pipeline = create_pipeline(session, PIPELINE_NAME, is_default=True)
    world.refs["pipeline"].id = pipeline.id
    for stage in pipeline_repo.stages(session, pipeline.id):
        world.refs["stages"][stage.name].id = stage.id
    written = {"pipelines": 1, "stages": len(DEFAULT_STAGES)}
    for table in WRITE_ORDER:
        rows = world.table(table)
        column = SELF_REFERENCES.get(table)
        for wave in _waves(rows, column) if column else [rows]:
            ids = repo.insert_rows(session, table, [_resolve(r) for r in wave], returning=table in REFERENCED)
            for rec, new_id in zip(wave, ids, strict=False):
                rec.id = new_id
        written[table] = len(rows)
    repo.link_converted_deals(
        session,
        [
            (lead.row.id, lead.deal.row.id)
            for lead in plan.leads
            if lead.deal is not None and lead.row.id and lead.deal.row.id
        ],
    )
    return written


def seed(
    session: Session,
    accounts: int,
    seed: int,
    now: datetime,
    *,
    reset: bool = False,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Generate and write a synthetic CRM in the caller's transaction (rules: see the module docstring)."""
    _validate(accounts, now)
    if reset:
        repo.reset(session)
    else:
        occupied = repo.occupied_tables(session)
        if occupied:
            held = ", ".join(f"{name}: {n}" for name, n in occupied.items())
            raise Conflict(
                f"the database already holds CRM data ({held}); seeding refuses to mix into it. "
                "Use --reset to empty every CRM table first, or a fresh database."
            )
    plan = build_plan(accounts, seed, now, progress)
    return write_plan(session, plan, progress)
