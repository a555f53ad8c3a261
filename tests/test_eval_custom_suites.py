"""`salesagents eval run NAME [args...]` hands custom suites their own arguments; prompt suites behave as before."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.evals import app
from core.errors import InvalidInput
from evals.custom_suites import CUSTOM_SUITES, get_main


def _leads_csv(path: Path, count: int) -> Path:
    rng = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Lead Id", "Origin", "Visits", "Leak", "Bought"])
        for n in range(count):
            origin, visits = rng.choice(["Ads", "Referral", "Fair"]), rng.randint(0, 10)
            won = (origin == "Referral") + visits / 5 + rng.gauss(0, 0.5) > 1.5
            writer.writerow([f"L-{n}", origin, visits, "closed" if won else "open", "yes" if won else "no"])
    return path


@pytest.mark.parametrize("name", ["lead_scorer", "lead_scoring.v1"])
def test_lead_scorer_runs_with_its_own_arguments(name: str, tmp_path: Path) -> None:
    data = _leads_csv(tmp_path / "leads.csv", 300)
    result = CliRunner().invoke(app, ["run", name, "--data", str(data), "--target", "Bought", "--exclude", "Leak",
                                      "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert (figures["target"], figures["excluded"], figures["rows"], figures["test_rows"]) == (
        "Bought", ["Leak"], 300, 90)
    assert 0.5 < figures["model"]["auc"] <= 1.0 and 0.0 <= figures["baseline"]["brier"] <= 1.0


def test_custom_suite_errors_come_back_as_its_exit_code(tmp_path: Path) -> None:
    data = _leads_csv(tmp_path / "leads.csv", 30)
    result = CliRunner().invoke(app, ["run", "lead_scorer", "--data", str(data), "--target", "Nope"])
    assert result.exit_code == 2 and "no column 'Nope'" in result.output


def test_prompt_suite_options_are_refused_for_custom_suites_and_unknown_names_list_both() -> None:
    refused = CliRunner().invoke(app, ["run", "lead_scorer", "--limit", "3"])
    assert isinstance(refused.exception, InvalidInput) and refused.exception.field == "--limit"
    unknown = CliRunner().invoke(app, ["run", "no_such_suite"])
    assert isinstance(unknown.exception, InvalidInput)
    assert "injection.v1" in str(unknown.exception) and "lead_scorer" in str(unknown.exception)
    extra = CliRunner().invoke(app, ["run", "injection.v1", "--data", "x.csv"])
    assert isinstance(extra.exception, InvalidInput) and "--data x.csv" in str(extra.exception)


def test_every_registered_custom_suite_has_a_main() -> None:
    assert {"lead_scorer", "lead_scoring.v1"} <= set(CUSTOM_SUITES)
    for name in CUSTOM_SUITES:
        assert callable(get_main(name))
    with pytest.raises(InvalidInput, match="unknown custom suite 'no_such_suite'"):
        get_main("no_such_suite")
