"""Nightly lead-model retraining: beat schedules it from `lead_model_retrain`; the task trains and promotes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from celery.schedules import crontab
from sqlalchemy import select
from sqlalchemy.engine import URL

from agents.celery_app import beat_schedule
from agents.enqueue import RETRAIN_LEAD_MODEL
from agents.tasks import retrain_lead_model
from core.config import Settings
from core.db.engine import make_engine, session_scope
from core.models.scoring import ScoringModel
from tests.lead_scoring_data import make_leads

NIGHT = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)


def test_beat_runs_the_retraining_on_its_cron_and_off_disables_it() -> None:
    entries = beat_schedule(Settings(agent_schedules={"lead_model_retrain": "15 3 * * *"}, task_expires_s=900), [])
    entry = entries["lead_model_retrain"]
    assert entry["task"] == RETRAIN_LEAD_MODEL and entry["schedule"] == crontab(minute="15", hour="3")
    assert entry["options"] == {"expires": 900}
    assert beat_schedule(Settings(), [])["lead_model_retrain"]["schedule"] == crontab(minute="0", hour="2")
    assert "lead_model_retrain" not in beat_schedule(Settings(agent_schedules={"lead_model_retrain": "off"}), [])


def test_the_task_trains_a_version_each_night_and_reports_too_little_history(scratch_db: URL) -> None:
    empty = retrain_lead_model()
    assert empty["trained"] is False and "closed leads" in empty["reason"]
    engine = make_engine(scratch_db)
    with session_scope(engine) as session:
        make_leads(session, 80)
    first = retrain_lead_model()
    second = retrain_lead_model()
    json.dumps([first, second])  # Celery results are JSON
    assert (first["trained"], first["version"], first["promoted"]) == (True, 1, True)
    assert second["version"] == 2 and second["compared_with"] is not None
    with session_scope(engine) as session:
        versions = session.scalars(select(ScoringModel).order_by(ScoringModel.version)).all()
        assert [v.version for v in versions] == [1, 2]
        assert [v.status for v in versions].count("promoted") == 1
    engine.dispose()
