"""Lead Scorer steps: gather the lead's features, route it, pick the promoted model (training one at cold start), score.

Inputs are computed as of the day (midnight UTC), so activity recency moves the input hash once a day and an
unchanged lead is not re-scored the same day.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.lead_scorer.llm import agent_written_bant, bant_source
from agents.lead_scorer.state import ScorerState
from agents.runtime.context import RunContext
from core.errors import InvalidInput, NotFound
from core.models import OutboxEvent
from core.repositories import lead_scoring as repo
from core.repositories import leads as lead_repo
from core.services import lead_routing, outputs
from tools.lead_scoring import training
from tools.lead_scoring.features import raw_features

AGENT = "lead_scorer"
PURPOSE = "lead_score"


def _as_of(now: datetime) -> datetime:
    return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)


def gather(session: Session, lead_id: int | None, now: datetime) -> dict[str, Any]:
    """The lead's features as of today and the promoted model's version: either change means a new score.

    BANT columns this agent filled itself count as still empty (their source texts' fingerprint, `bant_source`,
    stands in for them), so the run after an extraction sees the same inputs and is skipped; a person's BANT edit
    still counts. The score step reads the full features again.
    """
    records = repo.lead_records(session, [lead_id]) if lead_id is not None else []
    if not records:
        raise NotFound("lead", lead_id)
    promoted = repo.promoted_model(session, training.MODEL_NAME)
    as_of = _as_of(now)
    record = records[0]
    unread = {**record, "fields": {**record["fields"], **dict.fromkeys(agent_written_bant(record))}}
    return {"lead_id": lead_id, "as_of": as_of.isoformat(), "features": raw_features(unread, as_of),
            "model_id": promoted.id if promoted else None, "bant_source": bant_source(session, record["lead_id"])}


def full_features(session: Session, inputs: dict[str, Any]) -> dict[str, Any]:
    records = repo.lead_records(session, [inputs["lead_id"]])
    if not records:
        raise NotFound("lead", inputs["lead_id"])
    return raw_features(records[0], datetime.fromisoformat(inputs["as_of"]))


def lead_of_event(event: OutboxEvent) -> int | None:
    """lead.created/updated are about the lead itself; activity.logged only when the activity is on a lead."""
    if event.topic == "activity.logged":
        lead_id = (event.payload or {}).get("lead_id")
        return int(lead_id) if lead_id else None
    return event.aggregate_id


def open_leads(session: Session, now: datetime) -> list[int]:
    """Leads still being worked: what `salesagents run lead_scorer --all` re-scores."""
    return lead_repo.open_lead_ids(session)


def band(score: int) -> str:
    return "hot" if score >= 70 else "warm" if score >= 40 else "cold"


def route(state: ScorerState, runtime: Runtime[RunContext]) -> ScorerState:
    """A new lead without an owner goes to a rep by the `lead_routing` setting; an owned lead keeps its owner."""
    ctx = runtime.context
    with ctx.transaction() as session:
        routed = lead_routing.route_lead(session, state["inputs"]["lead_id"], ctx.settings.lead_routing,
                                         actor=f"agent:{ctx.agent}")
    return {"routing": {"owner_id": routed.owner_id, "rule": routed.rule}}


def choose_model(state: ScorerState, runtime: Runtime[RunContext]) -> ScorerState:
    """Cold start: no model yet -> train one from the closed leads; too few of them -> nothing to score with."""
    if state["inputs"]["model_id"] is not None:
        return {"model": None}
    ctx = runtime.context
    try:
        with ctx.transaction() as session:
            training.train_and_store(session, ctx.now)
    except InvalidInput as exc:
        return {"skipped": f"no scoring model yet: {exc.message}"}
    return {"model": None}


def _reason(text: str) -> str:
    return text.rsplit(" (", 1)[0]


def delta(old_score: int, old_at: datetime, old_factors: dict[str, Any], new_score: int,
          new_factors: dict[str, Any]) -> dict[str, Any]:
    """The change since the last score, with the factors that newly push in its direction."""
    change = new_score - old_score
    side = "raising" if change >= 0 else "lowering"
    before = {_reason(t) for t in old_factors.get(side, [])}
    reasons = [_reason(t) for t in new_factors.get(side, []) if _reason(t) not in before]
    text = f"{change:+d} since {old_at:%Y-%m-%d}"
    if change and reasons:
        text += f": {', '.join(reasons)}"
    return {"change": change, "since": old_at.isoformat(), "text": text}


def score(state: ScorerState, runtime: Runtime[RunContext]) -> ScorerState:
    """Score with the promoted model; write the agent score, the lead's score and factors, and a history row."""
    if state.get("skipped"):
        return {}
    ctx = runtime.context
    inputs = state["inputs"]
    with ctx.transaction() as session:
        current = training.current_scorer(session)
        if current is None:
            return {"skipped": "no promoted scoring model"}
        ref, scorer = current
        explained = scorer.explain(state.get("features") or full_features(session, inputs))
        factors = explained.factors_json() | {"probability": round(explained.probability, 4)}
        previous = repo.last_history(session, inputs["lead_id"])
        if previous is not None:
            factors["delta"] = delta(previous.score, previous.scored_at, previous.factors, explained.score, factors)
        row = outputs.write_score(session, ctx.origin, purpose=PURPOSE, score=explained.score,
                                  band=band(explained.score), factors=factors, model=ref)
        if not repo.history_has_score(session, inputs["lead_id"], row.id):
            repo.save_lead_score(session, inputs["lead_id"], score=int(row.score), model=ref, now=ctx.now,
                                 factors=dict(row.factors) | {"agent_score_id": row.id})
    return {"model": ref, "score": explained.score, "band": band(explained.score), "factors": factors}



