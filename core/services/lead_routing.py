"""Routing of new leads to reps: round-robin over active reps, or over the reps of the lead's territory.

A lead that already has an owner is never re-routed. Each routing leaves an audit row (action `route`), and the
next turn goes to the rep whose last routed lead is oldest, so the order survives restarts and several workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.repositories import events
from core.repositories import lead_routing as repo

MODES = ("off", "round_robin", "territory")


@dataclass(frozen=True)
class Routing:
    lead_id: int
    owner_id: int | None
    rule: str  # round_robin | territory | territory_fallback | already_assigned | no_reps | off


def country_code(country: str | None) -> str | None:
    """Territories list ISO 3166-1 alpha-2 codes; anything else on the lead matches none."""
    code = (country or "").strip().upper()
    return code if len(code) == 2 and code.isalpha() else None


def route_lead(session: Session, lead_id: int, mode: str, *, actor: str = "system") -> Routing:
    """Give an unassigned lead an owner by `mode`; flushes, the caller commits."""
    if mode not in MODES:
        raise InvalidInput("lead_routing", f"must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off":
        return Routing(lead_id, None, "off")
    repo.lock_routing(session)
    lead = repo.lead_for_update(session, lead_id)
    if lead is None:
        raise NotFound("lead", lead_id)
    if lead.owner_id is not None:
        return Routing(lead_id, lead.owner_id, "already_assigned")
    rule, pool = "round_robin", []
    if mode == "territory":
        code = country_code(lead.country)
        pool = repo.active_reps(session, code) if code else []
        rule = "territory" if pool else "territory_fallback"
    if not pool:
        pool = repo.active_reps(session)
    if not pool:
        return Routing(lead_id, None, "no_reps")
    last = repo.last_routed(session, pool)
    owner_id = min(pool, key=lambda user_id: (last.get(user_id, 0), user_id))
    repo.set_owner(session, lead_id, owner_id)
    events.add_audit(session, actor=actor, action=repo.ROUTE_ACTION, entity_type="lead", entity_id=lead_id,
                     before={"owner_id": None}, after={"owner_id": owner_id, "rule": rule, "country": lead.country})
    session.flush()
    session.refresh(lead)
    return Routing(lead_id, owner_id, rule)
