"""Duplicate detection for captured leads: same email (leads, contact emails) or a similar name (pg_trgm)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from core.models import Contact, ContactEmail, Lead

NAME_SIMILARITY = 0.6


@dataclass(frozen=True)
class Duplicate:
    kind: str  # "lead" | "contact"
    id: int
    reason: str  # "email" | "name"
    similarity: float


def _full_name(first: Any, last: Any) -> Any:
    return func.lower(func.trim(func.concat_ws(" ", first, last)))


def find_duplicates(session: Session, *, email: str | None, first_name: str | None, last_name: str | None,
                    company_name: str | None = None, limit: int = 10,
                    threshold: float = NAME_SIMILARITY) -> list[Duplicate]:
    """Exact email matches first, then fuzzy name matches (trigram similarity of "first last" ≥ threshold;
    for leads the company must also be similar when both have one), best first."""
    parts: list[Any] = []
    if email:
        parts.append(select(literal("lead").label("kind"), Lead.id.label("id"), literal("email").label("reason"),
                            literal(1.0).label("sim")).where(Lead.email == email))
        parts.append(select(literal("contact"), ContactEmail.contact_id, literal("email"), literal(1.0))
                     .where(ContactEmail.email == email))
    name = " ".join(p.strip() for p in (first_name or "", last_name or "") if p and p.strip()).lower()
    if len(name) >= 3:
        lead_sim = func.similarity(_full_name(Lead.first_name, Lead.last_name), name)
        company_ok = (or_(Lead.company_name.is_(None), func.similarity(func.lower(Lead.company_name),
                                                                        company_name.lower()) >= threshold)
                      if company_name else literal(True))
        parts.append(select(literal("lead"), Lead.id, literal("name"), lead_sim)
                     .where(lead_sim >= threshold, company_ok))
        contact_sim = func.similarity(_full_name(Contact.first_name, Contact.last_name), name)
        parts.append(select(literal("contact"), Contact.id, literal("name"), contact_sim)
                     .where(contact_sim >= threshold))
    if not parts:
        return []
    u = union_all(*parts).subquery()
    stmt = (select(u.c.kind, u.c.id, func.min(u.c.reason), func.max(u.c.sim).label("best"))
            .group_by(u.c.kind, u.c.id).order_by(func.max(u.c.sim).desc(), u.c.kind, u.c.id).limit(limit))
    return [Duplicate(kind, int(i), reason, float(sim)) for kind, i, reason, sim in session.execute(stmt)]
