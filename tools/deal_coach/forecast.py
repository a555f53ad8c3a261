"""Weighted pipeline: open deals' amounts times their win probability, per rep or team and per close period.

Deals without an expected close date fall in the period "no date"; currencies are never added together (a
line per currency). The win probability is the stage's, unless the caller passes its own per deal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from core.errors import InvalidInput

By = Literal["rep", "team"]
Period = Literal["month", "quarter"]
NO_DATE = "no date"
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class ForecastLine:
    group: str
    period: str
    currency: str
    deals: int
    amount: Decimal
    weighted: Decimal


def period_of(day: date | None, period: str) -> str:
    """"2026-03" (month) or "2026-Q1" (quarter) of a close date."""
    if day is None:
        return NO_DATE
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    raise InvalidInput("period", f"must be month or quarter, got {period!r}")


def forecast(rows: Iterable[Mapping[str, Any]], *, by: str = "rep", period: str = "month",
             probabilities: Mapping[int, Decimal] | None = None) -> list[ForecastLine]:
    """Lines sorted by period then group; rows need id, amount, currency, expected_close_date, owner_name, team,
    win_probability (or a probability per deal id in `probabilities`)."""
    if by not in ("rep", "team"):
        raise InvalidInput("by", f"must be rep or team, got {by!r}")
    totals: dict[tuple[str, str, str], list[Any]] = {}
    for row in rows:
        group = str(row["owner_name"] if by == "rep" else row["team"])
        key = (period_of(row["expected_close_date"], period), group, str(row["currency"]))
        p = (probabilities or {}).get(int(row["id"]), Decimal(str(row["win_probability"])))
        amount = Decimal(str(row["amount"]))
        line = totals.setdefault(key, [0, Decimal(0), Decimal(0)])
        line[0] += 1
        line[1] += amount
        line[2] += amount * p
    ordered = sorted(totals.items(), key=lambda kv: (kv[0][0] == NO_DATE, kv[0]))
    return [ForecastLine(group, per, cur, n, amount.quantize(CENTS), weighted.quantize(CENTS))
            for (per, group, cur), (n, amount, weighted) in ordered]


def totals_by_period(lines: Iterable[ForecastLine]) -> dict[tuple[str, str], Decimal]:
    """(period, currency) -> weighted total over all groups: the team-wide number of each period."""
    out: dict[tuple[str, str], Decimal] = {}
    for line in lines:
        out[(line.period, line.currency)] = out.get((line.period, line.currency), Decimal(0)) + line.weighted
    return out
