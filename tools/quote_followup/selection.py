"""Which sent quotes need a nudge today: pure rules over a quote's dates, so the same day gives the same answer.

A quote sent N days ago (N per pipeline, else the default) without an answer gets a nudge; then one more every N
days. Each nudge belongs to a window (`w1`, `w2`, ... or `final` when the validity date is near, which also
escalates to the rep with an urgent task); a window's key is part of the nudge's idempotency key, so one window
never gets two nudges. Accepted, rejected, answered or expired quotes get nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from core.config import Settings
from core.models.enums import QuoteStatus
from core.services.outputs import Origin

AGENT = "quote_followup"
SUBJECT = "quote"
NUDGE = "nudge"
TASK = "rep-task"


@dataclass(frozen=True)
class Decision:
    action: str  # "nudge" or "none"
    reason: str
    window: str | None = None  # "w1", "w2", ... or "final"
    escalate: bool = False
    age_days: int | None = None
    days_left: int | None = None


def after_days(settings: Settings, pipeline: str | None) -> int:
    """The nudge delay of the quote's pipeline, else the default."""
    by_pipeline = settings.quote_followup_after_days_by_pipeline
    return int(by_pipeline[pipeline]) if pipeline is not None and pipeline in by_pipeline else (
        settings.quote_followup_after_days)


def decide(quote: dict[str, Any], today: date, *, after: int, escalate_within: int) -> Decision:
    """The rule for one quote: its status, answer, validity and age decide the action and its window."""
    status = QuoteStatus(quote["status"])
    if status is not QuoteStatus.sent:
        return Decision("none", f"quote is {status.value}")
    if quote.get("responded_at") is not None:
        return Decision("none", "the customer answered")
    sent_at: datetime | None = quote.get("sent_at")
    if sent_at is None:
        return Decision("none", "no send date")
    age = (today - sent_at.date()).days
    valid_until: date | None = quote.get("valid_until")
    days_left = (valid_until - today).days if valid_until is not None else None
    if days_left is not None and days_left < 0:
        return Decision("none", "quote expired", age_days=age, days_left=days_left)
    if days_left is not None and days_left <= escalate_within and age >= 1:
        return Decision("nudge", f"valid {days_left} more day(s) and unanswered for {age} day(s)", "final", True,
                        age, days_left)
    if age >= after:
        window = f"w{(age - after) // after + 1}"
        return Decision("nudge", f"unanswered for {age} day(s) (nudge after {after})", window, False, age, days_left)
    return Decision("none", f"sent {age} day(s) ago; nudge after {after}", age_days=age, days_left=days_left)


def output_key(quote_id: int, purpose: str, window: str) -> str:
    """The idempotency key a nudge (or its task) of this window gets: the same as the agent writes."""
    return Origin(0, AGENT, SUBJECT, quote_id, window).key(purpose)
