"""Agents: trigger a run, list runs (status, tokens, cost), run detail (model-call steps and outputs), and
the suggestions agents wrote on a lead, deal or account (accept / dismiss)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, FastAPI, Request
from pydantic import BaseModel, Field

from agents import registry
from agents.runtime import runs as run_service
from api.deps import CurrentUser, SessionDep
from api.routes.common import Limit, Offset, Out, PathId, RefId, Short, Text200
from core.errors import Conflict, InvalidInput
from core.models import Account, AgentRun, Contact, Deal, Lead, Quote, Suggestion
from core.repositories import api_views, scoping
from core.repositories.scoping import Principal
from core.services import suggestions as suggestion_service
from core.services.auth import Forbidden
from core.services.snapshot import snapshot

log = logging.getLogger(__name__)
router = APIRouter(tags=["agents"])
SUBJECT_MODELS: dict[str, type] = {"lead": Lead, "deal": Deal, "account": Account, "contact": Contact,
                                   "quote": Quote}


class AgentOut(BaseModel):
    name: str
    subject_type: str
    schedule: str | None
    events: list[str]


class RunIn(BaseModel):
    subject_id: RefId | None = None


class RunOut(Out):
    id: int
    agent: str
    trigger: str
    subject_type: str | None
    subject_id: int | None
    status: str
    model: str | None
    prompt_refs: list[str]
    input_tokens: int
    output_tokens: int
    llm_calls: int
    error: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cost_usd: float = 0.0


class StepOut(Out):
    id: int
    purpose: str
    prompt_ref: str | None
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: int
    cost_usd: Decimal
    outcome: str
    error: str | None
    created_at: datetime


class RunDetail(RunOut):
    summary: dict[str, Any]
    steps: list[StepOut]
    outputs: dict[str, list[dict[str, Any]]]


class SuggestionOut(Out):
    id: int
    run_id: int
    agent: str
    subject_type: str
    subject_id: int
    title: str
    body: str
    evidence: dict[str, Any]
    status: str
    prompt_ref: str | None
    model: str | None
    fallback: bool
    decided_at: datetime | None
    decided_by_id: int | None
    created_at: datetime


def enqueue_after_commit(app: FastAPI, run_id: int) -> None:
    """Runs after the response (the request's transaction has committed): hand the run to a worker. With no
    broker the run stays queued and the sweeper sends it later; the API never runs agents in-process."""
    enqueue: Callable[[int], None] | None = getattr(app.state, "enqueue", None)
    if enqueue is None:
        from agents.enqueue import broker_available, celery_enqueue

        settings = app.state.settings
        if not broker_available(settings.broker_url):
            log.warning("broker unreachable: run %s stays queued for the sweeper", run_id)
            return
        from agents.celery_app import create_app

        enqueue = app.state.enqueue = celery_enqueue(create_app(settings), settings)
    try:
        enqueue(run_id)
    except Exception:  # the run is committed as queued; the sweeper re-sends it
        log.exception("could not enqueue run %s", run_id)


def _check_subject(session: SessionDep, user: Principal, subject_type: str | None, subject_id: int | None) -> None:
    if user.is_admin:
        if subject_id is not None and subject_type in SUBJECT_MODELS:
            scoping.get_visible(session, user, SUBJECT_MODELS[subject_type], subject_id)
        return
    if subject_id is None or subject_type not in SUBJECT_MODELS:
        raise Forbidden("only an admin starts runs without a lead, deal, account, contact or quote subject")
    scoping.get_visible(session, user, SUBJECT_MODELS[subject_type], subject_id)


def _with_costs(session: SessionDep, rows: list[AgentRun]) -> list[RunOut]:
    costs = api_views.run_costs(session, [r.id for r in rows])
    return [RunOut.model_validate(r).model_copy(update={"cost_usd": costs.get(r.id, 0.0)}) for r in rows]


@router.get("/agents", response_model=list[AgentOut])
def list_agents(user: CurrentUser) -> Any:
    return [AgentOut(name=s.name, subject_type=s.subject_type, schedule=s.schedule, events=list(s.events))
            for s in registry.all_specs()]


@router.post("/agents/{name}/runs", response_model=RunOut, status_code=202)
def trigger_run(name: Short, body: RunIn, request: Request, background: BackgroundTasks, session: SessionDep,
                user: CurrentUser) -> Any:
    """Queue a manual run on a subject the caller may see; a worker executes it (poll GET /agents/runs/{id})."""
    spec = registry.get(name)
    if spec.subject_type in SUBJECT_MODELS and body.subject_id is None and not user.is_admin:
        raise InvalidInput("subject_id", f"{name} runs on a {spec.subject_type}: give its id")
    _check_subject(session, user, spec.subject_type, body.subject_id)
    run = run_service.create_run(session, name, "manual", spec.subject_type, body.subject_id)
    if run is None:
        raise Conflict(f"a run of {name} on this subject is already queued")
    session.refresh(run)
    background.add_task(enqueue_after_commit, request.app, run.id)
    request.app.state.metrics.agent_runs.labels(name).inc()
    return RunOut.model_validate(run)


@router.get("/agents/runs", response_model=list[RunOut])
def list_runs(session: SessionDep, user: CurrentUser, agent: Short | None = None, status: Short | None = None,
              limit: Limit = 50, offset: Offset = 0) -> Any:
    """Runs on subjects the caller may see (admins: all), newest first, with tokens and cost."""
    rows = api_views.runs(session, scoping.clause(user, AgentRun), agent=agent, status=status, limit=limit,
                          offset=offset)
    return _with_costs(session, list(rows))


@router.get("/agents/runs/{run_id}", response_model=RunDetail)
def get_run(run_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    run = scoping.get_visible(session, user, AgentRun, run_id)
    base = _with_costs(session, [run])[0]
    outputs = {kind: [_plain(r) for r in rows] for kind, rows in api_views.run_outputs(session, run_id).items()}
    return RunDetail(**base.model_dump(), summary=run.summary,
                     steps=[StepOut.model_validate(s) for s in api_views.run_llm_calls(session, run_id)],
                     outputs=outputs)


def _plain(row: Any) -> dict[str, Any]:
    data = snapshot(row)
    data.pop("embedding", None)
    return data


@router.get("/suggestions", response_model=list[SuggestionOut])
def list_suggestions(session: SessionDep, user: CurrentUser,
                     subject_type: Literal["lead", "deal", "account", "contact", "quote"] | None = None,
                     subject_id: RefId | None = None,
                     status: Literal["open", "accepted", "dismissed"] | None = None, limit: Limit = 100) -> Any:
    """Suggestions on objects in scope, e.g. ?subject_type=deal&subject_id=7&status=open."""
    return api_views.suggestions(session, scoping.clause(user, Suggestion), subject_type=subject_type,
                                 subject_id=subject_id, status=status, limit=limit)


class DismissIn(BaseModel):
    reason: Text200 | None = None


class DecisionOut(BaseModel):
    suggestion: SuggestionOut
    deal_id: int | None = Field(default=None, description="The deal an accepted expansion proposal created.")


def _decided(session: SessionDep, suggestion: Suggestion, deal_id: int | None) -> DecisionOut:
    session.refresh(suggestion)
    return DecisionOut(suggestion=SuggestionOut.model_validate(suggestion), deal_id=deal_id)


@router.post("/suggestions/{suggestion_id}/accept", response_model=DecisionOut)
def accept_suggestion(suggestion_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    """Accept once (a second decision is a 409); an expansion proposal becomes a deal (core/services/suggestions)."""
    suggestion = scoping.get_visible(session, user, Suggestion, suggestion_id)
    done = suggestion_service.accept(session, suggestion_id, user.user_id)
    return _decided(session, suggestion, done.deal_id)


@router.post("/suggestions/{suggestion_id}/dismiss", response_model=DecisionOut)
def dismiss_suggestion(suggestion_id: PathId, session: SessionDep, user: CurrentUser,
                       body: DismissIn | None = None) -> Any:
    suggestion = scoping.get_visible(session, user, Suggestion, suggestion_id)
    suggestion_service.dismiss(session, suggestion_id, user.user_id, reason=body.reason if body else None)
    return _decided(session, suggestion, None)
