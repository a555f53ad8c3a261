"""Reference data every other builder points at: teams, territories, users, catalog, campaigns, surveys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from core.models.enums import CampaignChannel, CustomFieldType, Role, SegmentEntity
from core.seeding import vocab
from core.seeding.world import Rec, World, add_months, ascii_slug, at_day, money

SELLER_DOMAIN = "salesagents.example"
# (territory, team) slots for reps: the first pass gives every slot one rep, the rest follow the weights.
REP_SLOTS: tuple[tuple[str, str, int], ...] = (
    ("Vietnam", "Vietnam Sales", 5),
    ("North America", "Commercial Sales", 5),
    ("Europe", "Commercial Sales", 4),
    ("APAC", "Commercial Sales", 3),
    ("LATAM", "Commercial Sales", 1),
    ("North America", "Enterprise Sales", 2),
    ("Europe", "Enterprise Sales", 2),
    ("APAC", "Enterprise Sales", 1),
)
TERRITORY_HOME = {"North America": "US", "Europe": "GB", "APAC": "SG", "Vietnam": "VN", "LATAM": "BR"}


@dataclass
class Staff:
    """Who can own what: reps per (territory, team), CSMs per territory, managers per team."""

    reps: dict[tuple[str, str], list[Rec]]
    csms: dict[str, list[Rec]]
    managers: dict[str, Rec]
    admin: Rec

    def rep_for(self, world: World, territory: str, size_band: str) -> Rec:
        team = (
            "Vietnam Sales"
            if territory == "Vietnam"
            else ("Enterprise Sales" if size_band == "enterprise" else "Commercial Sales")
        )
        candidates = self.reps.get((territory, team)) or [
            r for (t, _), rs in sorted(self.reps.items()) if t == territory for r in rs
        ]
        if not candidates:
            candidates = [r for _, rs in sorted(self.reps.items()) for r in rs]
        return world.pick(candidates)

    def csm_for(self, world: World, territory: str) -> Rec:
        return world.pick(
            self.csms.get("Vietnam" if territory == "Vietnam" else "Global") or self.csms["Global"]
        )


@dataclass
class CampaignPlan:
    row: Rec
    channel: str
    start: datetime
    end: datetime


def plan_people(world: World, accounts: int) -> Staff:
    teams = {name: world.add("teams", Rec(name=name)) for name in vocab.TEAMS}
    territories = {}
    for name in vocab.TERRITORIES:
        countries = [c.code for c in vocab.COUNTRIES if c.territory == name]
        territories[name] = world.add(
            "territories", Rec(name=name, region="APAC" if name == "Vietnam" else name, countries=countries)
        )
    emails: set[str] = set()

    def user(role: Role, team: str | None, territory: str | None, manager: Rec | None) -> Rec:
        country = vocab.COUNTRY_BY_CODE[TERRITORY_HOME.get(territory or "", "US")]
        first, last = world.person(country)
        local = f"{ascii_slug(first, '.')}.{ascii_slug(last, '.')}"
        email, n = f"{local}@{SELLER_DOMAIN}", 2
        while email in emails:
            email, n = f"{local}{n}@{SELLER_DOMAIN}", n + 1
        emails.add(email)
        return world.add(
            "users",
            Rec(
                email=email,
                full_name=f"{first} {last}",
                role=role,
                team_id=teams[team] if team else None,
                territory_id=territories[territory] if territory else None,
                manager_id=manager,
                active=True,
            ),
        )

    admin = user(Role.admin, None, None, None)
    managers = {
        team: user(Role.manager, team, "Vietnam" if team == "Vietnam Sales" else None, None)
        for team in vocab.TEAMS
    }
    n_reps = min(80, max(len(REP_SLOTS), round(accounts / 30)))
    reps: dict[tuple[str, str], list[Rec]] = {}
    for i in range(n_reps):
        territory, team, _ = (
            REP_SLOTS[i] if i < len(REP_SLOTS) else world.weighted(REP_SLOTS, [w for *_, w in REP_SLOTS])
        )
        reps.setdefault((territory, team), []).append(user(Role.rep, team, territory, managers[team]))
    n_csms = min(30, max(2, round(accounts / 80)))
    csms: dict[str, list[Rec]] = {}
    for i in range(n_csms):
        home = "Vietnam" if i == 0 or (i > 1 and world.chance(0.25)) else None
        csms.setdefault(home or "Global", []).append(
            user(Role.csm, "Customer Success", home, managers["Customer Success"])
        )
    world.refs["territories"] = territories
    return Staff(reps=reps, csms=csms, managers=managers, admin=admin)


def _price(usd: Decimal, currency: str) -> Decimal:
    value = money(usd, currency)
    return (value / 1000).quantize(Decimal(1)) * 1000 if currency == "VND" else value


def plan_catalog(world: World) -> dict[tuple[str, str, str], Decimal]:
    """Products and price books; returns (book, sku, currency) -> unit price for quoting."""
    products = {}
    for sku, name, family, recurring, _usd in vocab.PRODUCTS:
        products[sku] = world.add(
            "products",
            Rec(sku=sku, name=name, family=family, description=name, is_recurring=recurring, active=True),
        )
    prices: dict[tuple[str, str, str], Decimal] = {}
    books = {}
    for name, is_default, currencies, factor in vocab.PRICE_BOOKS:
        book = books[name] = world.add("price_books", Rec(name=name, is_default=is_default, active=True))
        for sku, _n, _f, _r, usd in vocab.PRODUCTS:
            for ccy in currencies:
                price = _price(usd * factor, ccy)
                prices[(name, sku, ccy)] = price
                world.add(
                    "price_book_entries",
                    Rec(price_book_id=book, product_id=products[sku], currency=ccy, unit_price=price),
                )
    world.refs["products"] = products
    world.refs["price_books"] = books
    return prices


def plan_campaigns(world: World, accounts: int, owners: list[Rec]) -> list[CampaignPlan]:
    count = 8 + accounts // 150
    span = (world.now - world.start).days + 30
    plans, names = [], set()
    channels = [c.value for c in CampaignChannel]
    for i in range(count):
        channel = world.weighted(channels, [4, 2, 4, 2, 3, 2, 1])
        topic = world.pick(vocab.CAMPAIGN_TOPICS)
        start = world.start - timedelta(days=30) + timedelta(days=span * i / count) + world.days(0, 10)
        end = start + world.days(14, 90)
        label = {
            "ad": "Ads",
            "email": "Email",
            "event": "Event",
            "social": "Social",
            "webinar": "Webinar",
            "content": "Content",
            "partner": "Partner",
        }[channel]
        name = f"{label}: {topic} ({start:%b %Y})"
        while name in names:
            name += " II"
        names.add(name)
        currency = "VND" if "Vietnam" in topic else "USD"
        low, high = vocab.CHANNEL_COST_USD[channel]
        cost = money(world.rng.randrange(low, high, 250), currency)
        row = world.add(
            "campaigns",
            Rec(
                name=name,
                channel=CampaignChannel(channel),
                utm_campaign=f"{ascii_slug(topic)}-{start:%Y-%m}",
                start_date=start.date(),
                end_date=end.date(),
                cost=cost,
                expected_revenue=(cost * Decimal(str(round(world.rng.uniform(3, 10), 1)))).quantize(cost),
                currency=currency,
                owner_id=world.pick(owners),
                created_at=start - timedelta(days=14),
                updated_at=start - timedelta(days=14),
            ),
        )
        plans.append(CampaignPlan(row=row, channel=channel, start=start, end=end))
    return plans


def active_campaign(
    world: World, campaigns: list[CampaignPlan], at: datetime, channels: tuple[str, ...] | None = None
) -> CampaignPlan | None:
    pool = [c for c in campaigns if channels is None or c.channel in channels]
    live = [c for c in pool if c.start <= at <= c.end]
    if live:
        return world.pick(live)
    return min(pool, key=lambda c: abs((c.start - at).total_seconds())) if pool else None


def plan_surveys(world: World) -> tuple[list[tuple[Rec, datetime]], Rec]:
    """Quarterly relationship surveys over the window, plus one onboarding survey sent after go-live."""
    quarterly = []
    first = date(world.start.year, 3 * ((world.start.month - 1) // 3) + 1, 1)
    q = add_months(first, 3)
    while q <= world.today:
        sent = at_day(q + timedelta(days=14))
        if sent < world.now:
            name = f"NPS Q{(q.month - 1) // 3 + 1} {q.year}"
            quarterly.append(
                (
                    world.add(
                        "nps_surveys", Rec(name=name, milestone="quarterly", created_at=sent, updated_at=sent)
                    ),
                    sent,
                )
            )
        q = add_months(q, 3)
    onboarding = world.add(
        "nps_surveys",
        Rec(name="Onboarding NPS", milestone="onboarding", created_at=world.start, updated_at=world.start),
    )
    return quarterly, onboarding


def plan_custom_fields(world: World) -> None:
    for entity, key, label, kind in (
        (SegmentEntity.account, "erp_system", "ERP system", CustomFieldType.text),
        (SegmentEntity.account, "customer_since", "Customer since", CustomFieldType.date),
        (SegmentEntity.deal, "discount_pct", "Discount %", CustomFieldType.number),
        (SegmentEntity.lead, "pages_viewed", "Website pages viewed", CustomFieldType.number),
        (SegmentEntity.lead, "email_opens", "Marketing e-mails opened", CustomFieldType.number),
    ):
        world.add("custom_field_definitions", Rec(entity=entity, key=key, label=label, data_type=kind))
