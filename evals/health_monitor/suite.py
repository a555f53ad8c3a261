"""health_monitor.v1: does the product's health score rank churners below stayers on real churn data?

The telco customers are mapped onto the product's health facts (evals.health_monitor.mapping), scored with the
product's own signals and weighted sum (tools.health), with weights and per-signal curves learned by the
product's own learner on a stratified 70 % training split (fixed seed), and measured on the held-out 30 %: AUC
for churn of the negated score and the churn rate per band. A logistic regression on the raw columns (one-hot,
standardized) on the same split is the baseline. The only data-set-dependent setting besides the learned
weights and curves is the AR scale (the unit of "a lot of open AR"): the training split's median monthly bill.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from core.config import Settings
from core.errors import InvalidInput
from evals.health_monitor.mapping import COLUMNS, facts, label
from tools.health import learning
from tools.health.scoring import BANDS, Weights, band_of, curve_words, raw_score, settings_weights
from tools.health.signals import SIGNAL_NAMES

SUITE_ID = "health_monitor.v1"
SEED = 42
HOLDOUT = 0.3
FOLDS = 5
TARGET_AUC = 0.85
RAW_NUMERIC = ("tenure", "MonthlyCharges", "TotalCharges", "SeniorCitizen")
RAW_EXCLUDED = ("customerID", "Churn")


@dataclass
class HealthEvalResult:
    data: str
    rows: int
    train_rows: int
    test_rows: int
    churn_rate: float
    ar_scale: float
    auc: float
    baseline_auc: float
    settings_weights_auc: float
    band_churn_rates: dict[str, dict[str, Any]]
    weights: dict[str, float]
    category_weights: dict[str, float]
    alpha: float
    curves: dict[str, str] = field(default_factory=dict)  # signal -> its learned curve in words
    rates: dict[str, dict[str, float]] = field(default_factory=dict)  # rate signal -> retention per category
    cv_auc: dict[str, float] = field(default_factory=dict)
    cv_baseline_auc: dict[str, float] = field(default_factory=dict)
    # Other models on the raw columns, same split and folds: how high the data lets anything reach here.
    # name -> {"auc": held out, "cv": mean, "cv_sd": sd}
    ceiling: dict[str, dict[str, float]] = field(default_factory=dict)
    target_met: bool = False
    seconds: float = 0.0


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput("data", f"{path.name} lacks the columns {', '.join(missing)}")
        return list(reader)


def sample(rows: list[dict[str, str]], n: int | None, seed: int) -> list[dict[str, str]]:
    """A stratified subsample (tests run the suite on a few hundred customers)."""
    if n is None or n >= len(rows):
        return rows
    labels = [label(r, i) for i, r in enumerate(rows, start=2)]
    keep, _ = train_test_split(np.arange(len(rows)), train_size=n, random_state=seed, stratify=labels)
    return [rows[i] for i in sorted(keep)]


def _raw_matrix(rows: list[dict[str, str]]) -> np.ndarray:
    """The baseline's features: numeric columns as numbers (blank TotalCharges: 0), every other one one-hot."""
    categorical = [c for c in rows[0] if c not in RAW_NUMERIC and c not in RAW_EXCLUDED]
    levels = {c: sorted({r[c] for r in rows}) for c in categorical}
    out = []
    for r in rows:
        numeric = [float(r[c].strip() or 0) for c in RAW_NUMERIC]
        out.append(numeric + [1.0 if r[c] == level else 0.0 for c in categorical for level in levels[c][1:]])
    return np.array(out)


def _baseline_auc(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    scaler = StandardScaler().fit(x[train])
    model = LogisticRegression(max_iter=2000, C=1.0).fit(scaler.transform(x[train]), y[train])
    return float(roc_auc_score(y[test], model.predict_proba(scaler.transform(x[test]))[:, 1]))


def _boosting_auc(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Gradient boosting with the best of the settings tried (README): it may use any interaction."""
    model = HistGradientBoostingClassifier(learning_rate=0.03, max_leaf_nodes=4, max_iter=300, random_state=SEED)
    model.fit(x[train], y[train])
    return float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))


def _with_log_tenure(rows: list[dict[str, str]], raw: np.ndarray) -> np.ndarray:
    """The raw columns plus log(1 + tenure): the best model found on this data (churn falls fastest in the first
    months, which a linear tenure term cannot bend to)."""
    return np.column_stack([raw, np.log1p([float(r["tenure"]) for r in rows])])


def _ceiling(rows: list[dict[str, str]], raw: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
             folds: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    logged = _with_log_tenure(rows, raw)
    models = {"logistic regression on raw columns + log(1 + tenure)": lambda tr, te: _baseline_auc(logged, y, tr, te),
              "gradient boosting on raw columns": lambda tr, te: _boosting_auc(raw, y, tr, te)}
    out = {}
    for name, auc_of in models.items():
        cv = [auc_of(tr, te) for tr, te in folds]
        out[name] = {"auc": round(auc_of(train, test), 4)} | (
            {"cv": round(float(np.mean(cv)), 4), "cv_sd": round(float(np.std(cv)), 4)} if cv else {})
    return out


def _scores(matrix: np.ndarray, weights: Weights) -> np.ndarray:
    values = []
    for row in matrix:
        value = raw_score({n: (None if np.isnan(v) else float(v)) for n, v in zip(SIGNAL_NAMES, row, strict=True)},
                          weights)
        values.append(50.0 if value is None else value)
    return np.array(values)


def _health_auc(all_facts: list[dict[str, Any]], y: np.ndarray, train: np.ndarray, test: np.ndarray,
                configured: Weights, ar_scale: float | None = None
                ) -> tuple[float, learning.Learned, float, np.ndarray, np.ndarray]:
    """Learn on train (the product's learner), score test: (AUC, learned, AR scale, test scores, sub-scores).

    Without an AR scale, the training split's median open AR is the unit (an admin's health_ar_scale)."""
    if ar_scale is None:
        ar_scale = float(np.median([all_facts[i]["finance"]["open_ar"] for i in train])) or 1.0
    learned, _ = learning.learn_from([all_facts[i] for i in train], y[train], configured, ar_scale)
    matrix = learning.sub_score_matrix(all_facts, ar_scale, learned.weights.rates)
    scores = _scores(matrix[test], learned.weights)
    return float(roc_auc_score(y[test], -scores)), learned, ar_scale, scores, matrix


def _mean_sd(values: list[float]) -> dict[str, float]:
    return {"mean": round(float(np.mean(values)), 4), "sd": round(float(np.std(values)), 4), "folds": len(values)}


def run(data: Path, *, seed: int = SEED, limit: int | None = None, folds: int = FOLDS,
        settings: Settings | None = None, ar_scale: float | None = None) -> HealthEvalResult:
    started = time.perf_counter()
    rows = sample(read_rows(data), limit, seed)
    y = np.array([label(r, i) for i, r in enumerate(rows, start=2)])
    all_facts = [facts(r, i) for i, r in enumerate(rows, start=2)]
    idx = np.arange(len(rows))
    train, test = train_test_split(idx, test_size=HOLDOUT, random_state=seed, stratify=y)
    configured = settings_weights(settings or Settings())
    auc, learned, scale, scores, matrix = _health_auc(all_facts, y, train, test, configured, ar_scale)
    weights = learned.weights
    raw = _raw_matrix(rows)
    baseline = _baseline_auc(raw, y, train, test)
    settings_auc = float(roc_auc_score(y[test], -_scores(matrix[test], configured)))
    bands: dict[str, dict[str, Any]] = {}
    for name, _floor in BANDS:
        mask = np.array([band_of(s) == name for s in scores])
        n = int(mask.sum())
        bands[name] = {"rows": n, "churned": int(y[test][mask].sum()) if n else 0,
                       "churn_rate": round(float(y[test][mask].mean()), 4) if n else None}
    cv, cv_base = [], []
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(idx, y)) if folds > 1 else []
    for fold_train, fold_test in splits:
        cv.append(_health_auc(all_facts, y, fold_train, fold_test, configured, ar_scale)[0])
        cv_base.append(_baseline_auc(raw, y, fold_train, fold_test))
    from tools.health.signals import CATEGORIES

    return HealthEvalResult(
        data=str(data), rows=len(rows), train_rows=len(train), test_rows=len(test),
        churn_rate=round(float(y.mean()), 4), ar_scale=round(scale, 2), auc=round(auc, 4),
        baseline_auc=round(baseline, 4), settings_weights_auc=round(settings_auc, 4), band_churn_rates=bands,
        weights={n: round(w, 4) for n, w in weights.by_signal.items() if w > 0},
        category_weights={c: round(weights.category(c), 4) for c in CATEGORIES}, alpha=learned.alpha,
        curves={n: curve_words(weights.curves.get(n)) for n, w in weights.by_signal.items() if w > 0},
        rates={n: r.rates for n, r in weights.rates.items()},
        cv_auc=_mean_sd(cv) if cv else {}, cv_baseline_auc=_mean_sd(cv_base) if cv_base else {},
        ceiling=_ceiling(rows, raw, y, train, test, splits),
        target_met=auc >= TARGET_AUC, seconds=round(time.perf_counter() - started, 1))
