"""SQL for the mail outbox: one `mail_messages` row per draft, taken under the draft's row lock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import ContactEmail, Draft, MailMessage


def lock_draft(session: Session, draft_id: int) -> bool:
    """Serialise senders of one draft until the caller's transaction ends; False when the draft does not exist."""
    return session.scalar(select(Draft.id).where(Draft.id == draft_id).with_for_update()) is not None


def for_draft(session: Session, draft_id: int) -> MailMessage | None:
    return session.scalars(select(MailMessage).where(MailMessage.draft_id == draft_id)).first()


def save(session: Session, existing: MailMessage | None, *, draft_id: int, to_address: str, subject: str, body: str,
         transport: str, status: str, error: str | None, sent_at: datetime | None) -> MailMessage:
    """Insert the draft's message, or overwrite an earlier failed attempt with this one."""
    row = existing or MailMessage(draft_id=draft_id)
    row.to_address, row.subject, row.body = to_address, subject, body
    row.transport, row.status, row.error, row.sent_at = transport, status, error, sent_at
    session.add(row)
    session.flush()
    return row


def failed_sends(session: Session, limit: int = 100) -> list[int]:
    """Drafts a person approved whose message the mail server refused: to be tried again."""
    stmt = (select(MailMessage.draft_id).join(Draft, Draft.id == MailMessage.draft_id)
            .where(MailMessage.status == "failed", Draft.status.in_(("approved", "edited")))
            .order_by(MailMessage.id).limit(limit))
    return list(session.scalars(stmt))


def messages(session: Session, status: str | None = None, limit: int = 50) -> list[MailMessage]:
    stmt = select(MailMessage).order_by(MailMessage.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(MailMessage.status == status)
    return list(session.scalars(stmt))


def primary_email(session: Session, contact_id: int) -> str | None:
    """Where mail to a contact goes: the primary address, else the oldest one."""
    stmt = (select(ContactEmail.email).where(ContactEmail.contact_id == contact_id)
            .order_by(ContactEmail.is_primary.desc(), ContactEmail.id).limit(1))
    return session.scalar(stmt)
