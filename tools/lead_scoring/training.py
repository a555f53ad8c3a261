"""Train a lead-scoring model on the CRM's closed leads, store the version with its metrics, promote if not worse.

Too few closed leads for gradient boosting (cold start): the naive-Bayes frequency model is trained instead;
the boosted model takes over once enough history exists and it is not worse on the same held-out leads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.repositories import lead_scoring as repo
from tools.lead_scoring import metrics
from tools.lead_scoring.features import Value, raw_features
from tools.lead_scoring.model import GbmScorer, NaiveBayesScorer, Scorer, load

MODEL_NAME = "lead_score"
MIN_CLOSED = 20  # below this (or with fewer than 5 of either outcome) nothing can be learned
MIN_FOR_GBM = 400  # closed leads needed before gradient boosting is tried
HOLDOUT = 0.2
SEED = 7


@dataclass(frozen=True)
class TrainingOutcome:
    model_id: int
    version: int
    kind: str
    promoted: bool
    metrics: dict[str, Any]
    compared_with: dict[str, Any] | None


def fit(rows: list[dict[str, Value]], labels: np.ndarray, *, seed: int = SEED) -> Scorer:
    """The boosted model when there is enough history, else the naive-Bayes baseline."""
    if len(labels) >= MIN_FOR_GBM and min(int(labels.sum()), int(len(labels) - labels.sum())) >= 50:
        return GbmScorer.train(rows, labels, seed=seed)
    return NaiveBayesScorer.train(rows, labels)


def train_and_store(session: Session, now: datetime, *, name: str = MODEL_NAME,
                    exclude: frozenset[str] = frozenset()) -> TrainingOutcome:
    """One new version from the closed leads; promoted when the current one does no better on the held-out leads."""
    records = repo.lead_records(session, closed_only=True)
    labels = np.array([r["outcome"] for r in records], dtype=int)
    positives = int(labels.sum())
    if len(labels) < MIN_CLOSED or min(positives, len(labels) - positives) < 5:
        raise InvalidInput("leads", f"{len(labels)} closed leads ({positives} converted): at least {MIN_CLOSED} "
                                    "with 5 of each outcome are needed to train a scoring model")
    rows = [raw_features(r, r["closed_at"] or now, exclude) for r in records]
    train_idx, test_idx = train_test_split(np.arange(len(rows)), test_size=HOLDOUT, random_state=SEED,
                                           stratify=labels)
    scorer = fit([rows[i] for i in train_idx], labels[train_idx])
    held_out = [rows[i] for i in test_idx]
    found = metrics.summary(labels[test_idx], scorer.probabilities(held_out))
    current = repo.promoted_model(session, name)
    compared: dict[str, Any] | None = None
    promote = True
    if current is not None:
        compared = metrics.summary(labels[test_idx], load(current.artifact).probabilities(held_out))
        promote = metrics.not_worse(found, compared)
    row = repo.add_model(session, name=name, kind=scorer.kind, status="candidate",
                         metrics=found | {"training_rows": len(train_idx), "trained_at": now.isoformat(),
                                          "current": compared},
                         artifact=scorer.to_json(), training_rows=len(train_idx),
                         note=None if promote else "not promoted: worse than the current version on held-out leads")
    if promote:
        if current is not None:
            repo.set_model_status(session, current.id, "retired")
            session.flush()
        repo.set_model_status(session, row.id, "promoted")
    else:
        repo.set_model_status(session, row.id, "rejected")
    session.flush()
    return TrainingOutcome(row.id, row.version, scorer.kind, promote, found, compared)


def current_scorer(session: Session, name: str = MODEL_NAME) -> tuple[str, Scorer] | None:
    """The promoted version as `name@version` and its scorer, None before any training."""
    row = repo.promoted_model(session, name)
    if row is None:
        return None
    return f"{row.name}@{row.version}:{row.kind}", load(row.artifact)
