"""Health weights learned from churn history: logistic regression on the signal sub-scores with the weights held
non-negative, normalized to sum 1, so the learned score is still the same explainable weighted sum.

A higher sub-score must never make churn more likely: a signal the data finds useless (or backwards) gets
weight 0 instead of a negative one, and the admin sees the weights (`salesagents health weights`). Learned
versions also carry one non-decreasing curve per weighted signal (`fit_curves`): the points each reading earned
in the history, e.g. a customer's first months cost more than a fixed tenure formula says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import InvalidInput
from core.models.scoring import ScoringModel
from core.repositories import health as repo
from core.repositories import lead_scoring as models_repo
from tools.health.scoring import Curve, Weights, raw_score, settings_weights
from tools.health.signals import SIGNAL_NAMES, SIGNALS, CategoryRates, Facts, Rates, read_all

MODEL_NAME = "health_weights"
KIND = "health_weights"
SEED = 42
HOLDOUT = 0.3
L2 = 1e-4
MIN_SAMPLES = 20
MIN_PER_CLASS = 5
TOLERANCE = 0.005
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_STEPS = 11  # a learned curve has at most 12 levels
MIN_PER_STEP = 25  # renewal outcomes per level: a short history gets a coarse curve
RATE_SMOOTHING = 20.0  # pseudo-outcomes at the overall rate per product / payment method (k, chosen by CV)


@dataclass(frozen=True)
class Fitted:
    weights: Weights
    intercept: float
    coefficients: dict[str, float]  # the regression's own (un-normalized) weights on the health side


def category_rates(rows: Sequence[Facts], churned: np.ndarray, k: float = RATE_SMOOTHING) -> Rates:
    """Per rate signal, the retention of the past accounts in each category (product held, payment method),
    smoothed toward the overall retention with k pseudo-outcomes. Learned only from the outcomes given (the
    training rows), so a held-out account's own outcome never feeds its sub-score."""
    if len(rows) != len(churned):
        raise InvalidInput("churn history", f"{len(rows)} accounts but {len(churned)} outcomes")
    if not len(rows):
        return {}
    overall = float(1 - np.mean(churned))
    out: Rates = {}
    for signal in SIGNALS:
        if signal.categories is None:
            continue
        seen: dict[str, int] = {}
        renewed: dict[str, int] = {}
        for facts, outcome in zip(rows, churned, strict=True):
            for category in signal.categories(facts):
                seen[category] = seen.get(category, 0) + 1
                renewed[category] = renewed.get(category, 0) + int(outcome == 0)
        if seen:
            out[signal.name] = CategoryRates(
                {c: round((renewed[c] + k * overall) / (n + k), 4) for c, n in sorted(seen.items())},
                dict(sorted(seen.items())), round(overall, 4))
    return out


def sub_score_matrix(rows: Sequence[Facts], ar_scale: float, rates: Rates | None = None) -> np.ndarray:
    """One row per sample, one column per signal, NaN where the signal has no data."""
    out = np.full((len(rows), len(SIGNAL_NAMES)), np.nan)
    for i, facts in enumerate(rows):
        for j, reading in enumerate(read_all(facts, ar_scale, rates).values()):
            if reading.sub_score is not None:
                out[i, j] = reading.sub_score
    return out


def _nonneg_logit(matrix: np.ndarray, churned: np.ndarray) -> tuple[np.ndarray, float]:
    """P(churn) = sigmoid(b - X.w) with w >= 0 (L-BFGS-B with bounds); missing values take the column mean."""
    if len(churned) < 2 or churned.min() == churned.max():
        raise InvalidInput("churn history", "learning weights needs both churned and renewed examples")
    empty = np.isnan(matrix).all(axis=0)  # a column never observed cannot be learned: weight 0
    filled = np.where(np.isnan(matrix), 0.0, matrix)
    counts = (~np.isnan(matrix)).sum(axis=0)
    means = np.where(counts > 0, filled.sum(axis=0) / np.maximum(counts, 1), 0.5)
    x = np.where(np.isnan(matrix), means, matrix)
    y = churned.astype(float)
    k = x.shape[1]

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = p[:k], p[k]
        prob = 1 / (1 + np.exp(-(b - x @ w)))
        eps = 1e-12
        value = -np.mean(y * np.log(prob + eps) + (1 - y) * np.log(1 - prob + eps)) + L2 * float(w @ w)
        g = prob - y
        return value, np.append(-(x.T @ g) / len(y) + 2 * L2 * w, np.mean(g))

    start = np.append(np.where(empty, 0.0, 0.1), 0.0)
    bounds = [(0.0, 0.0) if e else (0.0, None) for e in empty] + [(None, None)]
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return np.maximum(result.x[:k], 0.0), float(result.x[k])


def fit(matrix: np.ndarray, churned: np.ndarray, source: str = "learned") -> Fitted:
    """One non-negative weight per signal on the sub-scores as the signals compute them (no curves)."""
    w, intercept = _nonneg_logit(matrix, churned)
    if w.sum() <= 0:
        raise InvalidInput("churn history", "no signal separates churned from renewed accounts")
    normalized = {n: round(float(v / w.sum()), 6) for n, v in zip(SIGNAL_NAMES, w, strict=True)}
    return Fitted(Weights(normalized, source), intercept,
                  {n: round(float(v), 6) for n, v in zip(SIGNAL_NAMES, w, strict=True)})


def curve_edges(column: np.ndarray) -> tuple[float, ...]:
    """Where a signal's curve may step: quantiles of its observed sub-scores (every distinct value when there are
    few), at most MAX_STEPS + 1 levels and about MIN_PER_STEP outcomes per level, never below the lowest value."""
    seen = column[~np.isnan(column)]
    distinct = np.unique(seen)
    if len(distinct) < 2:
        return ()
    levels = min(MAX_STEPS + 1, max(2, len(seen) // MIN_PER_STEP))
    if len(distinct) <= levels:
        edges = distinct[1:]
    else:
        edges = np.unique(np.quantile(seen, np.linspace(0, 1, levels + 1)[1:-1]))
        edges = edges[edges > distinct[0]]
    return tuple(round(float(e), 6) for e in edges)


def fit_curves(matrix: np.ndarray, churned: np.ndarray, source: str = "learned") -> Fitted:
    """Weights and per-signal curves in one non-negative logistic regression on step features.

    Each signal becomes the indicators "sub-score >= edge k"; their non-negative coefficients, summed, are the
    signal's weight, and their running sum over the weight is its curve (0 at the lowest level, 1 at the top,
    never decreasing: a better reading never costs points). The learned score is still a weighted sum of one
    sub-score per signal; only each sub-score's shape comes from the churn history instead of a fixed formula,
    and the steps are fitted jointly, so tenure's curve is not double-counting what the contract term explains.
    """
    edges = [curve_edges(matrix[:, j]) for j in range(matrix.shape[1])]
    columns, owners = [], []
    for j, signal_edges in enumerate(edges):
        for edge in signal_edges:
            columns.append(np.where(np.isnan(matrix[:, j]), np.nan, (matrix[:, j] >= edge).astype(float)))
            owners.append(j)
    if not columns:
        raise InvalidInput("churn history", "no signal varies across the renewal outcomes")
    steps, intercept = _nonneg_logit(np.column_stack(columns), churned)
    owner = np.array(owners)
    raw = np.array([steps[owner == j].sum() for j in range(matrix.shape[1])])
    if raw.sum() <= 0:
        raise InvalidInput("churn history", "no signal separates churned from renewed accounts")
    curves: dict[str, Curve] = {}
    for j, name in enumerate(SIGNAL_NAMES):
        if raw[j] > 0:
            levels = np.concatenate(([0.0], np.cumsum(steps[owner == j]) / raw[j]))
            curves[name] = (edges[j], tuple(round(float(v), 4) for v in levels))
    normalized = {n: round(float(v / raw.sum()), 6) for n, v in zip(SIGNAL_NAMES, raw, strict=True)}
    return Fitted(Weights(normalized, source, curves), intercept,
                  {n: round(float(v), 6) for n, v in zip(SIGNAL_NAMES, raw, strict=True)})


def churn_auc(matrix: np.ndarray, churned: np.ndarray, weights: Weights) -> float:
    """How well the health score ranks churners below renewers (AUC of the negated score)."""
    scores = np.array([_score_row(row, weights) for row in matrix])
    return float(roc_auc_score(churned, -scores))


def _score_row(row: np.ndarray, weights: Weights) -> float:
    value = raw_score({n: (None if np.isnan(v) else float(v)) for n, v in zip(SIGNAL_NAMES, row, strict=True)},
                      weights)
    return 50.0 if value is None else value


@dataclass(frozen=True)
class Learned:
    """Weights shrunk toward the configured ones: alpha * fitted + (1 - alpha) * configured."""

    weights: Weights
    alpha: float
    fitted: Fitted


def blend(fitted: Weights, configured: Weights, alpha: float) -> Weights:
    total = sum(configured.by_signal.values())
    return Weights({n: round(alpha * fitted.by_signal[n] + (1 - alpha) * configured.by_signal[n] / total, 6)
                    for n in SIGNAL_NAMES}, fitted.source, fitted.curves, fitted.rates)


def learn(matrix: np.ndarray, churned: np.ndarray, configured: Weights, seed: int = SEED,
          rates: Rates | None = None) -> Learned:
    """Fit, then pick how far to trust the fit over the configured weights by cross-validated AUC on these rows.

    A long churn history earns alpha 1 (the fitted weights); a short, noisy one keeps the configured weights in
    the mix instead of swinging to whichever signal happened to separate a few renewals.
    """
    minority = int(min(churned.sum(), len(churned) - churned.sum()))
    folds = min(5, minority)
    best_alpha = 1.0
    if folds >= 2:
        totals = dict.fromkeys(ALPHAS, 0.0)
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(matrix, churned):
            fold_fit = fit_curves(matrix[tr], churned[tr])
            for alpha in ALPHAS:
                totals[alpha] += churn_auc(matrix[te], churned[te], blend(fold_fit.weights, configured, alpha))
        best = max(totals.values())
        best_alpha = max(a for a, total in totals.items() if total >= best - 1e-9)
    fitted = fit_curves(matrix, churned)
    weights = fitted.weights
    if rates:  # the matrix's rate columns were read with these rates: scoring must use the same
        weights = Weights(weights.by_signal, weights.source, weights.curves, rates)
    return Learned(blend(weights, configured, best_alpha), best_alpha, fitted)


def history(session: Session, now: datetime) -> tuple[list[Facts], np.ndarray, list[int]]:
    """The facts as of each past renewal decision and whether the account churned at that renewal."""
    catalog = repo.feature_catalog_size(session)
    samples = repo.renewal_outcomes(session, now.date())
    facts = [repo.account_facts(session, account_id, datetime.combine(as_of, now.timetz()),
                                catalog) for account_id, as_of, _ in samples]
    return facts, np.array([c for _, _, c in samples], dtype=int), [a for a, _, _ in samples]


def learn_from(facts: Sequence[Facts], churned: np.ndarray, configured: Weights, ar_scale: float,
               seed: int = SEED) -> tuple[Learned, np.ndarray]:
    """Retention per product / payment method from these outcomes, then weights and curves on the sub-scores
    read with them: (learned, the sub-score matrix)."""
    rates = category_rates(facts, churned)
    matrix = sub_score_matrix(facts, ar_scale, rates)
    return learn(matrix, churned, configured, seed, rates), matrix


@dataclass(frozen=True)
class LearnOutcome:
    version: int
    promoted: bool
    metrics: dict[str, Any]
    weights: dict[str, float]


def learn_and_store(session: Session, now: datetime, settings: Settings) -> LearnOutcome:
    """Fit on 70 % of the renewal history, compare with the configured weights on the other 30 %, store the
    version, and promote it when it ranks churners at least as well (then the agent scores with it)."""
    facts, churned, _ = history(session, now)
    positives = int(churned.sum())
    if len(churned) < MIN_SAMPLES or min(positives, len(churned) - positives) < MIN_PER_CLASS:
        raise InvalidInput("churn history", f"{len(churned)} renewal outcomes ({positives} churned): need at least "
                                            f"{MIN_SAMPLES} with {MIN_PER_CLASS} of each outcome")
    idx = np.arange(len(churned))
    train, test = train_test_split(idx, test_size=HOLDOUT, random_state=SEED, stratify=churned)
    configured = settings_weights(settings)
    trial, _ = learn_from([facts[i] for i in train], churned[train], configured, settings.health_ar_scale)
    test_matrix = sub_score_matrix([facts[i] for i in test], settings.health_ar_scale, trial.weights.rates)
    metrics = {"auc": round(churn_auc(test_matrix, churned[test], trial.weights), 4),
               "settings_auc": round(churn_auc(test_matrix, churned[test], configured), 4),
               "rows": int(len(test)), "train_rows": int(len(train)), "churn_rate": round(positives / len(idx), 4),
               "alpha": trial.alpha}
    promoted = metrics["auc"] >= metrics["settings_auc"] - TOLERANCE
    final, _ = learn_from(facts, churned, configured, settings.health_ar_scale)  # every outcome; test judged it
    row = models_repo.add_model(session, name=MODEL_NAME, kind=KIND, status="candidate", metrics=metrics,
                                artifact=json.dumps({"weights": final.weights.by_signal, "alpha": final.alpha,
                                                     "curves": {n: {"edges": list(e), "sub_scores": list(v)}
                                                                for n, (e, v) in final.weights.curves.items()},
                                                     "rates": {n: {"rates": r.rates, "counts": r.counts,
                                                                   "overall": r.overall}
                                                               for n, r in final.weights.rates.items()},
                                                     "coefficients": final.fitted.coefficients,
                                                     "intercept": final.fitted.intercept}),
                                training_rows=int(len(idx)),
                                note="promoted: ranks churners at least as well as the configured weights"
                                if promoted else "kept as candidate: the configured weights rank churners better")
    if promoted:
        current = models_repo.promoted_model(session, MODEL_NAME)
        if current is not None:
            models_repo.set_model_status(session, current.id, "retired")
            session.flush()
        models_repo.set_model_status(session, row.id, "promoted")
    session.flush()
    return LearnOutcome(row.version, promoted, metrics, final.weights.by_signal)


def _weights_of(row: ScoringModel | None) -> tuple[Weights, ScoringModel] | None:
    if row is None:
        return None
    data = json.loads(row.artifact)
    by_signal = dict.fromkeys(SIGNAL_NAMES, 0.0) | {k: float(v) for k, v in data["weights"].items()
                                                    if k in SIGNAL_NAMES}
    curves: dict[str, Curve] = {
        k: (tuple(float(e) for e in c["edges"]), tuple(float(v) for v in c["sub_scores"]))
        for k, c in (data.get("curves") or {}).items() if k in SIGNAL_NAMES}
    rates: Rates = {k: CategoryRates({c: float(v) for c, v in r["rates"].items()},
                                     {c: int(v) for c, v in r["counts"].items()}, float(r["overall"]))
                    for k, r in (data.get("rates") or {}).items() if k in SIGNAL_NAMES}
    suffix = "" if row.status == "promoted" else f" {row.status}"
    return Weights(by_signal, f"learned v{row.version}{suffix}", curves, rates), row


def promoted_weights(session: Session) -> tuple[Weights, ScoringModel] | None:
    return _weights_of(models_repo.promoted_model(session, MODEL_NAME))


def latest_weights(session: Session) -> tuple[Weights, ScoringModel] | None:
    """The newest learned version whatever its status: what the admin compares with the configured weights."""
    return _weights_of(models_repo.latest_model(session, MODEL_NAME))


def current_weights(session: Session, settings: Settings) -> Weights:
    """The promoted learned weights when enabled and present, else the configured ones."""
    if settings.health_use_learned_weights:
        found = promoted_weights(session)
        if found is not None:
            return found[0]
    return settings_weights(settings)
