"""Grounding check of the coach's advice: it may cite only people, dates and amounts found in the deal's data.

- Dates: ISO (2026-03-10), "March 10[, 2026]", "10 March [2026]" and d/m/y forms; each must be one of the
  deal's dates (or, for a due date, today up to `horizon_days` ahead).
- Amounts: a number with a currency sign or code, a k/m suffix or thousands separators; each must equal one of
  the deal's amounts (a rounded form such as "$50k" counts: within 1% or at the precision written).
- People: a run of capitalised words holding a known name (Faker's English first names plus every first and
  last name of the CRM's contacts and users), or a word after Mr/Ms/Mrs/Dr, unless each of its words belongs to
  a person of this deal or to a name in the deal's data (account, deal, stage). Everyday words that are also
  names ("Will", "May", "Call", ...) are left out of the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

MONTHS = {m: i for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                      "september", "october", "november", "december"), start=1)}
MONTHS |= {m[:3]: i for m, i in list(MONTHS.items())} | {"sept": 9}
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|" \
         r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
MONTH_DAY = re.compile(rf"\b{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.I)
DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+(\d{{4}}))?\b", re.I)
SLASH_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b")
MONEY = re.compile(
    r"(?:(?P<sym>[$€£])\s?(?P<n1>\d[\d,]*(?:\.\d+)?)\s?(?P<s1>[kKmM]\b)?)"
    r"|(?:\b(?P<n2>\d[\d,]*(?:\.\d+)?)\s?(?P<s2>[kKmM]\b)?\s?(?P<code>USD|EUR|GBP|CHF|dollars?|euros?)\b)"
    r"|(?:\b(?P<n3>\d{1,3}(?:,\d{3})+(?:\.\d+)?)\b)"
    r"|(?:\b(?P<n4>\d+(?:\.\d+)?)(?P<s4>[kKmM])\b)")
TITLED = re.compile(r"\b(?:Mr|Ms|Mrs|Dr)\.?\s+([A-Z][a-z]+)")
NAME_RUN = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,3}\b")
# First names that are everyday words in advice text; treating them as people would flag ordinary sentences.
COMMON_WORDS = frozenset({
    "will", "may", "mark", "grant", "bill", "chase", "page", "june", "april", "august", "art", "max", "dean",
    "rich", "hope", "faith", "joy", "summer", "sunny", "rose", "iris", "ivy", "dawn", "eve", "norm", "sale",
    "sales", "deal", "stage", "close", "call", "next", "the", "this", "that", "ask", "book", "send", "set",
    "review", "confirm", "schedule", "follow", "meet", "email", "agree", "share", "offer", "christian",
    "king", "lane", "angel", "star", "sky", "river", "ocean", "major", "royal", "price", "bishop",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "march", "july",
    "october", "december", "proposal", "demo", "negotiation", "prospect", "won", "lost", "decision",
    "maker", "buyer", "team", "customer", "account", "quote", "contract", "legal", "procurement", "budget",
    "today", "tomorrow", "week", "month", "quarter", "year", "why", "due", "action", "we", "our", "you",
})


@lru_cache(maxsize=1)
def faker_first_names() -> frozenset[str]:
    """Faker's English first names (the faker package is a project dependency; loaded once, on first use)."""
    from faker.providers.person.en_US import Provider

    return frozenset(name.lower() for name in Provider.first_names)


@dataclass(frozen=True)
class GroundingFacts:
    """What the deal's data contains, built from trusted CRM fields (never from the model's text)."""

    today: date
    dates: frozenset[date]
    amounts: frozenset[Decimal]
    people: frozenset[str]  # lower-case name tokens of this deal's people
    names: frozenset[str]  # lower-case tokens of other names in the data (account, deal, stages, products)
    known_people: frozenset[str] = field(default_factory=frozenset)  # CRM-wide name tokens (lower-case)
    horizon_days: int = 30
    topics: frozenset[str] = frozenset()  # words naming the deal's problems (flags.TOPICS); empty: not checked

    @staticmethod
    def tokens(values: Iterable[str | None]) -> frozenset[str]:
        return frozenset(t.lower() for v in values if v for t in re.findall(r"[^\W\d_]+", v))


def _to_decimal(number: str, suffix: str | None) -> Decimal | None:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    if suffix:
        value *= Decimal(1000) if suffix.lower() == "k" else Decimal(1_000_000)
    return value


def cited_amounts(text: str) -> list[tuple[str, Decimal, bool]]:
    """(as written, value, rounded?) of every money-like number in the text."""
    found = []
    for m in MONEY.finditer(text):
        number = m.group("n1") or m.group("n2") or m.group("n3") or m.group("n4")
        suffix = m.group("s1") or m.group("s2") or m.group("s4")
        value = _to_decimal(number, suffix)
        if value is not None:
            found.append((m.group(0).strip(), value, bool(suffix)))
    return found


def _date(year: int | None, month: int, day: int, facts: GroundingFacts) -> list[date]:
    """Candidate dates (a date written without a year may mean any year of the deal's dates)."""
    years = [year] if year else sorted({d.year for d in facts.dates} | {facts.today.year})
    out = []
    for y in years:
        try:
            out.append(date(y, month, day))
        except ValueError:
            continue
    return out


def _month(word: str) -> int:
    word = word.lower()
    return MONTHS.get(word) or MONTHS[word[:3]]


def cited_dates(text: str, facts: GroundingFacts) -> list[tuple[str, list[date]]]:
    found: list[tuple[str, list[date]]] = []
    for m in ISO_DATE.finditer(text):
        found.append((m.group(0), _date(int(m.group(1)), int(m.group(2)), int(m.group(3)), facts)))
    for m in MONTH_DAY.finditer(text):
        found.append((m.group(0), _date(int(m.group(3)) if m.group(3) else None, _month(m.group(1)),
                                        int(m.group(2)), facts)))
    for m in DAY_MONTH.finditer(text):
        found.append((m.group(0), _date(int(m.group(3)) if m.group(3) else None, _month(m.group(2)),
                                        int(m.group(1)), facts)))
    for m in SLASH_DATE.finditer(text):
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        found.append((m.group(0), _date(y, b, a, facts) + _date(y, a, b, facts)))
    return found


def _amount_known(value: Decimal, rounded: bool, facts: GroundingFacts) -> bool:
    for known in facts.amounts:
        if known == value:
            return True
        if rounded and known and abs(known - value) / known <= Decimal("0.01"):
            return True
    return False


def cited_people(text: str, facts: GroundingFacts) -> list[str]:
    """Names (runs of capitalised words holding a known name) that belong to nobody of this deal."""
    vocabulary = faker_first_names() | facts.known_people
    allowed = facts.people | facts.names
    found: list[str] = [m.group(1) for m in TITLED.finditer(text) if m.group(1).lower() not in allowed]
    for m in NAME_RUN.finditer(text):
        words = [w for w in m.group(0).split() if w.lower() not in COMMON_WORDS]
        if any(w.lower() in vocabulary for w in words) and any(w.lower() not in allowed for w in words):
            found.append(" ".join(words))
    return list(dict.fromkeys(found))


def problems(text: str, facts: GroundingFacts, *, due: date | None = None) -> list[str]:
    """Why `text` is not grounded (empty: it cites only facts of the deal); `due` is the action's own due date."""
    issues: list[str] = []
    allowed_dates = set(facts.dates) | {facts.today} | ({due} if due else set())
    for written, candidates in cited_dates(text, facts):
        if not any(c in allowed_dates for c in candidates):
            issues.append(f"the date {written!r} is not in the deal's data")
    for written, value, rounded in cited_amounts(text):
        if not _amount_known(value, rounded, facts):
            issues.append(f"the amount {written!r} is not in the deal's data")
    for name in cited_people(text, facts):
        issues.append(f"{name!r} is not a person of this deal")
    return issues


def due_problem(due: date, facts: GroundingFacts) -> str | None:
    if due < facts.today:
        return f"due date {due.isoformat()} is before today ({facts.today.isoformat()})"
    if (due - facts.today).days > facts.horizon_days:
        return f"due date {due.isoformat()} is more than {facts.horizon_days} days ahead"
    return None
