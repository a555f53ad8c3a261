"""lead_scoring.v1 through the product's CSV import: the model beats the naive-Bayes baseline on held-out leads."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from evals.lead_scoring.__main__ import main
from evals.lead_scoring.suite import plan_mapping, run


def _write_csv(path: Path, count: int, *, outcome: str = "yes") -> Path:
    rng = random.Random(1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Lead Id", "Origin", "Visits", "Leaky Tag", "Won"])
        for n in range(count):
            origin, visits = rng.choice(["Ads", "Referral", "Fair"]), rng.randint(0, 10)
            won = (origin == "Referral") + visits / 5 + rng.gauss(0, 0.5) > 1.5
            writer.writerow([f"L-{n}", origin, visits, "closed" if won else "open",
                             outcome if won else "no"])
    return path


def test_mapping_ignores_leaky_columns_and_keys_identifiers(tmp_path: Path) -> None:
    data = _write_csv(tmp_path / "leads.csv", 20)
    assert plan_mapping(data, "Won", ["Leaky Tag"]) == {"Leaky Tag": "-", "Lead Id": "external_id"}
    with pytest.raises(InvalidInput, match="no column 'Closed'"):
        plan_mapping(data, "Closed", [])
    with pytest.raises(InvalidInput, match="no column 'Nope'"):
        plan_mapping(data, "Won", ["Nope"])


def test_any_leads_csv_scores_above_the_baseline_with_a_calibration_table(session: Session, tmp_path: Path) -> None:
    result = run(session, _write_csv(tmp_path / "leads.csv", 900), target="Won", exclude=("Leaky Tag",))
    assert (result.rows, result.train_rows, result.test_rows, result.model_kind) == (900, 630, 270, "lightgbm")
    assert result.model["auc"] > 0.85 and result.model["brier"] < 0.15
    assert result.model["auc"] >= result.baseline["auc"] - 0.02
    assert sum(row["leads"] for row in result.calibration) == 270


def test_an_outcome_that_is_not_yes_or_no_names_the_row(session: Session, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is not a yes/no outcome"):
        run(session, _write_csv(tmp_path / "leads.csv", 50, outcome="maybe"), target="Won", exclude=())


def test_x_education_leads_reach_the_target(datasets_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(datasets_dir / "leads_x_education" / "Leads.csv")]) == 0
    out = capsys.readouterr().out
    assert "naive-Bayes baseline" in out and "Calibration" in out and "target met" in out
