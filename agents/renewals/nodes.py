"""Renewal steps. Two subjects, two agents sharing the service rules (core/services/renewals.py):

- `renewals` (subject: contract; daily schedule): open the renewal deal + draft quote + a task for the CSM when
  the contract ends within settings.renewal_window_days; extend the contract when its renewal deal was won but
  the event that should have extended it was missed.
- `renewals_signed` (subject: deal; events `quote.accepted` and `deal.stage_changed` to won): extend the
  contract of a won renewal deal. Other deals gather `action: none` and end at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.renewals.state import RenewalState
from agents.runtime.context import RunContext
from core.config import get_settings
from core.errors import NotFound
from core.models import Deal, OutboxEvent
from core.models.enums import ContractStatus, DealStatus, TaskPriority
from core.repositories import renewals as repo
from core.services import outputs
from core.services import renewals as service

AGENT = "renewals"
SIGNED_AGENT = "renewals_signed"
TASK = "renewal-task"


def gather_contract(session: Session, contract_id: int | None, now: datetime) -> dict[str, Any]:
    """The contract's term and what today calls for: open (in the window, no deal yet), extend, or none."""
    c = repo.contract_facts(session, contract_id) if contract_id is not None else None
    if c is None:
        raise NotFound("contract", contract_id)
    today = now.date()
    key = service.renewal_key(c["id"], c["end_date"])
    deal = repo.deals_by_key(session, [key]).get(key)
    window = get_settings().renewal_window_days
    if c["id"] in service.unextended_contracts(session):
        action, reason = "extend", "the renewal deal was won; the contract is not extended yet"
    elif c["status"] is not ContractStatus.active:
        action, reason = "none", f"contract is {c['status'].value}"
    elif deal is not None:
        action, reason = "none", f"renewal deal {deal.id} exists for the term ending {c['end_date']}"
    elif c["end_date"] < today:
        action, reason = "none", f"ended {c['end_date']} without a renewal"
    elif c["end_date"] > today + timedelta(days=window):
        action, reason = "none", f"ends {c['end_date']}, beyond the {window}-day renewal window"
    else:
        action, reason = "open", f"ends {c['end_date']}, within the {window}-day renewal window"
    return {"contract_id": c["id"], "account_id": c["account_id"], "account_name": c["account_name"],
            "plan": c["plan"], "end_date": c["end_date"], "arr": c["arr"], "owner_id": c["csm_id"] or
            c["account_manager_id"], "key": key, "deal_id": deal.id if deal is not None else None,
            "won_deal_id": _won_deal(session, c["id"], c["end_date"]), "action": action, "reason": reason}


def _won_deal(session: Session, contract_id: int, end_date: Any) -> int | None:
    key = service.renewal_key(contract_id, end_date)
    deal = repo.deals_by_key(session, [key]).get(key)
    return deal.id if deal is not None and deal.status is DealStatus.won else None


def due_contracts(session: Session, now: datetime) -> list[int]:
    """Contracts to open a renewal for, and contracts whose won renewal was not applied: the daily sweep."""
    due = service.due_contracts(session, now.date(), get_settings().renewal_window_days)
    return sorted(set(due) | set(service.unextended_contracts(session)))


def gather_deal(session: Session, deal_id: int | None, now: datetime) -> dict[str, Any]:
    """A deal whose stage changed or whose quote was accepted: extend when it is a won renewal deal."""
    deal = session.get(Deal, deal_id) if deal_id is not None else None
    if deal is None:
        raise NotFound("deal", deal_id)
    term = service.parse_key(deal.external_id) if deal.is_renewal else None
    if term is None:
        return {"deal_id": deal.id, "action": "none", "reason": "not a renewal deal"}
    ends = repo.contract_end_dates(session, [term[0]])
    if deal.status is not DealStatus.won:
        action, reason = "none", f"renewal deal is {deal.status.value}"
    elif ends.get(term[0]) != term[1]:
        action, reason = "none", "contract already extended"
    else:
        action, reason = "extend", "renewal deal won"
    return {"deal_id": deal.id, "contract_id": term[0], "term_end": term[1], "action": action, "reason": reason}


def signed_subject(event: OutboxEvent) -> int | None:
    """quote.accepted -> its deal; deal.stage_changed -> the deal, only when it was won."""
    payload = event.payload or {}
    if event.topic == "quote.accepted":
        deal_id = payload.get("deal_id")
        return int(deal_id) if deal_id is not None else None
    if event.topic == "deal.stage_changed" and payload.get("status") == DealStatus.won.value:
        return event.aggregate_id
    return None


def route(state: RenewalState) -> str:
    action = state["inputs"]["action"]
    return action if action in ("open", "extend") else "__end__"


def open_renewal(state: RenewalState, runtime: Runtime[RunContext]) -> RenewalState:
    """The renewal deal and draft quote (idempotent per term), and a task for the CSM to send the quote."""
    ctx, inputs = runtime.context, state["inputs"]
    with ctx.transaction() as session:
        made = service.open_renewal(session, inputs["contract_id"], actor=f"agent:{ctx.agent}",
                                    settings=ctx.settings, now=ctx.now)
        origin = replace(ctx.origin, input_hash=str(inputs["end_date"]))  # one task per contract term
        quote = f"draft quote {made.quote_id}" if made.quote_id else "no quote (contract has no value)"
        outputs.write_task(session, origin, purpose=TASK,
                           title=f"Renewal of {inputs['account_name']} ({inputs['plan']}) ending {inputs['end_date']}",
                           description=f"Renewal deal {made.deal_id} and {quote} are ready: review and send the quote.",
                           assignee_id=inputs["owner_id"], account_id=inputs["account_id"], deal_id=made.deal_id,
                           due_at=min(ctx.now + timedelta(days=7), _day_start(inputs["end_date"], ctx.now)),
                           priority=TaskPriority.normal)
        return {"renewal": {"deal_id": made.deal_id, "quote_id": made.quote_id, "created": made.created}}


def _day_start(day: str, now: datetime) -> datetime:
    """Midnight (in `now`'s time zone) of an ISO date: a task is due before the contract ends, never after."""
    return max(now, datetime.combine(date.fromisoformat(day), time(0), tzinfo=now.tzinfo))


def extend(state: RenewalState, runtime: Runtime[RunContext]) -> RenewalState:
    """Extend the contract of the won renewal deal (a no-op when already extended)."""
    ctx, inputs = runtime.context, state["inputs"]
    with ctx.transaction() as session:
        deal_id = inputs.get("won_deal_id") or inputs["deal_id"]
        new_end = service.extend_contract(session, deal_id, actor=f"agent:{ctx.agent}", now=ctx.now)
        return {"extended_to": new_end.isoformat() if new_end else None}
