"""Auto-labeler tools and eval: size bands at their cut points, name masking, the classifier on real embeddings."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from core.errors import InvalidInput
from core.llm.embeddings import LocalEmbedder
from core.models.enums import SizeBand
from evals.auto_labeler.__main__ import main
from evals.auto_labeler.suite import run
from tools.auto_labeler.classifier import METHODS, IndustryClassifier, mask_names
from tools.auto_labeler.taxonomy import DEFAULT_SECTORS, parse_count, size_band

BANKS = ["The bank takes deposits and lends mortgages to households.",
         "A lender offering checking accounts, credit cards and loans.",
         "Provides commercial banking, deposits and wealth management.",
         "Retail bank with savings accounts, mortgages and consumer loans.",
         "Offers asset management, brokerage and lending to clients.",
         "Regional bank serving small businesses with loans and deposits."]
POWER = ["The utility generates and distributes electricity to homes.",
         "Operates power plants and an electric transmission grid.",
         "Delivers natural gas and electric power to customers in the state.",
         "Regulated electric utility with nuclear and wind generation.",
         "Transmits and distributes electricity and gas to residential users.",
         "Owns hydroelectric dams and sells power to the grid."]


def test_size_band_cut_points_and_revenue_fallback() -> None:
    assert [size_band(n) for n in (0, 199, 200, 1999, 2000, 2_100_000)] == [
        SizeBand.smb, SizeBand.smb, SizeBand.mid_market, SizeBand.mid_market, SizeBand.enterprise,
        SizeBand.enterprise]
    assert size_band(None, Decimal("49999999")) == SizeBand.smb
    assert size_band(None, 50_000_000) == SizeBand.mid_market
    assert size_band(None, 1_000_000_000) == SizeBand.enterprise
    assert size_band(150, 5_000_000_000) == SizeBand.smb  # head count wins over revenue
    assert size_band(None, None) is None
    with pytest.raises(InvalidInput, match="employees"):
        size_band(-1)


def test_parse_count() -> None:
    assert parse_count("21,500") == 21500
    assert parse_count(" ") is None
    assert parse_count("1.2e5") == 120000
    with pytest.raises(InvalidInput, match="Fulltimeemployees: 'many' is not a number"):
        parse_count("many", "Fulltimeemployees")


def test_mask_names_removes_names_stems_and_ticker() -> None:
    text = "Apple Inc. designs iPhones. Apple also sells Macs; AAPL trades on Nasdaq. Pineapple farms are unrelated."
    masked = mask_names(text, ["AAPL", "Apple Inc.", "Apple Inc."])
    assert "Apple" not in masked.replace("Pineapple", "")
    assert "AAPL" not in masked
    assert masked.startswith("the company designs iPhones. the company also sells Macs")
    assert "Pineapple" in masked


def test_classifier_learns_sectors_from_real_embeddings() -> None:
    texts = BANKS + POWER
    labels = ["Financial Services"] * 6 + ["Utilities"] * 6
    vectors = np.asarray(LocalEmbedder().embed(texts))
    model = IndustryClassifier.fit(texts, vectors, labels)
    unseen = ["A savings bank that lends mortgages.", "Generates electricity from gas turbines for the grid."]
    unseen_vectors = np.asarray(LocalEmbedder().embed(unseen))
    for method in METHODS:
        predicted = model.predict(unseen, unseen_vectors, method)
        assert [label for label, _ in predicted] == ["Financial Services", "Utilities"], method
        assert all(0.5 < confidence <= 1.0 for _, confidence in predicted)
    with pytest.raises(InvalidInput, match="method"):
        model.predict(unseen, unseen_vectors, "magic")
    with pytest.raises(InvalidInput, match="labels"):
        IndustryClassifier.fit(texts[:3], vectors[:3], labels[:3])
    assert "Utilities" in DEFAULT_SECTORS and len(DEFAULT_SECTORS) == 11


def _companies_csv(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Name", "About", "Sector", "Staff"])
        for i, text in enumerate(BANKS):
            writer.writerow([f"Bank{i}", f"Bank{i} here. {text}", "Financial Services", f"{150 + i * 1000:,}"])
        for i, text in enumerate(POWER):
            writer.writerow([f"Power{i}", text, "Utilities", "" if i == 0 else str(2000 * i)])
    return path


def test_eval_runs_on_any_companies_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _companies_csv(tmp_path / "companies.csv")
    result = run(data, text_col="About", label_col="Sector", mask_cols=("Name",), employees_col="Staff", folds=3)
    assert result.rows == 12 and result.classes == {"Financial Services": 6, "Utilities": 6}
    assert set(result.accuracy) == set(METHODS)
    assert result.accuracy["ensemble"] >= 0.8
    assert (result.size_rows, result.size_exact, result.size_missing) == (11, 11, 1)
    assert result.size_bands == {"enterprise": 9, "mid_market": 1, "smb": 1}
    assert main(["--data", str(data), "--text-col", "About", "--label-col", "Sector", "--folds", "3",
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["rows"] == 12 and printed["size_rows"] == 0


def test_eval_names_the_missing_column_and_rare_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _companies_csv(tmp_path / "companies.csv")
    assert main(["--data", str(data), "--text-col", "Summary", "--label-col", "Sector"]) == 2
    assert "text-col: companies.csv has no column 'Summary'" in capsys.readouterr().err
    assert main(["--data", str(data), "--text-col", "About", "--label-col", "Sector", "--folds", "7"]) == 2
    assert "every label needs at least 7 rows" in capsys.readouterr().err
