"""The two scorers behind one interface: a calibrated LightGBM model and an Odoo-style naive-Bayes baseline.

Both explain a score exactly: LightGBM through `pred_contrib` (per-feature contributions to the log-odds, scaled
by the Platt calibration slope), naive Bayes through each field's log-likelihood ratio.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from tools.lead_scoring.features import FeatureSpace, Value, describe

PARAMS: dict[str, Any] = {"objective": "binary", "learning_rate": 0.03, "num_leaves": 15, "min_data_in_leaf": 20,
                          "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1, "lambda_l2": 1.0,
                          "cat_smooth": 10, "verbose": -1, "num_threads": 2, "deterministic": True}
MAX_ROUNDS = 1000
CALIBRATION_FOLDS = 5
NB_BINS = 5
TOP_FACTORS = 3


@dataclass(frozen=True)
class Factor:
    feature: str
    contribution: float  # log-odds
    text: str


@dataclass(frozen=True)
class Explained:
    probability: float
    raising: list[Factor]
    lowering: list[Factor]

    @property
    def score(self) -> int:
        return int(round(self.probability * 100))

    def factors_json(self) -> dict[str, Any]:
        return {"raising": [f.text for f in self.raising], "lowering": [f.text for f in self.lowering],
                "contributions": {f.feature: round(f.contribution, 4) for f in self.raising + self.lowering}}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _top(names: list[str], row: dict[str, Value], contrib: np.ndarray) -> tuple[list[Factor], list[Factor]]:
    order = np.argsort(contrib)
    raising = [Factor(names[i], float(contrib[i]), describe(names[i], row.get(names[i]), True))
               for i in order[::-1][:TOP_FACTORS] if contrib[i] > 1e-6]
    lowering = [Factor(names[i], float(contrib[i]), describe(names[i], row.get(names[i]), False))
                for i in order[:TOP_FACTORS] if contrib[i] < -1e-6]
    return raising, lowering


class GbmScorer:
    """LightGBM over the feature space; probabilities calibrated by Platt scaling on out-of-fold scores."""

    kind = "lightgbm"

    def __init__(self, space: FeatureSpace, booster: lgb.Booster, slope: float, intercept: float) -> None:
        self.space, self.booster, self.slope, self.intercept = space, booster, slope, intercept

    @classmethod
    def train(cls, rows: list[dict[str, Value]], labels: np.ndarray, seed: int = 7) -> GbmScorer:
        """Cross-fitted: each fold's trees score the rows they never saw, which fit the calibration and the
        number of rounds; the final trees then learn from every row."""
        space = FeatureSpace.learn(rows)
        matrix = space.encode(rows)
        params = PARAMS | {"seed": seed}
        out_of_fold = np.zeros(len(rows))
        rounds: list[int] = []
        folds = StratifiedKFold(n_splits=CALIBRATION_FOLDS, shuffle=True, random_state=seed)
        for fit_idx, cal_idx in folds.split(matrix, labels):
            train_set = lgb.Dataset(matrix[fit_idx], labels[fit_idx], feature_name=space.names,
                                    categorical_feature=space.categorical, free_raw_data=False)
            valid_set = lgb.Dataset(matrix[cal_idx], labels[cal_idx], reference=train_set)
            booster = lgb.train(params, train_set, num_boost_round=MAX_ROUNDS, valid_sets=[valid_set],
                                callbacks=[lgb.early_stopping(50, verbose=False)])
            out_of_fold[cal_idx] = np.asarray(booster.predict(matrix[cal_idx], raw_score=True,
                                                              num_iteration=booster.best_iteration))
            rounds.append(booster.best_iteration)
        platt = LogisticRegression(C=1e6).fit(out_of_fold.reshape(-1, 1), labels)
        full_set = lgb.Dataset(matrix, labels, feature_name=space.names, categorical_feature=space.categorical)
        final = lgb.train(params, full_set, num_boost_round=max(1, round(float(np.mean(rounds)))))
        return cls(space, final, float(platt.coef_[0][0]), float(platt.intercept_[0]))

    def probabilities(self, rows: list[dict[str, Value]]) -> np.ndarray:
        margin = np.asarray(self.booster.predict(self.space.encode(rows), raw_score=True))
        return _sigmoid(self.slope * margin + self.intercept)

    def explain(self, row: dict[str, Value]) -> Explained:
        contrib = np.asarray(self.booster.predict(self.space.encode([row]), pred_contrib=True))[0]
        features = contrib[:-1] * self.slope
        logit = float(features.sum() + contrib[-1] * self.slope + self.intercept)
        raising, lowering = _top(self.space.names, row, features)
        return Explained(1.0 / (1.0 + math.exp(-logit)), raising, lowering)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "space": self.space.to_json(), "slope": self.slope,
                           "intercept": self.intercept, "booster": self.booster.model_to_string()})


class NaiveBayesScorer:
    """Odoo-style frequency model: P(value | converted) vs P(value | lost) per field, Laplace-smoothed.

    Numbers are cut into quantile bins learned from the training rows; a missing value is a value of its own.
    """

    kind = "naive_bayes"

    def __init__(self, space: FeatureSpace, edges: dict[str, list[float]], prior: float,
                 tables: dict[str, dict[str, list[float]]]) -> None:
        self.space, self.edges, self.prior, self.tables = space, edges, prior, tables

    def _keys(self, matrix: np.ndarray) -> list[list[str]]:
        keys: list[list[str]] = []
        for i in range(matrix.shape[0]):
            row: list[str] = []
            for j, column in enumerate(self.space.columns):
                value = matrix[i, j]
                if np.isnan(value):
                    row.append("none")
                elif column.categories is None:
                    row.append(f"bin{int(np.searchsorted(self.edges[column.name], value, side='right'))}")
                else:
                    row.append(str(int(value)))
            keys.append(row)
        return keys

    @classmethod
    def train(cls, rows: list[dict[str, Value]], labels: np.ndarray) -> NaiveBayesScorer:
        space = FeatureSpace.learn(rows)
        matrix = space.encode(rows)
        edges: dict[str, list[float]] = {}
        for j, column in enumerate(space.columns):
            if column.categories is None:
                present = matrix[:, j][~np.isnan(matrix[:, j])]
                edges[column.name] = sorted(set(np.quantile(present, np.linspace(0, 1, NB_BINS + 1)[1:-1])
                                                .tolist())) if len(present) else []
        scorer = cls(space, edges, float(np.mean(labels)), {})
        keys = scorer._keys(matrix)
        for j, column in enumerate(space.columns):
            counts: dict[str, list[float]] = {}
            for row_keys, y in zip(keys, labels, strict=True):
                counts.setdefault(row_keys[j], [0.0, 0.0])[int(y)] += 1.0
            scorer.tables[column.name] = counts
        return scorer

    def _contributions(self, row_keys: list[str]) -> np.ndarray:
        contrib = np.zeros(len(self.space.columns))
        for j, column in enumerate(self.space.columns):
            table = self.tables[column.name]
            lost_n = sum(c[0] for c in table.values())
            won_n = sum(c[1] for c in table.values())
            lost, won = table.get(row_keys[j], [0.0, 0.0])
            values = len(table) + 1
            contrib[j] = math.log((won + 1) / (won_n + values)) - math.log((lost + 1) / (lost_n + values))
        return contrib

    def _logit_prior(self) -> float:
        prior = min(max(self.prior, 1e-6), 1 - 1e-6)
        return math.log(prior / (1 - prior))

    def probabilities(self, rows: list[dict[str, Value]]) -> np.ndarray:
        logits = [self._logit_prior() + self._contributions(k).sum() for k in self._keys(self.space.encode(rows))]
        return _sigmoid(np.array(logits))

    def explain(self, row: dict[str, Value]) -> Explained:
        contrib = self._contributions(self._keys(self.space.encode([row]))[0])
        raising, lowering = _top(self.space.names, row, contrib)
        logit = self._logit_prior() + float(contrib.sum())
        return Explained(1.0 / (1.0 + math.exp(-logit)), raising, lowering)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "space": self.space.to_json(), "edges": self.edges,
                           "prior": self.prior, "tables": self.tables})


Scorer = GbmScorer | NaiveBayesScorer


def load(artifact: str) -> Scorer:
    data = json.loads(artifact)
    space = FeatureSpace.from_json(data["space"])
    if data["kind"] == GbmScorer.kind:
        return GbmScorer(space, lgb.Booster(model_str=data["booster"]), data["slope"], data["intercept"])
    return NaiveBayesScorer(space, data["edges"], data["prior"], data["tables"])
