"""The health signals: each turns one account fact into a sub-score from 0 (unhealthy) to 1 (healthy).

Pure functions over the facts dict of `core.repositories.health.account_facts` (or any mapping of another data
source onto the same shape, as the telco eval does), so the product and its eval score with the same code.
A signal without data (no snapshots, no NPS answer, no contract) gives None and is left out of the weighted sum
instead of counting as good or bad.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CATEGORIES = ("usage", "support", "finance", "engagement", "contract")
Facts = dict[str, Any]


@dataclass(frozen=True)
class Reading:
    """A signal's sub-score (None: no data), its value, the words for it ("invoice 45 days overdue") and the
    value alone ("45 days"), which a diff quotes as the value before."""

    sub_score: float | None
    value: float | None
    text: str
    short: str = ""


@dataclass(frozen=True)
class CategoryRates:
    """Retention learned from the CRM's own renewal history per category of one signal (a product held, a payment
    method on file): (renewed + k * overall) / (outcomes + k), so a product held by three past accounts says little
    and sits near the overall rate. Learned by tools.health.learning.category_rates, stored with the weights."""

    rates: dict[str, float]
    counts: dict[str, int]
    overall: float


Rates = dict[str, CategoryRates]  # signal name -> its categories' retention


@dataclass(frozen=True)
class Signal:
    name: str  # "category.signal"
    label: str
    read: Callable[[Facts, float], Reading]  # (facts, ar_scale) -> reading
    # Rate signals: the categories the account has (e.g. products held); their sub-score is the learned retention
    # of past accounts with those categories (`read` is then unused), and they need learned rates to have data.
    categories: Callable[[Facts], list[str]] | None = None
    noun: str = ""

    @property
    def category(self) -> str:
        return self.name.split(".", 1)[0]


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def _none(text: str) -> Reading:
    return Reading(None, None, text)


def _login_trend(f: Facts, _: float) -> Reading:
    points = f["usage"]
    if len(points) < 2:
        return _none("too few usage snapshots for a login trend")
    before = [p["logins"] for p in points[:-1]]
    avg = sum(before) / len(before)
    if avg <= 0:
        return _none("no logins before the latest snapshot")
    ratio = points[-1]["logins"] / avg
    return Reading(_clamp(ratio), round(ratio - 1, 3), f"logins {ratio - 1:+.0%} vs the previous months",
                   f"{ratio - 1:+.0%}")


def _active_users(f: Facts, _: float) -> Reading:
    points = f["usage"]
    if not points:
        return _none("no usage snapshots")
    seats = f["contract"].get("seat_limit") or points[-1]["seats_used"]
    if not seats:
        return _none("no seats")
    ratio = points[-1]["active_users"] / seats
    return Reading(_clamp(ratio / 0.8), round(ratio, 3), f"{ratio:.0%} of seats active", f"{ratio:.0%}")


def _feature_adoption(f: Facts, _: float) -> Reading:
    points, available = f["usage"], f.get("features_available") or 0
    if not points or available <= 0:
        return _none("no feature data")
    share = min(points[-1]["features"], available) / available
    return Reading(share, round(share, 3), f"{points[-1]['features']} of {available} features adopted",
                   f"{points[-1]['features']} of {available}")


def _open_tickets(f: Facts, _: float) -> Reading:
    n = f["support"]["open_tickets"]
    return Reading(1 / (1 + n / 2), n, f"{n} open ticket{'s' if n != 1 else ''}", str(n))


def _sla_breaches(f: Facts, _: float) -> Reading:
    n = f["support"]["sla_breaches_90d"]
    if n is None:
        return _none("no SLA data")
    return Reading(1 / (1 + n), n, f"{n} SLA breach{'es' if n != 1 else ''} in 90 days", str(n))


def _satisfaction(f: Facts, _: float) -> Reading:
    avg = f["support"]["satisfaction_avg"]
    if avg is None:
        return _none("no ticket ratings")
    return Reading(_clamp((avg - 1) / 4), avg, f"ticket satisfaction {avg:.1f}/5", f"{avg:.1f}/5")


def _days_overdue(f: Facts, _: float) -> Reading:
    days = f["finance"]["max_days_overdue"]
    if days is None:
        return _none("no invoice due dates")
    text = f"invoice {days} days overdue" if days else "no overdue invoice"
    return Reading(_clamp(1 - days / 90), days, text, f"{days} days" if days else "none")


def _open_ar(f: Facts, scale: float) -> Reading:
    ar = f["finance"]["open_ar"]
    return Reading(1 / (1 + ar / scale), ar, f"open AR {ar:,.0f}", f"{ar:,.0f}")


def _on_time(f: Facts, _: float) -> Reading:
    due, on_time = f["finance"]["invoices_due_12m"], f["finance"]["paid_on_time_12m"]
    if not due:
        return _none("no invoice due in the last year")
    share = on_time / due
    return Reading(share, round(share, 3), f"{on_time} of {due} invoices paid on time", f"{on_time} of {due}")


def _autopay(f: Facts, _: float) -> Reading:
    n, auto = f["finance"]["payments_12m"], f["finance"]["autopay_payments_12m"]
    if not n:
        return _none("no payments in the last year")
    share = auto / n
    return Reading(share, round(share, 3), f"{share:.0%} of payments automatic", f"{share:.0%}")


def _meetings(f: Facts, _: float) -> Reading:
    n = f["engagement"]["meetings_90d"]
    if n is None:
        return _none("no meeting data")
    return Reading(_clamp(n / 3), n, f"{n} meeting{'s' if n != 1 else ''} in 90 days", str(n))


def _nps(f: Facts, _: float) -> Reading:
    score = f["engagement"]["nps_latest"]
    if score is None:
        return _none("no NPS answer in the last year")
    return Reading(score / 10, score, f"NPS {score}/10", f"{score}/10")


def _contacts(f: Facts, _: float) -> Reading:
    n = f["engagement"]["contacts"]
    return Reading(_clamp(n / 3), n, f"{n} contact{'s' if n != 1 else ''}", str(n))


def _renewal(f: Facts, _: float) -> Reading:
    c = f["contract"]
    if c["days_to_renewal"] is None:
        return _none("no contract in force")
    days = c["days_to_renewal"]
    if c["auto_renew"]:
        return Reading(1.0, days, f"renews automatically in {days} days", f"{days} days, automatic")
    return Reading(_clamp(days / 180), days, f"renewal in {days} days", f"{days} days")


def _commitment(f: Facts, _: float) -> Reading:
    months = f["contract"]["term_months"]
    if months is None:
        return _none("no contract in force")
    return Reading(_clamp(months / 24), months, f"{months}-month term", f"{months} months")


def _tenure(f: Facts, _: float) -> Reading:
    months = f["contract"]["tenure_months"]
    if months is None:
        return _none("no contract in force")
    return Reading(1 - math.exp(-months / 12), months, f"customer for {months} months", f"{months} months")


def _products(f: Facts) -> list[str]:
    return sorted(set(f.get("products") or []))


def _payment_methods(f: Facts) -> list[str]:
    return sorted(set(f["finance"].get("payment_methods") or []))


def _unused(_f: Facts, _s: float) -> Reading:
    return _none("rate signal")


def read_rates(signal: Signal, facts: Facts, rates: Rates | None) -> Reading:
    """A rate signal's reading: the mean learned retention over the account's categories, in words naming the
    category with the lowest ("holds Fiber optic (retention 58 % among past customers)"). A category no past
    account had counts as the overall rate. No categories or no learned rates: no data."""
    assert signal.categories is not None
    held = signal.categories(facts)
    learned = (rates or {}).get(signal.name)
    if not held:
        return _none(f"no {signal.noun} on file")
    if learned is None:
        return _none(f"no retention history per {signal.noun} learned yet")
    values = {c: learned.rates.get(c, learned.overall) for c in held}
    mean = sum(values.values()) / len(values)
    worst = min(held, key=lambda c: (values[c], c))
    verb = "holds" if signal.noun == "product" else "pays by"
    more = f" and {len(held) - 1} more, mean {mean:.0%}" if len(held) > 1 else ""
    return Reading(mean, round(mean, 4), f"{verb} {worst} (retention {values[worst]:.0%} among past customers"
                                         f"{more})", f"{worst} {values[worst]:.0%}")


SIGNALS: tuple[Signal, ...] = (
    Signal("usage.login_trend", "Login trend", _login_trend),
    Signal("usage.active_users", "Active users", _active_users),
    Signal("usage.feature_adoption", "Feature adoption", _feature_adoption),
    Signal("support.open_tickets", "Open tickets", _open_tickets),
    Signal("support.sla_breaches", "SLA breaches", _sla_breaches),
    Signal("support.satisfaction", "Satisfaction", _satisfaction),
    Signal("finance.days_overdue", "Days overdue", _days_overdue),
    Signal("finance.open_ar", "Open AR", _open_ar),
    Signal("finance.on_time_payments", "On-time payments", _on_time),
    Signal("finance.autopay", "Automatic payments", _autopay),
    Signal("finance.payment_method", "Payment method", _unused, _payment_methods, "payment method"),
    Signal("engagement.meeting_cadence", "Meeting cadence", _meetings),
    Signal("engagement.nps", "NPS", _nps),
    Signal("engagement.contacts", "Contacts", _contacts),
    Signal("contract.days_to_renewal", "Days to renewal", _renewal),
    Signal("contract.commitment", "Commitment", _commitment),
    Signal("contract.tenure", "Tenure", _tenure),
    Signal("contract.product_mix", "Product mix", _unused, _products, "product"),
)
SIGNAL_NAMES = tuple(s.name for s in SIGNALS)
# Rate signals have data only once learned: configured category weights are not spread over them, so the
# default score is the same with or without them.
RATE_SIGNALS = tuple(s.name for s in SIGNALS if s.categories is not None)


def read_all(facts: Facts, ar_scale: float, rates: Rates | None = None) -> dict[str, Reading]:
    return {s.name: read_rates(s, facts, rates) if s.categories is not None else s.read(facts, ar_scale)
            for s in SIGNALS}
