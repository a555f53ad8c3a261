"""Deal Coach steps: flags from tools.deal_coach (deterministic), next actions from the model (grounded, else the
fallback actions), then a suggestion, a task for the owner and the deal's win probability.

The gathered inputs are the deal's facts that do not move with the clock plus the codes of its flags (see
`DealSnapshot.facts`): the same deal with the same flags hashes alike, so the executor skips it and the daily
sweep does not even create a run for it. Day counts (idle days, days in stage) are recomputed when advising.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.deal_coach.state import CoachState
from agents.runtime.context import RunContext
from agents.runtime.executor import input_hash
from core.config import Settings, get_settings
from core.errors import InvalidInput, NotFound
from core.llm import ledger, retry
from core.llm.embeddings import get_embedder
from core.llm.factory import model_config
from core.llm.generate import estimate_tokens
from core.llm.guards import GuardContext
from core.llm.structured import StructuredOutputError, extract
from core.models import OutboxEvent
from core.models.enums import TaskPriority
from core.repositories import deal_coach as repo
from core.services import embedding_job, outputs
from prompts.registry import Prompt, read_file, root
from tools.deal_coach.actions import NextActions, as_evidence, fallback_actions, grounded_schema, render
from tools.deal_coach.facts import AGENT, snapshots, stage_norms, thresholds
from tools.deal_coach.flags import TOPICS, DealSnapshot, Flag, detect
from tools.deal_coach.grounding import GroundingFacts
from tools.deal_coach.norms import StageNorm

SUGGESTION = "next-actions"
TASK = "next-action"
SCORE = "win-probability"
NO_NORM = StageNorm(None, "none", 0)
SIMILAR_SEARCH_K = 25


def detect_all(session: Session, now: datetime, settings: Settings,
               deal_ids: list[int] | None = None) -> list[tuple[DealSnapshot, list[Flag]]]:
    """Every open deal (or the given ones) with its flags as of `now`."""
    snaps = snapshots(session, now, deal_ids)
    norms = stage_norms(session, [s.pipeline_id for s in snaps], settings) if snaps else {}
    limits = thresholds(settings)
    return [(s, detect(s, norms.get(s.stage_id, NO_NORM), now, limits)) for s in snaps]


def coach_inputs(deal: DealSnapshot, flags: list[Flag]) -> dict[str, Any]:
    return {"deal": deal.facts(), "status": "open", "flags": [f.code for f in flags]}


def gather(session: Session, deal_id: int | None, now: datetime) -> dict[str, Any]:
    """The deal's stable facts and flag codes; a closed deal gathers its status only (nothing to coach)."""
    if deal_id is None:
        raise InvalidInput("subject_id", "the Deal Coach runs on one deal")
    rows = repo.deal_rows(session, [deal_id], open_only=False)
    if not rows:
        raise NotFound("deal", deal_id)
    status = str(rows[0]["status"])
    if status != "open":
        return {"deal": {"deal_id": deal_id}, "status": status, "flags": []}
    [(deal, flags)] = detect_all(session, now, get_settings(), [deal_id])
    return coach_inputs(deal, flags)


def flagged_changed_deals(session: Session, now: datetime) -> list[int]:
    """The daily sweep's subjects: open deals with a flag whose facts or flags changed since last coached."""
    flagged = [(d, f) for d, f in detect_all(session, now, get_settings()) if f]
    coached = repo.coached_hashes(session, AGENT, [d.deal_id for d, _ in flagged])
    return [d.deal_id for d, f in flagged if coached.get(d.deal_id) != input_hash(coach_inputs(d, f))]


def deal_of_event(event: OutboxEvent) -> int | None:
    """A stage change is the deal's; an activity counts when it is logged on a deal (fresh advice on new facts)."""
    if event.topic in ("deal.stage_changed", "deal.updated"):
        return event.aggregate_id
    deal_id = (event.payload or {}).get("deal_id")
    return int(deal_id) if deal_id else None


def route_start(state: CoachState) -> str:
    return "advise" if state["inputs"]["flags"] else "__end__"


def _day(value: datetime | date | None) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value


def similar_won_deals(session: Session, deal: DealSnapshot, settings: Settings) -> list[dict[str, Any]]:
    """Won deals of the accounts most similar to this deal's (pgvector over account descriptions).

    The query is the deal's summary (name, account, industry, description), embedded in memory; a deal-level
    source in text_embeddings needs a migration (its CHECK lists the sources), so accounts stand in for deals.
    """
    k = settings.deal_coach_similar_deals
    if k <= 0 or not repo.account_vectors_exist(session):
        return []
    summary = ". ".join(p for p in (deal.name, deal.account_name, *repo.account_profile(session, deal.account_id))
                        if p)
    hits = embedding_job.search(session, get_embedder(settings), "account_description", summary,
                                k=SIMILAR_SEARCH_K)
    ranked = [h.entity_id for h in hits if h.entity_id != deal.account_id]
    won = repo.won_deals_of_accounts(session, ranked, deal.deal_id, limit=4 * k)
    order = {account_id: i for i, account_id in enumerate(ranked)}
    won.sort(key=lambda r: (order.get(r["account_id"], len(order)), -r["id"]))
    return [{"deal_id": r["id"], "name": r["name"], "account": r["account_name"], "amount": str(r["amount"]),
             "currency": r["currency"], "cycle_days": int(r["cycle_days"] or 0),
             "won_on": _day(r["closed_at"])} for r in won[:k]]


def _person(c: dict[str, Any]) -> str:
    name = f"{c['first_name']} {c['last_name']}".strip()
    extras = [x for x in (c.get("title"), (c.get("buying_role") or "").replace("_", " ") or None) if x]
    return f"{name} ({', '.join(extras)})" if extras else name


def _timeline_line(a: dict[str, Any]) -> str:
    who = f" with {a['contact']}" if a.get("contact") else ""
    body = f": {a['body'][:240]}" if a.get("body") else ""
    return f"{_day(a['occurred_at'])} {a['kind']}{who}: {a['subject']}{body}"


def grounding_facts(session: Session, deal: DealSnapshot, contacts: list[dict[str, Any]],
                    timeline: list[dict[str, Any]], similar: list[dict[str, Any]], today: date,
                    flags: Sequence[Flag] = ()) -> GroundingFacts:
    """Everything the advice may cite, from trusted CRM fields only."""
    dates = {_day(deal.stage_entered_at), _day(deal.created_at), deal.expected_close_date,
             _day(deal.last_activity_at)}
    dates |= {_day(a["occurred_at"]) for a in timeline} | {_day(s["at"]) for s in deal.next_steps}
    for change in deal.close_date_changes:
        dates |= {_day(change["at"])} | {date.fromisoformat(str(v)) for v in (change["from"], change["to"]) if v}
    dates |= {s["won_on"] for s in similar}
    people = [deal.owner_name, *(f"{c['first_name']} {c['last_name']}" for c in contacts),
              *(a.get("contact") for a in timeline), *(a.get("user") for a in timeline)]
    names = [deal.name, deal.account_name, deal.stage, *(s["name"] for s in similar), *(s["account"] for s in similar)]
    return GroundingFacts(today=today, dates=frozenset(d for d in dates if d is not None),
                          amounts=frozenset({deal.amount, *(_dec(s["amount"]) for s in similar)}),
                          people=GroundingFacts.tokens(people), names=GroundingFacts.tokens(names),
                          known_people=GroundingFacts.tokens(repo.person_names(session)),
                          topics=frozenset().union(*(TOPICS[f.code] for f in flags), GroundingFacts.tokens(
                              [deal.stage] if any(f.code == "stage_overdue" for f in flags) else [])))


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def prompt_inputs(deal: DealSnapshot, flags: list[Flag], contacts: list[dict[str, Any]],
                  timeline: list[dict[str, Any]], similar: list[dict[str, Any]], today: date) -> dict[str, Any]:
    return {"deal_name": deal.name, "account_name": deal.account_name or "no account", "stage": deal.stage,
            "amount": str(deal.amount), "currency": deal.currency,
            "close_date": deal.expected_close_date.isoformat() if deal.expected_close_date else None,
            "today": today.isoformat(), "owner": deal.owner_name or "unassigned",
            "people": [_person(c) for c in contacts], "flags": [f.message for f in flags],
            "timeline": [_timeline_line(a) for a in timeline] or ["no activities logged"],
            "similar": [f"{s['name']} ({s['account']}): won {s['won_on']}, {s['amount']} {s['currency']}, "
                        f"{s['cycle_days']} days from creation to win" for s in similar]}


def ask_model(session: Session, ctx: RunContext, prompt: Prompt, inputs: dict[str, Any],
              facts: GroundingFacts) -> tuple[NextActions | None, str, str, str | None]:
    """(actions or None, ledger outcome, model label, why not): one ledger row for the call and its repair."""
    messages = prompt.messages(**inputs)
    cfg = model_config(prompt.purpose, ctx.settings)

    def record(outcome: str, *, tokens: tuple[int, int] = (0, 0), attempts: int = 0, latency_ms: int = 0,
               error: str | None = None) -> None:
        ledger.record_call(session, agent=ctx.agent, purpose=prompt.purpose, prompt_ref=prompt.ref, model=cfg.label,
                           input_tokens=tokens[0], output_tokens=tokens[1], latency_ms=latency_ms,
                           attempts=attempts, outcome=outcome, error=error, run_id=ctx.run_id, at=ctx.now,
                           settings=ctx.settings)

    budget = ledger.budget_left(session, ctx.agent, ctx.run_id, ctx.now, ctx.settings)
    needed = estimate_tokens(messages, cfg.max_tokens)
    if not budget.allows(needed):
        record("over_budget", error=budget.describe(needed))
        return None, "over_budget", cfg.label, budget.describe(needed)
    guard = GuardContext(min_chars=5, max_chars=600, instructions=prompt.instructions)
    try:
        result = extract(grounded_schema(facts, guard), messages, purpose=prompt.purpose,
                         http_client=ctx.http_client, settings=ctx.settings)
    except StructuredOutputError as exc:
        record("fallback", tokens=(exc.input_tokens, exc.output_tokens), attempts=exc.attempts,
               latency_ms=exc.latency_ms, error=str(exc))
        return None, "fallback", cfg.label, exc.errors
    except retry.ModelCallError as exc:
        record("error", attempts=exc.attempts, error=str(exc))
        return None, "error", cfg.label, str(exc)
    record(result.outcome, tokens=(result.input_tokens, result.output_tokens), attempts=result.attempts,
           latency_ms=result.latency_ms)
    return result.value, result.outcome, result.model, None


def advise(state: CoachState, runtime: Runtime[RunContext]) -> CoachState:
    """Next actions for the flagged deal: the model's if grounded (after at most one repair), else the fallback."""
    ctx, deal_id = runtime.context, int(state["inputs"]["deal"]["deal_id"])
    today = ctx.now.date()
    prompt = read_file(root() / "deal_coach" / "next_actions.md.j2")
    with ctx.transaction() as session:
        [(deal, flags)] = detect_all(session, ctx.now, ctx.settings, [deal_id])
        if not flags:
            return {"advice": {"flags": []}}
        contacts = repo.account_contacts(session, [deal.account_id]).get(deal.account_id, []) if deal.account_id \
            else []
        timeline = repo.timeline(session, deal_id, ctx.now)
        similar = similar_won_deals(session, deal, ctx.settings)
        facts = grounding_facts(session, deal, contacts, timeline, similar, today, flags)
        value, outcome, model, why_not = ask_model(session, ctx, prompt,
                                                   prompt_inputs(deal, flags, contacts, timeline, similar, today),
                                                   facts)
    fallback = value is None
    actions = fallback_actions(deal, flags, today) if value is None else value
    return {"advice": {
        "flags": [{"code": f.code, "message": f.message, "evidence": f.evidence} for f in flags],
        "actions": as_evidence(actions), "fallback": fallback, "outcome": outcome, "note": why_not,
        "prompt_ref": prompt.ref, "model": "template" if fallback else model, "similar": similar,
        "deal": {"name": deal.name, "account_id": deal.account_id, "owner_id": deal.owner_id, "stage": deal.stage,
                 "win_probability": str(deal.win_probability), "amount": str(deal.amount),
                 "currency": deal.currency}}}


def write(state: CoachState, runtime: Runtime[RunContext]) -> CoachState:
    """The suggestion on the deal, the owner's task (the first action) and the stage's win probability."""
    ctx, advice = runtime.context, state["advice"]
    if not advice.get("flags"):
        return {}
    actions = NextActions.model_validate({"actions": advice["actions"]})
    deal, first = advice["deal"], actions.actions[0]
    codes = [f["code"] for f in advice["flags"]]
    with ctx.transaction() as session:
        suggestion = outputs.write_suggestion(
            session, ctx.origin, purpose=SUGGESTION, title=f"{deal['name']}: {', '.join(codes)}"[:255],
            body=render(actions),
            evidence={"flags": advice["flags"], "actions": advice["actions"], "similar_won_deals": advice["similar"],
                      "win_probability": deal["win_probability"], "outcome": advice["outcome"],
                      "note": advice["note"]},
            prompt_ref=advice["prompt_ref"], model=advice["model"], fallback=advice["fallback"])
        repo.supersede_open_suggestions(session, ctx.agent, ctx.origin.subject_id, suggestion.id, ctx.now)
        due = datetime.combine(first.due_date, time(17, 0), tzinfo=UTC)
        task = outputs.write_task(
            session, ctx.origin, purpose=TASK, title=first.action, assignee_id=deal["owner_id"], due_at=due,
            description=f"{first.why}\nDeal coach suggestion #{suggestion.id}: {', '.join(codes)}",
            priority=TaskPriority.high if len(codes) >= 3 else TaskPriority.normal,
            prompt_ref=advice["prompt_ref"], model=advice["model"], deal_id=ctx.subject_id,
            account_id=deal["account_id"])
        score = outputs.write_score(session, ctx.origin, purpose=SCORE, score=_dec(deal["win_probability"]),
                                    band=deal["stage"], factors={"stage": deal["stage"], "method": "stage probability",
                                                                 "flags": codes}, model="stage_probability")
    return {"written": {"suggestion_id": suggestion.id, "task_id": task.id, "score_id": score.id}}
