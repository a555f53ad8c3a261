"""Win rates that know a deal's age: P(won within the horizon | open at a date, days since engaged).

Learned at a cutoff only from what was known then: snapshots of the pipeline every `step_days` before
`cutoff - horizon`, each open deal labelled by whether it was won within the horizon after that snapshot (all
such labels are settled by the cutoff). Rates per age bucket are smoothed towards the overall rate, so a thin
bucket does not swing the forecast. The plain alternative, `stage_rate`, weights every open deal by its
stage's historical win rate regardless of age or timing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

AGE_EDGES = (15, 30, 60, 90, 180)  # bucket upper bounds in days; the last bucket is open-ended


@dataclass(frozen=True)
class Opportunity:
    id: str
    amount: float
    engaged: date
    closed: date | None
    won: bool


def open_at(opps: Iterable[Opportunity], day: date) -> list[tuple[Opportunity, int]]:
    """Deals engaged by `day` and not closed by it, with their age in days."""
    return [(o, (day - o.engaged).days) for o in opps if o.engaged <= day and (o.closed is None or o.closed > day)]


def won_within(o: Opportunity, day: date, horizon: int) -> bool:
    return o.won and o.closed is not None and day < o.closed <= day + timedelta(days=horizon)


def bucket(age: int, edges: Sequence[int] = AGE_EDGES) -> int:
    return bisect_right(list(edges), age)


def stage_rate(opps: Iterable[Opportunity], cutoff: date) -> float:
    """The stage's plain win rate: won / closed among deals closed by the cutoff."""
    closed = [o for o in opps if o.closed is not None and o.closed <= cutoff]
    return sum(o.won for o in closed) / len(closed) if closed else 0.0


@dataclass
class AgeWinRates:
    horizon: int = 90
    step_days: int = 7
    smoothing: float = 20.0
    rates: dict[int, float] = field(default_factory=dict)
    overall: float = 0.0
    samples: dict[int, int] = field(default_factory=dict)

    def fit(self, opps: Sequence[Opportunity], cutoff: date) -> AgeWinRates:
        """Snapshots from the first engagement up to cutoff - horizon; labels settled by the cutoff."""
        if not opps:
            return self
        first = min(o.engaged for o in opps)
        last = cutoff - timedelta(days=self.horizon)
        wins: dict[int, int] = {}
        counts: dict[int, int] = {}
        day = first + timedelta(days=self.step_days)
        while day <= last:
            for o, age in open_at(opps, day):
                b = bucket(age)
                counts[b] = counts.get(b, 0) + 1
                wins[b] = wins.get(b, 0) + won_within(o, day, self.horizon)
            day += timedelta(days=self.step_days)
        total = sum(counts.values())
        self.overall = sum(wins.values()) / total if total else 0.0
        self.samples = counts
        self.rates = {b: (wins[b] + self.smoothing * self.overall) / (counts[b] + self.smoothing) for b in counts}
        return self

    def rate(self, age: int) -> float:
        return self.rates.get(bucket(age), self.overall)
