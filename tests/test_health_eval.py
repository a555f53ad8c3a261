"""health_monitor.v1 through `salesagents eval run`: the product's score on a sample of the telco churn data, the
raw-column baseline beside it, churn per band, and a clear skip when the data set is missing."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli.evals import app as evals_cli
from evals.health_monitor.mapping import facts
from tools.health.scoring import score, weights_from

DATA = ("telco_churn_ibm", "Telco-Customer-Churn.csv")


def test_the_suite_on_a_sample_ranks_churners_and_prints_the_baseline(datasets_dir: Path) -> None:
    data = datasets_dir.joinpath(*DATA)
    result = CliRunner().invoke(evals_cli, ["run", "health_monitor", "--data", str(data), "--sample", "1500",
                                            "--folds", "0", "--json"])
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert (m["rows"], m["test_rows"]) == (1500, 450)
    assert m["auc"] > 0.78 and m["baseline_auc"] > 0.78 and abs(m["auc"] - m["baseline_auc"]) < 0.06
    # the reference models on the raw columns are fitted and scored on the same held-out rows (no folds asked)
    assert set(m["ceiling"]) == {"logistic regression on raw columns + log(1 + tenure)",
                                 "gradient boosting on raw columns"}
    assert all(0.75 < c["auc"] < 1 and "cv" not in c for c in m["ceiling"].values())
    rates = m["band_churn_rates"]
    assert set(rates) == {"Healthy", "At Risk", "Critical"}
    assert sum(r["rows"] for r in rates.values()) == 450
    known = [rates[b]["churn_rate"] for b in ("Healthy", "At Risk", "Critical") if rates[b]["rows"] >= 20]
    assert known == sorted(known) and len(known) >= 2  # worse band, more churn
    assert min(m["weights"].values()) > 0 and abs(sum(m["category_weights"].values()) - 1) < 1e-3
    mix = m["rates"]["contract.product_mix"]  # retention per product, learned on the training split
    assert mix["Internet: Fiber optic"] < mix["Internet: DSL"] and set(m["rates"]["finance.payment_method"]) == {
        "Bank transfer (automatic)", "Credit card (automatic)", "Electronic check", "Mailed check"}


def test_a_missing_data_set_is_a_clear_skip(tmp_path: Path) -> None:
    result = CliRunner().invoke(evals_cli, ["run", "health_monitor", "--data", str(tmp_path / "none.csv")])
    assert result.exit_code == 0 and "skipped: data set not found" in result.output


def test_the_mapping_feeds_the_products_own_signals() -> None:
    row = {"customerID": "x", "tenure": "2", "Contract": "Month-to-month", "PaymentMethod": "Electronic check",
           "MonthlyCharges": "70.35", "PhoneService": "Yes", "MultipleLines": "No", "InternetService": "Fiber optic",
           "OnlineSecurity": "No", "OnlineBackup": "Yes", "DeviceProtection": "No", "TechSupport": "No",
           "StreamingTV": "No", "StreamingMovies": "No", "Partner": "No", "Dependents": "No", "Churn": "Yes"}
    health = score(facts(row, 2), weights_from({"usage": 1, "support": 1, "finance": 1, "engagement": 1,
                                                 "contract": 1}), ar_scale=70.35)
    s = {n: v["sub_score"] for n, v in health.signals.items()}
    assert s["usage.feature_adoption"] == round(1 / 6, 4) and s["support.open_tickets"] == round(1 / 1.5, 4)
    assert s["finance.autopay"] == 0 and s["finance.open_ar"] == 0.5 and s["engagement.contacts"] == round(1 / 3, 4)
    assert s["contract.days_to_renewal"] == round(30 / 180, 4) and s["contract.commitment"] == round(1 / 24, 4)
    assert facts(row, 2)["products"] == ["Phone", "Internet: Fiber optic", "OnlineBackup"]
    assert facts(row, 2)["finance"]["payment_methods"] == ["Electronic check"]
    assert set(health.missing) >= {"engagement.nps", "engagement.meeting_cadence", "finance.days_overdue",
                                   "usage.login_trend"}
