"""Deals, stage history, quotes, orders and contracts, simulated per account in time order.

Each deal's outcome is drawn when it is created (see `outcomes`), then its stages are laid out over its sales
cycle. A deal whose close lies after `now` is still open in the stage it has reached; some lost deals
"go dark" instead of closing and sit in their last stage past its rot threshold. A won new-business deal
starts a contract; every contract whose end is near gets a renewal deal, won (a new contract) or lost (the
account churns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from core.models.enums import ContractStatus, DealStatus, Lifecycle, OrderStatus, QuoteStatus
from core.seeding import outcomes, vocab
from core.seeding.accounts import LEAD, LEGACY, AccountPlan, ContactPlan
from core.seeding.reference import Staff
from core.seeding.world import CENT, Rec, World, add_months, at_day, to_usd

NEW, EXPANSION, RENEWAL = "new", "expansion", "renewal"
PATHS = {
    NEW: ("Prospect", "Demo", "Proposal", "Negotiation"),
    EXPANSION: ("Demo", "Proposal", "Negotiation"),
    RENEWAL: ("Proposal", "Negotiation"),
}
PER_SEAT = ("CORE-SEAT", "ANALYTICS", "AI-ASSIST")
RECURRING = {sku for sku, _n, _f, recurring, _p in vocab.PRODUCTS if recurring}
DISCOUNTS = {
    "smb": (0, 0, 0, 5, 10, 15, 20),
    "mid_market": (0, 5, 10, 10, 15, 20, 25, 30),
    "enterprise": (5, 10, 15, 20, 25, 30, 35),
}
NEW_DEAL_ACTIVITY_RATE = {"smb": 6.0, "mid_market": 9.0, "enterprise": 13.0}
ACTIVITY_RATE = {EXPANSION: 5.0, RENEWAL: 4.0}
CYCLE_DAYS = {"smb": (14, 45), "mid_market": (30, 90), "enterprise": (60, 160)}
GONE_DARK_SHARE = 0.35


@dataclass
class Line:
    sku: str
    quantity: int
    unit_price: Decimal
    discount_pct: Decimal

    @property
    def gross(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT, ROUND_HALF_UP)

    @property
    def net(self) -> Decimal:
        """Same rounding as `core.services.quotes.line_amounts`, so seeded quotes add up like live ones."""
        return (self.gross * (100 - self.discount_pct) / 100).quantize(CENT, ROUND_HALF_UP)


@dataclass
class DealPlan:
    row: Rec
    account: AccountPlan
    kind: str
    contact: ContactPlan
    owner: Rec
    lines: list[Line]
    created: datetime
    outcome: str
    closed: datetime | None
    history: list[tuple[str, datetime]]
    activity_times: list[datetime]
    stalled: bool = False
    quote: Rec | None = None
    order: Rec | None = None


@dataclass
class ContractPlan:
    row: Rec
    account: AccountPlan
    lines: list[Line]
    start: date
    end: date
    billing_months: int
    order: Rec | None
    one_off: Decimal
    amendments: list[tuple[date, Decimal, int]] = field(default_factory=list)

    def terms_at(self, d: date) -> tuple[Decimal, int]:
        """(ARR, seat limit) in force on `d`: expansions amend the contract from their close date."""
        arr, seats = self.amendments[0][1], self.amendments[0][2]
        for since, a, s in self.amendments:
            if since <= d:
                arr, seats = a, s
        return arr, seats

    @property
    def seats(self) -> int:
        return self.amendments[-1][2]


class DealBuilder:
    """Simulates every account's deals and contracts; keeps the price list and the pipeline's stage rows."""

    def __init__(self, world: World, staff: Staff, prices: dict[tuple[str, str, str], Decimal]) -> None:
        self.world, self.staff, self.prices = world, staff, prices
        self.stages: dict[str, Rec] = world.refs["stages"]
        self.rot_days: dict[str, int | None] = world.refs["rot_days"]

    # --- lines --------------------------------------------------------------------------------------------

    def price(self, account: AccountPlan, sku: str) -> Decimal:
        return (
            self.prices.get((account.book, sku, account.currency))
            or self.prices[("Standard", sku, account.currency)]
        )

    def line(self, account: AccountPlan, sku: str, quantity: int, discount: int) -> Line:
        return Line(sku, quantity, self.price(account, sku), Decimal(discount if sku in RECURRING else 0))

    def new_business_lines(self, account: AccountPlan, discount: int) -> list[Line]:
        w, size = self.world, account.size
        low, high = {"smb": (5, 40), "mid_market": (30, 250), "enterprise": (200, 2000)}[size]
        seats = max(3, min(w.rng.randint(low, high), account.row["employees"]))
        lines = [self.line(account, "CORE-SEAT", seats, discount)]
        if w.chance(0.4):
            lines.append(self.line(account, "ANALYTICS", seats, discount))
        if w.chance(0.3):
            lines.append(self.line(account, "AI-ASSIST", seats, discount))
        if w.chance({"smb": 0.05, "mid_market": 0.3, "enterprise": 0.7}[size]):
            lines.append(self.line(account, "SUPPORT-PREM", 1, discount))
        if w.chance(0.5 if size == "enterprise" else 0.15):
            lines.append(self.line(account, "API-TIER", 1, discount))
        if size != "enterprise":
            lines.append(self.line(account, "ONBOARD", 1, 0))
        if w.chance({"smb": 0.0, "mid_market": 0.3, "enterprise": 0.8}[size]):
            lines.append(self.line(account, "MIGRATION", 1, 0))
        if w.chance({"smb": 0.05, "mid_market": 0.3, "enterprise": 0.7}[size]):
            lines.append(self.line(account, "TRAINING", w.rng.randint(1, 5), 0))
        return lines

    # --- deals --------------------------------------------------------------------------------------------

    def deal(
        self,
        account: AccountPlan,
        kind: str,
        t0: datetime,
        lines: list[Line],
        discount: int,
        *,
        origin: str,
        contact: ContactPlan | None = None,
        cycle_days: float | None = None,
        lead_row: Rec | None = None,
    ) -> DealPlan:
        w = self.world
        contact = contact or (account.decision_maker() if w.chance(0.7) else w.pick(account.contacts))
        amount = sum((ln.net for ln in lines), Decimal(0))
        rate = NEW_DEAL_ACTIVITY_RATE[account.size] if kind == NEW else ACTIVITY_RATE[kind]
        planned_activities = w.poisson(rate * w.rng.uniform(0.5, 1.5))
        competitor = (
            w.pick(vocab.COMPETITORS) if w.chance({NEW: 0.35, EXPANSION: 0.05, RENEWAL: 0.15}[kind]) else None
        )
        if kind == RENEWAL:
            p_win = outcomes.renewal_probability(account.health(t0))
        else:
            p_win = outcomes.deal_win_probability(
                amount_usd=to_usd(amount, account.currency),
                discount_pct=discount,
                activities=planned_activities,
                has_competitor=competitor is not None,
                origin=origin,
            )
        won = w.chance(p_win)
        path = list(PATHS[kind])
        if kind == NEW and account.size == "smb" and w.chance(0.15):
            path.remove("Demo")
        if cycle_days is not None:
            cycle = cycle_days
        else:
            cycle = w.rng.uniform(*(CYCLE_DAYS[account.size] if kind == NEW else (20, 60)))
        weights = [w.rng.uniform(0.5, 1.5) for _ in path]
        durations = [timedelta(days=cycle * x / sum(weights)) for x in weights]
        entries = [t0]
        for d in durations[:-1]:
            entries.append(entries[-1] + d)
        if won:
            exit_index = len(path) - 1
            close = entries[-1] + durations[-1]
        else:
            early = planned_activities < 6 and kind != RENEWAL
            ramp = list(range(len(path), 0, -1)) if early else list(range(1, len(path) + 1))
            exit_index = w.weighted(range(len(path)), ramp)
            close = entries[exit_index] + durations[exit_index] * w.rng.uniform(0.3, 1.0)

        stalled = False
        if (
            close <= w.now
            and not won
            and kind != RENEWAL
            and close > w.now - timedelta(days=150)
            and w.chance(GONE_DARK_SHARE)
        ):
            stalled = True  # went dark: never closed, sits in its exit stage
            reached = exit_index
            outcome = DealStatus.open
            last_touch = min(w.now, entries[exit_index] + w.days(0, 4))
        elif close <= w.now:
            reached = exit_index
            outcome = DealStatus.won if won else DealStatus.lost
            last_touch = close
        else:
            reached = max(i for i, e in enumerate(entries) if e <= w.now)
            outcome = DealStatus.open
            last_touch = w.now
        history = [(path[i], entries[i]) for i in range(reached + 1)]
        if outcome is not DealStatus.open:
            history.append(("Closed Won" if outcome is DealStatus.won else "Closed Lost", close))
        times = sorted(w.between(t0, close) for _ in range(planned_activities))
        times = [t for t in times if t <= last_touch]

        lost_reason = None
        if outcome is DealStatus.lost:
            lost_reason = self._lost_reason(account, kind, competitor, discount, planned_activities, close)
        stage_name, entered = history[-1]
        owner = account.owner
        year = (t0 + timedelta(days=cycle)).year
        name = {
            NEW: f"{account.row['name']} - {vocab.PLANS[account.size]} ({lines[0].quantity} seats)",
            EXPANSION: f"{account.row['name']} - expansion +{lines[0].quantity} seats",
            RENEWAL: f"{account.row['name']} - renewal {year}",
        }[kind]
        row = w.add(
            "deals",
            Rec(
                name=name,
                account_id=account.row,
                primary_contact_id=contact.row,
                lead_id=lead_row,
                pipeline_id=w.refs["pipeline"],
                stage_id=self.stages[stage_name],
                stage_entered_at=entered,
                amount=amount,
                currency=account.currency,
                expected_close_date=(t0 + timedelta(days=cycle)).date(),
                owner_id=owner,
                status=outcome,
                lost_reason=lost_reason,
                competitor=competitor,
                closed_at=close if outcome is not DealStatus.open else None,
                is_renewal=kind == RENEWAL,
                tags=["renewal"] if kind == RENEWAL else ([] if kind == NEW else ["expansion"]),
                custom_fields={"discount_pct": discount},
                created_at=t0,
                updated_at=max([entered, *times[-1:]]),
            ),
        )
        for i, (stage, at) in enumerate(history):
            left = history[i + 1][1] if i + 1 < len(history) else None
            w.add(
                "deal_stage_history",
                Rec(
                    deal_id=row,
                    stage_id=self.stages[stage],
                    entered_at=at,
                    left_at=left,
                    changed_by_id=owner if i else None,
                ),
            )
        plan = DealPlan(
            row=row,
            account=account,
            kind=kind,
            contact=contact,
            owner=owner,
            lines=lines,
            created=t0,
            outcome=outcome.value,
            closed=close if outcome is not DealStatus.open else None,
            history=history,
            activity_times=times,
            stalled=stalled,
        )
        self._quote(plan)
        account.deals.append(plan)
        return plan

    def _lost_reason(
        self,
        account: AccountPlan,
        kind: str,
        competitor: str | None,
        discount: int,
        activities: int,
        close: datetime,
    ) -> str:
        w = self.world
        if kind == RENEWAL:
            if competitor:
                return f"Moved to {competitor}"
            if account.utilization(close) < 0.5:
                return "Low adoption"
            return w.pick(vocab.RENEWAL_LOST_REASONS)
        if competitor:
            return f"Lost to {competitor}"
        if discount >= 20 and w.chance(0.6):
            return "Price too high"
        if activities < 5 and w.chance(0.6):
            return "No decision / went dark"
        return w.pick(vocab.LOST_REASONS_NO_COMPETITOR)

    def _quote(self, deal: DealPlan) -> None:
        """A quote once the deal reaches Proposal; sent ones may await an answer, won ones become orders."""
        w = self.world
        stages = [s for s, _ in deal.history]
        if "Proposal" not in stages:
            return
        created = deal.history[stages.index("Proposal")][1]
        limit = min(w.now, deal.closed or w.now)
        sent = min(created + w.days(0, 2), limit)
        sent_at = sent if sent > created else None
        valid_until = (sent_at or created).date() + timedelta(days=30)
        responded = None
        if deal.outcome == DealStatus.won:
            status = QuoteStatus.accepted
            assert deal.closed is not None
            responded = max(sent, deal.closed - w.days(0, 2))
            sent_at = sent
        elif deal.outcome == DealStatus.lost:
            sent_at = sent
            if w.chance(0.6):
                status, responded = QuoteStatus.rejected, deal.closed
            else:
                status = QuoteStatus.expired if valid_until < w.today else QuoteStatus.sent
        elif sent_at is None:
            status = QuoteStatus.draft
        else:
            status = QuoteStatus.expired if valid_until < w.today else QuoteStatus.sent
        account = deal.account
        tax_rate = vocab.TAX_RATE.get(account.country.code, Decimal(0))
        subtotal = sum((ln.gross for ln in deal.lines), Decimal(0))
        net = sum((ln.net for ln in deal.lines), Decimal(0))
        tax = (net * tax_rate).quantize(CENT, ROUND_HALF_UP)
        quote = w.add(
            "quotes",
            Rec(
                number=None,
                deal_id=deal.row,
                account_id=account.row,
                contact_id=deal.contact.row,
                currency=account.currency,
                status=status,
                valid_until=valid_until,
                sent_at=sent_at,
                responded_at=responded,
                subtotal=subtotal,
                discount_total=subtotal - net,
                tax_rate=tax_rate,
                tax_total=tax,
                total=net + tax,
                terms=f"Net {account.row['payment_terms_days']} days",
                created_by_id=deal.owner,
                created_at=created,
                updated_at=responded or sent_at or created,
            ),
        )
        products = w.refs["products"]
        for position, ln in enumerate(deal.lines, start=1):
            w.add(
                "quote_lines",
                Rec(
                    quote_id=quote,
                    position=position,
                    product_id=products[ln.sku],
                    description=next(n for s, n, *_ in vocab.PRODUCTS if s == ln.sku),
                    quantity=Decimal(ln.quantity),
                    unit_price=ln.unit_price,
                    discount_pct=ln.discount_pct,
                    line_total=ln.net,
                ),
            )
        deal.quote = quote
        if deal.outcome == DealStatus.won:
            assert deal.closed is not None
            deal.order = w.add(
                "sales_orders",
                Rec(
                    number=None,
                    account_id=account.row,
                    deal_id=deal.row,
                    quote_id=quote,
                    currency=account.currency,
                    total=net + tax,
                    status=OrderStatus.fulfilled
                    if deal.closed < w.now - timedelta(days=30)
                    else OrderStatus.confirmed,
                    ordered_at=deal.closed,
                    created_at=deal.closed,
                    updated_at=deal.closed,
                ),
            )
            for position, ln in enumerate(deal.lines, start=1):
                w.add(
                    "sales_order_lines",
                    Rec(
                        order_id=deal.order,
                        position=position,
                        product_id=products[ln.sku],
                        description=next(n for s, n, *_ in vocab.PRODUCTS if s == ln.sku),
                        quantity=Decimal(ln.quantity),
                        unit_price=ln.unit_price,
                        discount_pct=ln.discount_pct,
                        line_total=ln.net,
                    ),
                )

    # --- contracts ----------------------------------------------------------------------------------------

    def contract(
        self, account: AccountPlan, lines: list[Line], start: date, deal: DealPlan | None
    ) -> ContractPlan:
        w = self.world
        months = 24 if account.size == "enterprise" and w.chance(0.3) else 12
        recurring = [ln for ln in lines if ln.sku in RECURRING]
        arr = sum((ln.net for ln in recurring), Decimal(0))
        seats = next(ln.quantity for ln in lines if ln.sku == "CORE-SEAT")
        end = add_months(start, months) - timedelta(days=1)
        billing = {"smb": 1, "mid_market": 3}.get(account.size) or w.weighted([12, 3], [40, 60])
        row = w.add(
            "contracts",
            Rec(
                account_id=account.row,
                deal_id=deal.row if deal else None,
                plan=vocab.PLANS[account.size],
                start_date=start,
                end_date=end,
                arr=arr,
                currency=account.currency,
                seat_limit=seats,
                auto_renew=w.chance(0.4),
                status=ContractStatus.active,
                created_at=at_day(start),
                updated_at=at_day(start),
            ),
        )
        one_off = sum((ln.net for ln in lines if ln.sku not in RECURRING), Decimal(0))
        plan = ContractPlan(
            row=row,
            account=account,
            lines=recurring,
            start=start,
            end=end,
            billing_months=billing,
            order=deal.order if deal else None,
            one_off=one_off if deal and deal.kind == NEW else Decimal(0),
            amendments=[(start, arr, seats)],
        )
        account.contracts.append(plan)
        return plan

    def run_contracts(self, account: AccountPlan, contract: ContractPlan) -> None:
        """Expansions inside each term, then the renewal: a new term when won, churn when lost."""
        w = self.world
        while True:
            t_exp = at_day(contract.start) + w.days(90, 240)
            if (
                w.chance(0.35)
                and account.health(t_exp) > -0.2
                and t_exp < at_day(contract.end) - timedelta(days=100)
                and t_exp < w.now - timedelta(days=3)
            ):
                extra = max(2, round(contract.seats * w.rng.uniform(0.1, 0.35)))
                discount = w.pick((0, 5, 10))
                lines = [
                    self.line(account, ln.sku, extra, discount) for ln in contract.lines if ln.sku in PER_SEAT
                ]
                deal = self.deal(account, EXPANSION, t_exp, lines, discount, origin="expansion")
                if deal.outcome == DealStatus.won and deal.closed is not None:
                    arr, seats = contract.terms_at(deal.closed.date())
                    contract.amendments.append(
                        (deal.closed.date(), arr + sum((ln.net for ln in lines), Decimal(0)), seats + extra)
                    )
                    contract.row.update(arr=contract.amendments[-1][1], seat_limit=contract.amendments[-1][2])
            end_at = at_day(contract.end)
            t_ren = end_at - w.days(60, 100)
            if t_ren > w.now:
                return
            use = account.utilization(t_ren)
            factor = 1.2 if use > 0.95 else (0.8 if use < 0.45 else 1.0)
            seats = max(3, round(contract.seats * factor))
            discount = int(max((ln.discount_pct for ln in contract.lines), default=Decimal(0)))
            lines = [
                self.line(account, ln.sku, seats if ln.sku in PER_SEAT else ln.quantity, discount)
                for ln in contract.lines
            ]
            cycle = (end_at - t_ren).days + w.rng.uniform(-10, 10)
            renewal = self.deal(
                account, RENEWAL, t_ren, lines, discount, origin="expansion", cycle_days=cycle
            )
            if renewal.outcome == DealStatus.open:
                return
            if renewal.outcome == DealStatus.lost:
                account.churned_on = contract.end
                return
            contract = self.contract(account, lines, contract.end + timedelta(days=1), renewal)

    # --- per account --------------------------------------------------------------------------------------

    def simulate(self, account: AccountPlan) -> None:
        w = self.world
        if account.kind == LEGACY:
            assert account.customer_since is not None
            discount = w.pick(DISCOUNTS[account.size])
            lines = self.new_business_lines(account, discount)
            months = 12
            start = account.customer_since
            while add_months(start, months) <= w.start.date():
                start = add_months(start, months)
            self.run_contracts(account, self.contract(account, lines, start, None))
        else:
            starts: list[tuple[datetime, str]] = []
            lead = account.lead
            if account.kind == LEAD and lead is not None and lead.closed is not None:
                referral = lead.row["source_detail"] == "referral"
                starts.append((lead.closed, "referral" if referral else "inbound"))
            else:
                first = max(account.created, w.start)
                for _ in range(w.weighted([0, 1, 2], [30, 55, 15])):
                    starts.append((w.between(first, w.now - timedelta(days=3)), "outbound"))
                starts.sort()
            i = 0
            while i < len(starts):
                t0, origin = starts[i]
                discount = w.pick(DISCOUNTS[account.size])
                lines = self.new_business_lines(account, discount)
                is_conversion = i == 0 and account.kind == LEAD
                deal = self.deal(
                    account,
                    NEW,
                    t0,
                    lines,
                    discount,
                    origin=origin,
                    contact=account.contacts[0] if is_conversion else None,
                    lead_row=lead.row if is_conversion and lead else None,
                )
                if is_conversion and lead is not None:
                    lead.deal = deal
                if deal.outcome == DealStatus.won and deal.closed is not None:
                    start = (deal.closed + w.days(0, 7)).date()
                    self.run_contracts(account, self.contract(account, lines, start, deal))
                    break
                if (
                    deal.outcome == DealStatus.lost
                    and deal.closed is not None
                    and is_conversion
                    and w.chance(0.3)
                ):
                    again = deal.closed + w.days(60, 240)
                    if again < w.now - timedelta(days=3):
                        starts.append((again, "outbound"))
                i += 1
        self._settle(account)

    def _settle(self, account: AccountPlan) -> None:
        """Lifecycle, CSM, payment habit and contract statuses follow from the simulated history."""
        w = self.world
        today = w.today
        for c in account.contracts:
            c.row["status"] = ContractStatus.expired if c.end < today else ContractStatus.active
        if account.churned_on is not None and account.churned_on < today:
            lifecycle = Lifecycle.churned
        elif account.contracts:  # renewed, running, or past its end with the renewal still open
            lifecycle = Lifecycle.customer
        else:
            lifecycle = Lifecycle.prospect
        account.row["lifecycle"] = lifecycle
        if account.contracts:
            account.csm = self.staff.csm_for(w, account.country.territory)
            account.row["csm_id"] = account.csm
            since = account.customer_since or account.contracts[0].start
            account.row["custom_fields"] = {
                **account.row["custom_fields"],
                "customer_since": since.isoformat(),
            }
            if account.health(w.now) < -0.5 and w.chance(0.5):
                account.payer = "delinquent"
            elif w.chance(0.2):
                account.payer = "slow"
            if lifecycle is Lifecycle.churned:
                account.row["tags"] = sorted({*account.row["tags"], "former-customer"})
        elif w.chance(0.01):
            account.row["blacklisted"] = True
        if lifecycle is Lifecycle.customer and account.health(w.now) < -0.8:
            account.row["tags"] = sorted({*account.row["tags"], "at-risk"})
