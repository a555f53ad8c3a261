"""Health Monitor steps: score the account (deterministic, tools.health), store the score with its diff against
the previous one, and on a drop into a worse band give the CSM a task whose summary the model writes.

The inputs hold only facts (no previous score), so an account whose facts did not change is skipped by the
executor without a new score or a model call; the score, the summary's model call and the task are keyed by
the input hash, so a re-run on the same facts finds them instead of adding more.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.health_monitor.state import HealthState
from agents.runtime.context import RunContext
from core.config import get_settings
from core.llm.generate import FallbackRejectedError, generate_text
from core.llm.guards import GuardContext
from core.models import OutboxEvent
from core.models.enums import TaskPriority
from core.repositories import health as repo
from core.services import outputs
from prompts.registry import read_file, root
from tools.health.api import PURPOSE
from tools.health.assess import assess
from tools.health.scoring import band_of, diff, drivers, worse

EVENTS = ("nps.response_received", "payment.received", "activity.logged")
TASK = "band_drop"


def gather(session: Session, account_id: int | None, now: datetime) -> dict[str, Any]:
    """The account's health as of now: facts, own score and factors, roll-up over its children."""
    from core.errors import NotFound

    if account_id is None:
        raise NotFound("account", account_id)
    return assess(session, account_id, now, get_settings())


def subjects(session: Session, now: datetime) -> list[int]:
    """The weekly sweep: customer accounts and the parents of customers."""
    return repo.customer_ids(session)


def event_subject(event: OutboxEvent) -> int | None:
    """The account an event concerns: NPS answers and payments always, activities only when a meeting."""
    payload = event.payload or {}
    if event.topic == "activity.logged" and payload.get("kind") != "meeting":
        return None
    account_id = payload.get("account_id")
    return int(account_id) if account_id else None


def _previous(session: Session, account_id: int, key: str) -> tuple[dict[str, Any] | None, float | None,
                                                                     datetime | None]:
    row = repo.previous_score(session, account_id, key)
    if row is None:
        return None, None, None
    factors = dict(row.factors or {})
    at = datetime.fromisoformat(factors["scored_at"]) if factors.get("scored_at") else row.created_at
    return factors | {"band": row.band}, float(row.score), at


def score(state: HealthState, runtime: Runtime[RunContext]) -> HealthState:
    """Store the score (once per input) with the diff against the previous stored score."""
    ctx, inputs = runtime.context, state["inputs"]
    value = inputs["score"]
    if value is None:
        return {"scored": {"score": None, "reason": "no signal has data for this account"}}
    band = band_of(value)
    origin = ctx.origin
    with ctx.transaction() as session:
        previous, previous_score, previous_at = _previous(session, inputs["account_id"], origin.key(PURPOSE))
        signals = inputs["factors"].get("signals", {})
        change = diff(value, signals, previous, previous_score, ctx.now, previous_at)
        factors = inputs["factors"] | {"diff": change, "scored_at": ctx.now.isoformat()}
        row = outputs.write_score(session, origin, purpose=PURPOSE, score=value, band=band, factors=factors,
                                  model=f"health:{inputs['factors']['weights_source']}")
        old_band = previous.get("band") if previous else None
        return {"scored": {"score_id": row.id, "score": value, "band": band, "previous_band": old_band,
                           "previous_score": round(previous_score) if previous_score is not None else None,
                           "diff": change, "dropped": worse(band, old_band)}}


def route_score(state: HealthState) -> str:
    """A drop into a worse band gets a task: the CSM's, else the account manager's, else unassigned (visible to
    managers) rather than lost."""
    return "summarize" if state["scored"].get("dropped") else "__end__"


def _drivers(inputs: dict[str, Any], scored: dict[str, Any]) -> list[str]:
    """Children driving a roll-up, then the signals costing most points that the diff does not already name
    (each fact said once: the guards refuse repeated phrases)."""
    factors = inputs["factors"]
    named = (scored.get("diff") or {}).get("reason_signals", [])
    rolled = factors.get("rollup", {}).get("drivers", [])
    return [*rolled, *drivers(factors.get("signals", {}), skip=named)][:4]


NUMBER = re.compile(r"\d+(?:[.,]\d+)*%?")


def invented_numbers(text: str, facts: str) -> list[str]:
    """Numbers in the model's text that the facts it was given do not contain (a small model invents them)."""
    known = set(NUMBER.findall(facts))
    return [n for n in NUMBER.findall(text) if n not in known]


def summarize(state: HealthState, runtime: Runtime[RunContext]) -> HealthState:
    """The CSM's summary from the model (guarded, and holding no number it was not given), else the template
    built from the same facts."""
    ctx, inputs, scored = runtime.context, state["inputs"], state["scored"]
    prompt = read_file(root() / "health_monitor" / "summary.md.j2")
    change = scored["diff"] or {}
    values = {"account_name": inputs["account_name"], "score": scored["score"], "band": scored["band"],
              "previous_score": scored["previous_score"], "previous_band": scored["previous_band"],
              "change": change.get("summary", ""), "reasons": change.get("reasons", []),
              "drivers": _drivers(inputs, scored)}
    with ctx.transaction() as session:
        try:
            text = generate_text(
                session, agent=ctx.agent, prompt=prompt, run_id=ctx.run_id, http_client=ctx.http_client,
                now=ctx.now, settings=ctx.settings, guard=GuardContext(language="en", min_chars=20, max_chars=900),
                inputs=values)
        except FallbackRejectedError as exc:
            # The account's own text (its name) makes even the template fail the guards, e.g. an injection
            # planted in the name: the CSM still gets the drop, in words built from the score alone.
            plain = (f"Health fell from {scored['previous_score']} ({scored['previous_band']}) to {scored['score']} "
                     f"({scored['band']}). " + "; ".join(str(r) for r in change.get("reasons", [])[:3])).strip()
            return {"summary": {"text": plain, "prompt_ref": prompt.ref, "model": None, "fallback": True,
                                "note": f"the account's text failed the guards ({str(exc)[:120]})"}}
    body, fallback, note = text.text, text.fallback, text.note
    invented = [] if fallback else invented_numbers(body, " ".join(str(v) for v in values.values()))
    if invented:
        body, fallback = prompt.render_fallback(**values).strip(), True
        note = f"the summary named numbers not in the facts ({', '.join(invented[:5])}); the template was used"
    return {"summary": {"text": body, "prompt_ref": text.prompt_ref, "model": text.model, "fallback": fallback,
                        "note": note}}


def task(state: HealthState, runtime: Runtime[RunContext]) -> HealthState:
    """The CSM's task on the account: high priority when it fell to Critical."""
    ctx, inputs, scored, summary = runtime.context, state["inputs"], state["scored"], state["summary"]
    critical = scored["band"] == "Critical"
    title = (f"{inputs['account_name']} dropped to {scored['band']} health "
             f"({scored['previous_score']} → {scored['score']})")
    change = (scored["diff"] or {}).get("summary", "")
    description = "\n".join([summary["text"], "", f"Change: {change}" if change else "",
                             "Also costing points: " + "; ".join(_drivers(inputs, scored))
                             if _drivers(inputs, scored) else "",
                             f"(Summary from the template: {summary['note']}.)"
                             if summary.get("fallback") and summary.get("note") else ""]).strip()
    days = ctx.settings.health_band_drop_task_days
    with ctx.transaction() as session:
        row = outputs.write_task(session, ctx.origin, purpose=TASK, title=title, assignee_id=inputs["csm_id"],
                                 description=description, due_at=ctx.now + timedelta(days=days),
                                 priority=TaskPriority.high if critical else TaskPriority.normal,
                                 account_id=inputs["account_id"], prompt_ref=summary["prompt_ref"],
                                 model=summary["model"])
        return {"task_id": row.id}
