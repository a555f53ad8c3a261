"""Run metrics from per-case results, bootstrap confidence intervals of differences, ROC and calibration points.

Every metric except `auc` is a ratio of per-case sums (a rate is score/1 per case, precision is tp/predicted
positive), so a bootstrap resample only re-adds case columns. Keys are snake_case and stable: reports, `--json`,
thresholds.yaml and stored runs all use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FALLBACK_OUTCOMES = ("fallback", "error", "over_budget")
LOWER_IS_BETTER = frozenset({"fallback_rate", "repaired_rate", "error_rate", "brier"})
NEUTRAL = frozenset({"mean_chars"})


@dataclass(frozen=True)
class CaseScore:
    """What metrics need from one case result (stored row or fresh record alike)."""

    case_id: str
    passed: bool
    outcome: str
    scores: dict[str, float | None] = field(default_factory=dict)
    chars: int = 0
    label: int | None = None
    prediction: int | None = None
    probability: float | None = None


def direction(metric: str) -> int:
    """+1 when higher is better, -1 when lower is better, 0 for descriptive metrics (no regression test)."""
    if metric in NEUTRAL:
        return 0
    return -1 if metric in LOWER_IS_BETTER else 1


def _parts(cases: Sequence[CaseScore]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric, the per-case numerator and denominator columns."""
    n = len(cases)
    cols: dict[str, tuple[list[float], list[float]]] = {}

    def put(name: str, i: int, num: float, den: float) -> None:
        nums, dens = cols.setdefault(name, ([0.0] * n, [0.0] * n))
        nums[i], dens[i] = num, den

    for i, c in enumerate(cases):
        put("pass_rate", i, float(c.passed), 1.0)
        put("fallback_rate", i, float(c.outcome in FALLBACK_OUTCOMES), 1.0)
        put("repaired_rate", i, float(c.outcome == "repaired"), 1.0)
        put("error_rate", i, float(c.outcome == "exception"), 1.0)
        put("mean_chars", i, float(c.chars), 1.0)
        for key, score in c.scores.items():
            if score is not None:
                put(f"{key}_rate", i, float(score), 1.0)
            else:
                put(f"{key}_rate", i, 0.0, 0.0)
        if c.label is not None and c.prediction is not None:
            y, p = int(c.label), int(c.prediction)
            tp, fp, fn = float(y and p), float(p and not y), float(y and not p)
            put("accuracy", i, float(y == p), 1.0)
            put("precision", i, tp, float(p))
            put("recall", i, tp, float(y))
            put("f1", i, 2 * tp, 2 * tp + fp + fn)
        if c.label is not None and c.probability is not None:
            put("brier", i, (float(c.probability) - int(c.label)) ** 2, 1.0)
    return {k: (np.asarray(v[0]), np.asarray(v[1])) for k, v in cols.items()}


def _scored(cases: Sequence[CaseScore]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(c.probability, c.label) for c in cases if c.probability is not None and c.label is not None]
    return (np.asarray([p for p, _ in pairs], dtype=float), np.asarray([y for _, y in pairs], dtype=int))


def auc(probabilities: Iterable[float], labels: Iterable[int]) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count half); None without both classes."""
    p, y = np.asarray(list(probabilities), dtype=float), np.asarray(list(labels), dtype=int)
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def compute(cases: Sequence[CaseScore]) -> dict[str, float]:
    """All metrics that apply to these cases (a metric whose denominator is zero is left out)."""
    out: dict[str, float] = {"cases": len(cases)}
    for name, (num, den) in sorted(_parts(cases).items()):
        if den.sum() > 0:
            out[name] = round(float(num.sum() / den.sum()), 6)
    probs, labels = _scored(cases)
    area = auc(probs, labels)
    if area is not None:
        out["auc"] = round(area, 6)
    return out


@dataclass(frozen=True)
class Delta:
    metric: str
    a: float | None
    b: float | None
    delta: float | None
    low: float | None
    high: float | None
    paired: bool

    @property
    def worse(self) -> bool:
        """The interval lies entirely on the bad side of zero for this metric's direction."""
        d = direction(self.metric)
        if self.low is None or self.high is None or d == 0:
            return False
        return self.high < 0 if d > 0 else self.low > 0

    @property
    def better(self) -> bool:
        d = direction(self.metric)
        if self.low is None or self.high is None or d == 0:
            return False
        return self.low > 0 if d > 0 else self.high < 0


def _ratio(num: np.ndarray, den: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The metric over each resample (rows of `idx`); NaN where a resample has no denominator."""
    n, d = num[idx].sum(axis=1), den[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d > 0, n / np.where(d > 0, d, 1), np.nan)


def _auc_draws(cases: Sequence[CaseScore], idx: np.ndarray) -> np.ndarray:
    probs = np.asarray([c.probability if c.probability is not None else np.nan for c in cases], dtype=float)
    labels = np.asarray([c.label if c.label is not None else -1 for c in cases], dtype=int)
    out = np.full(len(idx), np.nan)
    for r, rows in enumerate(idx):
        p, y = probs[rows], labels[rows]
        keep = ~np.isnan(p) & (y >= 0)
        value = auc(p[keep], y[keep])
        out[r] = np.nan if value is None else value
    return out


def compare(a: Sequence[CaseScore], b: Sequence[CaseScore], *, resamples: int = 1000, confidence: float = 0.95,
            seed: int = 7) -> list[Delta]:
    """Metric differences b - a with percentile bootstrap intervals; paired by case when both ran the same cases."""
    ma, mb = compute(a), compute(b)
    names = sorted((set(ma) | set(mb)) - {"cases"})
    paired = bool(a) and sorted(c.case_id for c in a) == sorted(c.case_id for c in b)
    if paired:
        order = {c.case_id: i for i, c in enumerate(a)}
        b = sorted(b, key=lambda c: order[c.case_id])
    rng = np.random.default_rng(seed)
    idx_a = rng.integers(0, len(a), size=(resamples, len(a))) if a else None
    idx_b = idx_a if paired else (rng.integers(0, len(b), size=(resamples, len(b))) if b else None)
    parts_a, parts_b = _parts(a), _parts(b)
    tail = (1 - confidence) / 2
    deltas: list[Delta] = []
    for name in names:
        va, vb = ma.get(name), mb.get(name)
        low = high = None
        if va is not None and vb is not None and idx_a is not None and idx_b is not None:
            if name == "auc":
                draws = _auc_draws(b, idx_b) - _auc_draws(a, idx_a)
            else:
                draws = _ratio(*parts_b[name], idx_b) - _ratio(*parts_a[name], idx_a)
            draws = draws[~np.isnan(draws)]
            if len(draws):
                low, high = (round(float(np.quantile(draws, tail)), 6), round(float(np.quantile(draws, 1 - tail)), 6))
        delta = round(vb - va, 6) if va is not None and vb is not None else None
        deltas.append(Delta(name, va, vb, delta, low, high, paired))
    return deltas


def roc_points(probabilities: Sequence[float], labels: Sequence[int]) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0) to (1, 1)."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=int)
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if not pos or not neg:
        return []
    points = [(0.0, 0.0)]
    for t in sorted(set(p.tolist()), reverse=True):
        pred = p >= t
        points.append((float((pred & (y == 0)).sum() / neg), float((pred & (y == 1)).sum() / pos)))
    return points


def calibration_bins(probabilities: Sequence[float], labels: Sequence[int],
                     bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted probability, observed positive share, cases) per equal-width probability bin."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=int)
    out: list[tuple[float, float, int]] = []
    edges = np.linspace(0, 1, bins + 1)
    for i in range(bins):
        inside = (p >= edges[i]) & ((p < edges[i + 1]) if i < bins - 1 else (p <= edges[i + 1]))
        if inside.any():
            out.append((float(p[inside].mean()), float(y[inside].mean()), int(inside.sum())))
    return out


def case_scores(rows: Iterable[Any]) -> list[CaseScore]:
    """CaseScore from stored EvalCaseResult rows."""
    return [CaseScore(r.case_id, r.passed, r.outcome, dict(r.scores), len(r.output or ""), r.label, r.prediction,
                      r.probability) for r in rows]
