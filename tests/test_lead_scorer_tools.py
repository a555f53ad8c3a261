"""Lead scoring tools: features from the CRM, cold-start naive Bayes, calibrated LightGBM, versions and promotion."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models import Activity, Lead
from core.models.enums import ActivityKind, LeadStatus
from core.models.scoring import ScoringModel
from core.repositories import lead_scoring as repo
from tests.lead_scoring_data import NOW, make_leads
from tools.lead_scoring import metrics, training
from tools.lead_scoring.features import FeatureSpace, describe, raw_features
from tools.lead_scoring.model import GbmScorer, NaiveBayesScorer, load


def _closed(session: Session) -> tuple[list[dict], np.ndarray]:
    records = repo.lead_records(session, closed_only=True)
    return [raw_features(r, NOW) for r in records], np.array([r["outcome"] for r in records])


def test_records_carry_custom_fields_activity_aggregates_and_outcome(session: Session) -> None:
    ids = make_leads(session, 40, open_share=0.2)
    records = {r["lead_id"]: r for r in repo.lead_records(session, ids)}
    assert len(records) == 40
    some = next(r for r in records.values() if r["activities"])
    assert some["activities"]["call"]["count"] >= 1 and some["activities"]["call"]["last"] <= NOW
    features = raw_features(some, NOW)
    assert features["cf.site_visits"] == float(some["custom"]["site_visits"])
    assert features["act.call.count"] == float(some["activities"]["call"]["count"])
    assert features["act.meeting.count"] == 0.0 and features["act.meeting.days_since"] is None
    assert features["has_email"] == 1.0 and "email" not in features
    assert {r["outcome"] for r in records.values()} == {0, 1, None}
    closed = repo.lead_records(session, ids, closed_only=True)
    assert all(r["outcome"] in (0, 1) for r in closed) and len(closed) < 40
    assert "cf.site_visits" not in raw_features(some, NOW, frozenset({"site_visits"}))


def test_closed_leads_count_only_activities_before_they_closed(session: Session) -> None:
    lead = Lead(first_name="Ada", status=LeadStatus.qualified, converted_at=NOW - timedelta(days=5), campaign_id=None)
    session.add(lead)
    session.flush()
    session.add_all([Activity(kind=ActivityKind.email, subject="before", lead_id=lead.id,
                              occurred_at=NOW - timedelta(days=9)),
                     Activity(kind=ActivityKind.email, subject="after", lead_id=lead.id,
                              occurred_at=NOW - timedelta(days=1))])
    session.flush()
    record = repo.lead_records(session, [lead.id])[0]
    assert record["closed_at"] == NOW - timedelta(days=5) and record["outcome"] == 1
    assert record["activities"]["email"]["count"] == 1
    features = raw_features(record, record["closed_at"])
    assert features["act.email.days_since"] == 4.0 and features["campaign_id"] is None


def test_feature_space_keeps_frequent_categories_and_encodes_rare_ones_together() -> None:
    rows = [{"country": "DE", "n": 1.0}] * 6 + [{"country": "FR", "n": None}] * 2 + [{"country": None, "n": 3.0}]
    space = FeatureSpace.learn(rows)
    assert [(c.name, c.categories) for c in space.columns] == [("country", ("DE",)), ("n", None)]
    matrix = space.encode([{"country": "DE", "n": 2.0}, {"country": "FR"}, {"country": None, "n": None}])
    assert matrix[0].tolist() == [0.0, 2.0] and matrix[1, 0] == 1.0
    assert np.isnan(matrix[2]).all() and np.isnan(matrix[1, 1])
    assert FeatureSpace.from_json(space.to_json()) == space


def test_factors_read_as_words() -> None:
    assert describe("act.call.count", 2.0, True) == "2 calls logged (raises the score)"
    assert describe("act.meeting.count", 0.0, False) == "no meeting logged yet (lowers the score)"
    assert describe("act.email.days_since", 3.4, True) == "last email 3 days ago (raises the score)"
    assert describe("cf.site_visits", 12.0, True) == "Site visits: 12 (raises the score)"
    assert describe("industry", None, False) == "Industry not filled in (lowers the score)"


def test_cold_start_trains_naive_bayes_and_promotes_it(session: Session) -> None:
    make_leads(session, 80)
    outcome = training.train_and_store(session, NOW)
    assert outcome.kind == "naive_bayes" and outcome.promoted and outcome.version == 1
    assert outcome.metrics["auc"] > 0.6
    name, scorer = training.current_scorer(session) or ("", None)
    assert name == "lead_score@1:naive_bayes" and isinstance(scorer, NaiveBayesScorer)
    rows, labels = _closed(session)
    explained = scorer.explain(rows[0])
    assert math.isclose(explained.probability, float(scorer.probabilities([rows[0]])[0]), rel_tol=1e-9)
    assert 0 <= explained.score <= 100 and explained.raising + explained.lowering


def test_too_few_closed_leads_is_a_clear_error(session: Session) -> None:
    make_leads(session, 10)
    with pytest.raises(InvalidInput, match="closed leads"):
        training.train_and_store(session, NOW)


def test_gbm_is_calibrated_and_explains_exactly(session: Session) -> None:
    make_leads(session, 700)
    rows, labels = _closed(session)
    scorer = GbmScorer.train(rows[:500], labels[:500])
    probs = scorer.probabilities(rows[500:])
    found = metrics.summary(labels[500:], probs)
    assert found["auc"] > 0.85 and found["brier"] < 0.15
    assert abs(float(probs.mean()) - float(labels[500:].mean())) < 0.08
    for row in rows[500:510]:
        explained = scorer.explain(row)
        assert math.isclose(explained.probability, float(scorer.probabilities([row])[0]), rel_tol=1e-6)
        assert all(f.contribution > 0 for f in explained.raising) and len(explained.raising) <= 3
        assert all(f.contribution < 0 for f in explained.lowering) and len(explained.lowering) <= 3
    reloaded = load(scorer.to_json())
    assert np.allclose(reloaded.probabilities(rows[500:]), probs)
    features = {f.feature for row in rows[500:] for f in scorer.explain(row).raising}
    assert features & {"cf.site_visits", "act.call.count", "source", "employees"}


def test_boosted_model_takes_over_when_not_worse_on_held_out_leads(session: Session) -> None:
    make_leads(session, 60)
    first = training.train_and_store(session, NOW)
    assert first.kind == "naive_bayes"
    make_leads(session, 700, seed=5)
    second = training.train_and_store(session, NOW)
    assert second.kind == "lightgbm" and second.promoted and second.version == 2
    assert second.compared_with is not None and second.metrics["auc"] >= second.compared_with["auc"] - 0.005
    statuses = {m.version: m.status for m in session.query(ScoringModel).all()}
    assert statuses == {1: "retired", 2: "promoted"}
    assert metrics.not_worse({"auc": 0.9, "brier": 0.1}, {"auc": 0.9, "brier": 0.1})
    assert not metrics.not_worse({"auc": 0.8, "brier": 0.1}, {"auc": 0.9, "brier": 0.1})
    assert not metrics.not_worse({"auc": 0.9, "brier": 0.2}, {"auc": 0.9, "brier": 0.1})


def test_calibration_table_counts_every_lead_once() -> None:
    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([0.05, 0.15, 0.55, 0.95, 1.0])
    table = metrics.calibration_table(labels, probs)
    assert sum(row["leads"] for row in table) == 5
    assert table[-1] == {"band": "90-100", "leads": 2, "predicted": 0.975, "observed": 1.0}
