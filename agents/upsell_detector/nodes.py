"""Steps shared by the Upsell (weekly) and Expansion (monthly) detectors: gather the account's facts and decide
its signals deterministically (tools/upsell), then write one suggestion per distinct set of signals.

The suggestion's idempotency key carries the signals' fingerprint instead of the input hash: a new snapshot or a
day passing changes the inputs but not the signals, and unchanged signals must not make a second suggestion
(nor does a dismissed suggestion come back while its signals stay the same).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.runtime.context import RunContext
from agents.upsell_detector.state import DetectorState
from core.config import get_settings
from core.errors import NotFound
from core.llm.generate import GeneratedText, generate_text
from core.llm.guards import GuardContext
from core.repositories import sales as sales_repo
from core.repositories import upsell as repo
from core.services import outputs
from core.services.outputs import Origin
from prompts.registry import read_file, root
from tools.upsell.assess import LABELS, assess
from tools.upsell.signals import UPSELL, Thresholds, detect, recommend, thresholds

AGENTS = {"upsell": "upsell_detector", "expansion": "expansion_detector"}
RULES_MODEL = "rules:tools.upsell"
SUBJECT = "account"


def suggestion_key(kind: str, account_id: int, fingerprint: str) -> str:
    """The key the detector's suggestion for these signals gets (purpose = the detector kind)."""
    return Origin(0, AGENTS[kind], SUBJECT, account_id, fingerprint).key(kind)


def _recommendations(session: Session, account: dict[str, Any], currency: str, t: Thresholds) -> list[dict[str, Any]]:
    account_id = int(account["id"])
    owned = repo.product_ownership(session)
    basis, neighbours = "purchases", None
    if not owned.get(account_id):  # owns nothing yet: accounts with a similar description (pgvector)
        basis = "description"
        pool = repo.description_neighbours(session, account_id, 4 * t.similar_accounts, t.description_max_distance)
        neighbours = [n for n in pool if owned.get(n)][:t.similar_accounts]
    recs = recommend(account_id, owned, t, neighbours)
    names = repo.product_names(session, [r.product_id for r in recs])
    found = []
    for r in recs:
        price = sales_repo.unit_price(session, account["price_book_id"], r.product_id, currency)
        found.append({"product_id": r.product_id, "name": names.get(r.product_id, f"product {r.product_id}"),
                      "owners": r.owners, "similar": r.similar, "similar_owners": r.examples, "basis": basis,
                      "unit_price": str(price) if price is not None else None})
    return found


def account_facts(session: Session, kind: str, account_id: int, now: datetime, t: Thresholds) -> dict[str, Any]:
    """Everything one detector's signals read about one account, as of `now`."""
    account = repo.account_row(session, account_id)
    if account is None:
        raise NotFound("account", account_id)
    today = now.date()
    contracts = repo.active_contracts(session, account_id, today)
    limits = [int(c["seat_limit"]) for c in contracts if c["seat_limit"]]
    currency = str(contracts[0]["currency"]) if contracts else str(account["currency"])
    pipeline = repo.proposal_pipeline(session, get_settings().upsell_pipeline)
    facts: dict[str, Any] = {
        "account": account, "today": today, "contracts": [int(c["id"]) for c in contracts],
        "seat_limit": sum(limits) if limits else None, "currency": currency,
        "arr": sum((Decimal(c["arr"]) for c in contracts if c["currency"] == currency), Decimal(0)),
        "invoices": repo.invoice_health(session, account_id, today - timedelta(days=t.payment_days), today),
        "pipeline": list(pipeline) if pipeline else None,
    }
    if kind == UPSELL:
        facts["latest_usage"] = repo.latest_snapshot(session, account_id, today)
        facts["recommendations"] = _recommendations(session, account, currency, t)
    else:
        facts["usage_window"] = repo.usage_snapshots(session, account_id, today - timedelta(days=t.growth_days), today)
        facts["new_contacts"] = repo.new_contacts(session, account_id, now - timedelta(days=t.new_contacts_days), now)
        facts["nps"] = repo.latest_nps(session, account_id, now - timedelta(days=t.nps_days), now)
        facts["activities"] = repo.activity_count(session, account_id, now - timedelta(days=t.engagement_days), now)
    return facts


def evaluate(session: Session, kind: str, account_id: int, now: datetime, t: Thresholds) -> dict[str, Any]:
    """The account's facts, signals, assessment and whether a suggestion for these signals already exists."""
    facts = account_facts(session, kind, account_id, now, t)
    signals = detect(kind, facts, t)
    result = assess(kind, facts, signals, t)
    return {"kind": kind, "account_id": account_id, "account_name": facts["account"]["name"],
            "signals": [s.name for s in signals], "opportunities": result.opportunities, "strong": result.strong,
            "summaries": [f"{LABELS[s.name]}: {s.summary}" for s in signals],
            "fingerprint": result.fingerprint, "title": result.title, "body": result.body,
            "evidence": result.evidence,
            "already": repo.suggestion_exists(session, suggestion_key(kind, account_id, result.fingerprint))}


def make_gather(kind: str) -> Callable[[Session, int | None, datetime], dict[str, Any]]:
    def gather(session: Session, account_id: int | None, now: datetime) -> dict[str, Any]:
        if account_id is None:
            raise NotFound("account", account_id)
        return evaluate(session, kind, account_id, now, thresholds(get_settings()))

    gather.__doc__ = f"The {kind} detector's inputs for one account (facts, signals, assessment)."
    return gather


def make_subjects(kind: str) -> Callable[[Session, datetime], list[int]]:
    def subjects(session: Session, now: datetime) -> list[int]:
        return repo.customer_account_ids(session)

    subjects.__doc__ = f"Active customer accounts: the {kind} detector's scheduled sweep."
    return subjects


def route_start(state: DetectorState) -> str:
    inputs = state["inputs"]
    return "suggest" if inputs["opportunities"] and not inputs["already"] else "__end__"


def _pitch(session: Session, ctx: RunContext, inputs: dict[str, Any]) -> GeneratedText:
    """The model's 'why now, next step' for the account manager (guarded; the template on failure)."""
    proposal = inputs["evidence"].get("proposal")
    return generate_text(
        session, agent=ctx.agent, prompt=read_file(root() / "upsell_detector" / "pitch.md.j2"), run_id=ctx.run_id,
        http_client=ctx.http_client, now=ctx.now, settings=ctx.settings,
        guard=GuardContext(language="en", min_chars=20, max_chars=600),
        inputs={"account_name": inputs["account_name"], "detector": inputs["kind"],
                "signals": inputs["summaries"],
                "proposal": f"{proposal['amount']} {proposal['currency']}" if proposal else ""})


def suggest(state: DetectorState, runtime: Runtime[RunContext]) -> DetectorState:
    """One suggestion on the account per distinct set of signals, with the evidence and any proposed deal.

    The body is the evidence in words (deterministic); with settings.upsell_llm a model-written paragraph on why
    now and what next follows it. Unchanged signals never reach this node, so they cost no model call.
    """
    ctx, inputs = runtime.context, state["inputs"]
    origin = replace(ctx.origin, input_hash=inputs["fingerprint"])
    with ctx.transaction() as session:
        body, prompt_ref, model, fallback = inputs["body"], None, RULES_MODEL, False
        if ctx.settings.upsell_llm:
            pitch = _pitch(session, ctx, inputs)
            body, prompt_ref, model, fallback = f"{body}\n\n{pitch.text}", pitch.prompt_ref, pitch.model, pitch.fallback
        row = outputs.write_suggestion(session, origin, purpose=inputs["kind"], title=inputs["title"], body=body,
                                       evidence=inputs["evidence"], prompt_ref=prompt_ref, model=model,
                                       fallback=fallback)
        return {"suggestion_id": row.id}
