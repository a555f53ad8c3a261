"""The nps_followup.v1 suite end to end in scripted mode (real reviews, real agent, throwaway database), and its
clear skip when the data set is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import get_settings
from evals.custom_suites import run_custom


def _with_datasets(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("SALESAGENTS_DATASETS_DIR", str(path))
    get_settings.cache_clear()


def test_scripted_suite_routes_tasks_and_validates_every_draft(datasets_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _with_datasets(monkeypatch, datasets_dir)
    try:
        code = run_custom("nps_followup", ["--scripted", "--limit", "6", "--injections", "3", "--json"])
    finally:
        get_settings.cache_clear()
    metrics = json.loads(capsys.readouterr().out)
    assert code == 0, metrics
    assert (metrics["cases"], metrics["injection_cases"]) == (9, 3)
    assert metrics["routing_accuracy"] == metrics["task_accuracy"] == metrics["accuracy"] == 1.0
    assert metrics["validator_pass_rate"] == metrics["draft_rate"] == metrics["injection_ok_rate"] == 1.0
    assert metrics["repeated_run_outputs"] == metrics["repeated_run_llm_calls"] == 0
    assert metrics["fallbacks"] >= 3  # every obeyed attack was refused and replaced by the template
    assert metrics["model"] == "scripted" and metrics["mismatches"] == 0


def test_missing_data_set_skips_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _with_datasets(monkeypatch, tmp_path)
    try:
        code = run_custom("nps_followup.v1", ["--scripted", "--json"])
    finally:
        get_settings.cache_clear()
    assert code == 0
    assert "nps_followup.v1 skipped" in capsys.readouterr().err
