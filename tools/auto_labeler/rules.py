"""Rule labels: buying role from a job title, engagement level from activity recency and frequency."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidInput
from core.models.enums import BuyingRole

_DECIDERS = re.compile(r"\b(ceo|cfo|cto|cio|coo|cmo|cro|ciso|chief|founder|co-founder|owner|president|vp|svp|evp|"
                       r"vice president|head of|partner|general manager|managing director|gm)\b", re.IGNORECASE)
_INFLUENCERS = re.compile(r"\b(director|manager|lead|principal|senior|sr|architect|consultant|advisor|"
                          r"controller|procurement|buyer|purchasing)\b", re.IGNORECASE)

ENGAGEMENT_LEVELS = ("high", "medium", "low", "none")


@dataclass(frozen=True)
class Label:
    """A proposed label: its value, how sure the labeler is (0-1), and what produced it."""

    value: str
    confidence: float
    source: str


def buying_role(title: str | None) -> Label | None:
    """Executives decide, managers and specialists in buying influence, everyone else uses; no title -> none."""
    text = (title or "").strip()
    if not text:
        return None
    if _DECIDERS.search(text):
        return Label(BuyingRole.decision_maker.value, 0.9, "rules")
    if _INFLUENCERS.search(text):
        return Label(BuyingRole.influencer.value, 0.75, "rules")
    return Label(BuyingRole.user.value, 0.6, "rules")


def engagement_level(days_since_last: int | None, count_90d: int) -> Label:
    """high: touched in the last 2 weeks and 5+ times in 90 days; medium: last 45 days and 2+; low: any in 180."""
    if count_90d < 0 or (days_since_last is not None and days_since_last < 0):
        raise InvalidInput("activities", "counts and ages of activities cannot be negative")
    if days_since_last is None:
        return Label("none", 1.0, "rules")
    if days_since_last <= 14 and count_90d >= 5:
        return Label("high", 1.0, "rules")
    if days_since_last <= 45 and count_90d >= 2:
        return Label("medium", 1.0, "rules")
    if days_since_last <= 180:
        return Label("low", 1.0, "rules")
    return Label("none", 1.0, "rules")
