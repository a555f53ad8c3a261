"""The Lead Scorer agent on a committed database: cold start, scores with factors, idempotent re-runs, triggers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from agents import registry
from agents.lead_scorer import agent_specs
from agents.lead_scorer.nodes import delta
from agents.runtime import runs
from agents.runtime.executor import execute_run
from core.db.engine import session_scope
from core.models import AgentRun, AgentScore, Lead, LeadScoreHistory, OutboxEvent
from core.models.scoring import ScoringModel
from tests import factories
from tests.conftest import committing_engine, registered
from tests.lead_scoring_data import make_leads

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """A database of this module's own: the executor commits."""
    yield from committing_engine("ls")


@pytest.fixture(scope="module", autouse=True)
def agents() -> Iterator[None]:
    yield from registered(agent_specs())


def _run(engine: Engine, lead_id: int) -> str:
    with session_scope(engine) as session:
        run = runs.create_run(session, "lead_scorer", "manual", "lead", lead_id)
        assert run is not None
        run_id = run.id
    outcome = execute_run(run_id, now=NOW, engine=engine)
    assert outcome.error is None
    return outcome.status


def _count(session: Session, model: type, *where: object) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def test_without_closed_leads_the_run_writes_no_score(engine: Engine) -> None:
    with session_scope(engine) as session:
        lead_id = factories.lead(session, employees=50).id
    assert _run(engine, lead_id) == "succeeded"
    with session_scope(engine) as session:
        assert _count(session, AgentScore) == 0 and _count(session, ScoringModel) == 0
        run = session.scalars(select(AgentRun).order_by(AgentRun.id.desc()).limit(1)).one()
        assert run.summary["outputs"]["scores"] == 0


def test_cold_start_scores_with_naive_bayes_then_reruns_are_idempotent(engine: Engine) -> None:
    with session_scope(engine) as session:
        make_leads(session, 80, seed=11)
        lead_id = factories.lead(session, employees=1500, custom_fields={"site_visits": 11}).id
    assert _run(engine, lead_id) == "succeeded"
    with session_scope(engine) as session:
        model = session.scalars(select(ScoringModel)).one()
        assert (model.kind, model.status, model.version) == ("naive_bayes", "promoted", 1)
        score = session.scalars(select(AgentScore).where(AgentScore.subject_id == lead_id)).one()
        lead = session.get(Lead, lead_id)
        assert lead is not None and lead.score == int(score.score) and lead.scored_at == NOW
        assert score.model == "lead_score@1:naive_bayes" and score.band in ("hot", "warm", "cold")
        assert lead.score_factors["raising"] and all("score)" in t for t in lead.score_factors["raising"])
        assert len(lead.score_factors["raising"]) <= 3 and len(lead.score_factors["lowering"]) <= 3
        history = session.scalars(select(LeadScoreHistory).where(LeadScoreHistory.lead_id == lead_id)).one()
        assert history.score == lead.score and history.model == score.model

    # The first run trained the model it scored with, so the promoted model is now part of the inputs.
    assert _run(engine, lead_id) == "succeeded"
    assert _run(engine, lead_id) == "skipped"
    with session_scope(engine) as session:
        assert _count(session, AgentScore, AgentScore.subject_id == lead_id) == 2
        factories.activity(session, lead_id=lead_id, occurred_at=NOW)
    assert _run(engine, lead_id) == "succeeded"
    with session_scope(engine) as session:
        assert _count(session, AgentScore, AgentScore.subject_id == lead_id) == 3
        assert _count(session, LeadScoreHistory, LeadScoreHistory.lead_id == lead_id) == 3
        last = session.scalars(select(AgentScore).where(AgentScore.subject_id == lead_id)
                               .order_by(AgentScore.id.desc()).limit(1)).one()
        lead = session.get(Lead, lead_id)
        assert lead is not None and lead.score == int(last.score) and lead.score_factors["agent_score_id"] == last.id
        previous = session.scalars(select(LeadScoreHistory).where(LeadScoreHistory.lead_id == lead_id)
                                   .order_by(LeadScoreHistory.id)).all()[-2]
        assert last.factors["delta"]["change"] == int(last.score) - previous.score
        assert last.factors["delta"]["text"].startswith(f"{int(last.score) - previous.score:+d} since 2026-11-02")


def test_delta_names_the_factors_that_newly_moved_the_score() -> None:
    old = {"raising": ["Source: web (raises the score)"], "lowering": ["no call logged yet (lowers the score)"]}
    new = {"raising": ["Source: web (raises the score)", "2 calls logged (raises the score)"], "lowering": []}
    assert delta(40, NOW, old, 52, new) == {"change": 12, "since": NOW.isoformat(),
                                            "text": "+12 since 2026-11-02: 2 calls logged"}
    assert delta(52, NOW, new, 52, new)["text"] == "+0 since 2026-11-02"
    assert delta(52, NOW, new, 45, old)["text"] == "-7 since 2026-11-02: no call logged yet"


def test_triggers_are_lead_created_and_activities_on_leads(engine: Engine) -> None:
    spec = registry.get("lead_scorer")
    assert spec.events == ("lead.created", "lead.updated", "activity.logged")
    assert spec.event_subject(OutboxEvent(topic="lead.created", aggregate_type="lead", aggregate_id=7,
                                          payload={})) == 7
    assert spec.event_subject(OutboxEvent(topic="activity.logged", aggregate_type="activity", aggregate_id=3,
                                          payload={"lead_id": 9})) == 9
    assert spec.event_subject(OutboxEvent(topic="activity.logged", aggregate_type="activity", aggregate_id=3,
                                          payload={"deal_id": 2})) is None
    assert "lead_scorer" in {s.name for s in registry.for_topic("activity.logged")}


def test_a_sweep_covers_the_open_leads(engine: Engine) -> None:
    with session_scope(engine) as session:
        open_id = factories.lead(session).id
        subjects = registry.get("lead_scorer").subjects
        assert subjects is not None and open_id in subjects(session, NOW)
