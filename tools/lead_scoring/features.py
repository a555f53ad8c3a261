"""Turn lead records into features: lead fields, custom fields and per-kind activity counts and recency.

The feature space is learned from training records (which fields exist, which categories are frequent) and
stored with the model, so scoring a lead later encodes it exactly as training did.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

ACTIVITY_KINDS = ("call", "email", "meeting", "note")
TOP_CATEGORIES = 40
MIN_CATEGORY_COUNT = 5
OTHER = "(other)"
# Identity fields: unique per lead, so they carry no signal; only whether they are present.
PRESENCE_ONLY = ("email", "phone", "company_name")
SKIPPED = ("title",)
CATEGORICAL_IDS = ("campaign_id",)  # numbers that name something: categories, not quantities

Value = float | str | None


def _value(raw: Any) -> Value:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float | Decimal):
        number = float(raw)
        return number if math.isfinite(number) else None
    return str(raw).strip() or None


def raw_features(record: dict[str, Any], now: datetime, exclude: frozenset[str] = frozenset()) -> dict[str, Value]:
    """Named feature values of one lead record (from core.repositories.lead_scoring.lead_records)."""
    features: dict[str, Value] = {}
    for name, raw in record["fields"].items():
        if name in SKIPPED or name in exclude:
            continue
        if name in PRESENCE_ONLY:
            features[f"has_{name}"] = 1.0 if raw else 0.0
        elif name in CATEGORICAL_IDS:
            features[name] = None if raw is None else str(raw)
        else:
            features[name] = _value(raw)
    for key, raw in record["custom"].items():
        if key not in exclude and not isinstance(raw, dict | list):
            features[f"cf.{key}"] = _value(raw)
    for kind in ACTIVITY_KINDS:
        activity = record["activities"].get(kind)
        features[f"act.{kind}.count"] = float(activity["count"]) if activity else 0.0
        last = activity["last"] if activity else None
        features[f"act.{kind}.days_since"] = max(0.0, (now - last).total_seconds() / 86400) if last else None
    return features


@dataclass(frozen=True)
class Column:
    name: str
    categories: tuple[str, ...] | None  # None: numeric


@dataclass(frozen=True)
class FeatureSpace:
    columns: tuple[Column, ...]

    @classmethod
    def learn(cls, rows: list[dict[str, Value]]) -> FeatureSpace:
        """Numeric when every present value is a number; else categorical over its frequent values."""
        names = sorted({name for row in rows for name in row})
        columns: list[Column] = []
        for name in names:
            values = [row.get(name) for row in rows if row.get(name) is not None]
            if not values:
                continue
            if all(isinstance(v, float) for v in values):
                columns.append(Column(name, None))
                continue
            counts = Counter(str(v) for v in values)
            frequent = [v for v, n in counts.most_common(TOP_CATEGORIES) if n >= MIN_CATEGORY_COUNT]
            if len(counts) > 1:
                columns.append(Column(name, tuple(frequent)))
        return cls(tuple(columns))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def categorical(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.categories is not None]

    def encode(self, rows: list[dict[str, Value]]) -> np.ndarray:
        """A float matrix: numbers as they are, categories as codes (rare ones share one code), missing as NaN."""
        matrix = np.full((len(rows), len(self.columns)), np.nan)
        for j, column in enumerate(self.columns):
            codes = {v: float(i) for i, v in enumerate(column.categories or ())}
            other = float(len(codes))
            for i, row in enumerate(rows):
                value = row.get(column.name)
                if value is None:
                    continue
                if column.categories is None:
                    matrix[i, j] = float(value) if isinstance(value, float) else np.nan
                else:
                    matrix[i, j] = codes.get(str(value), other)
        return matrix

    def to_json(self) -> list[dict[str, Any]]:
        return [{"name": c.name, "categories": list(c.categories) if c.categories is not None else None}
                for c in self.columns]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> FeatureSpace:
        return cls(tuple(Column(d["name"], tuple(d["categories"]) if d["categories"] is not None else None)
                         for d in data))


def label(name: str) -> str:
    """A feature name in words: `cf.total_time_spent_on_website` -> 'Total time spent on website'."""
    if name.startswith("act."):
        _, kind, what = name.split(".")
        return f"{kind}s logged" if what == "count" else f"days since the last {kind}"
    if name.startswith("has_"):
        return name[4:].replace("_", " ")
    base = name.removeprefix("cf.").replace("_", " ").strip()
    return base[:1].upper() + base[1:]


def describe(name: str, value: Value, raises: bool) -> str:
    """One factor as a rep reads it: what the lead's value is and which way it moves the score."""
    direction = "raises" if raises else "lowers"
    if name.startswith("act."):
        _, kind, what = name.split(".")
        if what == "count":
            count = int(value or 0)
            text = f"no {kind} logged yet" if count == 0 else f"{count} {kind}{'s' if count != 1 else ''} logged"
        else:
            text = f"no {kind} yet" if value is None else f"last {kind} {int(float(value))} days ago"
    elif name.startswith("has_"):
        text = f"{'has' if value else 'no'} {name[4:].replace('_', ' ')}"
    elif value is None:
        text = f"{label(name)} not filled in"
    elif isinstance(value, float):
        shown = f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
        text = f"{label(name)}: {shown}"
    else:
        text = f"{label(name)}: {value}"
    return f"{text} ({direction} the score)"
