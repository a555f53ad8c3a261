"""deal_coach.v1: (a) stall flags on hand-built scenarios, (b) the forecast on Maven's CRM opportunities,
(c) grounding of the coach's suggestions.

(a) Precision and recall per flag of `detect` (through the agent's own `detect_all`) against each case's
    expected flags, in a throwaway database.
(b) At several cutoffs, the won value in the next 90 days from the deals open at the cutoff: predicted by
    age-aware win rates (tools.deal_coach.winrates, learned only from what was known at the cutoff) and by plain
    stage-probability weighting (the stage's historical win rate), against the actual; amount = product price.
(c) The agent on every flagged scenario deal with a model answering in turn a grounded reply, an invented
    name, an invented amount and an invented date: the share of stored suggestions citing only the deal's facts
    and naming its problems (must be 1.0), the share of model answers kept, and how many fell back.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine

from agents import registry
from agents.deal_coach import agent_specs
from agents.deal_coach.nodes import detect_all, grounding_facts, similar_won_deals
from agents.runtime import runs
from agents.runtime.executor import execute_run
from core.config import Settings
from core.db.engine import session_scope
from core.models import LlmCall, Suggestion
from core.repositories import deal_coach as repo
from evals.deal_coach.scenarios import Case, build_all
from tools.deal_coach.facts import AGENT
from tools.deal_coach.flags import FLAGS
from tools.deal_coach.grounding import problems
from tools.deal_coach.winrates import AgeWinRates, Opportunity, open_at, stage_rate, won_within

SUITE_ID = "deal_coach.v1"
MAVEN = "maven_crm_sales_opportunities"
CUTOFFS = (date(2017, 3, 31), date(2017, 5, 31), date(2017, 7, 31), date(2017, 9, 30))
HORIZON = 90


@dataclass
class ForecastRow:
    cutoff: str
    open_deals: int
    actual: float
    stage_weighted: float
    age_aware: float
    stage_error: float  # (predicted - actual) / actual
    age_error: float


@dataclass
class DealCoachResult:
    scenarios: int
    flags: dict[str, dict[str, float]]
    mismatches: list[str] = field(default_factory=list)
    forecast: list[ForecastRow] = field(default_factory=list)
    forecast_skipped: str | None = None
    forecast_mape: dict[str, float] = field(default_factory=dict)
    grounding: dict[str, Any] = field(default_factory=dict)


def _pr(expected: set[int], predicted: set[int]) -> dict[str, float]:
    hits = len(expected & predicted)
    return {"precision": hits / len(predicted) if predicted else 1.0,
            "recall": hits / len(expected) if expected else 1.0,
            "expected": len(expected), "predicted": len(predicted)}


def flag_scores(engine: Engine, now: datetime, settings: Settings,
                cases: list[Case] | None = None) -> tuple[dict[int, Case], dict[str, dict[str, float]], list[str]]:
    """Build the scenarios and score the flags found on them."""
    with session_scope(engine) as session:
        built = build_all(session, now, cases)
    with session_scope(engine) as session:
        found = {d.deal_id: {f.code for f in flags} for d, flags in detect_all(session, now, settings, list(built))}
    scores = {code: _pr({i for i, c in built.items() if code in c.expected},
                        {i for i, got in found.items() if code in got}) for code in FLAGS}
    mismatches = [f"{c.name}: expected {sorted(c.expected)}, got {sorted(found.get(i, set()))}"
                  for i, c in built.items() if set(c.expected) != found.get(i, set())]
    return built, scores, mismatches


# --- (b) forecast on the Maven data set ------------------------------------------------------------------------

def load_maven(folder: Path) -> list[Opportunity]:
    """Engaged opportunities (prospecting ones have no date and cannot be placed in time), amount = list price."""
    prices = {row["product"]: float(row["sales_price"]) for row in csv.DictReader((folder / "products.csv").open())}
    prices.setdefault("GTXPro", prices.get("GTX Pro", 0.0))  # the pipeline spells this product without a space
    opps = []
    for row in csv.DictReader((folder / "sales_pipeline.csv").open()):
        if not row["engage_date"]:
            continue
        closed = date.fromisoformat(row["close_date"]) if row["close_date"] else None
        opps.append(Opportunity(row["opportunity_id"], prices[row["product"]], date.fromisoformat(row["engage_date"]),
                                closed, row["deal_stage"] == "Won"))
    return opps


def forecast_rows(opps: list[Opportunity], cutoffs: tuple[date, ...] = CUTOFFS) -> list[ForecastRow]:
    rows = []
    for cutoff in cutoffs:
        known = [o if o.closed is not None and o.closed <= cutoff else
                 Opportunity(o.id, o.amount, o.engaged, None, False) for o in opps if o.engaged <= cutoff]
        model = AgeWinRates(horizon=HORIZON).fit(known, cutoff)
        p_stage = stage_rate(known, cutoff)
        pipeline = open_at(opps, cutoff)
        actual = sum(o.amount for o, _ in pipeline if won_within(o, cutoff, HORIZON))
        stage_pred = sum(o.amount * p_stage for o, _ in pipeline)
        age_pred = sum(o.amount * model.rate(age) for o, age in pipeline)
        rows.append(ForecastRow(cutoff.isoformat(), len(pipeline), round(actual, 2), round(stage_pred, 2),
                                round(age_pred, 2), round((stage_pred - actual) / actual, 4) if actual else 0.0,
                                round((age_pred - actual) / actual, 4) if actual else 0.0))
    return rows


# --- (c) grounding ---------------------------------------------------------------------------------------------

def _tool_reply(arguments: dict[str, Any]) -> httpx.Response:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "NextActions", "arguments": json.dumps(arguments)}}
    return httpx.Response(200, json={
        "id": "chatcmpl-eval", "object": "chat.completion", "created": 0, "model": "scripted",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                     "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 400, "completion_tokens": 60, "total_tokens": 460}})


def scripted_model(today: date) -> tuple[httpx.Client, Counter[str]]:
    """A model that, request after request, answers grounded, then invents a person, an amount, a date."""
    due = (today + timedelta(days=2)).isoformat()
    variants = [
        ("grounded", "Call the decision maker and book the next meeting",
         "No next step is planned and there is no recent activity; the close date and the stage show the deal "
         "has stalled without a decision maker."),
        ("invented_person", "Call Jennifer Walsh to restart the talks", "Jennifer Walsh has not been contacted."),
        ("invented_amount", "Offer a package of $48,500 to close this month", "The customer asked for $48,500."),
        ("invented_date", "Send the contract before 2019-02-14", "They promised to sign on 2019-02-14."),
    ]
    asked: Counter[str] = Counter()
    state = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        kind, action, why = variants[state["n"] % len(variants)]
        state["n"] += 1
        asked[kind] += 1
        return _tool_reply({"actions": [{"action": action, "why": why, "due_date": due}]})

    return httpx.Client(transport=httpx.MockTransport(handle)), asked


def grounding_check(engine: Engine, built: dict[int, Case], now: datetime, settings: Settings,
                    http_client: httpx.Client | None, limit: int | None = None) -> dict[str, Any]:
    """Run the agent on every flagged deal (or the first `limit`), then re-check each stored suggestion against
    its deal's facts."""
    specs = [s for s in agent_specs() if s.name not in {x.name for x in registry.all_specs()}]
    for spec in specs:
        registry.register(spec)
    try:
        with session_scope(engine) as session:
            flagged = [d.deal_id for d, f in detect_all(session, now, settings, list(built)) if f][:limit]
            run_ids = []
            for deal_id in flagged:
                run = runs.create_run(session, AGENT, "manual", "deal", deal_id)
                assert run is not None
                run_ids.append(run.id)
        statuses = Counter(execute_run(r, now=now, engine=engine, settings=settings, http_client=http_client).status
                           for r in run_ids)
    finally:
        for spec in specs:
            registry.unregister(spec.name)
    grounded = fallback = 0
    failures: list[str] = []
    samples: list[str] = []
    with session_scope(engine) as session:
        suggestions = session.scalars(select(Suggestion).where(Suggestion.agent == AGENT,
                                                               Suggestion.subject_type == "deal")).all()
        for s in suggestions:
            [(deal, flags)] = detect_all(session, now, settings, [s.subject_id])
            contacts = repo.account_contacts(session, [deal.account_id]).get(deal.account_id, []) \
                if deal.account_id else []
            facts = grounding_facts(session, deal, contacts, repo.timeline(session, deal.deal_id, now),
                                    similar_won_deals(session, deal, settings), now.date(), flags)
            issues = [p for a in s.evidence.get("actions", [])
                      for p in problems(f"{a['action']}. {a['why']}", facts,
                                        due=date.fromisoformat(a["due_date"]))]
            grounded += not issues
            fallback += s.fallback
            if not s.fallback and len(samples) < 3:
                samples.append(s.body)
            if issues:
                failures.append(f"suggestion {s.id} on deal {s.subject_id}: {'; '.join(issues)}")
        outcomes = Counter(session.scalars(select(LlmCall.outcome).where(LlmCall.agent == AGENT)))
    n = len(suggestions)
    model_ok = outcomes.get("ok", 0) + outcomes.get("repaired", 0)
    return {"runs": dict(statuses), "suggestions": n, "grounded_rate": grounded / n if n else 1.0,
            "fallback": fallback, "model_grounded": model_ok,
            "model_grounded_rate": model_ok / sum(outcomes.values()) if outcomes else 0.0,
            "llm_outcomes": dict(outcomes), "failures": failures, "samples": samples}


def as_json(result: DealCoachResult) -> str:
    return json.dumps(asdict(result), separators=(",", ":"))
