"""The demo's agent step on a small seeded CRM: every agent runs once and says what it wrote; the second time it
finds nothing new. Model-calling agents get no subjects here (`llm_limit=0`), so no model is needed."""

from __future__ import annotations

import pytest

from api.cli.demo_agents import PER_SUBJECT_MODEL, run_all
from api.cli.seed import run_seed
from core.config import get_settings


def test_every_agent_runs_once_and_a_second_demo_writes_nothing_new(scratch_db: object,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SALESAGENTS_AGENT_MODULES", raising=False)
    get_settings.cache_clear()
    run_seed(accounts=40, seed=7)
    first = {line.split(":", 1)[0]: line for line in run_all(0, skip=("lead_scorer",))}
    assert "lead_scorer" not in first and {"health_monitor", "upsell_detector", "deal_coach"} <= set(first)
    assert "succeeded" in first["health_monitor"] and " scores" in first["health_monitor"]
    assert "0 model call(s)" in first["health_monitor"]  # a first score has no earlier band to drop from
    for name in PER_SUBJECT_MODEL:
        assert "no subjects today" in first[name]
    again = {line.split(":", 1)[0]: line for line in run_all(0, skip=("lead_scorer",))}
    for line in again.values():
        assert "wrote nothing new" in line or "no subjects today" in line, line
    get_settings.cache_clear()
