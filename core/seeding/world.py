"""Planning state shared by the seed builders: one seeded RNG, seeded Fakers, the clock, and planned rows."""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from faker import Faker

from core.seeding import vocab
from core.seeding.vocab import Country

T = TypeVar("T")
WINDOW_DAYS = 548  # 18 months of history
OPEN_LEAD_DAYS = 45  # leads younger than this are still being worked
CENT = Decimal("0.01")


class Rec(dict[str, Any]):
    """A planned row: its column values, and its database id once inserted so later rows can point at it."""

    __slots__ = ("id",)

    def __init__(self, **cols: Any) -> None:
        super().__init__(cols)
        self.id: int | None = None


@dataclass
class World:
    """Everything a builder needs to plan rows reproducibly: same seed and `now` give the same plan."""

    seed: int
    now: datetime
    rng: random.Random = field(init=False)
    start: datetime = field(init=False)
    rows: dict[str, list[Rec]] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)
    _fakers: dict[str, Faker] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.start = self.now - timedelta(days=WINDOW_DAYS)

    @property
    def today(self) -> date:
        return self.now.date()

    def add(self, table: str, rec: Rec) -> Rec:
        self.rows.setdefault(table, []).append(rec)
        return rec

    def table(self, name: str) -> list[Rec]:
        return self.rows.get(name, [])

    # --- randomness -------------------------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: Sequence[T]) -> T:
        return items[self.rng.randrange(len(items))]

    def weighted(self, items: Sequence[T], weights: Sequence[float]) -> T:
        return self.rng.choices(items, weights=weights, k=1)[0]

    def poisson(self, lam: float) -> int:
        """Knuth's method for small rates, a rounded normal for large ones (fast and reproducible)."""
        if lam <= 0:
            return 0
        if lam > 30:
            return max(0, round(self.rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def log_uniform(self, low: float, high: float) -> float:
        return math.exp(self.rng.uniform(math.log(low), math.log(high)))

    # --- time -------------------------------------------------------------------------------------------

    def between(self, a: datetime, b: datetime) -> datetime:
        """A moment in [a, b], moved to working hours (08:00-18:00 UTC) when that stays inside the range."""
        if b <= a:
            return a
        moment = a + timedelta(seconds=self.rng.uniform(0, (b - a).total_seconds()))
        working = datetime.combine(
            moment.date(), time(8 + self.rng.randrange(10), self.rng.randrange(60)), tzinfo=UTC
        )
        if working.weekday() >= 5:  # Saturday to Friday, Sunday to Monday
            working += timedelta(days=-1 if working.weekday() == 5 else 1)
        return working if a <= working <= b else moment

    def days(self, low: float, high: float) -> timedelta:
        return timedelta(days=self.rng.uniform(low, high))

    # --- people and companies ---------------------------------------------------------------------------

    def faker(self, locale: str) -> Faker:
        fake = self._fakers.get(locale)
        if fake is None:
            fake = Faker(locale)
            fake.seed_instance(f"{self.seed}:{locale}")  # per locale, or en_US and en_CA repeat each other
            self._fakers[locale] = fake
        return fake

    def country(self) -> Country:
        return self.weighted(vocab.COUNTRIES, [c.weight for c in vocab.COUNTRIES])

    def person(self, country: Country) -> tuple[str, str]:
        if country.code == "VN":
            return f"{self.pick(vocab.VN_MIDDLE)} {self.pick(vocab.VN_GIVEN)}", self.pick(vocab.VN_SURNAMES)
        if country.code == "JP":
            return self.pick(vocab.JP_GIVEN), self.pick(vocab.JP_SURNAMES)
        fake = self.faker(country.locale)
        return fake.first_name(), fake.last_name()

    def company(self, country: Country, industry: str) -> tuple[str, str]:
        """(stem, full name): subsidiaries reuse the stem, e.g. "Kessler" -> "Kessler Logistics"."""
        sector = self.pick(vocab.SECTOR_WORDS.get(industry, ("Group",)))
        if country.code == "VN":
            stem = self.pick(vocab.VN_COMPANY_STEMS)
            return stem, f"{stem} {sector} {self.pick(vocab.VN_COMPANY_FORMS)}"
        if country.code == "JP":
            stem = self.pick(vocab.JP_SURNAMES)
            return stem, f"{stem} {sector} K.K."
        fake = self.faker(country.locale)
        stem = fake.last_name()
        form = self.pick((fake.company_suffix(), sector, f"{sector} {fake.company_suffix()}"))
        return stem, f"{stem} {form}"

    def phone(self, country: Country) -> str:
        if country.code == "VN":
            prefix = self.pick(("90", "91", "93", "96", "98", "28", "24"))
            return f"+84 {prefix} {self.rng.randrange(1000000, 9999999)}"
        if country.code == "JP":
            area, block = self.rng.randrange(10, 99), self.rng.randrange(1000, 9999)
            return f"+81 {area} {block} {self.rng.randrange(1000, 9999)}"
        return str(self.faker(country.locale).phone_number())[:40]

    def city(self, country: Country) -> str:
        if country.code == "VN":
            return self.pick(vocab.VN_CITIES)
        if country.code == "JP":
            return self.pick(vocab.JP_CITIES)
        return str(self.faker(country.locale).city())


def ascii_slug(text: str, sep: str = "-") -> str:
    """ASCII-only slug for e-mail local parts and domains (Vietnamese đ has no decomposition, so map it)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", sep, folded.lower()).strip(sep)


def money(usd: Decimal | float, currency: str) -> Decimal:
    """Convert a USD figure at the fixed rates; VND has no minor unit in practice, so whole dong."""
    value = Decimal(str(usd)) * vocab.FX[currency]
    return value.quantize(Decimal(1) if currency == "VND" else CENT, ROUND_HALF_UP)


def to_usd(amount: Decimal, currency: str) -> float:
    return float(amount / vocab.FX[currency])


def at_day(d: date, hour: int = 9) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=UTC)


def add_months(d: date, months: int) -> date:
    month = d.month - 1 + months
    year = d.year + month // 12
    month = month % 12 + 1
    days_in = [
        31,
        29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][month - 1]
    return date(year, month, min(d.day, days_in))
