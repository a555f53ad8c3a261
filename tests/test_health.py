"""Customer health: sub-scores from a real account's facts, the weighted sum, bands, weights from settings,
diffs in words, parent roll-ups by ARR, and weights learned from renewal history."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import InvalidInput
from core.models.enums import Lifecycle
from core.repositories import health as repo
from core.repositories import lead_scoring as models_repo
from tests import factories as f
from tests.health_data import customer, degrade
from tools.health import learning
from tools.health.assess import assess
from tools.health.scoring import Weights, band_of, curve_words, diff, raw_score, score, weights_from, worse
from tools.health.signals import SIGNAL_NAMES

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DEFAULT = weights_from(Settings().health_weights)


def _facts(session: Session, account_id: int, now: datetime = NOW) -> dict:
    return repo.account_facts(session, account_id, now, repo.feature_catalog_size(session))


def test_sub_scores_read_each_fact_of_a_factory_built_account(session: Session) -> None:
    built = customer(session, NOW, nps=3, open_tickets=2, overdue_days=45, meetings=1, days_to_renewal=90,
                     tenure_days=365, logins=(400, 200), active_users=20, seats=50, features=5, contacts=2,
                     satisfaction=2)
    facts = _facts(session, built.account_id)
    health = score(facts, DEFAULT, ar_scale=10_000)
    s = {name: sig["sub_score"] for name, sig in health.signals.items()}
    assert s["usage.login_trend"] == 0.5  # 200 logins after 400
    assert s["usage.active_users"] == 0.5  # 20 of 50 seats active = 40 %, full marks at 80 %
    assert s["usage.feature_adoption"] == 0.5  # 5 of the 10 features any account uses
    assert s["support.open_tickets"] == 0.5  # two open tickets
    assert s["support.sla_breaches"] == 1.0
    assert s["support.satisfaction"] == 0.25  # 2/5
    assert s["finance.days_overdue"] == 0.5  # 45 of 90 days
    assert s["finance.on_time_payments"] == 0.5  # one of two invoices due this year paid on time
    assert s["finance.autopay"] == 0.0  # paid by bank transfer
    assert s["finance.open_ar"] == round(1 / (1 + 100 / 10_000), 4)
    assert s["engagement.meeting_cadence"] == round(1 / 3, 4)
    assert s["engagement.nps"] == 0.3
    assert s["engagement.contacts"] == round(2 / 3, 4)
    assert s["contract.days_to_renewal"] == 0.5  # 90 of 180 days
    assert s["contract.tenure"] == round(1 - math.exp(-12 / 12), 4)
    assert health.signals["finance.days_overdue"]["text"] == "invoice 45 days overdue"
    expected = sum(DEFAULT.by_signal[n] * v for n, v in s.items()) / sum(DEFAULT.by_signal[n] for n in s)
    assert health.score == round(100 * expected)
    assert math.isclose(sum(sig["points"] for sig in health.signals.values()), 100 * expected, abs_tol=0.05)
    assert health.band == band_of(health.score)
    assert health.drivers()[0].startswith(max(health.signals.values(), key=lambda x: x["lost"])["text"])


def test_facts_are_as_of_the_moment_asked(session: Session) -> None:
    built = customer(session, NOW, overdue_days=10, open_tickets=1)
    earlier = _facts(session, built.account_id, NOW - timedelta(days=30))
    assert earlier["finance"]["max_days_overdue"] == 0  # the invoice was not due yet
    assert earlier["support"]["open_tickets"] == 0  # the ticket was opened 3 days ago
    assert earlier["engagement"]["nps_latest"] is None  # answered 20 days ago


def test_a_healthy_account_scores_healthy_and_an_account_without_data_gets_no_score(session: Session) -> None:
    healthy = customer(session, NOW)
    result = score(_facts(session, healthy.account_id), DEFAULT, 10_000)
    assert result.band == "Healthy" and result.score is not None and result.score >= 85
    empty = f.account(session)
    facts = _facts(session, empty.id)
    facts["support"]["open_tickets"] = 0
    only_zero = Weights(dict.fromkeys(SIGNAL_NAMES, 0.0) | {"engagement.nps": 1.0})
    assert score(facts, only_zero, 10_000).score is None


@pytest.mark.parametrize(("value", "band"), [(100, "Healthy"), (75, "Healthy"), (74.6, "Healthy"),
                                             (74.4, "At Risk"), (40, "At Risk"), (39, "Critical"),
                                             (0, "Critical")])
def test_bands(value: float, band: str) -> None:
    assert band_of(value) == band


def test_worse_band_order() -> None:
    assert worse("At Risk", "Healthy") and worse("Critical", "At Risk")
    assert not worse("Healthy", "At Risk") and not worse("At Risk", "At Risk") and not worse("Critical", None)


def test_weights_from_settings_split_categories_and_let_signals_override() -> None:
    w = weights_from({"usage": 0.3, "support": 0.3, "support.satisfaction": 0.0, "contract.tenure": 0.2})
    assert w.by_signal["usage.login_trend"] == pytest.approx(0.1)
    assert w.by_signal["support.open_tickets"] == pytest.approx(0.1)
    assert w.by_signal["support.satisfaction"] == 0.0 and w.by_signal["finance.open_ar"] == 0.0
    assert w.category("contract") == pytest.approx(0.2)
    with pytest.raises(InvalidInput, match="health_weights.*unknown category or signal 'usage.nope'"):
        weights_from({"usage.nope": 1})
    with pytest.raises(InvalidInput, match="finance must be a non-negative number"):
        weights_from({"finance": -1})
    with pytest.raises(InvalidInput, match="at least one weight"):
        weights_from({"finance": 0})


def test_the_diff_names_what_moved_the_score(session: Session) -> None:
    built = customer(session, NOW - timedelta(days=7))
    before = score(_facts(session, built.account_id, NOW - timedelta(days=7)), DEFAULT, 10_000)
    degrade(session, built.account_id, NOW)
    after = score(_facts(session, built.account_id), DEFAULT, 10_000)
    assert before.score is not None and after.score is not None and after.score < before.score
    change = diff(after.score, after.signals, {"signals": before.signals, "band": before.band}, before.score, NOW,
                  NOW - timedelta(days=7))
    assert change is not None and change["delta"] == after.score - before.score
    assert change["summary"].startswith(f"−{before.score - after.score} since last week: ")
    assert "3 open tickets (was 0)" in change["reasons"]
    assert "invoice 45 days overdue (was none)" in change["reasons"]
    assert diff(after.score, after.signals, None, None, NOW, None) is None
    same = diff(after.score, after.signals, {"signals": after.signals}, after.score, NOW, NOW - timedelta(days=1))
    assert same is not None and same["summary"] == "unchanged since yesterday" and same["reasons"] == []


def test_a_parent_rolls_up_its_children_by_arr_and_names_the_child_driving_it(session: Session) -> None:
    parent = customer(session, NOW, name="Group", arr="10000")
    good = customer(session, NOW, name="Good Child", arr="30000", parent_id=parent.account_id)
    bad = customer(session, NOW, name="Bad Child", arr="60000", parent_id=parent.account_id, nps=1,
                   open_tickets=6, overdue_days=80, meetings=0, logins=(400, 100), active_users=5, features=1,
                   days_to_renewal=20, satisfaction=1)
    customer(session, NOW, name="Grandchild", arr="0", parent_id=bad.account_id)
    settings = Settings(health_use_learned_weights=False)
    inputs = assess(session, parent.account_id, NOW, settings)
    own = {i: score(_facts(session, i), DEFAULT, 10_000).score for i in (parent.account_id, good.account_id)}
    bad_subtree = assess(session, bad.account_id, NOW, settings)["score"]
    expected = round(0.1 * own[parent.account_id] + 0.3 * own[good.account_id] + 0.6 * bad_subtree)
    assert inputs["score"] == expected
    rolled = inputs["factors"]["rollup"]
    assert [c["name"] for c in rolled["children"]] == ["Good Child", "Bad Child"]
    assert [c["arr_share"] for c in rolled["children"]] == [0.3, 0.6]
    assert rolled["drivers"][0].startswith(f"Bad Child ({bad_subtree}, ")
    assert not any(d.startswith("Good Child") for d in rolled["drivers"])
    assert inputs["factors"]["own_score"] == own[parent.account_id]


def test_fit_gives_non_negative_normalized_weights_favouring_the_separating_signal() -> None:
    rng = np.random.default_rng(0)
    n = 400
    churned = rng.integers(0, 2, n)
    matrix = rng.uniform(0, 1, (n, len(SIGNAL_NAMES)))
    nps = SIGNAL_NAMES.index("engagement.nps")
    backwards = SIGNAL_NAMES.index("finance.autopay")
    matrix[:, nps] = np.clip(0.7 - 0.4 * churned + rng.normal(0, 0.15, n), 0, 1)
    matrix[:, backwards] = np.clip(0.3 + 0.4 * churned + rng.normal(0, 0.15, n), 0, 1)
    matrix[:5, SIGNAL_NAMES.index("usage.login_trend")] = np.nan
    fitted = learning.fit(matrix, churned)
    w = fitted.weights.by_signal
    assert min(w.values()) >= 0 and sum(w.values()) == pytest.approx(1, abs=1e-4)
    assert max(w, key=lambda k: w[k]) == "engagement.nps" and w["finance.autopay"] == 0
    assert learning.churn_auc(matrix, churned, fitted.weights) > 0.85
    with pytest.raises(InvalidInput, match="both churned and renewed"):
        learning.fit(matrix, np.zeros(n, dtype=int))


def _history(session: Session, now: datetime, accounts: int = 30) -> None:
    """Accounts whose contract ended 30 days ago: a third churned, after NPS answers and overdue invoices."""
    for i in range(accounts):
        churn = i % 3 == 0
        decision = now - timedelta(days=120)  # 90 days before the end
        built = customer(session, decision, nps=2 if churn else 9, overdue_days=60 if churn else 0,
                         days_to_renewal=90, tenure_days=275,
                         lifecycle=Lifecycle.churned if churn else Lifecycle.customer)
        if not churn:
            end = now.date() - timedelta(days=30)
            f.contract(session, built.account_id, start_date=end + timedelta(days=1),
                       end_date=end + timedelta(days=365))


def test_weights_are_learned_from_renewal_history_stored_and_used(session: Session) -> None:
    _history(session, NOW)
    samples = repo.renewal_outcomes(session, NOW.date())
    assert len(samples) == 30 and sum(c for _, _, c in samples) == 10
    settings = Settings(health_use_learned_weights=True)
    outcome = learning.learn_and_store(session, NOW, settings)
    assert outcome.promoted and outcome.metrics["auc"] >= outcome.metrics["settings_auc"] - 0.005
    assert sum(outcome.weights.values()) == pytest.approx(1, abs=1e-4) and min(outcome.weights.values()) >= 0
    assert outcome.weights["engagement.nps"] + outcome.weights["finance.days_overdue"] > 0.3
    row = models_repo.promoted_model(session, learning.MODEL_NAME)
    assert row is not None and row.kind == "health_weights" and row.training_rows == 30
    assert json.loads(row.artifact)["weights"] == outcome.weights
    active = learning.current_weights(session, settings)
    assert active.source == f"learned v{row.version}" and active.by_signal == outcome.weights
    stored_curves = json.loads(row.artifact)["curves"]
    assert set(stored_curves) == {n for n, w in outcome.weights.items() if w > 0}
    assert {n: (list(e), list(v)) for n, (e, v) in active.curves.items()} == {
        n: (c["edges"], c["sub_scores"]) for n, c in stored_curves.items()}
    assert learning.current_weights(session, Settings(health_use_learned_weights=False)).source == "settings"
    again = learning.learn_and_store(session, NOW, settings)
    assert again.version == outcome.version + 1
    assert [m.status for m in models_repo.model_versions(session, learning.MODEL_NAME)] == ["retired", "promoted"]


def test_learning_refuses_a_history_too_small(session: Session) -> None:
    _history(session, NOW, accounts=6)
    with pytest.raises(InvalidInput, match="churn history.*6 renewal outcomes"):
        learning.learn_and_store(session, NOW, Settings())


def test_raw_score_renormalizes_over_signals_with_data() -> None:
    w = Weights(dict.fromkeys(SIGNAL_NAMES, 0.0) | {"engagement.nps": 1.0, "finance.autopay": 3.0})
    assert raw_score({"engagement.nps": 0.5, "finance.autopay": None}, w) == 50.0
    assert raw_score({"engagement.nps": 0.5, "finance.autopay": 1.0}, w) == 87.5


def test_a_rollup_without_own_data_or_arr_weighs_scored_children_equally() -> None:
    from tools.health.scoring import Child, Health, rollup

    value, rolled = rollup(Health(None, None), 0.0, [Child(1, "A", 90, 0.0), Child(2, "B", 30, 0.0),
                                                     Child(3, "C", None, 500.0)])
    assert value == 60 and rolled["own"] is None
    assert [c["arr_share"] for c in rolled["children"]] == [0.5, 0.5]
    assert rolled["drivers"] == ["B (30, Critical, 50% of ARR)"]
    assert rollup(Health(None, None), 0.0, [Child(1, "A", None, 10.0)])[0] is None


def test_the_sweep_covers_customers_and_every_ancestor_of_one(session: Session) -> None:
    holding = f.account(session, name="Holding")
    region = f.account(session, name="Region", parent_id=holding.id)
    shop = customer(session, NOW, parent_id=region.id)
    prospect = f.account(session, name="Prospect", parent_id=holding.id)
    found = set(repo.customer_ids(session))
    assert {holding.id, region.id, shop.account_id} <= found and prospect.id not in found


def test_learned_weights_blend_toward_the_configured_ones_by_cross_validation() -> None:
    fitted = Weights(dict.fromkeys(SIGNAL_NAMES, 0.0) | {"engagement.nps": 1.0})
    configured = Weights(dict.fromkeys(SIGNAL_NAMES, 0.0) | {"finance.days_overdue": 2.0, "contract.tenure": 2.0})
    half = learning.blend(fitted, configured, 0.5).by_signal
    assert (half["engagement.nps"], half["finance.days_overdue"], half["contract.tenure"]) == (0.5, 0.25, 0.25)
    rng = np.random.default_rng(1)
    churned = np.array([0, 1] * 200)
    matrix = rng.uniform(0, 1, (400, len(SIGNAL_NAMES)))
    matrix[:, SIGNAL_NAMES.index("engagement.nps")] = np.clip(0.8 - 0.5 * churned + rng.normal(0, 0.1, 400), 0, 1)
    learned = learning.learn(matrix, churned, configured)  # the data speak clearly: the fit is trusted
    assert learned.alpha == 1.0 and learned.weights.by_signal == learned.fitted.weights.by_signal


def test_learned_curves_reshape_each_signal_into_its_churn_risk_and_keep_the_weighted_sum() -> None:
    """Churn concentrates in the first months: a formula linear in tenure misranks, a learned curve does not."""
    rng = np.random.default_rng(2)
    n = 1200
    tenure = SIGNAL_NAMES.index("contract.tenure")
    matrix = np.full((n, len(SIGNAL_NAMES)), np.nan)
    matrix[:, tenure] = rng.uniform(0, 1, n)
    matrix[:, SIGNAL_NAMES.index("engagement.nps")] = rng.uniform(0, 1, n)
    risk = np.where(matrix[:, tenure] < 0.15, 0.6, 0.1) + 0.2 * (1 - matrix[:, SIGNAL_NAMES.index("engagement.nps")])
    churned = (rng.uniform(0, 1, n) < risk).astype(int)
    plain, curved = learning.fit(matrix, churned), learning.fit_curves(matrix, churned)
    edges, levels = curved.weights.curves["contract.tenure"]
    assert len(levels) == len(edges) + 1 and levels[0] == 0 and levels[-1] == pytest.approx(1)
    assert all(a <= b for a, b in zip(levels, levels[1:], strict=False))  # a longer tenure never costs points
    assert curved.weights.shaped("contract.tenure", 0.5) >= 0.9  # past the risky months: almost all the points
    assert curved.weights.shaped("contract.tenure", 0.05) <= 0.1
    assert sum(curved.weights.by_signal.values()) == pytest.approx(1, abs=1e-4)
    assert learning.churn_auc(matrix, churned, curved.weights) > learning.churn_auc(matrix, churned, plain.weights)
    # The score is the weighted sum of the shaped sub-scores, and the factors show both numbers.
    w = curved.weights
    sub = {"contract.tenure": 0.05, "engagement.nps": 1.0}
    expected = 100 * sum(w.by_signal[k] * w.shaped(k, v) for k, v in sub.items()) / sum(w.by_signal[k] for k in sub)
    assert raw_score(sub, w) == pytest.approx(expected)
    assert w.shaped("usage.login_trend", 0.3) == 0.3  # no curve: the sub-score as the signal computes it


def test_a_learned_curve_shows_in_the_factors_and_in_words(session: Session) -> None:
    built = customer(session, NOW, nps=8, tenure_days=60)  # two months: a young customer
    facts = _facts(session, built.account_id)
    formula = score(facts, DEFAULT, ar_scale=10_000).signals["contract.tenure"]["sub_score"]
    curve = ((0.2, 0.6), (0.0, 0.3, 1.0))  # below 0.2 (about 3 months): no points
    curved = Weights(DEFAULT.by_signal, "learned v1", {"contract.tenure": curve})
    health = score(facts, curved, ar_scale=10_000)
    tenure = health.signals["contract.tenure"]
    assert formula < 0.2 and tenure["sub_score"] == 0.0 and tenure["formula_sub_score"] == formula
    assert tenure["lost"] == pytest.approx(100 * tenure["weight"], abs=0.01) and tenure["points"] == 0
    assert "formula_sub_score" not in health.signals["engagement.nps"]
    before = score(facts, DEFAULT, ar_scale=10_000).score
    assert health.score is not None and before is not None and health.score < before
    assert curve_words(curve) == "0 | >=0.2: 0.3 | >=0.6: 1" and curve_words(None) == "-"
