"""The generating formulas of the synthetic CRM's outcomes, so models trained on seeded data have real signal.

Every probability is a logistic function, p = 1 / (1 + exp(-z)), of attributes that are stored in the CRM,
so a lead-scoring, win-probability or churn model can recover them from the database alone.

Lead conversion (for leads older than 45 days; the rest stay open):
    z = -2.5 + SOURCE[source]
        + 0.9 * budget_score          budget_score = clamp(log10(bant_budget/5000), 0, 2), 0 when NULL
        + AUTHORITY[bant_authority]   True +1.1, False -0.5, NULL 0
        + 0.3 * engagement            engagement = min(pages_viewed, 40)/8 + min(email_opens, 20)/4
                                      (custom_fields "pages_viewed" and "email_opens")
        + 0.35 * log10(employees/50)  0 when employees is NULL
        + TIMELINE[bant_timeline]
    SOURCE: manual +0.7, chat +0.4, web_form +0.2, api +0.1, email 0, campaign 0, csv_import -0.9.
    TIMELINE: this quarter +0.6, next quarter +0.3, this year 0, no timeline -0.7, NULL -0.2.
    A lead that does not convert is disqualified with a reason naming its weakest attribute. Another 5% of
    old leads are left in nurture (status contacted) with no outcome.

Deal win (new business and expansion; decided when the deal is created, revealed when it closes):
    z = -0.5 - 0.6 * log10(amount_usd/20000) - 0.05 * (discount_pct - 10) + 0.15 * (activities - 8)
        - 0.9 * has_competitor + ORIGIN[origin]
    amount_usd is the deal amount at the fixed FX rates of vocab.FX; discount_pct is the deal's custom field
    "discount_pct" (also on its quote lines); activities counts the activities logged on the deal;
    has_competitor is `competitor IS NOT NULL`. ORIGIN: referral +0.6 (from a lead whose source_detail is
    "referral"), inbound +0.3 (from any other lead: deals.lead_id set), outbound -0.2 (no lead),
    expansion +0.8 (tag "expansion"). A closed deal has all its activities logged before it closed, an open
    one only those so far. About a third of lost deals that would have closed in the last 150 days "go dark"
    instead: they stay open, stalled in their exit stage with no activity since.

Renewal (customer-success signal):
    z = 1.6 + 1.5 * health
    health is a hidden per-account state, health(t) = h0 + slope * years since the window start, that drives
    what IS stored: NPS scores (7.6 + 1.7*health + noise), monthly logins and seat use, the ticket rate
    (exp(-0.6*health)), SLA breaches and late payment. A lost renewal makes the account churned.
"""

from __future__ import annotations

import math

LEAD_SOURCE_EFFECT: dict[str, float] = {
    "manual": 0.7,
    "chat": 0.4,
    "web_form": 0.2,
    "api": 0.1,
    "email": 0.0,
    "campaign": 0.0,
    "csv_import": -0.9,
}
LEAD_TIMELINE_EFFECT: dict[str | None, float] = {
    "this quarter": 0.6,
    "next quarter": 0.3,
    "this year": 0.0,
    "no timeline": -0.7,
    None: -0.2,
}
DEAL_ORIGIN_EFFECT: dict[str, float] = {"referral": 0.6, "inbound": 0.3, "outbound": -0.2, "expansion": 0.8}


def logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def budget_score(budget_usd: float | None) -> float:
    if budget_usd is None or budget_usd <= 0:
        return 0.0
    return min(max(math.log10(budget_usd / 5000), 0.0), 2.0)


def engagement(pages_viewed: int, email_opens: int) -> float:
    return min(pages_viewed, 40) / 8 + min(email_opens, 20) / 4


def lead_conversion_probability(
    *,
    source: str,
    budget_usd: float | None,
    authority: bool | None,
    pages_viewed: int,
    email_opens: int,
    employees: int | None,
    timeline: str | None,
) -> float:
    """Probability that a lead converts; see the module docstring for the formula."""
    z = -2.5 + LEAD_SOURCE_EFFECT[source] + 0.9 * budget_score(budget_usd)
    z += 1.1 if authority is True else (-0.5 if authority is False else 0.0)
    z += 0.3 * engagement(pages_viewed, email_opens)
    if employees:
        z += 0.35 * math.log10(max(employees, 1) / 50)
    z += LEAD_TIMELINE_EFFECT[timeline]
    return logistic(z)


def deal_win_probability(
    *, amount_usd: float, discount_pct: float, activities: int, has_competitor: bool, origin: str
) -> float:
    """Probability that a new-business or expansion deal is won; see the module docstring."""
    z = -0.5 - 0.6 * math.log10(max(amount_usd, 100.0) / 20000) - 0.05 * (discount_pct - 10)
    z += 0.15 * (activities - 8) - (0.9 if has_competitor else 0.0) + DEAL_ORIGIN_EFFECT[origin]
    return logistic(z)


def renewal_probability(health: float) -> float:
    """Probability that a customer renews at the end of a contract term."""
    return logistic(1.6 + 1.5 * health)
