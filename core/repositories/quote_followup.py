"""Queries of the Quote Follow-up agent: sent quotes with who and what they concern, and nudges already made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from core.models import Account, Contact, ContactEmail, Deal, Pipeline, Quote
from core.models.enums import QuoteStatus


def quote_facts(session: Session, quote_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Sent quotes (or the given ones, whatever their status) with account, contact, deal, pipeline and rep."""
    email = (select(ContactEmail.email).where(ContactEmail.contact_id == Contact.id)
             .order_by(ContactEmail.is_primary.desc(), ContactEmail.id).limit(1).correlate(Contact).scalar_subquery())
    deal = aliased(Deal)
    stmt = (select(Quote.id, Quote.number, Quote.status, Quote.sent_at, Quote.responded_at, Quote.valid_until,
                   Quote.total, Quote.currency, Quote.account_id, Account.name.label("account_name"),
                   Quote.contact_id, Contact.first_name.label("contact_name"), Contact.language, email.label("email"),
                   Quote.deal_id, deal.name.label("deal_name"), Pipeline.name.label("pipeline"),
                   func.coalesce(Quote.created_by_id, deal.owner_id, Account.account_manager_id,
                                 Account.csm_id).label("rep_id"))
            .join(Account, Account.id == Quote.account_id)
            .outerjoin(Contact, Contact.id == Quote.contact_id)
            .outerjoin(deal, deal.id == Quote.deal_id)
            .outerjoin(Pipeline, Pipeline.id == deal.pipeline_id)
            .order_by(Quote.id))
    if quote_ids is None:
        stmt = stmt.where(Quote.status == QuoteStatus.sent)
    else:
        stmt = stmt.where(Quote.id.in_(list(quote_ids)))
    return [dict(row._mapping) for row in session.execute(stmt)]

