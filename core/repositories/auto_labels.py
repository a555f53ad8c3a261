"""SQL for the auto-labeler: an account with its contacts, activity aggregates, labeled examples, label writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core.models import Account, Activity, Contact


def account(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def contacts_of(session: Session, account_id: int) -> Sequence[Contact]:
    return session.scalars(select(Contact).where(Contact.account_id == account_id).order_by(Contact.id)).all()


def activity_stats(session: Session, account_id: int, now: datetime) -> tuple[int | None, int]:
    """(days since the last activity on the account or its contacts, activities in the last 90 days) as of now."""
    people = select(Contact.id).where(Contact.account_id == account_id)
    on_account = or_(Activity.account_id == account_id, Activity.contact_id.in_(people))
    last, recent = session.execute(
        select(func.max(Activity.occurred_at),
               func.count().filter(Activity.occurred_at >= now - timedelta(days=90)))
        .where(on_account, Activity.occurred_at <= now)).one()
    return ((now - last).days if last is not None else None), int(recent or 0)


def labeled_examples(session: Session, industries: Sequence[str], exclude_id: int,
                     limit: int) -> list[tuple[int, str, str]]:
    """(id, description, industry) of other accounts a person labeled with the taxonomy, most recent first.

    Industries the labeler itself wrote do not teach it (its mistakes would reinforce themselves).
    """
    ours = Account.custom_fields["auto_labels"]["industry"]
    by_person = or_(ours["source"].astext.is_(None), ours["source"].astext == "person",
                    ours["value"].astext != Account.industry)
    rows = session.execute(
        select(Account.id, Account.description, Account.industry)
        .where(Account.industry.in_(list(industries)), by_person, Account.description.is_not(None),
               func.length(func.trim(Account.description)) > 0, Account.id != exclude_id)
        .order_by(Account.id.desc()).limit(limit)).all()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def save_account_labels(session: Session, account_id: int, custom_fields: dict[str, Any],
                        columns: dict[str, Any]) -> None:
    session.execute(update(Account).where(Account.id == account_id).values(custom_fields=custom_fields, **columns))


def save_contact_labels(session: Session, contact_id: int, custom_fields: dict[str, Any],
                        columns: dict[str, Any]) -> None:
    session.execute(update(Contact).where(Contact.id == contact_id).values(custom_fields=custom_fields, **columns))


def account_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Account.id).order_by(Account.id)).all())
