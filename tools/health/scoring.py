"""The health score: an explainable weighted sum of signal sub-scores, its band, its diff, and parent roll-ups.

score = 100 * sum(w_i * s_i) / sum(w_i) over the signals that have data, so every point of the score can be
traced to one signal ("finance.days_overdue cost 12 points"). Weights come from settings (per category, split
evenly over its signals, or per signal) or from a learned version (tools.health.learning).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.config import Settings
from core.errors import InvalidInput
from tools.health.signals import CATEGORIES, RATE_SIGNALS, SIGNAL_NAMES, SIGNALS, Facts, Rates, read_all

BANDS = (("Healthy", 75), ("At Risk", 40), ("Critical", 0))
BAND_RANK = {name: rank for rank, (name, _) in enumerate(BANDS)}  # 0 best


def band_of(score: float) -> str:
    """Healthy 75-100, At Risk 40-74, Critical 0-39 (on the rounded score)."""
    value = round(score)
    for name, floor in BANDS:
        if value >= floor:
            return name
    return BANDS[-1][0]


def worse(new_band: str, old_band: str | None) -> bool:
    return old_band is not None and BAND_RANK[new_band] > BAND_RANK[old_band]


Curve = tuple[tuple[float, ...], tuple[float, ...]]  # (edges, sub-scores): len(sub-scores) == len(edges) + 1


@dataclass(frozen=True)
class Weights:
    """Non-negative weight per signal and where they came from ("settings" or "learned v3").

    `curves` (learned versions only) reshape a signal's sub-score into the churn risk history showed for it: a
    non-decreasing step function of the signal's own sub-score (at or above edge k: sub-score k + 1), so a
    customer of 2 months and one of 20 get the points their churn rates earned instead of a fixed formula's.
    The score stays a weighted sum of one number per signal; signals without a curve use their sub-score as is.
    """

    by_signal: dict[str, float]
    source: str = "settings"
    curves: dict[str, Curve] = field(default_factory=dict)
    rates: Rates = field(default_factory=dict)  # learned retention per product / payment method (rate signals)

    def shaped(self, name: str, sub_score: float) -> float:
        """The sub-score the weighted sum uses: through the signal's learned curve when it has one."""
        curve = self.curves.get(name)
        if curve is None:
            return sub_score
        edges, values = curve
        return values[bisect_right(edges, sub_score)]

    def category(self, name: str) -> float:
        return sum(w for s, w in self.by_signal.items() if s.startswith(name + "."))


def curve_words(curve: Curve | None) -> str:
    """A learned curve as the admin reads it: "0 | >=0.25: 0.4 | >=0.615: 1" (no curve: "-", the formula as is)."""
    if curve is None:
        return "-"
    edges, levels = curve
    return " | ".join([f"{levels[0]:.2g}"] + [f">={e:.3g}: {v:.2g}" for e, v in zip(edges, levels[1:], strict=True)])


def weights_from(config: Mapping[str, float], source: str = "settings") -> Weights:
    """Category entries spread evenly over their signals; signal entries override. Unknown names are refused."""
    by_signal = dict.fromkeys(SIGNAL_NAMES, 0.0)
    for key, value in config.items():
        if key not in CATEGORIES and key not in by_signal:
            raise InvalidInput("health_weights", f"unknown category or signal {key!r}; categories: "
                                                 f"{', '.join(CATEGORIES)}; signals: {', '.join(SIGNAL_NAMES)}")
        if not isinstance(value, int | float) or value < 0:
            raise InvalidInput("health_weights", f"{key} must be a non-negative number, got {value!r}")
    for key, value in config.items():
        if key in CATEGORIES:
            members = [s for s in SIGNAL_NAMES if s.startswith(key + ".") and s not in RATE_SIGNALS]
            for s in members:
                by_signal[s] = float(value) / len(members)
    for key, value in config.items():
        if key not in CATEGORIES:
            by_signal[key] = float(value)
    if sum(by_signal.values()) <= 0:
        raise InvalidInput("health_weights", "at least one weight must be positive")
    return Weights(by_signal, source)


def settings_weights(settings: Settings) -> Weights:
    return weights_from(settings.health_weights)


@dataclass
class Health:
    """One account's score (None: no signal had data), its band and the factors that explain it."""

    score: int | None
    band: str | None
    signals: dict[str, dict[str, Any]] = field(default_factory=dict)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    weights_source: str = "settings"

    def drivers(self, limit: int = 3) -> list[str]:
        """The signals costing the most points, in words: what to look at first."""
        return drivers(self.signals, limit=limit)

    def factors(self) -> dict[str, Any]:
        return {"weights_source": self.weights_source, "signals": self.signals, "categories": self.categories,
                "missing": self.missing, "drivers": self.drivers()}


def drivers(signals: Mapping[str, Mapping[str, Any]], *, skip: Sequence[str] = (), limit: int = 3) -> list[str]:
    """The signals costing the most points (at least one), in words; `skip` leaves out those already named."""
    worst = sorted((s for n, s in signals.items() if float(s["lost"]) >= 1 and n not in skip),
                   key=lambda s: -float(s["lost"]))
    return [f"{s['text']} (-{float(s['lost']):.0f})" for s in worst[:limit]]


def raw_score(sub_scores: Mapping[str, float | None], weights: Weights) -> float | None:
    """The weighted mean of the available sub-scores, 0..100; what the eval ranks and the product rounds."""
    used = [(weights.by_signal[n], weights.shaped(n, s)) for n, s in sub_scores.items()
            if s is not None and weights.by_signal[n] > 0]
    total = sum(w for w, _ in used)
    if total <= 0:
        return None
    return 100 * sum(w * s for w, s in used) / total


def score(facts: Facts, weights: Weights, ar_scale: float) -> Health:
    """Score one account's facts: per signal its value, sub-score, weight share, points earned and lost."""
    readings = read_all(facts, ar_scale, weights.rates)
    raw = raw_score({n: r.sub_score for n, r in readings.items()}, weights)
    missing = [n for n, r in readings.items() if r.sub_score is None and weights.by_signal[n] > 0]
    if raw is None:
        return Health(None, None, missing=missing, weights_source=weights.source)
    total = sum(weights.by_signal[n] for n, r in readings.items() if r.sub_score is not None)
    signals: dict[str, dict[str, Any]] = {}
    for sig in SIGNALS:
        r, w = readings[sig.name], weights.by_signal[sig.name]
        if r.sub_score is None or w <= 0:
            continue
        share, sub = w / total, weights.shaped(sig.name, r.sub_score)
        signals[sig.name] = {"label": sig.label, "value": r.value, "text": r.text, "short": r.short or r.text,
                             "sub_score": round(sub, 4), "weight": round(share, 4),
                             "points": round(100 * share * sub, 2), "lost": round(100 * share * (1 - sub), 2)}
        if sig.name in weights.curves:
            signals[sig.name]["formula_sub_score"] = round(r.sub_score, 4)
    categories = {}
    for cat in CATEGORIES:
        members = [s for n, s in signals.items() if n.startswith(cat + ".")]
        if members:
            weight = sum(m["weight"] for m in members)
            points = sum(m["points"] for m in members)
            categories[cat] = {"weight": round(weight, 4), "points": round(points, 2),
                               "sub_score": round(points / (100 * weight), 4) if weight else None}
    value = round(raw)
    return Health(value, band_of(value), signals, categories, missing, weights.source)


def since_words(now: datetime, before: datetime) -> str:
    days = (now - before).days
    if days <= 1:
        return "since yesterday" if days == 1 else "since the last score today"
    if 6 <= days <= 8:
        return "since last week"
    return f"since {days} days ago"


def diff(current_score: int | None, current_signals: Mapping[str, Any], previous: Mapping[str, Any] | None,
         previous_score: float | None, now: datetime, previous_at: datetime | None) -> dict[str, Any] | None:
    """The change against the previous stored score, with the signals that moved it most, in words.

    e.g. "−18 since last week: 3 open tickets (was 0), invoice 45 days overdue (was none)". None when there is
    nothing to compare with.
    """
    if current_score is None or previous_score is None or previous is None or previous_at is None:
        return None
    delta = current_score - round(previous_score)
    before = previous.get("signals", {})
    moves = []
    for name, sig in current_signals.items():
        old = before.get(name)
        change = float(sig["points"]) - (float(old["points"]) if old else 0.0)
        if abs(change) >= 0.5 and (old is None or old.get("text") != sig["text"]):
            was = f" (was {old.get('short') or old['text']})" if old else " (new signal)"
            moves.append((change, name, f"{sig['text']}{was}"))
    for name, old in before.items():
        if name not in current_signals and abs(float(old["points"])) >= 0.5:
            moves.append((-float(old["points"]), name,
                          f"no data for {str(old['label']).lower()} (was {old.get('short') or old['text']})"))
    # The reasons point the same way as the change: a drop is explained by what fell, a rise by what rose.
    moves.sort(key=lambda m: m[0] if delta < 0 else -m[0])
    chosen = [m for m in moves if (m[0] < 0) == (delta < 0)][:3] if delta else []
    reasons = [text for _, _, text in chosen]
    if delta == 0:
        summary = f"unchanged {since_words(now, previous_at)}"
    else:
        summary = f"{'−' if delta < 0 else '+'}{abs(delta)} {since_words(now, previous_at)}"
    if reasons:
        summary += ": " + ", ".join(reasons)
    return {"delta": delta, "previous_score": round(previous_score), "previous_band": previous.get("band"),
            "previous_at": previous_at.isoformat(), "reasons": reasons,
            "reason_signals": [name for _, name, _ in chosen], "summary": summary}


@dataclass(frozen=True)
class Child:
    account_id: int
    name: str
    score: int | None
    arr: float


def rollup(own: Health, own_arr: float, children: list[Child]) -> tuple[int | None, dict[str, Any]]:
    """A parent's health: its own score and each child's (subtree) score, weighted by ARR.

    Without ARR anywhere every scored member counts the same. The children driving the score are those
    costing the most ARR-weighted points below 100.
    """
    members = [Child(0, "own", own.score, own_arr)] if own.score is not None else []
    members += [c for c in children if c.score is not None]
    if not members:
        return None, {"own": None, "children": [], "drivers": []}
    arr_total = sum(max(m.arr, 0.0) for m in members)
    weights = [(max(m.arr, 0.0) / arr_total) if arr_total > 0 else 1 / len(members) for m in members]
    value = round(sum(w * (m.score or 0) for w, m in zip(weights, members, strict=True)))
    rows: list[dict[str, Any]] = []
    for w, m in zip(weights, members, strict=True):
        points = m.score or 0
        rows.append({"account_id": m.account_id or None, "name": m.name, "score": points, "band": band_of(points),
                     "arr": m.arr, "arr_share": round(w, 4), "points_lost": round(w * (100 - points), 2)})
    kids = [r for r in rows if r["account_id"] is not None]
    drivers = sorted((r for r in kids if int(r["score"]) < value or r["band"] != "Healthy"),
                     key=lambda r: -float(r["points_lost"]))[:3]
    own_row = next((r for r in rows if r["account_id"] is None), None)
    return value, {"own": own_row, "children": kids,
                   "drivers": [f"{r['name']} ({r['score']}, {r['band']}, {r['arr_share']:.0%} of ARR)"
                               for r in drivers]}
