"""The NPS Follow-up rules that must be right every time: what a response gets (by its database-computed
category), when the detractor task is due, which language the reply is written in, and which survey milestones
of a contract fall due on a day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from core.errors import InvalidInput
from core.llm.guards import detect_language

AGENT = "nps_followup"
SURVEY_AGENT = "nps_survey"
REPLY = "reply"  # purpose of the reply draft
TASK = "detractor_followup"  # purpose of the CSM's task
INVITE = "invite"  # purpose prefix of survey invitations
# Outputs are keyed by the response, not by the input hash: one reply and one task per response, whatever
# changed in the account since (a closed ticket must not produce a second reply).
OUTPUT_KEY = "r1"
CATEGORIES = ("detractor", "passive", "promoter")
# Languages the reply's fallback template is written in; a reply in any other language could not fall back.
REPLY_LANGUAGES = ("en", "es", "de", "fr", "it", "pt", "nl")
DETECT_CONFIDENCE = 0.9
_MILESTONE = re.compile(r"^(start|end|every)([+-])(\d{1,4})$")
NO_SURVEYS_TAG = "no-surveys"  # an account tagged so gets no survey invitations at all


@dataclass(frozen=True)
class Route:
    """What one response gets: a reply draft always (when it can be mailed), a CSM task for detractors."""

    category: str
    task: bool
    ask: str  # what the reply asks of the customer: apology_call | question | review_referral


def route(category: str) -> Route:
    if category not in CATEGORIES:
        raise InvalidInput("category", f"expected one of {', '.join(CATEGORIES)}, got {category!r}")
    ask = {"detractor": "apology_call", "passive": "question", "promoter": "review_referral"}[category]
    return Route(category, category == "detractor", ask)


def next_business_day(at: datetime, days: int = 1) -> datetime:
    """`days` working days after `at` (same time of day), Saturdays and Sundays skipped."""
    if days < 0:
        raise InvalidInput("days", f"must not be negative, got {days}")
    due = at
    left = days
    while left > 0:
        due += timedelta(days=1)
        if due.weekday() < 5:
            left -= 1
    while due.weekday() >= 5:  # days=0 on a weekend: the next Monday
        due += timedelta(days=1)
    return due


def reply_language(contact_language: str | None, comment: str | None) -> tuple[str, str]:
    """(language, how it was chosen): the contact's language field, else the comment's, else English."""
    if contact_language:
        code = contact_language.strip().lower().replace("_", "-").split("-")[0]
        if code in REPLY_LANGUAGES:
            return code, "contact"
    found = detect_language(comment or "")
    if found and found[0] in REPLY_LANGUAGES and found[1] >= DETECT_CONFIDENCE:
        return found[0], "detected"
    return "en", "default"


@dataclass(frozen=True)
class Milestone:
    """A survey moment: days after the contract starts, days before it ends, or every N days in its term
    (`every+30`: the monthly satisfaction survey; each occurrence is its own milestone, `monthly_3` ...)."""

    name: str
    anchor: str  # start | end | every
    offset_days: int  # signed, added to the anchor date; for `every` the period

    def due_on(self, start: date, end: date) -> date:
        return (start if self.anchor == "start" else end) + timedelta(days=self.offset_days)


def parse_milestones(config: dict[str, str]) -> list[Milestone]:
    """`{"30_day": "start+30", "renewal": "end-60"}` -> milestones; a bad entry names its key."""
    found = []
    for name, rule in config.items():
        field = f"nps_survey_milestones[{name}]"
        if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
            raise InvalidInput(field, "a milestone name is 1-32 lowercase letters, digits or underscores")
        match = _MILESTONE.match(str(rule).strip().replace(" ", ""))
        if match is None:
            raise InvalidInput(field, f"{rule!r} is not 'start+DAYS', 'end-DAYS' or 'every+DAYS' (e.g. 'start+30', "
                                      "'end-60', 'every+30')")
        anchor, sign, days = match.groups()
        if anchor == "every" and (sign != "+" or int(days) < 7 or len(name) > 24):
            raise InvalidInput(field, f"{rule!r}: a recurring survey is 'every+DAYS' with at least 7 days and a "
                                      "name of at most 24 characters (its occurrences are numbered)")
        found.append(Milestone(name, anchor, int(days) * (1 if sign == "+" else -1)))
    return found


def due_milestones(milestones: list[Milestone], start: date, end: date, today: date,
                   catch_up_days: int) -> list[Milestone]:
    """Milestones of a contract due today or missed by at most `catch_up_days`, within the contract's term."""
    due = []
    for m in milestones:
        if m.anchor == "every":  # the latest occurrence on or before today; its number makes it a milestone
            k = (today - start).days // m.offset_days
            if k < 1:
                continue
            m = Milestone(f"{m.name}_{k}", "start", k * m.offset_days)
        on = m.due_on(start, end)
        if start <= on <= end and on <= today <= on + timedelta(days=catch_up_days):
            due.append(m)
    return due


def survey_name(milestone: str, contract_id: int) -> str:
    """The survey's unique name: one survey per contract and milestone, however often the schedule runs."""
    return f"{milestone} contract {contract_id}"


def can_email(contact: dict[str, Any]) -> tuple[bool, str]:
    """Whether the contact may get mail from us: an address, consent, not unsubscribed."""
    if not contact.get("email"):
        return False, "no email address"
    if contact.get("unsubscribed"):
        return False, "unsubscribed"
    if not contact.get("email_consent", True):
        return False, "no email consent"
    return True, "ok"
