"""Multi-touch campaign attribution and ROI: how much won revenue each campaign brought, per currency.

Which touches count for a deal is decided in SQL (core/repositories/attribution.py: the touches of the lead that
became the deal and of its primary contact, made at or before the win). Sharing the deal's amount among them:
  - first_touch: all of it to the campaign of the earliest counted touch;
  - last_touch:  all of it to the campaign of the latest counted touch (ties: the higher touch id is later);
  - linear:      equal parts per touch, so a campaign touching twice gets two parts; cents are split by largest
                 remainder, so a deal's parts always add up to its amount exactly.

Money is never added across currencies: revenue is reported per deal currency, and a campaign's ROI
(attributed revenue / cost) only uses the revenue in the campaign's own currency (None when the cost is 0).
The totals per currency compare all revenue attributed in that currency with the spend of the campaigns costed
in it. The cost is the campaign's whole spend, not pro-rated to the period. Touches and leads count the touches made in
the period (a touch made before the period still counts for a deal won inside it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models.enums import AttributionModel, Role
from core.repositories import attribution as repo
from core.repositories.attribution import Credit
from core.repositories.scoping import Principal
from core.services.auth import Forbidden

ROI_PLACES = Decimal("0.0001")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class CurrencyRevenue:
    currency: str
    won_deals: int  # deals the model credits to the campaign (even for an amount of 0)
    attributed_revenue: Decimal


@dataclass(frozen=True)
class CampaignResult:
    campaign_id: int
    name: str
    utm_campaign: str | None
    channel: str
    touches: int
    leads: int
    cost: Decimal
    currency: str  # of the cost
    revenue: list[CurrencyRevenue]  # the cost's currency first (always present), then others alphabetically
    roi: Decimal | None

    def revenue_in(self, currency: str) -> Decimal:
        return next((r.attributed_revenue for r in self.revenue if r.currency == currency), Decimal(0))


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    won_deals: int  # every deal won in the period in this currency
    won_revenue: Decimal
    attributed_deals: int  # of those, the ones with at least one counted touch
    attributed_revenue: Decimal
    cost: Decimal  # spend of the campaigns costed in this currency
    roi: Decimal | None


@dataclass(frozen=True)
class AttributionReport:
    model: AttributionModel
    since: date | None
    until: date | None
    campaigns: list[CampaignResult]
    totals: list[CurrencyTotal]
    touches: int
    leads: int


def may_report(user: Principal) -> bool:
    return user.role in (Role.manager, Role.admin)


def ensure_may_report(user: Principal) -> None:
    if not may_report(user):
        raise Forbidden(f"role {user.role.value} may not read the attribution report (managers and admins do)")


def parse_model(value: AttributionModel | str) -> AttributionModel:
    try:
        return AttributionModel(value)
    except ValueError:
        known = ", ".join(m.value for m in AttributionModel)
        raise InvalidInput("model", f"{value!r} is not one of: {known}") from None


def period(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole UTC days, both ends included: [since 00:00, the day after until 00:00)."""
    if since is not None and until is not None and until < since:
        raise InvalidInput("until", f"{until} is before since ({since})")
    start = datetime.combine(since, time.min, UTC) if since is not None else None
    end = datetime.combine(until + timedelta(days=1), time.min, UTC) if until is not None and until < date.max \
        else None
    return start, end


def split_linear(amount: Decimal, parts: dict[int, int]) -> dict[int, Decimal]:
    """`amount` shared in proportion to `parts` (touch counts), in cents that add up to the amount exactly."""
    total = sum(parts.values())
    cents = int((amount / CENT).to_integral_value(ROUND_HALF_UP))
    floor = {k: cents * n // total for k, n in parts.items()}
    left = cents - sum(floor.values())
    by_remainder = sorted(parts, key=lambda k: (-(cents * parts[k] % total), k))
    for key in by_remainder[:left]:
        floor[key] += 1
    return {k: Decimal(v) * CENT for k, v in floor.items()}


def deal_shares(model: AttributionModel, rows: list[Credit]) -> dict[int, Decimal]:
    """One deal's amount per campaign under the model (only campaigns the model credits appear)."""
    amount = rows[0].amount
    if model is AttributionModel.linear:
        return split_linear(amount, {r.campaign_id: r.touches for r in rows})
    holder = next(r.campaign_id for r in rows if (r.is_first if model is AttributionModel.first_touch else r.is_last))
    return {holder: amount}


def _roi(revenue: Decimal, cost: Decimal) -> Decimal | None:
    return None if cost == 0 else (revenue / cost).quantize(ROI_PLACES, ROUND_HALF_UP)


def _by_deal(credits: Iterable[Credit]) -> dict[int, list[Credit]]:
    deals: dict[int, list[Credit]] = defaultdict(list)
    for credit in credits:
        deals[credit.deal_id].append(credit)
    return deals


def report(session: Session, model: AttributionModel | str = AttributionModel.linear, *,
           since: date | None = None, until: date | None = None) -> AttributionReport:
    """Every campaign's touches, leads, credited won deals and revenue per currency, cost and ROI, with totals."""
    kind = parse_model(model)
    start, end = period(since, until)
    revenue: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    credited: dict[tuple[int, str], int] = defaultdict(int)
    attributed: dict[str, tuple[int, Decimal]] = {}
    for rows in _by_deal(repo.credits(session, start, end)).values():
        currency = rows[0].currency
        for campaign_id, share in deal_shares(kind, rows).items():
            revenue[campaign_id, currency] += share
            credited[campaign_id, currency] += 1
        deals, money = attributed.get(currency, (0, Decimal(0)))
        attributed[currency] = (deals + 1, money + rows[0].amount)
    activity = {a.campaign_id: a for a in repo.activity(session, start, end)}
    results: list[CampaignResult] = []
    cost_by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for c in repo.campaigns(session):
        currencies = sorted({cur for (cid, cur) in revenue if cid == c.id} - {c.currency})
        lines = [CurrencyRevenue(cur, credited.get((c.id, cur), 0), revenue.get((c.id, cur), Decimal(0)))
                 for cur in [c.currency, *currencies]]
        act = activity.get(c.id)
        results.append(CampaignResult(c.id, c.name, c.utm_campaign, c.channel, act.touches if act else 0,
                                      act.leads if act else 0, c.cost, c.currency, lines,
                                      _roi(lines[0].attributed_revenue, c.cost)))
        cost_by_currency[c.currency] += c.cost
    won = {w.currency: w for w in repo.won_totals(session, start, end)}
    totals: list[CurrencyTotal] = []
    for currency in sorted(set(won) | set(cost_by_currency)):
        deals, money = attributed.get(currency, (0, Decimal(0)))
        cost = cost_by_currency.get(currency, Decimal(0))
        w = won.get(currency)
        totals.append(CurrencyTotal(currency, w.deals if w else 0, w.revenue if w else Decimal(0), deals, money,
                                    cost, _roi(money, cost)))
    touches = sum(a.touches for a in activity.values())
    leads = repo.distinct_leads(session, start, end)
    return AttributionReport(kind, since, until, results, totals, touches, leads)
