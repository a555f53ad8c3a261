"""How long a stage normally lasts: learned from won deals' stage history, else the stage's `rot_days`.

A deal is overdue in a stage when it has stayed longer than deals that went on to win usually stayed there
(the `quantile` of their days, default p75) — but only when at least `min_samples` won deals passed through
the stage; with fewer, the configured `rot_days` is the norm, and with neither the stage has no norm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class StageNorm:
    days: float | None
    source: str  # "won_deals" | "rot_days" | "none"
    samples: int

    def describe(self) -> str:
        if self.days is None:
            return "no norm (too few won deals and no rot_days)"
        if self.source == "won_deals":
            return f"{self.days:.0f} days (p75 of {self.samples} won deals)"
        return f"{self.days:.0f} days (the stage's rot_days; {self.samples} won deals are too few to learn from)"


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default), without numpy for a handful of numbers."""
    if not values:
        raise ValueError("quantile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def learn_norms(stays: Iterable[tuple[int, float]], rot_days: Mapping[int, int | None], *, q: float = 0.75,
                min_samples: int = 5) -> dict[int, StageNorm]:
    """Per stage id: the norm from won deals' stays (stage id, days), else rot_days, else none."""
    by_stage: dict[int, list[float]] = {}
    for stage_id, days in stays:
        by_stage.setdefault(stage_id, []).append(max(days, 0.0))
    norms: dict[int, StageNorm] = {}
    for stage_id in set(rot_days) | set(by_stage):
        values = by_stage.get(stage_id, [])
        if len(values) >= min_samples:
            norms[stage_id] = StageNorm(round(quantile(values, q), 1), "won_deals", len(values))
        elif rot_days.get(stage_id):
            norms[stage_id] = StageNorm(float(rot_days[stage_id] or 0), "rot_days", len(values))
        else:
            norms[stage_id] = StageNorm(None, "none", len(values))
    return norms
