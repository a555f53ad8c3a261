"""From an account's signals to what the account manager sees: the suggestion's text, evidence and, when strong,
the proposed expansion deal (stored in the evidence; a deal exists only after a person accepts it).

Strong means: no overdue invoice, and either `strong_min_signals` opportunity signals (payment health is context,
not an opportunity) or seat use at `strong_seat_ratio` of the limit or more. The body is deterministic text made
of the evidence: the suggestion is read by our own account manager, every sentence is a number they can check,
and a model would add wording but no facts (and on a small model, wrong numbers).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tools.upsell.signals import PAYMENT_HEALTH, UPSELL, Signal, Thresholds

CENT = Decimal("0.01")
PROPOSAL_KIND = "expansion_deal"
LABELS = {"seat_pressure": "Seat pressure", "cross_sell": "Cross-sell", "usage_growth": "Usage growth",
          "new_contacts": "New team members", "nps_engagement": "Promoter with high engagement",
          PAYMENT_HEALTH: "Payment health"}


@dataclass(frozen=True)
class Assessment:
    opportunities: list[str]  # opportunity signals that fired (payment health excluded)
    strong: bool
    reason: str  # why strong or not, in words
    proposal: dict[str, Any] | None
    fingerprint: str  # 16 hex chars; the suggestion's idempotency key part
    title: str
    body: str
    evidence: dict[str, Any]


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def fingerprint(kind: str, signals: list[Signal], strong: bool) -> str:
    """Unchanged opportunity signals (by identity) and strength give the same fingerprint: no new suggestion."""
    ident = {s.name: s.identity for s in signals if s.name != PAYMENT_HEALTH}
    text = json.dumps({"kind": kind, "signals": ident, "strong": strong}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _upsell_lines(signals: dict[str, Signal], facts: dict[str, Any], t: Thresholds) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    seats = signals.get("seat_pressure")
    arr = Decimal(str(facts.get("arr") or 0))
    if seats is not None and arr > 0:
        limit = int(seats.evidence["seat_limit"])
        extra = max(1, math.ceil(limit * t.seat_increment))
        lines.append({"product_id": None, "description": f"{extra} additional seats", "quantity": extra,
                      "unit_price": str(_money(arr / limit))})
    cross = signals.get("cross_sell")
    if cross is not None:
        for rec in cross.evidence["products"]:
            if rec.get("unit_price") is not None:
                lines.append({"product_id": rec["product_id"], "description": rec["name"], "quantity": 1,
                              "unit_price": str(rec["unit_price"])})
    return lines


def _proposal(kind: str, signals: dict[str, Signal], facts: dict[str, Any], t: Thresholds) -> dict[str, Any] | None:
    account = facts["account"]
    if kind == UPSELL:
        lines = _upsell_lines(signals, facts, t)
    else:
        arr = Decimal(str(facts.get("arr") or 0))
        share = _money(arr * Decimal(str(t.deal_share)))
        lines = [{"product_id": None, "description": f"Expansion ({round(t.deal_share * 100)}% of ARR)",
                  "quantity": 1, "unit_price": str(share)}] if share > 0 else []
    amount = _money(sum((Decimal(ln["unit_price"]) * ln["quantity"] for ln in lines), Decimal(0)))
    if amount <= 0:
        return None
    pipeline = facts.get("pipeline") or [None, None]
    return {"kind": PROPOSAL_KIND, "name": f"Expansion: {account['name']}", "account_id": account["id"],
            "pipeline_id": pipeline[0], "stage_id": pipeline[1], "amount": str(amount),
            "currency": facts.get("currency") or account["currency"], "products": lines,
            "owner_id": account.get("account_manager_id") or account.get("csm_id")}


def assess(kind: str, facts: dict[str, Any], signals: list[Signal], t: Thresholds) -> Assessment:
    """Strength, proposal, fingerprint and text of one detector's signals on one account."""
    by_name = {s.name: s for s in signals}
    opportunities = [s.name for s in signals if s.name != PAYMENT_HEALTH]
    overdue = int(facts["invoices"]["overdue"])
    seats = by_name.get("seat_pressure")
    seats_strong = seats is not None and float(seats.evidence["ratio"]) >= t.strong_seat_ratio
    if not opportunities:
        strong, reason = False, "no opportunity signal"
    elif overdue:
        strong, reason = False, f"{overdue} overdue invoice(s): no expansion deal proposed until they are paid"
    elif len(opportunities) >= t.strong_min_signals:
        strong, reason = True, f"{len(opportunities)} opportunity signals"
    elif seats_strong:
        strong, reason = True, "seats at or over the limit"
    else:
        strong, reason = False, (f"{len(opportunities)} opportunity signal(s); {t.strong_min_signals} make a "
                                 f"proposal")
    proposal = _proposal(kind, by_name, facts, t) if strong else None
    if strong and proposal is None:
        strong, reason = False, reason + ", but no amount can be priced (no ARR or product prices)"
    name = facts["account"]["name"]
    title = (f"{'Upsell' if kind == UPSELL else 'Expansion'} opportunity at {name}: "
             + ", ".join(LABELS[s].lower() for s in opportunities))
    lines = [f"{LABELS[s.name]}: {s.summary}" for s in signals]
    if overdue:
        lines.append(f"Payments: {overdue} overdue invoice(s), {facts['invoices']['overdue_amount']} outstanding.")
    if proposal is not None:
        lines.append(f"Proposed expansion deal of {proposal['amount']} {proposal['currency']} awaiting your "
                     f"approval (accept this suggestion to create it).")
    evidence: dict[str, Any] = {"detector": kind, "signals": {s.name: s.evidence for s in signals},
                                "strong": strong, "reason": reason}
    if proposal is not None:
        evidence["proposal"] = proposal
    return Assessment(opportunities, strong, reason, proposal, fingerprint(kind, signals, strong), title[:255],
                      "\n".join(lines), evidence)
