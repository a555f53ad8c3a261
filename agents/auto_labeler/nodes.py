"""Auto-Labeler step: rule labels (size band, engagement, buying roles) and industry from similar labeled accounts.

Inputs are taken as of the day (midnight UTC) so engagement moves the input hash at most once a day. Labels are
merged through tools.auto_labeler.store: a label a person set is never overwritten, unchanged labels are not
rewritten, so re-runs and redelivered events change nothing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, time
from typing import Any

import numpy as np
from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.auto_labeler.llm import model_industry
from agents.auto_labeler.state import LabelerState
from agents.runtime.context import RunContext
from core.config import get_settings
from core.errors import NotFound
from core.llm.embeddings import get_embedder
from core.models import OutboxEvent
from core.repositories import auto_labels as repo
from core.repositories import events
from tools.auto_labeler.classifier import MIN_EXAMPLES, IndustryClassifier
from tools.auto_labeler.rules import Label, buying_role, engagement_level
from tools.auto_labeler.store import merge, set_by_person, stored_labels
from tools.auto_labeler.taxonomy import size_band

AGENT = "auto_labeler"
MAX_EXAMPLES = 300  # labeled accounts embedded per run (about 40 s on 2 cores with the local model)
MIN_CONFIDENCE = 0.4  # below this the model is asked (settings.auto_labeler_llm), else a person decides


def _as_of(now: datetime) -> datetime:
    return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)


def gather(session: Session, account_id: int | None, now: datetime) -> dict[str, Any]:
    """What the labels are computed from (not the labels themselves, so the run's own writes do not re-trigger it).

    The account's text and size, its contacts' titles, activity aggregates and the labeled examples' fingerprint.
    """
    account = repo.account(session, account_id) if account_id is not None else None
    if account is None:
        raise NotFound("account", account_id)
    industries = list(get_settings().auto_label_industries)
    as_of = _as_of(now)
    days, recent = repo.activity_stats(session, account.id, as_of)
    examples = repo.labeled_examples(session, industries, account.id, MAX_EXAMPLES)
    fingerprint = hashlib.sha256(json.dumps([[i, label] for i, _, label in examples]).encode()).hexdigest()
    return {"account_id": account.id, "as_of": as_of.isoformat(), "description": account.description,
            "employees": account.employees,
            "annual_revenue": str(account.annual_revenue) if account.annual_revenue is not None else None,
            "activity": {"days_since_last": days, "count_90d": recent},
            "contacts": [{"id": c.id, "title": c.title} for c in repo.contacts_of(session, account.id)],
            "industries": industries, "examples": {"count": len(examples), "fingerprint": fingerprint}}


def account_of_event(event: OutboxEvent) -> int | None:
    """account.created/updated is the account; a contact or an activity points at its account when it has one."""
    if event.topic in ("account.created", "account.updated"):
        return event.aggregate_id
    account_id = (event.payload or {}).get("account_id")
    return int(account_id) if account_id else None


def all_accounts(session: Session, now: datetime) -> list[int]:
    return repo.account_ids(session)


def industry_label(session: Session, account_id: int, description: str,
                   industries: list[str]) -> tuple[Label | None, str | None, list[str]]:
    """The most probable industry from labeled accounts' descriptions, or why there is none, and the top guesses."""
    examples = repo.labeled_examples(session, industries, account_id, MAX_EXAMPLES)
    if len(examples) < MIN_EXAMPLES or len({label for _, _, label in examples}) < 2:
        return None, (f"industry: only {len(examples)} labeled accounts to learn from "
                      f"(need {MIN_EXAMPLES}, 2+ kinds)"), []
    texts = [text for _, text, _ in examples]
    vectors = np.asarray(get_embedder().embed([*texts, description]))
    model = IndustryClassifier.fit(texts, vectors[:-1], [label for _, _, label in examples])
    probs = model.probabilities([description], vectors[-1:])[0]
    top = [str(model.classes[i]) for i in np.argsort(-probs)[:3]]
    value, confidence = top[0], float(probs.max())
    if confidence < MIN_CONFIDENCE:
        return None, f"industry: best guess {value} at {confidence:.2f} is below {MIN_CONFIDENCE}", top
    return Label(value, confidence, "embedding"), None, top


def label(state: LabelerState, runtime: Runtime[RunContext]) -> LabelerState:
    """Propose labels, merge them without touching a person's, write only what changed (with an audit row)."""
    ctx = runtime.context
    inputs = state["inputs"]
    notes: list[str] = []
    kept: list[str] = []
    with ctx.transaction() as session:
        account = repo.account(session, inputs["account_id"])
        if account is None:
            raise NotFound("account", inputs["account_id"])
        proposed: dict[str, Label] = {}
        band = size_band(account.employees, account.annual_revenue)
        if band is not None:
            proposed["size_band"] = Label(band.value, 1.0, "rules")
        activity = inputs["activity"]
        proposed["engagement"] = engagement_level(activity["days_since_last"], activity["count_90d"])
        industry: Label | None = None
        why: str | None
        industries = list(ctx.settings.auto_label_industries)
        owned = set_by_person(stored_labels(account.custom_fields).get("industry"), account.industry)
        if owned:
            why = "industry: set by a person, kept"
        elif account.description and account.description.strip():
            industry, why, top = industry_label(session, account.id, account.description, industries)
            if industry is None and ctx.settings.auto_labeler_llm:
                industry, why = model_industry(session, ctx, account.description, industries, top)
        else:
            why = "industry: the account has no description"
        if industry is not None:
            proposed["industry"] = industry
        if why:
            notes.append(why)
        columns = {"industry": account.industry, "size_band": account.size_band.value if account.size_band else None}
        fields, updates = merge(account.custom_fields, columns, proposed, ctx.run_id, ctx.now)
        account_labels = dict(fields["auto_labels"])
        kept += [f"account {account.id}.{name}" for name in proposed
                 if account_labels.get(name, {}).get("source") == "person"]
        if fields != (account.custom_fields or {}) or updates:
            before = {"industry": account.industry, "size_band": columns["size_band"],
                      "auto_labels": dict(account.custom_fields or {}).get("auto_labels", {})}
            repo.save_account_labels(session, account.id, fields, updates)
            events.add_audit(session, actor=f"agent:{AGENT}", action="auto_label", entity_type="account",
                             entity_id=account.id, before=before,
                             after=updates | {"auto_labels": fields["auto_labels"], "run_id": ctx.run_id})
        contact_labels: dict[str, Any] = {}
        for contact in repo.contacts_of(session, account.id):
            role = buying_role(contact.title)
            if role is None:
                continue
            current = contact.buying_role.value if contact.buying_role else None
            fields, updates = merge(contact.custom_fields, {"buying_role": current}, {"buying_role": role},
                                    ctx.run_id, ctx.now)
            contact_labels[str(contact.id)] = fields["auto_labels"]["buying_role"]
            if fields["auto_labels"]["buying_role"].get("source") == "person":
                kept.append(f"contact {contact.id}.buying_role")
            if fields != (contact.custom_fields or {}) or updates:
                repo.save_contact_labels(session, contact.id, fields, updates)
                events.add_audit(session, actor=f"agent:{AGENT}", action="auto_label", entity_type="contact",
                                 entity_id=contact.id, before={"buying_role": current},
                                 after=updates | {"auto_labels": fields["auto_labels"], "run_id": ctx.run_id})
    return {"account_labels": account_labels, "contact_labels": contact_labels, "kept": kept, "notes": notes}
