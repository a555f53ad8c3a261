"""Accounts (group trees up to four levels) and contacts, with the hidden traits that drive their history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.models.enums import BuyingRole, Lifecycle
from core.seeding import vocab
from core.seeding.leads import LeadPlan
from core.seeding.reference import Staff
from core.seeding.vocab import Country
from core.seeding.world import WINDOW_DAYS, Rec, World, ascii_slug

LEAD, LEGACY, OUTBOUND = "lead", "legacy", "outbound"
SIZE_EMPLOYEES = {"smb": (10, 200), "mid_market": (200, 2000), "enterprise": (2000, 60000)}
SIZE_ORDER = ("smb", "mid_market", "enterprise")
MAX_DEPTH = 3  # root at depth 0, so four levels


@dataclass
class ContactPlan:
    row: Rec
    role: BuyingRole


@dataclass
class AccountPlan:
    """An account and the hidden traits (health, utilisation, payment habit) its generated history follows."""

    row: Rec
    country: Country
    size: str
    stem: str
    kind: str
    depth: int
    parent: AccountPlan | None
    owner: Rec
    book: str
    created: datetime
    window_start: datetime
    h0: float
    slope: float
    base_util: float
    growth: float
    lead: LeadPlan | None = None
    customer_since: date | None = None
    csm: Rec | None = None
    payer: str = "on_time"
    churned_on: date | None = None
    contacts: list[ContactPlan] = field(default_factory=list)
    deals: list[Any] = field(default_factory=list)
    contracts: list[Any] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.country.currency

    def health(self, t: datetime) -> float:
        return self.h0 + self.slope * (t - self.window_start).days / 365

    def utilization(self, t: datetime) -> float:
        """Share of the seat limit in use: healthy or growing accounts fill (and overrun) their seats."""
        years = (t - self.window_start).days / 365
        return min(1.3, max(0.05, self.base_util + 0.1 * self.health(t) + self.growth * years))

    def decision_maker(self) -> ContactPlan:
        return next((c for c in self.contacts if c.role is BuyingRole.decision_maker), self.contacts[0])

    def lifecycle(self) -> Lifecycle:
        return Lifecycle(self.row["lifecycle"])


def account_shapes(world: World, n: int) -> list[list[int | None]]:
    """Trees as parent indexes; the first group is a chain of four when possible, so depth >= 3 exists."""
    groups: list[list[int | None]] = []
    remaining = n
    while remaining > 0:
        if not groups and remaining >= 3:
            size = min(remaining, world.rng.randint(4, 7))
        elif remaining >= 2 and world.chance(0.07):
            size = min(remaining, world.rng.randint(2, 7))
        else:
            size = 1
        parents: list[int | None] = [None]
        depths = [0]
        for i in range(1, size):
            if not groups and i <= MAX_DEPTH:
                parent = i - 1
            else:
                parent = world.pick([j for j in range(i) if depths[j] < MAX_DEPTH])
            parents.append(parent)
            depths.append(depths[parent] + 1)
        groups.append(parents)
        remaining -= size
    return groups


def lead_quota(top_level: int) -> int:
    """About 45% of top-level accounts were created by converting an inbound lead."""
    return max(1, round(0.45 * top_level))


def _band(employees: int) -> str:
    return "smb" if employees < 200 else ("mid_market" if employees < 2000 else "enterprise")


def _traits(world: World) -> tuple[float, float, float, float]:
    """(h0, slope, base_util, growth): 15% of accounts decline steadily, 10% improve."""
    r = world.rng.random()
    slope = (
        world.rng.uniform(-1.8, -0.9)
        if r < 0.15
        else (world.rng.uniform(0.5, 1.2) if r < 0.25 else world.rng.gauss(0, 0.4))
    )
    h0 = world.rng.gauss(0.15, 1.0)
    return h0, slope, world.rng.uniform(0.45, 0.85), world.weighted([0.0, 0.3, -0.2], [60, 25, 15])


def _new_account(
    world: World,
    staff: Staff,
    *,
    name: str,
    stem: str,
    country: Country,
    industry: str,
    employees: int,
    kind: str,
    parent: AccountPlan | None,
    created: datetime,
    owner: Rec | None = None,
) -> AccountPlan:
    size = _band(employees)
    book = (
        "Vietnam SME"
        if country.code == "VN" and size == "smb"
        else ("Enterprise" if size == "enterprise" else "Standard")
    )
    owner = owner or staff.rep_for(world, country.territory, size)
    erp = world.pick(vocab.ERP_SYSTEMS_VN if country.code == "VN" else vocab.ERP_SYSTEMS)
    tags = sorted(world.rng.sample(vocab.ACCOUNT_TAGS, world.weighted([0, 1, 2], [50, 35, 15])))
    row = Rec(
        name=name,
        parent_id=parent.row if parent else None,
        domain=f"{ascii_slug(name)}.example",
        industry=industry,
        size_band=size,
        employees=employees,
        annual_revenue=Decimal(round(employees * world.rng.uniform(60, 250)) * 1000),
        country=country.code,
        region=country.region,
        segment="Public Sector" if industry == "Government" else vocab.SEGMENT_BY_SIZE[size],
        lifecycle=Lifecycle.prospect,
        currency=country.currency,
        price_book_id=world.refs["price_books"][book],
        payment_terms_days=world.weighted(
            [15, 30, 45, 60], [10, 60, 15, 15] if size == "enterprise" else [20, 75, 5, 0]
        ),
        account_manager_id=owner,
        csm_id=None,
        territory_id=world.refs["territories"][country.territory],
        blacklisted=False,
        tags=tags,
        custom_fields={"erp_system": erp},
        created_at=created,
        updated_at=created,
    )
    h0, slope, base_util, growth = _traits(world)
    return AccountPlan(
        row=row,
        country=country,
        size=size,
        stem=stem,
        kind=kind,
        depth=parent.depth + 1 if parent else 0,
        parent=parent,
        owner=owner,
        book=book,
        created=created,
        window_start=world.start,
        h0=h0,
        slope=slope,
        base_util=base_util,
        growth=growth,
    )


def _customer_since(world: World) -> date:
    return (world.now - timedelta(days=world.rng.uniform(WINDOW_DAYS + 30, 5 * 365))).date()


def plan_accounts(
    world: World, staff: Staff, shapes: list[list[int | None]], converted: list[LeadPlan]
) -> list[AccountPlan]:
    """Top-level accounts come from converted leads, legacy customers or outbound work; children follow."""
    quota = min(len(converted), len(shapes))
    legacy = min(len(shapes) - quota, round(0.30 * len(shapes)))
    kinds = [LEAD] * quota + [LEGACY] * legacy + [OUTBOUND] * (len(shapes) - quota - legacy)
    world.rng.shuffle(kinds)
    leads = iter(converted)
    accounts: list[AccountPlan] = []
    for parents, kind in zip(shapes, kinds, strict=True):
        members: list[AccountPlan] = []
        for parent_index in parents:
            if parent_index is None:
                root = _plan_root(world, staff, kind, next(leads) if kind == LEAD else None, len(parents) > 1)
                members.append(root)
            else:
                members.append(_plan_child(world, staff, members[0], members[parent_index], members))
        accounts.extend(members)
    for account in accounts:
        plan_contacts(world, account)
    return accounts


def _plan_root(
    world: World, staff: Staff, kind: str, lead: LeadPlan | None, has_children: bool
) -> AccountPlan:
    if lead is not None:
        employees = lead.employees or int(world.log_uniform(10, 1500))
        assert lead.closed is not None
        account = _new_account(
            world,
            staff,
            name=lead.row["company_name"],
            stem=lead.stem,
            country=lead.country,
            industry=lead.industry,
            employees=employees,
            kind=kind,
            parent=None,
            created=lead.closed,
            owner=lead.owner,
        )
        account.lead = lead
        return account
    country = world.country()
    industry = world.pick(vocab.INDUSTRIES)
    size = world.weighted(SIZE_ORDER, [15, 35, 50] if has_children else [55, 30, 15])
    employees = int(world.log_uniform(*SIZE_EMPLOYEES[size]))
    stem, name = world.company(country, industry)
    since = _customer_since(world) if kind == LEGACY else None
    created = (
        datetime.combine(since, datetime.min.time(), tzinfo=world.now.tzinfo) - world.days(30, 120)
        if since
        else world.between(world.start - timedelta(days=365), world.now - timedelta(days=30))
    )
    account = _new_account(
        world,
        staff,
        name=name,
        stem=stem,
        country=country,
        industry=industry,
        employees=employees,
        kind=kind,
        parent=None,
        created=created,
    )
    account.customer_since = since
    return account


def _plan_child(
    world: World, staff: Staff, root: AccountPlan, parent: AccountPlan, members: list[AccountPlan]
) -> AccountPlan:
    country = parent.country if world.chance(0.6) else world.country()
    kind = LEGACY if root.kind == LEGACY and world.chance(0.6) else OUTBOUND
    industry = parent.row["industry"] if world.chance(0.7) else world.pick(vocab.INDUSTRIES)
    band = world.pick(SIZE_ORDER[: SIZE_ORDER.index(parent.size) + 1])
    employees = min(int(world.log_uniform(*SIZE_EMPLOYEES[band])), max(10, parent.row["employees"] - 1))
    names = {m.row["name"] for m in members}
    name = root.row["name"]
    for _ in range(8):
        suffix = (
            country.name
            if country is not root.country and world.chance(0.5)
            else world.pick(vocab.SUBSIDIARY_SUFFIXES)
        )
        name = f"{root.stem} {suffix}"
        if name not in names:
            break
    if name in names:
        name = f"{root.stem} {suffix} {len(members)}"
    since = _customer_since(world) if kind == LEGACY else None
    created = (
        datetime.combine(since, datetime.min.time(), tzinfo=world.now.tzinfo) - world.days(30, 120)
        if since
        else world.between(
            min(parent.created, world.now - timedelta(days=60)), world.now - timedelta(days=30)
        )
    )
    account = _new_account(
        world,
        staff,
        name=name,
        stem=root.stem,
        country=country,
        industry=industry,
        employees=employees,
        kind=kind,
        parent=parent,
        created=created,
    )
    account.customer_since = since
    if "multi-entity" not in root.row["tags"]:
        root.row["tags"] = sorted([*root.row["tags"], "multi-entity"])
    return account


def plan_contacts(world: World, account: AccountPlan) -> None:
    low, high = {"smb": (1, 3), "mid_market": (2, 5), "enterprise": (3, 8)}[account.size]
    count = world.rng.randint(low, high)
    lead = account.lead
    for i in range(count):
        if i == 0 and lead is not None:
            row = lead.row
            role = (
                BuyingRole.decision_maker
                if row["bant_authority"]
                else world.pick([BuyingRole.influencer, BuyingRole.user])
            )
            _add_contact(
                world,
                account,
                role,
                row["first_name"],
                row["last_name"],
                row["title"],
                row["email"],
                row["phone"],
                account.created,
            )
            continue
        has_dm = any(c.role is BuyingRole.decision_maker for c in account.contacts)
        role = (
            BuyingRole.decision_maker
            if not has_dm
            else world.weighted(
                [BuyingRole.decision_maker, BuyingRole.influencer, BuyingRole.user], [15, 40, 45]
            )
        )
        first, last = world.person(account.country)
        email = f"{ascii_slug(first, '.')}.{ascii_slug(last, '.')}@{account.row['domain']}"
        created = world.between(account.created, min(world.now, account.created + timedelta(days=90)))
        _add_contact(
            world,
            account,
            role,
            first,
            last,
            world.pick(vocab.TITLES[role.value]),
            email,
            world.phone(account.country),
            created,
        )


def _add_contact(
    world: World,
    account: AccountPlan,
    role: BuyingRole,
    first: str,
    last: str,
    title: str | None,
    email: str | None,
    phone: str | None,
    created: datetime,
) -> None:
    unsubscribed = world.between(created, world.now) if world.chance(0.08) else None
    channel = world.weighted(
        ["email", "phone", "zalo"], [60, 20, 20] if account.country.code == "VN" else [75, 25, 0]
    )
    tags = []
    if role is BuyingRole.decision_maker and world.chance(0.3):
        tags.append(world.pick(("champion", "exec-sponsor")))
    if world.chance(0.25):
        tags.append(world.pick(("technical", "newsletter", "event-attendee")))
    row = world.add(
        "contacts",
        Rec(
            account_id=account.row,
            first_name=first,
            last_name=last,
            title=title,
            buying_role=role,
            owner_id=account.owner,
            preferred_channel=channel,
            language=account.country.language,
            timezone=account.country.timezone,
            do_not_call=world.chance(0.04),
            email_consent=unsubscribed is None,
            consent_updated_at=unsubscribed,
            unsubscribed_at=unsubscribed,
            tags=sorted(set(tags)),
            custom_fields={},
            created_at=created,
            updated_at=unsubscribed or created,
        ),
    )
    if email:
        world.add("contact_emails", Rec(contact_id=row, email=email, label="work", is_primary=True))
    if world.chance(0.25):
        personal = (
            f"{ascii_slug(first, '.')}.{ascii_slug(last, '.')}{world.rng.randrange(1, 99)}@mail.example"
        )
        world.add(
            "contact_emails", Rec(contact_id=row, email=personal, label="personal", is_primary=email is None)
        )
    if phone:
        world.add("contact_phones", Rec(contact_id=row, phone=phone, label="work", is_primary=True))
    if world.chance(0.3):
        world.add(
            "contact_phones",
            Rec(contact_id=row, phone=world.phone(account.country), label="mobile", is_primary=phone is None),
        )
    account.contacts.append(ContactPlan(row=row, role=role))
