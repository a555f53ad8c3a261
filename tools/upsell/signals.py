"""The expansion signals, one pure function each over an account's gathered facts (JSON-able dicts).

Which detector reports which signal (see SIGNALS):
- Upsell Opportunity Detector (weekly): `seat_pressure` (seats used >= 90 % of the limit: buy more seats now) and
  `cross_sell` (products that accounts with similar product sets own and this one does not). Both point at a
  concrete thing to sell this week, so they are checked often. Similar accounts are found by co-occurrence
  (closest product sets); a customer that owns nothing yet is compared by its description embedding instead
  (pgvector neighbours within `description_max_distance`).
- Expansion Signal Detector (monthly): `usage_growth` (active users rising across the window), `new_contacts`
  (new team members at the account), `nps_engagement` (a promoter score with many recent touches). These are
  slower trends that a month's data shows better than a week's.
- `payment_health` (invoices in the window, none overdue) is evaluated by both: it is no opportunity by itself,
  but an account with overdue invoices never gets a proposed expansion deal, and the evidence says why.

Every signal returns its evidence (the numbers it decided on) and an identity: what must change for the signal
to count as new (a new seat limit, other products, other new contacts, another NPS response).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.config import Settings

UPSELL = "upsell"
EXPANSION = "expansion"
PAYMENT_HEALTH = "payment_health"
SIGNALS: dict[str, tuple[str, ...]] = {
    UPSELL: ("seat_pressure", "cross_sell", PAYMENT_HEALTH),
    EXPANSION: ("usage_growth", "new_contacts", "nps_engagement", PAYMENT_HEALTH),
}
ALL_SIGNALS = ("seat_pressure", "cross_sell", "usage_growth", "new_contacts", "nps_engagement", PAYMENT_HEALTH)
MIN_GROWTH_SPAN_DAYS = 28  # two snapshots closer than four weeks say nothing about a trend


@dataclass(frozen=True)
class Thresholds:
    seat_ratio: float = 0.9
    strong_seat_ratio: float = 1.0
    seat_increment: float = 0.2
    similar_accounts: int = 10
    cross_sell_min_share: float = 0.5
    cross_sell_min_accounts: int = 3
    description_max_distance: float = 0.35
    strong_min_signals: int = 2
    growth_days: int = 90
    growth_min: float = 0.2
    new_contacts_days: int = 30
    new_contacts_min: int = 2
    nps_days: int = 180
    nps_min_score: int = 9
    engagement_days: int = 60
    engagement_min_activities: int = 3
    payment_days: int = 365
    deal_share: float = 0.2


def thresholds(settings: Settings) -> Thresholds:
    """The detectors' thresholds from settings (the `upsell_*` / `expansion_*` block)."""
    s = settings
    return Thresholds(
        seat_ratio=s.upsell_seat_ratio, strong_seat_ratio=s.upsell_strong_seat_ratio,
        seat_increment=s.upsell_seat_increment, similar_accounts=s.upsell_similar_accounts,
        cross_sell_min_share=s.upsell_cross_sell_min_share, cross_sell_min_accounts=s.upsell_cross_sell_min_accounts,
        description_max_distance=s.upsell_description_max_distance,
        strong_min_signals=s.upsell_strong_min_signals, growth_days=s.expansion_growth_days,
        growth_min=s.expansion_growth_min, new_contacts_days=s.expansion_new_contacts_days,
        new_contacts_min=s.expansion_new_contacts_min, nps_days=s.expansion_nps_days,
        nps_min_score=s.expansion_nps_min_score, engagement_days=s.expansion_engagement_days,
        engagement_min_activities=s.expansion_engagement_min_activities, payment_days=s.expansion_payment_days,
        deal_share=s.expansion_deal_share)


@dataclass(frozen=True)
class Signal:
    name: str
    evidence: dict[str, Any]
    identity: Any = True  # what must differ for the signal to be new (JSON-able)
    summary: str = ""  # one sentence of facts for the suggestion's body


@dataclass(frozen=True)
class Recommendation:
    product_id: int
    owners: int  # similar accounts owning it
    similar: int  # similar accounts compared
    examples: list[int] = field(default_factory=list)  # a few of the owning accounts


def _pct(value: float) -> str:
    return f"{round(value * 100)}%"


def seat_pressure(latest: dict[str, Any] | None, seat_limit: int | None, t: Thresholds) -> Signal | None:
    """Seats used in the latest snapshot against the seat limit of the contracts in force."""
    if latest is None or not seat_limit:
        return None
    used = int(latest["seats_used"])
    ratio = used / seat_limit
    if ratio < t.seat_ratio:
        return None
    return Signal("seat_pressure",
                  {"seats_used": used, "seat_limit": seat_limit, "ratio": round(ratio, 3),
                   "captured_on": str(latest["captured_on"]), "threshold": t.seat_ratio},
                  identity=seat_limit,
                  summary=f"{used} of {seat_limit} seats in use ({_pct(ratio)}) on {latest['captured_on']}.")


def usage_growth(snapshots: list[dict[str, Any]], t: Thresholds) -> Signal | None:
    """Active users in the window's last snapshot against its first (at least four weeks apart)."""
    if len(snapshots) < 2:
        return None
    first, last = snapshots[0], snapshots[-1]
    span = (date.fromisoformat(str(last["captured_on"])) - date.fromisoformat(str(first["captured_on"]))).days
    base = int(first["active_users"])
    if span < MIN_GROWTH_SPAN_DAYS or base <= 0:
        return None
    growth = (int(last["active_users"]) - base) / base
    if growth < t.growth_min:
        return None
    return Signal("usage_growth",
                  {"from": str(first["captured_on"]), "to": str(last["captured_on"]), "active_users_from": base,
                   "active_users_to": int(last["active_users"]), "logins_from": int(first["logins"]),
                   "logins_to": int(last["logins"]), "growth": round(growth, 3), "threshold": t.growth_min},
                  summary=f"Active users grew {_pct(growth)} ({base} to {last['active_users']}) between "
                          f"{first['captured_on']} and {last['captured_on']}.")


def new_contacts(contacts: list[dict[str, Any]], t: Thresholds) -> Signal | None:
    """People added to the account recently: a growing team, or new stakeholders."""
    if len(contacts) < t.new_contacts_min:
        return None
    people: list[dict[str, Any]] = [
        {"id": int(c["id"]), "name": f"{c['first_name']} {c['last_name']}".strip(), "title": c.get("title"),
         "created_at": str(c["created_at"])} for c in contacts]
    names = ", ".join(str(p["name"]) + (f" ({p['title']})" if p["title"] else "") for p in people[:5])
    return Signal("new_contacts", {"count": len(people), "days": t.new_contacts_days, "contacts": people,
                                   "threshold": t.new_contacts_min},
                  identity=sorted(p["id"] for p in people),
                  summary=f"{len(people)} new contacts in the last {t.new_contacts_days} days: {names}.")


def nps_engagement(nps: dict[str, Any] | None, activities: int, t: Thresholds) -> Signal | None:
    """A recent promoter score together with many recent touches (meetings, calls, emails, notes)."""
    if nps is None or int(nps["score"]) < t.nps_min_score or activities < t.engagement_min_activities:
        return None
    return Signal("nps_engagement",
                  {"nps_response_id": int(nps["id"]), "score": int(nps["score"]),
                   "responded_at": str(nps["responded_at"]), "activities": activities,
                   "activity_days": t.engagement_days, "min_score": t.nps_min_score,
                   "min_activities": t.engagement_min_activities},
                  identity=int(nps["id"]),
                  summary=f"NPS {nps['score']} on {str(nps['responded_at'])[:10]} and {activities} activities in the "
                          f"last {t.engagement_days} days.")


def payment_health(invoices: dict[str, Any], t: Thresholds) -> Signal | None:
    """Invoices in the window and none overdue: a payer who can take on more."""
    if int(invoices["overdue"]) > 0 or int(invoices["invoices"]) == 0:
        return None
    return Signal("payment_health", {"invoices": int(invoices["invoices"]), "paid": int(invoices["paid"]),
                                     "overdue": 0, "days": t.payment_days},
                  summary=f"{invoices['invoices']} invoices in the last {t.payment_days} days, none overdue.")


def product_neighbours(account_id: int, owned: dict[int, set[int]], t: Thresholds) -> list[int]:
    """The `similar_accounts` accounts whose product sets are closest (Jaccard, ties by id) to this one's."""
    mine = owned.get(account_id, set())
    scored = []
    for other, products in owned.items():
        common = len(mine & products)
        if other != account_id and common:
            scored.append((-common / len(mine | products), other))
    return [other for _, other in sorted(scored)[:t.similar_accounts]]


def recommend(account_id: int, owned: dict[int, set[int]], t: Thresholds,
              neighbours: list[int] | None = None) -> list[Recommendation]:
    """Products the similar accounts own and this account does not.

    Similar accounts are those with the closest product sets (`product_neighbours`) or, when given, the
    `neighbours` found another way (accounts with a similar description, for a customer that owns nothing
    yet). A product is recommended when at least `cross_sell_min_accounts` of them and `cross_sell_min_share`
    of them own it.
    """
    mine = owned.get(account_id, set())
    if neighbours is None:
        neighbours = product_neighbours(account_id, owned, t) if mine else []
    neighbours = [n for n in neighbours if n != account_id and owned.get(n)][:t.similar_accounts]
    if not neighbours:
        return []
    counts: dict[int, list[int]] = {}
    for other in neighbours:
        for product in owned[other] - mine:
            counts.setdefault(product, []).append(other)
    found = [Recommendation(product, len(owners), len(neighbours), sorted(owners)[:5])
             for product, owners in counts.items()
             if len(owners) >= t.cross_sell_min_accounts and len(owners) / len(neighbours) >= t.cross_sell_min_share]
    return sorted(found, key=lambda r: (-r.owners, r.product_id))


def cross_sell(recommendations: list[dict[str, Any]]) -> Signal | None:
    """The recommendations (with product names) as a signal; identity: the recommended products."""
    if not recommendations:
        return None
    parts = [f"{r['name']} (owned by {r['owners']} of {r['similar']} accounts with "
             f"{'a similar description' if r.get('basis') == 'description' else 'similar purchases'})"
             for r in recommendations[:5]]
    return Signal("cross_sell", {"products": recommendations},
                  identity=sorted(r["product_id"] for r in recommendations),
                  summary="Similar accounts own products this one does not: " + "; ".join(parts) + ".")


def detect(kind: str, facts: dict[str, Any], t: Thresholds) -> list[Signal]:
    """The signals of one detector (`upsell` or `expansion`) that fire on these facts, in SIGNALS order."""
    if kind not in SIGNALS:
        raise ValueError(f"unknown detector kind {kind!r}")
    found: dict[str, Signal | None] = {}
    if kind == UPSELL:
        found["seat_pressure"] = seat_pressure(facts.get("latest_usage"), facts.get("seat_limit"), t)
        found["cross_sell"] = cross_sell(facts.get("recommendations") or [])
    else:
        found["usage_growth"] = usage_growth(facts.get("usage_window") or [], t)
        found["new_contacts"] = new_contacts(facts.get("new_contacts") or [], t)
        found["nps_engagement"] = nps_engagement(facts.get("nps"), int(facts.get("activities") or 0), t)
    found[PAYMENT_HEALTH] = payment_health(facts["invoices"], t)
    return [s for name in SIGNALS[kind] if (s := found.get(name)) is not None]
