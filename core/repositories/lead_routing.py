"""SQL for routing leads: the rep pool (all, or a territory's), who was routed a lead last, the owner update."""

from __future__ import annotations

from sqlalchemy import BigInteger, any_, func, literal, select, text, update
from sqlalchemy.orm import Session

from core.models import Lead
from core.models.enums import Role
from core.models.identity import Territory, User
from core.models.system import AuditLog

ROUTE_ACTION = "route"


def lock_routing(session: Session) -> None:
    """One router at a time until commit, so two workers never hand out the same turn."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('salesagents.lead_routing'))"))


def lead_for_update(session: Session, lead_id: int) -> Lead | None:
    return session.scalar(select(Lead).where(Lead.id == lead_id).with_for_update())


def active_reps(session: Session, country: str | None = None) -> list[int]:
    """Active reps by id; with a country code, only those whose territory lists it."""
    stmt = select(User.id).where(User.role == Role.rep, User.active.is_(True))
    if country is not None:
        stmt = (stmt.join(Territory, Territory.id == User.territory_id)
                .where(literal(country) == any_(Territory.countries)))
    return list(session.scalars(stmt.order_by(User.id)))


def last_routed(session: Session, user_ids: list[int]) -> dict[int, int]:
    """Per rep, the id of the audit row of the last lead routed to them (ids grow, times may tie)."""
    if not user_ids:
        return {}
    owner = AuditLog.after["owner_id"].astext.cast(BigInteger)
    stmt = (select(owner, func.max(AuditLog.id))
            .where(AuditLog.action == ROUTE_ACTION, AuditLog.entity_type == "lead", owner.in_(user_ids))
            .group_by(owner))
    return {int(user_id): int(last) for user_id, last in session.execute(stmt)}


def set_owner(session: Session, lead_id: int, owner_id: int) -> None:
    session.execute(update(Lead).where(Lead.id == lead_id).values(owner_id=owner_id))
