"""A person's decision on an agent's suggestion: accept or dismiss, once.

Accepting a suggestion whose evidence carries a proposal of kind `expansion_deal` creates that deal through the
deals service (outbox `deal.created`), owned by the account manager: agents propose, people dispose. The claim
(`UPDATE … WHERE status = 'open'`) makes a second accept a Conflict, so the deal is created exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Deal, Suggestion, User
from core.repositories import events
from core.repositories import suggestions as repo
from core.services import deals as deal_service
from core.services.snapshot import jsonable, snapshot

EXPANSION_DEAL = "expansion_deal"


@dataclass(frozen=True)
class Decision:
    suggestion_id: int
    status: str
    deal_id: int | None = None


def _decider(session: Session, suggestion_id: int, user_id: int) -> Suggestion:
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None:
        raise NotFound("suggestion", suggestion_id)
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise InvalidInput("user_id", f"user {user_id} does not exist or is inactive")
    if suggestion.status != "open":
        raise Conflict(f"suggestion {suggestion_id} is already {suggestion.status}")
    return suggestion


def _claim(session: Session, suggestion_id: int, status: str, user_id: int, now: datetime) -> Suggestion:
    row = repo.claim_open(session, suggestion_id, status, user_id, now)
    if row is None:
        raise Conflict(f"suggestion {suggestion_id} was decided by someone else")
    return row


def _amount(proposal: dict[str, Any]) -> Decimal:
    try:
        amount = Decimal(str(proposal.get("amount", "0")))
    except InvalidOperation as exc:
        raise InvalidInput("evidence.proposal.amount", f"{proposal.get('amount')!r} is not a number") from exc
    if not amount.is_finite() or amount < 0:
        raise InvalidInput("evidence.proposal.amount", f"{amount} is not a non-negative amount")
    return amount


def _create_deal(session: Session, suggestion: Suggestion, proposal: dict[str, Any], user_id: int,
                 now: datetime) -> Deal:
    if suggestion.subject_type != "account":
        raise InvalidInput("evidence.proposal", f"an expansion deal needs an account, not a {suggestion.subject_type}")
    close = proposal.get("expected_close_date")
    deal = deal_service.create_deal(
        session, name=str(proposal.get("name") or f"Expansion of account {suggestion.subject_id}")[:255],
        amount=_amount(proposal), currency=str(proposal.get("currency") or "USD"), account_id=suggestion.subject_id,
        owner_id=proposal.get("owner_id") or user_id, pipeline_id=proposal.get("pipeline_id"),
        stage_id=proposal.get("stage_id"), expected_close_date=date.fromisoformat(close) if close else None,
        actor=f"user:{user_id}", now=now)
    deal.external_id = f"suggestion:{suggestion.id}"  # unique: a second deal for this suggestion cannot exist
    deal.custom_fields = {**(deal.custom_fields or {}), "suggestion_id": suggestion.id,
                          "products": jsonable(proposal.get("products") or [])}
    session.flush()
    return deal


def accept(session: Session, suggestion_id: int, user_id: int, *, now: datetime | None = None) -> Decision:
    """Mark the suggestion accepted; a proposed expansion deal becomes a real deal (once)."""
    now = now or datetime.now(UTC)
    suggestion = _decider(session, suggestion_id, user_id)
    proposal = (suggestion.evidence or {}).get("proposal")
    row = _claim(session, suggestion_id, "accepted", user_id, now)
    deal_id = None
    if isinstance(proposal, dict) and proposal.get("kind") == EXPANSION_DEAL:
        deal = _create_deal(session, row, proposal, user_id, now)
        deal_id = deal.id
        row.evidence = {**row.evidence, "accepted_deal_id": deal.id}
        session.flush()
    events.add_audit(session, actor=f"user:{user_id}", actor_id=user_id, action="accept", entity_type="suggestion",
                     entity_id=row.id, before={"status": "open"},
                     after=snapshot(row, ["status", "decided_at", "decided_by_id"]) | {"deal_id": deal_id})
    return Decision(row.id, row.status, deal_id)


def dismiss(session: Session, suggestion_id: int, user_id: int, *, reason: str | None = None,
            now: datetime | None = None) -> Decision:
    """Mark the suggestion dismissed (with an optional reason in the audit row); nothing else changes."""
    now = now or datetime.now(UTC)
    _decider(session, suggestion_id, user_id)
    row = _claim(session, suggestion_id, "dismissed", user_id, now)
    events.add_audit(session, actor=f"user:{user_id}", actor_id=user_id, action="dismiss", entity_type="suggestion",
                     entity_id=row.id, before={"status": "open"},
                     after=snapshot(row, ["status", "decided_at", "decided_by_id"]) | {"reason": reason})
    return Decision(row.id, row.status)
